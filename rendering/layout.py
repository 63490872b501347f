"""The navigation screen: one render window, six viewports, driven by snapshots.

::

    +--------------------------------------------------+
    | status: one badge per tool ...        heartbeat   |   96 px
    +------------------------------+-------------------+
    |                              |  axial            |
    |  3-D view                    +-------------------+
    |  (models, pointer, frustum,  |  coronal          |
    |   fluorescence, colour bar)  +-------------------+
    | [target]                     |  sagittal         |
    +------------------------------+                   |
    | guidance: tip to tumour, TRE |                   |   96 px
    +------------------------------+-------------------+

The target view (:mod:`rendering.target_view`) is an inset in the 3-D view's lower left
corner; the 3-D view also marks the tumour point closest to the tip with a line to it
(:mod:`rendering.guidance_marks`).

Over all of them, in the window's top layer, :class:`~rendering.alarms.AlarmOverlay` draws the
warnings nobody can miss (red border of the 3-D view for lost tracking, full-width margin band,
UNVERIFIED REGISTRATION).

Offscreen by default (VTK's EGL window; see :mod:`rendering.offscreen`); the application passes
the render window of its Qt widget instead. :meth:`NavigationLayout.pixel_of` maps an LPS point
to its pixel in a view with VTK's world-to-display conversion, the same transform that drew it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vtk
from numpy.typing import ArrayLike
from vtkmodules.util.numpy_support import vtk_to_numpy

from registration.core.checks import InputError, check_points
from rendering.alarms import AlarmOverlay
from rendering.guidance_marks import GuidanceMarks3D
from rendering.offscreen import window_with_viewports
from rendering.overlays import GuidancePanel, StatusBar
from rendering.scene3d import DEFAULT_TRIANGLE_BUDGET, Scene3D, SurfaceModel
from rendering.slice_views import SliceView, SliceVolumes
from rendering.target_view import TargetView
from rendering.view_state import ViewSnapshot

_STRIP = 96 / 1024
_SPLIT = 0.625
#: Viewports as (xmin, ymin, xmax, ymax) in normalised window coordinates (y up).
VIEWPORTS: dict[str, tuple[float, float, float, float]] = {
    "status": (0.0, 1.0 - _STRIP, 1.0, 1.0),
    "3d": (0.0, _STRIP, _SPLIT, 1.0 - _STRIP),
    "guidance": (0.0, 0.0, _SPLIT, _STRIP),
    "axial": (_SPLIT, (1.0 - _STRIP) * 2 / 3, 1.0, 1.0 - _STRIP),
    "coronal": (_SPLIT, (1.0 - _STRIP) / 3, 1.0, (1.0 - _STRIP) * 2 / 3),
    "sagittal": (_SPLIT, 0.0, 1.0, (1.0 - _STRIP) / 3),
    # Drawn after (over) the 3-D view, kept square in pixels at render time (_place_inset):
    # about 240 px in a 1280x1024 window.
    "target": (0.006, _STRIP + 0.008, 0.194, _STRIP + 0.008 + 0.188 * 1.25),
}
SLICE_NAMES = ("axial", "coronal", "sagittal")
#: Named arrangements: "views" (the 3-D view large, the three slices beside it) and "3d" (the
#: 3-D view alone, full width: the application may put the AR view beside the window).
#: Views missing from an arrangement are not drawn (nor updated).
LAYOUTS: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "views": VIEWPORTS,
    "3d": {
        "status": VIEWPORTS["status"],
        "3d": (0.0, _STRIP, 1.0, 1.0 - _STRIP),
        "guidance": (0.0, 0.0, 1.0, _STRIP),
        "target": VIEWPORTS["target"],
    },
}


class NavigationLayout:
    """The 3-D view, three slice views, tool badges and guidance in one render window.

    Parameters
    ----------
    models : plan surfaces for the 3-D view (LPS mm).
    volumes : label map (and optional image) for the slice views.
    window_size : (width, height) pixels of the offscreen window (ignored with
        ``render_window``).
    render_window : an existing window to draw into (e.g. a Qt widget's); None creates an
        offscreen one.
    triangle_budget : triangles drawn for the models in total (level of detail).
    preset : initial 3-D camera preset.
    arrangement : one of :data:`LAYOUTS` (:meth:`set_arrangement` changes it).
    """

    def __init__(
        self,
        models: Sequence[SurfaceModel],
        volumes: SliceVolumes,
        *,
        window_size: tuple[int, int] = (1280, 1024),
        render_window: vtk.vtkRenderWindow | None = None,
        triangle_budget: int = DEFAULT_TRIANGLE_BUDGET,
        preset: str = "anterior",
        arrangement: str = "views",
    ) -> None:
        if render_window is None:
            width, height = (int(n) for n in window_size)
            if width < 64 or height < 64:
                raise InputError(f"window_size must be at least 64x64 pixels; got {window_size}.")
        self.render_window, self.renderers = window_with_viewports(
            render_window, (int(window_size[0]), int(window_size[1])), VIEWPORTS
        )
        self.scene = Scene3D(
            self.renderers["3d"], models, triangle_budget=triangle_budget, preset=preset
        )
        self.slices = {name: SliceView(self.renderers[name], name, volumes) for name in SLICE_NAMES}
        self.status = StatusBar(self.renderers["status"])
        self.guidance = GuidancePanel(self.renderers["guidance"])
        self.guidance_marks = GuidanceMarks3D(self.renderers["3d"])
        self.target = TargetView(self.renderers["target"])
        self.alarms = AlarmOverlay(self.render_window, self.renderers["3d"], band_y=(0.0, _STRIP))
        self.arrangement = "views"
        self.set_arrangement(arrangement)
        self._image_filter = vtk.vtkWindowToImageFilter()
        self._image_filter.SetInput(self.render_window)
        self._image_filter.ReadFrontBufferOff()
        self._image_filter.ShouldRerenderOff()

    def render(self, snapshot: ViewSnapshot) -> None:
        """Draw one frame showing ``snapshot`` (and nothing from earlier frames)."""
        if not isinstance(snapshot, ViewSnapshot):
            raise InputError(f"render needs a ViewSnapshot; got {type(snapshot).__name__}.")
        self.scene.update(snapshot)
        shown = LAYOUTS[self.arrangement]
        for name, view in self.slices.items():
            if name in shown:
                view.update(snapshot)
        self.status.update(snapshot)
        self.guidance.update(snapshot)
        self.guidance_marks.update(snapshot)
        self._place_inset()
        self.target.update(snapshot)
        self.alarms.update(snapshot)
        self.render_window.Render()

    def _place_inset(self) -> None:
        """The target view: a square in the 3-D view's lower left corner, 30 % of the 3-D
        view's smaller side (whatever the arrangement and the window's shape)."""
        width, height = self.window_size
        x0, y0, x1, y1 = self.renderers["3d"].GetViewport()
        side = 0.3 * min((x1 - x0) * width, (y1 - y0) * height)
        margin = 6.0
        left, bottom = x0 + margin / width, y0 + margin / height
        self.renderers["target"].SetViewport(
            left, bottom, left + side / max(width, 1), bottom + side / max(height, 1)
        )

    def set_arrangement(self, name: str) -> None:
        """Arrange the views as :data:`LAYOUTS` ``[name]`` (the next render shows it)."""
        if name not in LAYOUTS:
            raise InputError(f"unknown arrangement {name!r}; use one of {', '.join(LAYOUTS)}.")
        viewports = LAYOUTS[name]
        for view, renderer in self.renderers.items():
            if view in viewports:
                renderer.SetViewport(*viewports[view])
                renderer.DrawOn()
            else:
                renderer.DrawOff()
        self.arrangement = name

    def apply_camera_preset(self, preset: str) -> None:
        """Set the 3-D camera to a preset (see :data:`rendering.orientation.CAMERA_PRESETS`)."""
        self.scene.apply_camera_preset(preset)

    @property
    def window_size(self) -> tuple[int, int]:
        width, height = self.render_window.GetSize()
        return int(width), int(height)

    def screenshot(self) -> np.ndarray:
        """(height, width, 3) uint8 RGB of the last rendered frame, row 0 at the top."""
        self._image_filter.Modified()
        self._image_filter.Update()
        image = self._image_filter.GetOutput()
        width, height, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars())
        return pixels.reshape(height, width, -1)[::-1, :, :3].copy()

    def viewport_box(self, view: str) -> tuple[int, int, int, int]:
        """(col0, row0, col1, row1) of a view in screenshot pixels, row 0 at the top, the
        end exclusive: ``image[row0:row1, col0:col1]`` is the view."""
        x0, y0, x1, y1 = self.renderers[self._check_view(view)].GetViewport()
        width, height = self.window_size
        return (
            round(x0 * width),
            round((1 - y1) * height),
            round(x1 * width),
            round((1 - y0) * height),
        )

    def view_at(self, x: float, y: float) -> str | None:
        """The view drawn at a point of the window in normalised coordinates (0..1, y up), the
        one drawn last where views overlap (an inset over the 3-D view); None outside all."""
        for name in reversed(list(self.renderers)):
            x0, y0, x1, y1 = self.renderers[name].GetViewport()
            if x0 <= x < x1 and y0 <= y < y1:
                return name
        return None

    def pixel_of(self, point_lps_mm: ArrayLike, view: str) -> tuple[float, float] | None:
        """Where a point is drawn in a view, as (column, row) in screenshot pixels (row 0 at the
        top, pixel centres on integers), or None if it is behind the 3-D camera.

        point_lps_mm : (3,) image LPS mm. view : "3d", "axial", "coronal" or "sagittal".
        Uses VTK's world-to-display conversion with the camera of the last render.
        """
        renderer = self.renderers[self._check_view(view)]
        point = check_points(point_lps_mm, "point_lps_mm")[0]
        camera = renderer.GetActiveCamera()
        ahead = (point - np.asarray(camera.GetPosition())) @ np.asarray(
            camera.GetDirectionOfProjection()
        )
        if not camera.GetParallelProjection() and ahead <= 0:
            return None
        coordinate = vtk.vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        coordinate.SetValue(*point)
        x, y = coordinate.GetComputedDoubleDisplayValue(renderer)
        height = self.window_size[1]
        return float(x) - 0.5, float(height - y) - 0.5

    def _check_view(self, view: str) -> str:
        if view not in VIEWPORTS:
            raise InputError(f"unknown view {view!r}; use one of {', '.join(VIEWPORTS)}.")
        return view

    def close(self) -> None:
        """Release the window's graphics resources."""
        self.render_window.Finalize()
