"""Small analytic meshes for closest-point and surface-registration tests."""

from __future__ import annotations

import numpy as np
from skimage.measure import marching_cubes


def grid_mesh(count: int = 30, size_mm: float = 150.0) -> tuple[np.ndarray, np.ndarray]:
    """A flat square z = 0 of ``size_mm``, ``count`` x ``count`` vertices, two triangles a cell."""
    x, y = np.meshgrid(np.linspace(0, size_mm, count), np.linspace(0, size_mm, count))
    vertices = np.column_stack([x.ravel(), y.ravel(), np.zeros(count * count)])
    index = np.arange(count * count).reshape(count, count)
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    c, d = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    triangles = np.concatenate([np.column_stack([a, b, d]), np.column_stack([a, d, c])])
    return vertices, triangles


def implicit_mesh(field: str, level_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of a distance field on a 2.5 mm grid over [-100, 100]^3 mm:
    ``field`` "sphere" (distance to the origin) or "cylinder" (distance to the z axis)."""
    grid = np.linspace(-100.0, 100.0, 81)
    z, y, x = np.meshgrid(grid, grid, grid, indexing="ij")
    distance = np.sqrt(x**2 + y**2 + z**2) if field == "sphere" else np.sqrt(x**2 + y**2) + 0 * z
    vertices, faces, _, _ = marching_cubes(distance, level=level_mm, spacing=(2.5, 2.5, 2.5))
    return vertices[:, ::-1] - 100.0, np.ascontiguousarray(faces[:, ::-1], dtype=np.int64)
