"""A :class:`~rendering.fluorescence.surface_mesh.SurfaceMesh` to and from a pyvista
``PolyData``: the fluorescence core's arrays meet the drawing code (and the plan's ``.vtp``
models) here, so the core itself never imports VTK.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvista

from registration.core.checks import InputError
from rendering.fluorescence.surface_mesh import SurfaceMesh


def surface_from_polydata(polydata: Any, *, normals_array: str | None = "Normals") -> SurfaceMesh:
    """Build from a pyvista ``PolyData`` in LPS mm (triangulated here if needed).

    Point normals are taken from ``point_data[normals_array]`` when present, else computed.
    """
    if not isinstance(polydata, pyvista.PolyData):
        raise InputError(f"polydata must be a pyvista.PolyData; got {type(polydata).__name__}.")
    mesh = polydata if polydata.is_all_triangles else polydata.triangulate()
    faces = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
    normals = None
    if normals_array and normals_array in mesh.point_data:
        normals = np.asarray(mesh.point_data[normals_array], dtype=np.float64)
    return SurfaceMesh(np.asarray(mesh.points, dtype=np.float64), faces, normals)


def polydata_from_surface(surface: SurfaceMesh) -> pyvista.PolyData:
    """A pyvista ``PolyData`` with the vertices, triangles and ``Normals`` point array."""
    faces = np.hstack(
        [np.full((surface.triangles.shape[0], 1), 3, dtype=np.int64), surface.triangles]
    ).ravel()
    mesh = pyvista.PolyData(np.array(surface.vertices_in_image), faces)
    mesh.point_data["Normals"] = np.array(surface.normals)
    return mesh
