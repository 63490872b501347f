"""Axial, coronal and sagittal slice views through the pointer tip, labels outlined.

Each view is a renderer whose world is the image frame (LPS mm): the resliced image is a
textured plane placed in LPS, the camera looks at it orthographically along the patient axis of
the view (:data:`rendering.orientation.SLICE_ORIENTATIONS`, radiological convention as in 3D
Slicer). So a point's pixel comes from VTK's own world-to-display conversion, and the letters
at the edges are read back from the camera that drew the slice.

Resampling uses ``vtkImageReslice`` (multithreaded C++) on the volume in index space, with the
reslice axes ``ijk_from_lps @ lps_from_slice`` built from
:class:`~registration.geometry.ImageGeometry`: oblique or flipped directions are handled by the
one geometry object, never by VTK's image origin/spacing/direction fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import vtk
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from registration.checks import Float64Array, InputError
from registration.geometry import ImageGeometry
from rendering.orientation import SLICE_ORIENTATIONS, orientation_letter
from rendering.overlays import EdgeLetters
from rendering.scene3d import TIP_RGB
from rendering.view_state import ViewSnapshot

RGB = tuple[float, float, float]

#: Opacity of the label fill under the outlines.
LABEL_FILL_OPACITY = 0.25
#: Distances (mm) towards the viewer at which the layers sit above the image plane.
_OUTLINE_OFFSET_MM, _TIP_OFFSET_MM = 0.3, 0.6
_CAMERA_DISTANCE_MM = 1000.0
_SUPPORTED_LABEL_TYPES = (np.uint8, np.uint16, np.int16, np.int32)


@dataclass(frozen=True, eq=False)
class SliceVolumes:
    """The voxel data the slice views cut, on one grid.

    geometry : the grid (LPS mm).
    labels : (k, j, i) integer label map, 0 = background.
    label_colors : label value -> (r, g, b) 0..1, for outlines and fill; labels missing here
        are not drawn.
    background : optional (k, j, i) intensity image (CT HU, MR) drawn in grey under the labels.
    background_window : (low, high) grey-scale window; default the 1st..99th percentile.
    """

    geometry: ImageGeometry
    labels: np.ndarray
    label_colors: Mapping[int, RGB]
    background: np.ndarray | None = None
    background_window: tuple[float, float] | None = None

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
            background = np.ascontiguousarray(self.background, dtype=np.float32)
            if background.shape != shape:
                raise InputError(
                    f"background has shape {background.shape}; the labels' grid is {shape}."
                )
            window = self.background_window
            if window is None:
                low, high = np.percentile(background[:: max(1, shape[0] // 32)], [1.0, 99.0])
                window = (float(low), float(max(high, low + 1.0)))
            if not window[1] > window[0]:
                raise InputError(f"background_window must be (low, high), low < high; {window}.")
            object.__setattr__(self, "background", background)
            object.__setattr__(self, "background_window", (float(window[0]), float(window[1])))


def _index_image(array: np.ndarray) -> vtk.vtkImageData:
    """A vtkImageData over ``array`` (k, j, i) in index space: origin 0, spacing 1 (shares
    memory; the caller keeps ``array`` alive)."""
    image = vtk.vtkImageData()
    k, j, i = array.shape
    image.SetDimensions(i, j, k)
    image.GetPointData().SetScalars(numpy_to_vtk(array.ravel(), deep=False))
    return image


def _matrix(m: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(np.asarray(m, dtype=np.float64).ravel().tolist())
    return matrix


def _label_table(
    colors: Mapping[int, RGB], alpha: float, *, on_black: bool = False
) -> vtk.vtkLookupTable:
    """Label value -> colour; with ``on_black`` the colour is pre-blended over black, opaque."""
    top = max(colors, default=1)
    table = vtk.vtkLookupTable()
    table.SetNumberOfTableValues(top + 1)
    table.SetTableRange(-0.5, top + 0.5)
    for value in range(top + 1):
        table.SetTableValue(value, 0.0, 0.0, 0.0, 1.0 if on_black else 0.0)
    for value, rgb in colors.items():
        if on_black:
            table.SetTableValue(value, *(alpha * c for c in rgb), 1.0)
        else:
            table.SetTableValue(value, *rgb, alpha)
    table.Build()
    return table


class SliceView:
    """One slice orientation in ``renderer``; :meth:`update` cuts it through the snapshot's
    slice point (the tip while the pointer is OK, else ``focus_lps_mm``, else the centre).

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
        renderer.SetBackground(0.0, 0.0, 0.0)
        geometry = volumes.geometry
        self._corners_lps = _grid_corners(geometry)
        self._sample_floor_mm = float(geometry.spacing_mm.min()) / 2.0
        self.lps_from_slice: Float64Array = np.eye(4)

        self._label_image = _index_image(volumes.labels)
        self._label_reslice = _reslice(self._label_image, linear=False, fill=0.0)
        # Outlines: surface nets on the resliced labels (no smoothing: the lines follow the
        # sample boundaries exactly). A line between two labels takes the colour of the
        # smaller structure (the tumour inside the skin shows the tumour's colour).
        self._nets = vtk.vtkSurfaceNets2D()
        self._nets.SetInputConnection(self._label_reslice.GetOutputPort())
        for index, value in enumerate(sorted(volumes.label_colors)):
            self._nets.SetValue(index, value)
        self._nets.SetBackgroundLabel(0)
        self._nets.SmoothingOff()
        self._nets.ComputeScalarsOn()
        self._rank = _priority_by_size(volumes.labels, volumes.label_colors)
        self._outline_poly = vtk.vtkPolyData()
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputData(self._outline_poly)
        mapper.SetLookupTable(_label_table(volumes.label_colors, 1.0))
        mapper.UseLookupTableScalarRangeOn()
        mapper.SetScalarModeToUseCellData()
        self._outline = vtk.vtkActor()
        self._outline.SetMapper(mapper)
        self._outline.GetProperty().SetLineWidth(2.5)
        self._outline.GetProperty().LightingOff()

        # The slice picture: labels filled faintly over the grey image (or over black), one
        # opaque RGB image (no translucent pass in the renderer).
        fill = vtk.vtkImageMapToColors()
        fill.SetInputConnection(self._label_reslice.GetOutputPort())
        self._background_reslice: vtk.vtkImageReslice | None = None
        if volumes.background is not None and volumes.background_window is not None:
            self._background_image = _index_image(volumes.background)
            low, high = volumes.background_window
            self._background_reslice = _reslice(self._background_image, linear=True, fill=low)
            grey = vtk.vtkImageMapToColors()
            grey.SetInputConnection(self._background_reslice.GetOutputPort())
            table = vtk.vtkLookupTable()
            table.SetTableRange(low, high)
            table.SetSaturationRange(0.0, 0.0)
            table.SetHueRange(0.0, 0.0)
            table.SetValueRange(0.0, 1.0)
            table.SetRampToLinear()
            table.Build()
            grey.SetLookupTable(table)
            grey.SetOutputFormatToRGB()
            fill.SetLookupTable(_label_table(volumes.label_colors, LABEL_FILL_OPACITY))
            fill.SetOutputFormatToRGBA()
            picture = vtk.vtkImageBlend()
            picture.AddInputConnection(grey.GetOutputPort())
            picture.AddInputConnection(fill.GetOutputPort())
            picture.SetOpacity(1, 1.0)
        else:
            fill.SetLookupTable(
                _label_table(volumes.label_colors, LABEL_FILL_OPACITY, on_black=True)
            )
            fill.SetOutputFormatToRGB()
            picture = fill
        self._picture = vtk.vtkImageActor()
        self._picture.GetMapper().SetInputConnection(picture.GetOutputPort())
        self._picture.InterpolateOff()
        layers: list[vtk.vtkProp] = [self._picture, self._outline]

        self._tip = _tip_marker_actor()
        self._tip.VisibilityOff()
        layers.append(self._tip)
        for prop in layers:
            renderer.AddViewProp(prop)

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

    def update(self, snapshot: ViewSnapshot) -> None:
        """Cut the slice through the snapshot's slice point and mark the tip if the pointer is
        OK (the window's next render shows it)."""
        right, up = self.view.screen_right, self.view.view_up
        toward = self.view.towards_viewer
        point = snapshot.slice_point_lps_mm
        if point is None:
            point = self.volumes.geometry.ijk_to_lps((np.asarray(self.volumes.geometry.size_ijk)
                                                      - 1) / 2.0)  # fmt: skip
        point = np.asarray(point, dtype=np.float64)
        width_px, height_px = (max(1, n) for n in self.renderer.GetSize())
        aspect = width_px / height_px
        u_all, v_all = self._corners_lps @ right, self._corners_lps @ up
        fov = snapshot.display.slice_field_of_view_mm
        if fov is None:
            centre_u, centre_v = (u_all.min() + u_all.max()) / 2, (v_all.min() + v_all.max()) / 2
            width_mm = float(u_all.max() - u_all.min())
            height_mm = float(v_all.max() - v_all.min())
        else:
            centre_u, centre_v = float(point @ right), float(point @ up)
            width_mm, height_mm = fov * aspect, fov
        # Show the whole region: widen whichever side the viewport's aspect leaves short.
        height_mm = max(height_mm, width_mm / aspect)
        width_mm = height_mm * aspect
        spacing = max(width_mm / width_px, height_mm / height_px, self._sample_floor_mm)
        n_u, n_v = int(np.ceil(width_mm / spacing)), int(np.ceil(height_mm / spacing))

        lps_from_slice = np.eye(4)
        lps_from_slice[:3, 0], lps_from_slice[:3, 1], lps_from_slice[:3, 2] = right, up, toward
        lps_from_slice[:3, 3] = right * centre_u + up * centre_v + toward * float(point @ toward)
        self.lps_from_slice = lps_from_slice
        axes = _matrix(self.volumes.geometry.ijk_from_lps @ lps_from_slice)
        origin = (-(n_u - 1) * spacing / 2, -(n_v - 1) * spacing / 2, 0.0)
        reslices = [self._label_reslice]
        if self._background_reslice is not None:
            reslices.append(self._background_reslice)
        for reslice in reslices:
            reslice.SetResliceAxes(axes)
            reslice.SetOutputSpacing(spacing, spacing, 1.0)
            reslice.SetOutputOrigin(*origin)
            reslice.SetOutputExtent(0, n_u - 1, 0, n_v - 1, 0, 0)
        self._update_outline()
        for prop, offset in ((self._picture, 0.0), (self._outline, _OUTLINE_OFFSET_MM)):
            shifted = lps_from_slice.copy()
            shifted[:3, 3] += toward * offset
            prop.SetUserMatrix(_matrix(shifted))

        if snapshot.pointer_ok:
            marker = lps_from_slice.copy()
            marker[:3, 3] = np.asarray(snapshot.pointer_tip_lps_mm) + toward * _TIP_OFFSET_MM
            self._tip.SetUserMatrix(_matrix(marker))
            self._tip.VisibilityOn()
        else:
            self._tip.VisibilityOff()

        camera = self.renderer.GetActiveCamera()
        focal = lps_from_slice[:3, 3]
        camera.SetFocalPoint(*focal)
        camera.SetPosition(*(focal + toward * _CAMERA_DISTANCE_MM))
        camera.SetViewUp(*up)
        camera.SetParallelScale(height_mm / 2)
        camera.SetClippingRange(_CAMERA_DISTANCE_MM / 2, _CAMERA_DISTANCE_MM * 1.5)
        self.letters.update()
        axis = int(np.argmax(np.abs(toward)))
        unit = np.eye(3)[axis]
        coordinate = float(point[axis])
        letter = orientation_letter(unit if coordinate >= 0 else -unit)
        self.position_text.SetInput(f"{self.orientation} {letter} {abs(coordinate):.1f} mm")

    def _update_outline(self) -> None:
        """Run the outline pipeline and colour each line by its label of highest priority."""
        self._nets.Update()
        lines = self._nets.GetOutput()
        self._outline_poly.ShallowCopy(lines)
        boundary = lines.GetCellData().GetArray("BoundaryLabels")
        if boundary is None or lines.GetNumberOfCells() == 0:
            return
        pairs = vtk_to_numpy(boundary).reshape(-1, 2).astype(np.int64)
        pairs = np.clip(pairs, 0, len(self._rank) - 1)
        first_wins = self._rank[pairs[:, 0]] >= self._rank[pairs[:, 1]]
        chosen = np.where(first_wins, pairs[:, 0], pairs[:, 1]).astype(np.float32)
        scalars = numpy_to_vtk(chosen, deep=True)
        scalars.SetName("OutlineLabel")
        self._outline_poly.GetCellData().SetScalars(scalars)


def _priority_by_size(labels: np.ndarray, colors: Mapping[int, RGB]) -> np.ndarray:
    """Rank per label value (index): smaller structures rank higher; 0 and undrawn labels
    rank lowest."""
    top = max(colors, default=1)
    counts = np.bincount(np.clip(labels.ravel(), 0, top + 1).astype(np.int64), minlength=top + 2)
    rank = np.full(top + 2, -1.0)
    for value in colors:
        rank[value] = 1.0 / (1.0 + counts[value])
    return rank


def _reslice(image: vtk.vtkImageData, *, linear: bool, fill: float) -> vtk.vtkImageReslice:
    reslice = vtk.vtkImageReslice()
    reslice.SetInputData(image)
    reslice.SetOutputDimensionality(2)
    reslice.SetBackgroundLevel(fill)
    if linear:
        reslice.SetInterpolationModeToLinear()
    else:
        reslice.SetInterpolationModeToNearestNeighbor()
    return reslice


def _grid_corners(geometry: ImageGeometry) -> Float64Array:
    """(8, 3) LPS corners of the grid's outer voxel faces."""
    low = np.full(3, -0.5)
    high = np.asarray(geometry.size_ijk, dtype=np.float64) - 0.5
    corners = np.array([[a, b, c] for a in (low[0], high[0]) for b in (low[1], high[1])
                        for c in (low[2], high[2])])  # fmt: skip
    return geometry.ijk_to_lps(corners)


def _tip_marker_actor(radius_mm: float = 1.5, arm_mm: float = 12.0) -> vtk.vtkActor:
    """A filled disc and a gapped cross-hair in the slice plane, centred on the origin."""
    append = vtk.vtkAppendPolyData()
    disc = vtk.vtkRegularPolygonSource()
    disc.SetNumberOfSides(32)
    disc.SetRadius(radius_mm)
    disc.GeneratePolygonOn()
    append.AddInputConnection(disc.GetOutputPort())
    gap = 2.5 * radius_mm
    for direction in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        line = vtk.vtkLineSource()
        line.SetPoint1(direction[0] * gap, direction[1] * gap, 0.0)
        line.SetPoint2(direction[0] * (gap + arm_mm), direction[1] * (gap + arm_mm), 0.0)
        append.AddInputConnection(line.GetOutputPort())
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(append.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*TIP_RGB)
    prop.SetLineWidth(2.0)
    prop.LightingOff()
    return actor
