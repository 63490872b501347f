"""What a slice view draws over its picture: the tip cross-hair, the guidance marks and texts.

Marks are built in *screen pixels* (a cross-hair with a gap, a ring) and placed in the slice
plane by a user matrix that scales pixels to millimetres at the view's current zoom: they keep
their size on screen whatever the field of view, and lines are drawn as GL lines (at least one
pixel wide) so a thin mark never vanishes at a coarse zoom. Each mark sits a little towards the
viewer so the picture never hides it.

Texts: the frozen overlay (large, on red: the slices do not follow the pointer, and why), the
window/level caption, and a note when the plan keeps no image (labels only).
"""

from __future__ import annotations

import numpy as np
import vtk

from registration.core.checks import Float64Array
from rendering.scene3d import TIP_RGB

#: The closest-tumour-point mark and its line (the 3-D view uses the same colour).
CLOSEST_RGB: tuple[float, float, float] = (1.0, 0.9, 0.0)
FROZEN_BACKGROUND: tuple[float, float, float] = (0.8, 0.0, 0.0)
#: Distance (mm) towards the viewer at which marks sit above the slice picture.
MARK_OFFSET_MM = 0.6
_CROSS_GAP_PX = 10.0
_CROSS_ARM_PX = 4000.0  # beyond any view: the cross-hair spans it
_TIP_RING_RADIUS_PX = 5.0
_RING_RADIUS_PX = 7.0


def _matrix(m: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(np.asarray(m, dtype=np.float64).ravel().tolist())
    return matrix


def flat_actor(
    source: vtk.vtkPolyData | vtk.vtkAlgorithm, rgb: tuple[float, float, float], width: float
) -> vtk.vtkActor:
    """An unlit actor (its pixels are exactly ``rgb``) of a polydata or a source's output,
    lines ``width`` pixels wide; shared by the slice, 3-D guidance and target marks."""
    mapper = vtk.vtkPolyDataMapper()
    if isinstance(source, vtk.vtkAlgorithm):
        mapper.SetInputConnection(source.GetOutputPort())
    else:
        mapper.SetInputData(source)
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*rgb)
    prop.SetLineWidth(width)
    prop.LightingOff()
    return actor


def _crosshair() -> vtk.vtkPolyData:
    """A small ring round the origin and four lines from the gap outwards (pixel units): the
    tissue at the tip itself stays visible, as in 3D Slicer's cross-hair."""
    poly = vtk.vtkPolyData()
    poly.DeepCopy(ring_polyline(_TIP_RING_RADIUS_PX))
    points = poly.GetPoints()
    lines = vtk.vtkCellArray()
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        start = points.InsertNextPoint(dx * _CROSS_GAP_PX, dy * _CROSS_GAP_PX, 0.0)
        end = points.InsertNextPoint(dx * _CROSS_ARM_PX, dy * _CROSS_ARM_PX, 0.0)
        lines.InsertNextCell(2, [start, end])
    poly.SetLines(lines)
    return poly


def ring_polyline(radius: float, sides: int = 24) -> vtk.vtkPolyData:
    """A closed polyline circle of ``radius`` about the origin in the xy plane."""
    ring = vtk.vtkRegularPolygonSource()
    ring.SetNumberOfSides(sides)
    ring.SetRadius(radius)
    ring.GeneratePolygonOff()
    ring.GeneratePolylineOn()
    ring.Update()
    return ring.GetOutput()


def overlay_text(size: int, x: float = 0.0, y: float = 0.0) -> vtk.vtkTextActor:
    """Bold white text of ``size`` points at (x, y) in the viewport's normalised coordinates."""
    actor = vtk.vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetBold(True)
    prop.SetColor(1.0, 1.0, 1.0)
    actor.SetTextScaleModeToNone()
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.SetPosition(x, y)
    return actor


class SliceMarks:
    """The tip cross-hair, the closest tumour point with its line from the tip, and the view's
    texts, in one slice view's ``renderer``."""

    def __init__(self, renderer: vtk.vtkRenderer) -> None:
        self.renderer = renderer
        self.tip = flat_actor(_crosshair(), TIP_RGB, 2.0)
        self.closest = flat_actor(ring_polyline(_RING_RADIUS_PX), CLOSEST_RGB, 3.0)
        self._line_points = vtk.vtkPoints()
        self._line_points.SetNumberOfPoints(2)
        line = vtk.vtkPolyData()
        line.SetPoints(self._line_points)
        cells = vtk.vtkCellArray()
        cells.InsertNextCell(2, [0, 1])
        line.SetLines(cells)
        self.line = flat_actor(line, CLOSEST_RGB, 2.0)
        for actor in (self.line, self.closest, self.tip):
            actor.VisibilityOff()
            renderer.AddViewProp(actor)
        self.frozen = overlay_text(22)
        prop = self.frozen.GetTextProperty()
        prop.SetBackgroundColor(*FROZEN_BACKGROUND)
        prop.SetBackgroundOpacity(1.0)
        prop.SetJustificationToCentered()
        prop.SetVerticalJustificationToTop()
        self.frozen.SetPosition(0.5, 0.9)
        self.frozen.VisibilityOff()
        self.window_text = overlay_text(14)
        self.window_text.GetTextProperty().SetJustificationToRight()
        self.window_text.GetTextProperty().SetColor(0.85, 0.85, 0.85)
        self.window_text.SetPosition(0.985, 0.02)
        self.note = overlay_text(14)
        self.note.GetTextProperty().SetJustificationToCentered()
        self.note.GetTextProperty().SetColor(1.0, 0.75, 0.3)
        self.note.SetPosition(0.5, 0.12)
        self.note.VisibilityOff()
        for actor in (self.frozen, self.window_text, self.note):
            renderer.AddViewProp(actor)

    def place(
        self,
        lps_from_slice: Float64Array,
        mm_per_px: float,
        *,
        tip_lps_mm: Float64Array | None,
        closest_lps_mm: Float64Array | None,
        tip_rgb: tuple[float, float, float] = TIP_RGB,
    ) -> None:
        """Put the cross-hair on the tip and the ring on the closest point (both projected
        onto the slice plane; None hides a mark), the line between them (from the edge of the
        cross-hair's gap to the ring, so neither centre is covered)."""
        toward = lps_from_slice[:3, 2]
        depth = float(lps_from_slice[:3, 3] @ toward) + MARK_OFFSET_MM
        self.tip.GetProperty().SetColor(*tip_rgb)
        scaled = lps_from_slice.copy()
        scaled[:3, :3] = lps_from_slice[:3, :3] * mm_per_px

        def on_plane(point: Float64Array) -> Float64Array:
            return np.asarray(point) + toward * (depth - float(np.asarray(point) @ toward))

        for actor, point in ((self.tip, tip_lps_mm), (self.closest, closest_lps_mm)):
            if point is None:
                actor.VisibilityOff()
                continue
            placed = scaled.copy()
            placed[:3, 3] = on_plane(point)
            actor.SetUserMatrix(_matrix(placed))
            actor.VisibilityOn()
        if tip_lps_mm is None or closest_lps_mm is None:
            self.line.VisibilityOff()
            return
        start, end = on_plane(tip_lps_mm), on_plane(closest_lps_mm)
        length = float(np.linalg.norm(end - start))
        gap_mm, ring_mm = _CROSS_GAP_PX * mm_per_px, _RING_RADIUS_PX * mm_per_px
        if length <= gap_mm + ring_mm:
            self.line.VisibilityOff()
            return
        direction = (end - start) / length
        self._line_points.SetPoint(0, *(start + direction * gap_mm))
        self._line_points.SetPoint(1, *(end - direction * ring_mm))
        self._line_points.Modified()
        self.line.VisibilityOn()

    def set_texts(self, *, frozen: str | None, window: str, note: str | None) -> None:
        """The frozen overlay (None hides it), the window caption and the note."""
        if frozen is None:
            self.frozen.VisibilityOff()
        else:
            self.frozen.SetInput(f" {frozen} ")
            self.frozen.VisibilityOn()
        self.window_text.SetInput(window)
        if note is None:
            self.note.VisibilityOff()
        else:
            self.note.SetInput(note)
            self.note.VisibilityOn()
