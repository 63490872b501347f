"""Signed distance from the pointer tip to the tumour surface, and the guidance it feeds.

Uses ``vtkImplicitPolyDataDistance`` (exact distance to the triangles through a cell locator;
the sign comes from the outward normal at the closest point, so negative inside). The surface
must be closed; its normals are oriented outward once, at construction, with
``vtkPolyDataNormals`` (auto-orientation), so a mesh with inward faces still gives the right
sign.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv
import vtk
from numpy.typing import ArrayLike

from registration.core.checks import Float64Array, InputError, check_points, check_positive
from rendering.view_state import Guidance


class SurfaceDistance:
    """Signed distance to a closed surface, mm (negative inside).

    surface : closed triangulated (or polygonal) surface, vertices in image LPS mm.
    name : used in error messages.
    """

    def __init__(self, surface: pv.PolyData, *, name: str = "tumour surface") -> None:
        if not isinstance(surface, pv.PolyData) or surface.n_cells == 0:
            raise InputError(f"{name} must be a non-empty pyvista.PolyData surface.")
        triangles = vtk.vtkTriangleFilter()
        triangles.SetInputData(surface)
        triangles.PassLinesOff()
        triangles.PassVertsOff()
        cleaned = vtk.vtkCleanPolyData()
        cleaned.SetInputConnection(triangles.GetOutputPort())
        cleaned.Update()
        closed = pv.wrap(cleaned.GetOutput())
        if closed.n_cells == 0:
            raise InputError(f"{name} has no surface triangles.")
        open_edges = closed.extract_feature_edges(
            boundary_edges=True, non_manifold_edges=True, feature_edges=False, manifold_edges=False
        ).n_cells
        if open_edges:
            raise InputError(
                f"{name} is not closed ({open_edges} boundary or non-manifold edges); the inside "
                "is undefined. Fill its holes (e.g. mesh the label map again) before guidance."
            )
        normals = vtk.vtkPolyDataNormals()
        normals.SetInputData(closed)
        normals.ComputeCellNormalsOn()
        normals.ComputePointNormalsOn()
        normals.SplittingOff()
        normals.ConsistencyOn()
        normals.AutoOrientNormalsOn()
        normals.Update()
        self._function = vtk.vtkImplicitPolyDataDistance()
        self._function.SetInput(normals.GetOutput())
        self.bounds = closed.bounds

    def signed_distance_mm(self, points_in_lps: ArrayLike) -> Float64Array:
        """(N,) signed distances in mm of (N, 3) or (3,) points (image LPS mm) to the surface;
        negative inside."""
        points = check_points(points_in_lps, "points_in_lps")
        return np.array([self._function.EvaluateFunction(*p) for p in points.tolist()])

    def closest_point_lps_mm(self, point_in_lps: ArrayLike) -> Float64Array:
        """(3,) the closest point of the surface to a (3,) point, LPS mm."""
        return self.distance_and_closest(point_in_lps)[1]

    def distance_and_closest(self, point_in_lps: ArrayLike) -> tuple[float, Float64Array]:
        """The signed distance (mm, negative inside) of a (3,) point and the (3,) closest
        surface point (LPS mm), in one locator query."""
        point = check_points(point_in_lps, "point_in_lps")[0]
        closest = [0.0, 0.0, 0.0]
        distance = self._function.EvaluateFunctionAndGetClosestPoint(point.tolist(), closest)
        return float(distance), np.asarray(closest, dtype=np.float64)


def tip_guidance(
    tip_lps_mm: ArrayLike,
    tumour: SurfaceDistance,
    *,
    tre_at_tip_mm: float | None = None,
    warning_distance_mm: float = 5.0,
    tre_valid: bool = True,
) -> Guidance:
    """The guidance block of a snapshot for a tip position; the target is the closest tumour
    point.

    tip_lps_mm : (3,) pointer tip, image LPS mm.
    tumour : the tumour surface's distance function.
    tre_at_tip_mm : predicted TRE at the tip (from the registration), if known.
    warning_distance_mm : the margin warning is on when the signed distance is below this
        (including anywhere inside the tumour).
    tre_valid : False when the registration did not pass its checks (TRE "not valid").
    """
    warning = check_positive(warning_distance_mm, "warning_distance_mm")
    distance, closest = tumour.distance_and_closest(tip_lps_mm)
    return Guidance(
        signed_distance_mm=distance,
        tre_at_tip_mm=tre_at_tip_mm,
        margin_warning=distance < warning,
        warning_distance_mm=warning,
        closest_point_lps_mm=closest,
        tre_valid=tre_valid,
        target_lps_mm=closest,
    )
