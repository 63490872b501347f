"""SurfaceMesh per-mesh tables checked by hand on tiny meshes."""

from __future__ import annotations

import numpy as np

from rendering.fluorescence.surface_mesh import SurfaceMesh
from tests.rendering import scenes


def test_triangle_neighbours_of_two_squares():
    """Two unit squares side by side, two triangles each: every shared edge names the triangle
    on its other side, the border edges -1."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [1, 1, 0], [2, 1, 0.0]])
    triangles = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]])
    neighbours = SurfaceMesh(vertices, triangles).triangle_neighbours()
    # Edge k joins corners k and k + 1: triangle 0 = (0, 1, 4) has 0-1 (border),
    # 1-4 (triangle 3) and 4-0 (triangle 1).
    np.testing.assert_array_equal(neighbours, [[-1, 3, 1], [0, -1, -1], [-1, -1, 3], [2, -1, 0]])


def test_triangle_neighbours_are_mutual_on_a_grid():
    triangles = scenes.grid_triangles(7, 5)
    columns, rows = 7, 5
    x, y = np.meshgrid(np.arange(columns, dtype=float), np.arange(rows, dtype=float))
    vertices = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)
    mesh = SurfaceMesh(vertices, triangles)
    neighbours = mesh.triangle_neighbours()
    assert neighbours.shape == (len(triangles), 3)
    for t, row in enumerate(neighbours):
        for k, u in enumerate(row):
            if u < 0:
                continue
            edge = {triangles[t, k], triangles[t, (k + 1) % 3]}
            assert edge <= set(triangles[u])  # u shares the edge
            assert t in neighbours[u]  # and names t back
    # A grid of (columns - 1) x (rows - 1) squares has 2 (c - 1) + 2 (r - 1) border edges.
    assert (neighbours < 0).sum() == 2 * (columns - 1) + 2 * (rows - 1)
    assert mesh.triangle_neighbours() is neighbours  # cached
