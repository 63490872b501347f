"""The target view: a bull's-eye of the pointer tip relative to its target.

As in CustusX's and the commercial systems' target guidance, the surgeon looks *along the
pointer* (from its marker body through its tip): the target sits at the centre of rings 2, 5,
10 and 20 mm across, the tip is a dot at its offset across the pointer's axis, and the depth
still to go along the axis is a number ("ahead" when the target lies beyond the tip). The dot
turns green within 2 mm of the axis; beyond the outer ring it is pinned to the rim in orange.

The target is the snapshot's ``guidance.target_lps_mm``: the tumour point closest to the tip
by default, or a planned target the surgeon chose. Screen up is the patient's superior
direction as seen along the axis (anterior when the pointer runs head to foot), so the view
does not spin with the pointer's roll.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vtk

from registration.core.checks import Float64Array
from rendering.slice_marks import flat_actor, overlay_text, ring_polyline
from rendering.view_state import ViewSnapshot

RING_RADII_MM = (2.0, 5.0, 10.0, 20.0)
ON_AXIS_MM = 2.0
_SCALE_MM = 25.0  # half height shown
_DOT_RADIUS_MM = 1.6
_ON_AXIS_RGB = (0.1, 1.0, 0.2)
_OFF_AXIS_RGB = (0.0, 1.0, 1.0)
_OFF_SCALE_RGB = (1.0, 0.55, 0.0)


@dataclass(frozen=True)
class TargetOffset:
    """The tip relative to the target, in the pointer's frame of view (mm).

    across : (2,) the target-to-tip offset across the axis, (right, up) on screen.
    depth_mm : distance still to go along the axis (positive: the target is ahead of the tip).
    distance_mm : straight-line tip-to-target distance.
    """

    across: Float64Array
    depth_mm: float
    distance_mm: float

    @property
    def lateral_mm(self) -> float:
        return float(np.hypot(*self.across))


def target_offset(
    tip_lps_mm: Float64Array, axis_lps: Float64Array, target_lps_mm: Float64Array
) -> TargetOffset:
    """The tip's offset from the target seen along ``axis_lps`` (the pointer's direction, from
    its marker body through its tip; any length).

    Screen right/up: up is the patient's superior (+z LPS) projected across the axis, or
    anterior (-y) when the axis is within 30 degrees of head-foot; right = axis x up
    (looking along the axis).
    """
    axis = np.asarray(axis_lps, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    wanted = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < np.cos(np.radians(30)) else None
    if wanted is None:
        wanted = np.array([0.0, -1.0, 0.0])
    up = wanted - axis * float(wanted @ axis)
    up /= np.linalg.norm(up)
    right = np.cross(axis, up)
    offset = np.asarray(tip_lps_mm, dtype=np.float64) - np.asarray(target_lps_mm)
    return TargetOffset(
        across=np.array([float(offset @ right), float(offset @ up)]),
        depth_mm=float(-(offset @ axis)),
        distance_mm=float(np.linalg.norm(offset)),
    )


class TargetView:
    """The bull's-eye in ``renderer`` (a small square viewport); :meth:`update` per frame."""

    def __init__(self, renderer: vtk.vtkRenderer) -> None:
        self.renderer = renderer
        renderer.SetBackground(0.05, 0.05, 0.08)
        rings = vtk.vtkAppendPolyData()
        for radius in RING_RADII_MM:
            rings.AddInputData(ring_polyline(radius, 64))
        cross = vtk.vtkPolyData()
        points = vtk.vtkPoints()
        lines = vtk.vtkCellArray()
        for start, end in (((-24, 0), (24, 0)), ((0, -24), (0, 24))):
            a = points.InsertNextPoint(*start, 0.0)
            b = points.InsertNextPoint(*end, 0.0)
            lines.InsertNextCell(2, [a, b])
        cross.SetPoints(points)
        cross.SetLines(lines)
        rings.AddInputData(cross)
        rings.Update()
        renderer.AddActor(flat_actor(rings.GetOutput(), (0.55, 0.55, 0.6), 1.0))
        disc = vtk.vtkRegularPolygonSource()
        disc.SetNumberOfSides(24)
        disc.SetRadius(_DOT_RADIUS_MM)
        disc.Update()
        self.dot = flat_actor(disc.GetOutput(), _OFF_AXIS_RGB, 1.0)
        self.dot.SetPosition(0.0, 0.0, 1.0)
        renderer.AddActor(self.dot)
        self.title = overlay_text(14, 0.03, 0.97)
        self.title.GetTextProperty().SetVerticalJustificationToTop()
        self.numbers = overlay_text(15, 0.03, 0.03)
        for actor in (self.title, self.numbers):
            renderer.AddViewProp(actor)
        camera = renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        camera.SetFocalPoint(0.0, 0.0, 0.0)
        camera.SetPosition(0.0, 0.0, 100.0)
        camera.SetViewUp(0.0, 1.0, 0.0)
        camera.SetParallelScale(_SCALE_MM)
        camera.SetClippingRange(50.0, 150.0)
        self.offset: TargetOffset | None = None

    def update(self, snapshot: ViewSnapshot) -> None:
        guidance = snapshot.guidance
        pose = snapshot.image_from_pointer
        tip = snapshot.pointer_tip_lps_mm
        target = None if guidance is None else guidance.target_lps_mm
        if not snapshot.pointer_ok or target is None or pose is None or tip is None:
            self.offset = None
            self.dot.VisibilityOff()
            self.title.SetInput("target view: no target")
            self.numbers.SetInput("")
            return
        assert guidance is not None
        axis = np.asarray(tip) - np.asarray(pose)[:3, 3]
        if float(np.linalg.norm(axis)) < 1e-6:  # tip at the marker origin: no axis
            axis = np.asarray(pose)[:3, 2]
        offset = target_offset(tip, axis, target)
        self.offset = offset
        across = offset.across
        rgb = _ON_AXIS_RGB if offset.lateral_mm <= ON_AXIS_MM else _OFF_AXIS_RGB
        limit = RING_RADII_MM[-1] + 2.0
        if offset.lateral_mm > limit:
            across = across * (limit / offset.lateral_mm)
            rgb = _OFF_SCALE_RGB
        self.dot.SetPosition(float(across[0]), float(across[1]), 1.0)
        self.dot.GetProperty().SetColor(*rgb)
        self.dot.VisibilityOn()
        self.title.SetInput(f"target: {guidance.target_name}\nalong the pointer")
        where = "ahead" if offset.depth_mm >= 0 else "behind"
        self.numbers.SetInput(
            f"across {offset.lateral_mm:.1f} mm\ndepth {abs(offset.depth_mm):.1f} mm {where}"
        )
