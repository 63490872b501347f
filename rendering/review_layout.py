"""The planner's review screen: the 3-D view and three slice views in one render window.

::

    +------------------------------+-------------------+
    |                              |  axial            |
    |  3-D view                    +-------------------+
    |  (the plan's meshes,         |  coronal          |
    |   landmarks, the box)        +-------------------+
    |                              |  sagittal         |
    +------------------------------+-------------------+

The views are the navigation's own (:class:`~rendering.scene3d.Scene3D`,
:class:`~rendering.slice_views.SliceView`: the same slicing, window/level, label outlines and
fills, orientation letters); the planner's cursor is the navigation's tip (a cross-hair in the
slices, a small sphere in 3-D), and :mod:`rendering.review_marks` adds the landmarks, the
suggested next landmark, the tumour seed and box. After an edit, :meth:`ReviewLayout.set_volumes`
re-cuts the slices from the new label map and :meth:`ReviewLayout.set_model` swaps one mesh.

Points come back from clicks with VTK's own conversions: :meth:`ReviewLayout.slice_point_at`
(a click on a slice: the point of the slice plane under it) and :meth:`ReviewLayout.pick_surface`
(a click in 3-D: the point of a model's full-resolution surface under it: ``vtkCellPicker`` finds
the drawn, decimated surface, then the same ray is cut with the full-resolution mesh by a
``vtkStaticCellLocator``, so a landmark lies where the planner clicked, not up to the decimation's
error away from it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vtk
from numpy.typing import ArrayLike
from vtkmodules.util.numpy_support import vtk_to_numpy

from registration.core.checks import Float64Array, InputError, check_points
from rendering.lod import decimate
from rendering.offscreen import window_with_viewports
from rendering.review_marks import MarksState, Scene3DReviewMarks, SliceReviewMarks
from rendering.scene3d import Scene3D, SurfaceModel
from rendering.slice_views import SliceView, SliceVolumes
from rendering.view_state import ViewSnapshot

_SPLIT = 0.58
VIEWPORTS: dict[str, tuple[float, float, float, float]] = {
    "3d": (0.0, 0.0, _SPLIT, 1.0),
    "axial": (_SPLIT, 2 / 3, 1.0, 1.0),
    "coronal": (_SPLIT, 1 / 3, 1.0, 2 / 3),
    "sagittal": (_SPLIT, 0.0, 1.0, 1 / 3),
}
SLICE_NAMES = ("axial", "coronal", "sagittal")
#: Triangles drawn for the models in total (software rendering stays interactive).
REVIEW_TRIANGLE_BUDGET = 200_000


class ReviewLayout:
    """The review's views in ``render_window`` (an offscreen one when None)."""

    def __init__(
        self,
        models: Sequence[SurfaceModel],
        volumes: SliceVolumes,
        *,
        render_window: vtk.vtkRenderWindow | None = None,
        window_size: tuple[int, int] = (1280, 900),
        triangle_budget: int = REVIEW_TRIANGLE_BUDGET,
    ) -> None:
        self.render_window, self.renderers = window_with_viewports(
            render_window, window_size, VIEWPORTS
        )
        self.triangle_budget = int(triangle_budget)
        self._locators: dict[str, tuple[object, vtk.vtkStaticCellLocator]] = {}
        self.scene = Scene3D(self.renderers["3d"], models, triangle_budget=triangle_budget)
        self.marks3d = Scene3DReviewMarks(self.renderers["3d"])
        self.slices: dict[str, SliceView] = {}
        self.slice_marks: dict[str, SliceReviewMarks] = {}
        self.set_volumes(volumes)

    # ------------------------------------------------------------------ content
    def set_volumes(self, volumes: SliceVolumes) -> None:
        """Cut the slices from ``volumes`` from now on (after a label edit)."""
        self.volumes = volumes
        self._slab_mm = float(np.max(volumes.geometry.spacing_mm)) / 2.0 + 1e-6
        for name in SLICE_NAMES:
            renderer = self.renderers[name]
            renderer.RemoveAllViewProps()
            self.slices[name] = SliceView(renderer, name, volumes)
            self.slice_marks[name] = SliceReviewMarks(renderer)

    def set_model(self, model: SurfaceModel | None, name: str) -> None:
        """Draw ``model`` (its mesh decimated to a share of the budget) as the model ``name``,
        or remove that model (None)."""
        scene = self.scene
        old = scene.actors.pop(name, None)
        if old is not None:
            self.renderers["3d"].RemoveActor(old)
            scene.display_meshes.pop(name, None)
            scene.models.pop(name, None)
        if model is None or model.mesh.n_points == 0:
            return
        share = max(2000, self.triangle_budget // max(1, len(scene.models) + 1))
        scene.display_meshes[name] = decimate(model.mesh, share, name=f"model {name!r}")
        scene.models[name] = model
        scene.actors[name] = scene._model_actor(model)

    # ------------------------------------------------------------------ drawing
    def render(self, snapshot: ViewSnapshot, marks: MarksState) -> None:
        """Draw one frame: the views from ``snapshot``, the review's marks from ``marks``."""
        self.scene.update(snapshot)
        self.marks3d.place(marks)
        for name, view in self.slices.items():
            view.update(snapshot)
            self.slice_marks[name].place(
                marks, view.lps_from_slice, view.mm_per_pixel, self._slab_mm
            )
        self.render_window.Render()

    def screenshot(self) -> np.ndarray:
        """(height, width, 3) uint8 RGB of the last frame, row 0 at the top."""
        grab = vtk.vtkWindowToImageFilter()
        grab.SetInput(self.render_window)
        grab.ReadFrontBufferOff()
        grab.ShouldRerenderOff()
        grab.Update()
        image = grab.GetOutput()
        width, height, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars())
        return pixels.reshape(height, width, -1)[::-1, :, :3].copy()

    # ------------------------------------------------------------------ clicks
    def view_at(self, column: float, row: float) -> str | None:
        """The view under a window pixel (column, row; row 0 at the top), or None."""
        width, height = self.render_window.GetSize()
        x, y = column / max(1, width), 1.0 - row / max(1, height)
        for name, (x0, y0, x1, y1) in VIEWPORTS.items():
            if x0 <= x < x1 and y0 <= y < y1:
                return name
        return None

    def slice_point_at(self, view: str, column: float, row: float) -> Float64Array:
        """(3,) LPS mm: the point of ``view``'s slice plane drawn at the window pixel
        (column, row; row 0 at the top), by VTK's display-to-world conversion."""
        renderer = self.renderers[_check_view(view)]
        if view not in self.slices:
            raise InputError(f"{view!r} is not a slice view.")
        height = self.render_window.GetSize()[1]
        renderer.SetDisplayPoint(column + 0.5, height - row - 0.5, 0.0)
        renderer.DisplayToWorld()
        x, y, z, w = renderer.GetWorldPoint()
        point = np.array([x, y, z]) / (w if w else 1.0)
        slice_frame = self.slices[view].lps_from_slice
        toward = slice_frame[:3, 2]
        # parallel projection: move along the view direction onto the slice plane
        return point - toward * float((point - slice_frame[:3, 3]) @ toward)

    def pick_surface(
        self, column: float, row: float, names: Sequence[str] | None = None
    ) -> tuple[Float64Array, str] | None:
        """The point of a model's full-resolution surface under the window pixel (column, row;
        row 0 at the top) in the 3-D view and the model's name (only ``names`` when given), or
        None. ``vtkCellPicker`` picks the drawn (decimated) mesh; of the full-resolution mesh's
        crossings with the same ray, the one nearest that pick is returned."""
        picker = vtk.vtkCellPicker()
        picker.SetTolerance(0.0005)
        picker.PickFromListOn()
        wanted = {n: a for n, a in self.scene.actors.items() if names is None or n in names}
        for actor in wanted.values():
            if actor.GetVisibility():
                picker.AddPickList(actor)
        height = self.render_window.GetSize()[1]
        if not picker.Pick(column + 0.5, height - row - 0.5, 0.0, self.renderers["3d"]):
            return None
        actor = picker.GetActor()
        name = next((n for n, a in wanted.items() if a is actor), None)
        if name is None:
            return None
        drawn = np.asarray(picker.GetPickPosition(), dtype=np.float64)
        return self._full_resolution_hit(name, column, row, drawn), name

    def _full_resolution_hit(
        self, name: str, column: float, row: float, drawn: Float64Array
    ) -> Float64Array:
        """The crossing of the pixel's ray with model ``name``'s full-resolution mesh nearest
        ``drawn`` (the pick on the decimated mesh; kept when the ray misses the full one)."""
        mesh = self.scene.models[name].mesh
        cached = self._locators.get(name)
        if cached is None or cached[0] is not mesh:
            locator = vtk.vtkStaticCellLocator()
            locator.SetDataSet(mesh)
            locator.BuildLocator()
            self._locators[name] = cached = (mesh, locator)
        origin, direction = self.camera_ray(column, row)
        reach = 2.0 * float(np.linalg.norm(drawn - origin)) + 1.0
        points, cells = vtk.vtkPoints(), vtk.vtkIdList()
        cached[1].IntersectWithLine(origin, origin + reach * direction, points, cells)
        if points.GetNumberOfPoints() == 0:
            return drawn
        hits = vtk_to_numpy(points.GetData()).astype(np.float64)
        return hits[np.argmin(np.linalg.norm(hits - drawn, axis=1))]

    def pixel_of(self, point_lps_mm: ArrayLike, view: str) -> tuple[float, float]:
        """(column, row) window pixel where an LPS point is drawn in ``view`` (row 0 at the
        top; VTK's world-to-display conversion with the last frame's camera)."""
        renderer = self.renderers[_check_view(view)]
        point = check_points(point_lps_mm, "point_lps_mm")[0]
        coordinate = vtk.vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        coordinate.SetValue(*point)
        x, y = coordinate.GetComputedDoubleDisplayValue(renderer)
        height = self.render_window.GetSize()[1]
        return float(x) - 0.5, float(height - y) - 0.5

    def camera_ray(self, column: float, row: float) -> tuple[Float64Array, Float64Array]:
        """(origin, unit direction) LPS of the 3-D view's ray through a window pixel."""
        renderer = self.renderers["3d"]
        height = self.render_window.GetSize()[1]
        ends = []
        for depth in (0.0, 1.0):
            renderer.SetDisplayPoint(column + 0.5, height - row - 0.5, depth)
            renderer.DisplayToWorld()
            x, y, z, w = renderer.GetWorldPoint()
            ends.append(np.array([x, y, z]) / (w if w else 1.0))
        direction = ends[1] - ends[0]
        return ends[0], direction / np.linalg.norm(direction)

    def close(self) -> None:
        self.render_window.Finalize()


def _check_view(view: str) -> str:
    if view not in VIEWPORTS:
        raise InputError(f"unknown view {view!r}; use one of {', '.join(VIEWPORTS)}.")
    return view
