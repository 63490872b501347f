"""Axial, coronal and sagittal slice views through the pointer tip, labels outlined.

Each view is a renderer whose world is the image frame (LPS mm): the resliced image is a
textured plane placed in LPS, the camera looks at it orthographically along the patient axis of
the view (:data:`rendering.orientation.SLICE_ORIENTATIONS`, radiological convention as in 3D
Slicer). So a point's pixel comes from VTK's own world-to-display conversion, and the letters
at the edges are read back from the camera that drew the slice.

The slice is sampled at about one sample per screen pixel (:mod:`rendering.slice_sampling`:
numpy gathers from the nearest voxel plane when the view's axes run along voxel axes,
``vtkImageReslice`` otherwise; every index-to-world mapping through
:class:`~registration.core.geometry.ImageGeometry`) and composed in numpy into one opaque RGBA
picture (grey image, label fill, label outlines on the sample boundaries;
:mod:`rendering.slice_picture`), drawn as a single textured plane: the software renderer's cost
per slice is one quad, whatever the number of labels. A picture is recomputed only when its
samples change (:meth:`~rendering.slice_sampling.SliceSampler.key`): a tip moving within the
voxel slab of an aligned view, or a still tip, costs no resampling.

The grey image is windowed by the snapshot's :class:`~rendering.window_level.WindowLevel`
(default: the image's first preset); the surgeon's zoom (field of view) and pan come from the
snapshot's display options. The slices follow the tip only while the pointer is OK and the tip
lies in the scan (:func:`slice_point`); otherwise they stay where the tip last drove them,
with a large "FROZEN" overlay saying why, never blank and never jumping to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import vtk
from vtkmodules.util.numpy_support import numpy_to_vtk

from registration.core.checks import Float64Array, InputError
from registration.core.geometry import ImageGeometry
from rendering.orientation import SLICE_ORIENTATIONS, orientation_letter
from rendering.overlays import BADGE_STYLES, EdgeLetters
from rendering.scene3d import TIP_RGB, UNTRUSTED_TIP_RGB
from rendering.slice_marks import SliceMarks
from rendering.slice_picture import (
    LABEL_FILL_OPACITY,
    LabelPalette,
    compose_codes,
    compose_slice_picture,
)
from rendering.slice_sampling import SliceGrid, SliceSampler
from rendering.view_state import ViewSnapshot
from rendering.window_level import WindowLevel, window_presets

__all__ = [
    "LABEL_FILL_OPACITY",
    "LabelPalette",
    "SliceView",
    "SliceVolumes",
    "compose_slice_picture",
    "slice_point",
]

RGB = tuple[float, float, float]
_CAMERA_DISTANCE_MM = 1000.0
_SUPPORTED_LABEL_TYPES = (np.uint8, np.uint16, np.int16, np.int32)
#: Grey image types kept as they are (others become float32).
_SUPPORTED_IMAGE_TYPES = (np.int16, np.uint16, np.float32)
#: Shown in the slice views when the plan keeps no image.
NO_IMAGE_NOTE = "labels only: this plan keeps no scan (re-create it with igcs plan)"


@dataclass(frozen=True, eq=False)
class SliceVolumes:
    """The voxel data the slice views cut, on one grid.

    geometry : the grid (LPS mm).
    labels : (k, j, i) integer label map, 0 = background.
    label_colors : label value -> (r, g, b) 0..1, for outlines and fill; labels missing here
        are not drawn.
    background : optional (k, j, i) intensity image (CT HU, MR) drawn in grey under the labels
        (int16, uint16 and float32 are kept as they are; anything else becomes float32).
    background_window : (low, high) default grey-scale window; default the image's first
        preset (:func:`rendering.window_level.window_presets` of ``modality``).
    modality : the image's modality ("CT", "MR", ...): which window presets it offers.
    label_fill_opacity : how strongly label colours tint the samples inside them (0: outlines
        only, the grey values untouched).

    Derived once and shared by the views: :attr:`palette`, :attr:`codes`, :attr:`presets`.
    """

    geometry: ImageGeometry
    labels: np.ndarray
    label_colors: Mapping[int, RGB]
    background: np.ndarray | None = None
    background_window: tuple[float, float] | None = None
    modality: str = "OT"
    label_fill_opacity: float = LABEL_FILL_OPACITY

    def __post_init__(self) -> None:
        shape = self.geometry.shape_kji
        labels = np.asarray(self.labels)
        if labels.shape != shape or not np.issubdtype(labels.dtype, np.integer):
            raise InputError(
                f"labels must be an integer (k, j, i) array of shape {shape} (the geometry's); "
                f"got {labels.dtype} {labels.shape}."
            )
        if labels.dtype.type not in _SUPPORTED_LABEL_TYPES:
            labels = labels.astype(np.int32)
        colors = {int(k): tuple(float(c) for c in v) for k, v in self.label_colors.items()}
        for value, rgb in colors.items():
            if value <= 0 or len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
                raise InputError(
                    f"label_colors[{value}] must be a positive label with (r, g, b) in 0..1; "
                    f"got {rgb}."
                )
        object.__setattr__(self, "labels", np.ascontiguousarray(labels))
        object.__setattr__(self, "label_colors", colors)
        if self.background is not None:
            background = np.asarray(self.background)
            if background.dtype.type not in _SUPPORTED_IMAGE_TYPES:
                background = background.astype(np.float32)
            background = np.ascontiguousarray(background)
            if background.shape != shape:
                raise InputError(
                    f"background has shape {background.shape}; the labels' grid is {shape}."
                )
            object.__setattr__(self, "background", background)
            window = self.background_window
            if window is None:
                window = (self.presets[0].low, self.presets[0].high)
            if not window[1] > window[0]:
                raise InputError(f"background_window must be (low, high), low < high; {window}.")
            object.__setattr__(self, "background_window", (float(window[0]), float(window[1])))

    @cached_property
    def palette(self) -> LabelPalette:
        """The label colours and outline priorities (:meth:`LabelPalette.from_labels`)."""
        return LabelPalette.from_labels(
            self.labels, dict(self.label_colors), fill_opacity=self.label_fill_opacity
        )

    @cached_property
    def codes(self) -> np.ndarray:
        """(k, j, i) the labels coded by :attr:`palette` (what the views cut)."""
        return self.palette.encode(self.labels)

    @cached_property
    def presets(self) -> tuple[WindowLevel, ...]:
        """The window presets of the image, the default first (empty without an image)."""
        if self.background is None:
            return ()
        return window_presets(self.modality, self.background)

    @property
    def default_window(self) -> WindowLevel | None:
        """The window used until the surgeon chooses one (None without an image)."""
        if self.background_window is None:
            return None
        low, high = self.background_window
        for preset in self.presets:
            if np.isclose(preset.low, low) and np.isclose(preset.high, high):
                return preset
        return WindowLevel.from_range(low, high, "default")

    @cached_property
    def value_span(self) -> float:
        """The span a whole-view window drag changes: the auto window's width (1 without an
        image)."""
        if self.background is None:
            return 1.0
        return self.presets[-1].window


def slice_point(snapshot: ViewSnapshot, geometry: ImageGeometry) -> tuple[Float64Array, str | None]:
    """Where the slices cut, and why they are frozen (None while they follow the tip).

    They follow the tip while the pointer is OK and the tip lies in the scan (``geometry``);
    otherwise they stay at ``snapshot.slice_hold_lps_mm`` (where the tip last drove them), or
    before that at ``focus_lps_mm``, else at the volume's centre.
    """
    tip = snapshot.pointer_tip_lps_mm
    if snapshot.pointer_ok and tip is not None:
        if bool(geometry.contains_lps(tip)[0]):
            return np.asarray(tip, dtype=np.float64), None
        reason = "FROZEN: tip outside the scan"
    elif snapshot.placement_note is not None:
        reason = f"FROZEN: {snapshot.placement_note.split(' (')[0]}"
    else:
        state = BADGE_STYLES[snapshot.pointer_state].label
        reason = f"FROZEN: {snapshot.pointer_name} not tracked ({state})"
    for point in (snapshot.slice_hold_lps_mm, snapshot.focus_lps_mm):
        if point is not None:
            return np.asarray(point, dtype=np.float64), reason
    centre_ijk = (np.asarray(geometry.size_ijk, dtype=np.float64) - 1) / 2.0
    return geometry.ijk_to_lps(centre_ijk), reason


class SliceView:
    """One slice orientation in ``renderer``; :meth:`update` cuts it through the snapshot's
    slice point (:func:`slice_point`) and draws the marks over it.

    orientation : "axial", "coronal" or "sagittal".
    """

    def __init__(self, renderer: vtk.vtkRenderer, orientation: str, volumes: SliceVolumes):
        if orientation not in SLICE_ORIENTATIONS:
            raise InputError(
                f"orientation must be one of {', '.join(SLICE_ORIENTATIONS)}; got {orientation!r}."
            )
        self.renderer = renderer
        self.orientation = orientation
        self.view = SLICE_ORIENTATIONS[orientation]
        self.volumes = volumes
        self.palette = volumes.palette
        renderer.SetBackground(0.0, 0.0, 0.0)
        geometry = volumes.geometry
        self._corners_lps = _grid_corners(geometry)
        self._sample_floor_mm = float(geometry.spacing_mm.min()) / 2.0
        self.lps_from_slice: Float64Array = np.eye(4)
        self.mm_per_pixel = 1.0
        self.frozen_reason: str | None = None
        self.window: WindowLevel | None = volumes.default_window
        self._last_cut: tuple[object, ...] | None = None
        self.sampler = SliceSampler(
            geometry, volumes.codes, volumes.background, fill=_outside_value(volumes.background)
        )
        self._picture_image = vtk.vtkImageData()
        self._picture_pixels: np.ndarray | None = None
        self._picture = vtk.vtkImageActor()
        self._picture.GetMapper().SetInputData(self._picture_image)
        self._picture.InterpolateOff()
        self._picture.ForceOpaqueOn()  # RGBA with alpha 255: drawn in the opaque pass
        renderer.AddViewProp(self._picture)
        self.marks = SliceMarks(renderer)

        camera = renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        self.letters = EdgeLetters(renderer)
        self.caption = vtk.vtkTextActor()
        self.caption.SetInput(self.view.caption)
        self.caption.GetTextProperty().SetFontSize(15)
        self.caption.GetTextProperty().SetColor(0.85, 0.85, 0.85)
        self.caption.GetTextProperty().SetVerticalJustificationToTop()
        self.caption.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.caption.SetPosition(0.01, 0.985)
        self.position_text = vtk.vtkTextActor()
        self.position_text.GetTextProperty().SetFontSize(18)
        self.position_text.GetTextProperty().SetBold(True)
        self.position_text.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.position_text.SetPosition(0.01, 0.02)
        renderer.AddViewProp(self.caption)
        renderer.AddViewProp(self.position_text)
        self._depth_axis = int(np.argmax(np.abs(self.view.towards_viewer)))
        unit = np.eye(3)[self._depth_axis]
        self._depth_letters = (orientation_letter(unit), orientation_letter(-unit))

    def update(self, snapshot: ViewSnapshot) -> None:
        """Cut the slice through the snapshot's slice point, window the grey image, place the
        marks (the window's next render shows it)."""
        right, up = self.view.screen_right, self.view.view_up
        toward = self.view.towards_viewer
        point, self.frozen_reason = slice_point(snapshot, self.volumes.geometry)
        display = snapshot.display
        centre = point + np.asarray(display.slice_pan_lps_mm)
        width_px, height_px = (max(1, n) for n in self.renderer.GetSize())
        aspect = width_px / height_px
        u_all, v_all = self._corners_lps @ right, self._corners_lps @ up
        fov = display.slice_field_of_view_mm
        if fov is None:  # the whole volume, fitted (panned)
            centre_u = float(u_all.min() + u_all.max()) / 2 + float(centre @ right - point @ right)
            centre_v = float(v_all.min() + v_all.max()) / 2 + float(centre @ up - point @ up)
            height_mm = max(float(np.ptp(v_all)), float(np.ptp(u_all)) / aspect)
        else:  # a window of fov mm around the slice point
            centre_u, centre_v, height_mm = float(centre @ right), float(centre @ up), fov
        width_mm = height_mm * aspect
        self.mm_per_pixel = height_mm / height_px
        spacing = max(self.mm_per_pixel, self._sample_floor_mm)
        # Sample only the part of the visible region the volume covers (no fill cost for the
        # empty margins), in slice coordinates centred on the view.
        u0 = max(float(u_all.min()), centre_u - width_mm / 2) - centre_u
        u1 = min(float(u_all.max()), centre_u + width_mm / 2) - centre_u
        v0 = max(float(v_all.min()), centre_v - height_mm / 2) - centre_v
        v1 = min(float(v_all.max()), centre_v + height_mm / 2) - centre_v
        n_u, n_v = int(np.ceil((u1 - u0) / spacing)), int(np.ceil((v1 - v0) / spacing))

        lps_from_slice = np.eye(4)
        lps_from_slice[:3, 0], lps_from_slice[:3, 1], lps_from_slice[:3, 2] = right, up, toward
        lps_from_slice[:3, 3] = right * centre_u + up * centre_v + toward * float(point @ toward)
        self.lps_from_slice = lps_from_slice
        self.window = display.window_level or self.volumes.default_window
        depths = self._corners_lps @ toward
        if n_u < 2 or n_v < 2 or not depths.min() <= point @ toward <= depths.max():
            self._picture.VisibilityOff()  # the pan moved the volume out of the view
            self._last_cut = None
        else:
            grid = SliceGrid(
                lps_from_slice, (u0 + spacing / 2, v0 + spacing / 2), spacing, n_u, n_v
            )
            cut = (self.sampler.key(grid), self.window)
            if cut != self._last_cut:  # same samples, same window: same picture
                self._cut(grid)
                self._last_cut = cut
            self._picture.SetUserMatrix(_matrix(lps_from_slice))
            self._picture.VisibilityOn()

        # Marks only on slices that follow the tip: a held slice shows where the tip was. The
        # cross-hair takes the untrusted colour under an unverified registration.
        guidance = snapshot.guidance if self.frozen_reason is None else None
        self.marks.place(
            lps_from_slice,
            self.mm_per_pixel,
            tip_lps_mm=snapshot.pointer_tip_lps_mm if self.frozen_reason is None else None,
            closest_lps_mm=None if guidance is None else guidance.closest_point_lps_mm,
            tip_rgb=TIP_RGB if snapshot.pointer_trusted else UNTRUSTED_TIP_RGB,
        )
        self.marks.set_texts(
            frozen=self.frozen_reason,
            window="" if self.window is None else self.window.caption(),
            note=NO_IMAGE_NOTE if self.volumes.background is None else None,
        )

        camera = self.renderer.GetActiveCamera()
        focal = lps_from_slice[:3, 3]
        camera.SetFocalPoint(*focal)
        camera.SetPosition(*(focal + toward * _CAMERA_DISTANCE_MM))
        camera.SetViewUp(*up)
        camera.SetParallelScale(height_mm / 2)
        camera.SetClippingRange(_CAMERA_DISTANCE_MM / 2, _CAMERA_DISTANCE_MM * 1.5)
        self.letters.update()
        coordinate = float(point[self._depth_axis])
        letter = self._depth_letters[coordinate < 0]
        self.position_text.SetInput(f"{self.orientation} {letter} {abs(coordinate):.1f} mm")

    def _cut(self, grid: SliceGrid) -> None:
        """Sample the volumes on the slice grid and compose the picture."""
        codes, samples = self.sampler.sample(grid)
        grey = None
        if samples is not None and self.window is not None:
            grey = self.window.grey(samples)
        pixels = compose_codes(codes, self.palette, grey)
        self._picture_pixels = pixels  # the VTK array below shares this memory
        image = self._picture_image
        image.SetDimensions(grid.columns, grid.rows, 1)
        image.SetOrigin(*grid.origin_uv_mm, 0.0)
        image.SetSpacing(grid.spacing_mm, grid.spacing_mm, 1.0)
        image.GetPointData().SetScalars(numpy_to_vtk(pixels.reshape(-1, 4), deep=False))
        image.Modified()


def _outside_value(background: np.ndarray | None) -> float:
    """The grey sample outside the grid: below any window (drawn black)."""
    if background is None or background.dtype.kind == "f":
        return -1e30
    return float(np.iinfo(background.dtype).min)


def _matrix(m: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(np.asarray(m, dtype=np.float64).ravel().tolist())
    return matrix


def _grid_corners(geometry: ImageGeometry) -> Float64Array:
    """(8, 3) LPS corners of the grid's outer voxel faces."""
    low = np.full(3, -0.5)
    high = np.asarray(geometry.size_ijk, dtype=np.float64) - 0.5
    corners = np.array([[a, b, c] for a in (low[0], high[0]) for b in (low[1], high[1])
                        for c in (low[2], high[2])])  # fmt: skip
    return geometry.ijk_to_lps(corners)
