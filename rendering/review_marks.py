"""What the planner's review draws over the views: landmarks, the suggested next landmark, the
tumour seed and box.

In the 3-D view a landmark is a sphere with its name beside it; in a slice view it is a ring
with its name, drawn when it lies within half a slice thickness of the slice plane (as 3D
Slicer shows markups near the slice), a selected landmark in a second colour. Rings and
crosses are built in screen pixels and placed by a user matrix that scales pixels to mm at the
view's zoom (as :mod:`rendering.slice_marks` does), so they keep their size on screen. The
tumour box is drawn as its edges in 3-D and as the rectangle where the slice plane cuts it.
:class:`ReviewMarks` keeps only VTK actors; what to draw comes in each :class:`MarksState`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import vtk

from registration.core.checks import Float64Array
from rendering.slice_marks import MARK_OFFSET_MM, flat_actor, ring_polyline

LANDMARK_RGB = (1.0, 0.75, 0.0)
SELECTED_RGB = (1.0, 0.2, 1.0)
HINT_RGB = (0.2, 1.0, 0.4)
SEED_RGB = (0.3, 0.8, 1.0)
BOX_RGB = (0.3, 0.8, 1.0)
LANDMARK_RADIUS_MM = 2.0
_RING_PX = 8.0
_TEXT_SIZE = 15


@dataclass(frozen=True, eq=False)
class MarksState:
    """Marks of one frame (LPS mm).

    landmarks : (name, (3,) position) in order. selected : the selected landmark's name.
    hint : (3,) where one more landmark helps most, or None; hint_text : its caption.
    seed : (3,) tumour seed or None. box : (2, 3) tumour box corners or None.
    """

    landmarks: tuple[tuple[str, Float64Array], ...] = ()
    selected: str | None = None
    hint: Float64Array | None = None
    hint_text: str = ""
    seed: Float64Array | None = None
    box: Float64Array | None = None


def _matrix(m: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(np.asarray(m, dtype=np.float64).ravel().tolist())
    return matrix


def _text(rgb: tuple[float, float, float]) -> vtk.vtkTextActor:
    actor = vtk.vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(_TEXT_SIZE)
    prop.SetBold(True)
    prop.SetColor(*rgb)
    prop.SetShadow(True)
    actor.GetPositionCoordinate().SetCoordinateSystemToWorld()
    return actor


def _cross() -> vtk.vtkPolyData:
    points, lines = vtk.vtkPoints(), vtk.vtkCellArray()
    for dx, dy in ((1, 1), (1, -1)):
        a = points.InsertNextPoint(-dx * _RING_PX, -dy * _RING_PX, 0.0)
        b = points.InsertNextPoint(dx * _RING_PX, dy * _RING_PX, 0.0)
        lines.InsertNextCell(2, [a, b])
    poly = vtk.vtkPolyData()
    poly.SetPoints(points)
    poly.SetLines(lines)
    return poly


def _box_edges(corners: np.ndarray) -> vtk.vtkPolyData:
    low, high = corners.min(axis=0), corners.max(axis=0)
    outline = vtk.vtkOutlineSource()
    outline.SetBounds(low[0], high[0], low[1], high[1], low[2], high[2])
    outline.Update()
    return outline.GetOutput()


class _Pool:
    """Actors of one kind, made as needed and hidden when not used."""

    def __init__(self, renderer: vtk.vtkRenderer, make: Callable[[], vtk.vtkProp]) -> None:
        self.renderer, self.make = renderer, make
        self.actors: list[vtk.vtkProp] = []

    def take(self, count: int) -> list[vtk.vtkProp]:
        while len(self.actors) < count:
            actor = self.make()
            self.renderer.AddViewProp(actor)
            self.actors.append(actor)
        for actor in self.actors[count:]:
            actor.VisibilityOff()
        for actor in self.actors[:count]:
            actor.VisibilityOn()
        return self.actors[:count]


class SliceReviewMarks:
    """The marks in one slice view's renderer."""

    def __init__(self, renderer: vtk.vtkRenderer) -> None:
        self.renderer = renderer
        ring = ring_polyline(_RING_PX)
        self._rings = _Pool(renderer, lambda: flat_actor(ring, LANDMARK_RGB, 3.0))
        self._texts = _Pool(renderer, lambda: _text(LANDMARK_RGB))
        cross = _cross()
        self._crosses = _Pool(renderer, lambda: flat_actor(cross, SEED_RGB, 2.0))
        self._box = flat_actor(vtk.vtkPolyData(), BOX_RGB, 2.0)
        renderer.AddViewProp(self._box)

    def place(
        self, state: MarksState, lps_from_slice: np.ndarray, mm_per_pixel: float, slab_mm: float
    ) -> None:
        """Draw ``state``'s marks near the slice whose frame is ``lps_from_slice`` (4, 4;
        columns: screen right, up, towards the viewer, slice centre)."""
        toward = lps_from_slice[:3, 2]
        depth = float(lps_from_slice[:3, 3] @ toward)
        near = [
            (name, np.asarray(p), name == state.selected, LANDMARK_RGB)
            for name, p in state.landmarks
            if abs(float(np.asarray(p) @ toward) - depth) <= slab_mm
        ]
        if state.hint is not None and abs(float(state.hint @ toward) - depth) <= slab_mm:
            near.append((state.hint_text or "next", np.asarray(state.hint), False, HINT_RGB))
        rings, texts = self._rings.take(len(near)), self._texts.take(len(near))
        for (name, point, selected, rgb), ring, text in zip(near, rings, texts, strict=True):
            colour = SELECTED_RGB if selected else rgb
            ring.GetProperty().SetColor(*colour)
            ring.SetUserMatrix(_matrix(self._placement(lps_from_slice, point, mm_per_pixel)))
            text.GetTextProperty().SetColor(*colour)
            text.SetInput(name)
            spot = point + lps_from_slice[:3, 0] * (_RING_PX + 3) * mm_per_pixel
            text.GetPositionCoordinate().SetValue(*(spot + toward * MARK_OFFSET_MM))
        seeds = [] if state.seed is None else [np.asarray(state.seed)]
        seeds = [s for s in seeds if abs(float(s @ toward) - depth) <= slab_mm]
        for seed, cross in zip(seeds, self._crosses.take(len(seeds)), strict=True):
            cross.SetUserMatrix(_matrix(self._placement(lps_from_slice, seed, mm_per_pixel)))
        self._place_box(state.box, lps_from_slice, depth)

    @staticmethod
    def _placement(
        lps_from_slice: np.ndarray, point: np.ndarray, mm_per_pixel: float
    ) -> np.ndarray:
        matrix = lps_from_slice.copy()
        matrix[:3, :3] = lps_from_slice[:3, :3] * mm_per_pixel
        matrix[:3, 3] = point + lps_from_slice[:3, 2] * MARK_OFFSET_MM
        return matrix

    def _place_box(self, box: np.ndarray | None, lps_from_slice: np.ndarray, depth: float) -> None:
        toward = lps_from_slice[:3, 2]
        axis = int(np.argmax(np.abs(toward)))
        if box is None:
            self._box.VisibilityOff()
            return
        corners = np.asarray(box, dtype=np.float64).reshape(2, 3)
        low, high = corners.min(axis=0), corners.max(axis=0)
        position = depth * float(np.sign(toward[axis]))
        if not low[axis] <= position <= high[axis]:
            self._box.VisibilityOff()
            return
        low = low.copy()
        high = high.copy()
        low[axis] = high[axis] = position + float(np.sign(toward[axis])) * MARK_OFFSET_MM
        self._box.GetMapper().SetInputData(_box_edges(np.stack([low, high])))
        self._box.VisibilityOn()


class Scene3DReviewMarks:
    """The marks in the 3-D view's renderer: spheres with names, the hint, seed and box."""

    def __init__(self, renderer: vtk.vtkRenderer) -> None:
        self.renderer = renderer
        sphere = vtk.vtkSphereSource()
        sphere.SetRadius(LANDMARK_RADIUS_MM)
        sphere.SetThetaResolution(16)
        sphere.SetPhiResolution(12)
        sphere.Update()
        self._sphere = sphere.GetOutput()
        self._spheres = _Pool(renderer, lambda: flat_actor(self._sphere, LANDMARK_RGB, 1.0))
        self._texts = _Pool(renderer, lambda: _text(LANDMARK_RGB))
        self._box = flat_actor(vtk.vtkPolyData(), BOX_RGB, 2.0)
        renderer.AddViewProp(self._box)

    def place(self, state: MarksState) -> None:
        marks = [(n, np.asarray(p), n == state.selected, LANDMARK_RGB) for n, p in state.landmarks]
        if state.hint is not None:
            marks.append((state.hint_text or "next", np.asarray(state.hint), False, HINT_RGB))
        if state.seed is not None:
            marks.append(("seed", np.asarray(state.seed), False, SEED_RGB))
        spheres, texts = self._spheres.take(len(marks)), self._texts.take(len(marks))
        for (name, point, selected, rgb), sphere, text in zip(marks, spheres, texts, strict=True):
            colour = SELECTED_RGB if selected else rgb
            sphere.GetProperty().SetColor(*colour)
            sphere.SetPosition(*point)
            text.GetTextProperty().SetColor(*colour)
            text.SetInput(name)
            text.GetPositionCoordinate().SetValue(*point)
        if state.box is None:
            self._box.VisibilityOff()
        else:
            self._box.GetMapper().SetInputData(_box_edges(np.asarray(state.box).reshape(2, 3)))
            self._box.VisibilityOn()
