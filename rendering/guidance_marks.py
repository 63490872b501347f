"""The guidance drawn in the 3-D view: the tumour point closest to the tip and a line to it.

A small unlit sphere on the tumour surface (the colour of the slice views' ring,
:data:`rendering.slice_marks.CLOSEST_RGB`) and a line from the tip to it: the surgeon sees
where the nearest tumour is and which way, not only how far. Drawn only while the snapshot
carries guidance for an OK pointer; nothing is kept between frames.
"""

from __future__ import annotations

import numpy as np
import vtk

from rendering.slice_marks import CLOSEST_RGB, flat_actor
from rendering.view_state import ViewSnapshot

CLOSEST_RADIUS_MM = 1.2


class GuidanceMarks3D:
    """The closest-point sphere and the tip-to-point line in a 3-D ``renderer``."""

    def __init__(self, renderer: vtk.vtkRenderer) -> None:
        sphere = vtk.vtkSphereSource()
        sphere.SetRadius(CLOSEST_RADIUS_MM)
        sphere.SetThetaResolution(16)
        sphere.SetPhiResolution(12)
        self.point = flat_actor(sphere, CLOSEST_RGB, 1.0)
        self._line = vtk.vtkLineSource()
        self.line = flat_actor(self._line, CLOSEST_RGB, 3.0)
        for actor in (self.point, self.line):
            actor.VisibilityOff()
            renderer.AddActor(actor)

    def update(self, snapshot: ViewSnapshot) -> None:
        guidance = snapshot.guidance
        closest = None if guidance is None else guidance.closest_point_lps_mm
        if not snapshot.pointer_ok or closest is None or snapshot.pointer_tip_lps_mm is None:
            self.point.VisibilityOff()
            self.line.VisibilityOff()
            return
        self.point.SetPosition(*closest)
        self.point.VisibilityOn()
        tip = np.asarray(snapshot.pointer_tip_lps_mm)
        self._line.SetPoint1(*tip)
        self._line.SetPoint2(*closest)
        self.line.SetVisibility(float(np.linalg.norm(closest - tip)) > CLOSEST_RADIUS_MM)
