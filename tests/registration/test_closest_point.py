from __future__ import annotations

import numpy as np
import pytest

from registration.closest_point import TriangleMeshLocator
from registration.core.checks import InputError

from .meshes import grid_mesh, implicit_mesh


def brute_force_distances(points, vertices, triangles):
    """Independent reference, vectorised over all (point, triangle) pairs: the distance to each
    non-degenerate triangle's interior (projection onto its plane, when inside) or to its three
    edges (clamped segments); the minimum over triangles."""
    a, b, c = (vertices[triangles][:, k] for k in range(3))
    normal = np.cross(b - a, c - a)
    keep = np.linalg.norm(normal, axis=1) > 1e-9  # zero-area triangles: edges seen elsewhere
    a, b, c, normal = a[keep], b[keep], c[keep], normal[keep]
    normal /= np.linalg.norm(normal, axis=1)[:, None]
    p = points[:, None, :]  # (N, 1, 3) against (T, 3)
    height = np.einsum("ntk,tk->nt", p - a, normal)
    foot = p - height[..., None] * normal
    # barycentric coordinates of the foot by the sub-triangle areas' signs
    inside = np.ones(height.shape, dtype=bool)
    for u, v in ((a, b), (b, c), (c, a)):
        inside &= np.einsum("ntk,tk->nt", np.cross(v - u, foot - u), normal) >= 0
    distance = np.where(inside, np.abs(height), np.inf)
    for u, v in ((a, b), (b, c), (c, a)):
        edge = v - u
        t = np.clip(np.einsum("ntk,tk->nt", p - u, edge) / np.einsum("tk,tk->t", edge, edge), 0, 1)
        distance = np.minimum(distance, np.linalg.norm(p - (u + t[..., None] * edge), axis=2))
    return distance.min(axis=1)


def test_exact_against_brute_force_on_a_sphere_mesh(rng):
    vertices, triangles = implicit_mesh("sphere", 20.0)
    locator = TriangleMeshLocator(vertices, triangles)
    points = rng.normal(size=(200, 3))
    points *= rng.uniform(10.0, 35.0, size=(200, 1)) / np.linalg.norm(points, axis=1)[:, None]
    result = locator.closest(points)
    reference = brute_force_distances(points, vertices, triangles)
    np.testing.assert_allclose(result.distances_mm, reference, atol=1e-9)
    # the closest point lies on the reported triangle and at the reported distance
    np.testing.assert_allclose(
        np.linalg.norm(result.points - points, axis=1), result.distances_mm, atol=1e-9
    )
    # a sphere of radius 20 mm: distances are |r - 20| up to the faceting of the 2.5 mm grid
    radius = np.linalg.norm(points, axis=1)
    assert np.abs(result.distances_mm - np.abs(radius - 20.0)).max() < 0.15
    # outward normals of a sphere are radial
    cosine = np.abs(np.einsum("nk,nk->n", result.normals, result.points)) / np.linalg.norm(
        result.points, axis=1
    )
    assert cosine.min() > 0.99


def test_approximate_query_is_close_and_flat_case_exact():
    vertices, triangles = grid_mesh(11, 100.0)
    locator = TriangleMeshLocator(vertices, triangles)
    points = np.array([[50.0, 50.0, 3.0], [-10.0, 50.0, 0.0], [105.0, 110.0, -4.0]])
    for exact in (True, False):
        result = locator.closest(points, exact=exact)
        np.testing.assert_allclose(result.distances_mm, [3.0, 10.0, np.sqrt(25 + 100 + 16)])
        np.testing.assert_allclose(result.points[0], [50.0, 50.0, 0.0], atol=1e-12)
        np.testing.assert_allclose(np.abs(result.normals[0]), [0, 0, 1], atol=1e-12)


def test_refuses_bad_meshes():
    vertices, triangles = grid_mesh(3)
    with pytest.raises(InputError, match=r"index vertices 0\.\.9 but there are 9"):
        TriangleMeshLocator(vertices, np.array([[0, 1, 9]]))
    with pytest.raises(InputError, match="integer vertex indices"):
        TriangleMeshLocator(vertices, triangles.astype(float))
    with pytest.raises(InputError, match="all degenerate"):
        TriangleMeshLocator(vertices, np.array([[0, 1, 2]]))
    with pytest.raises(InputError, match="one normal per vertex"):
        TriangleMeshLocator(vertices, triangles, np.ones((4, 3)))


def test_points_on_a_real_skin_mesh_are_at_distance_zero(shared_data, rng):
    """On marching-cubes slivers the nearest candidates can miss the right triangle; the
    certified query must not (and the approximate one does, which keeps this test honest)."""
    from .head_surface import load_headsq, sample_surface, skin_mesh

    mesh = skin_mesh(load_headsq(shared_data("vtk-head-volumes/headsq")))
    locator = TriangleMeshLocator(mesh.vertices, mesh.triangles, mesh.normals)
    points = sample_surface(mesh, 3000, rng)
    assert locator.closest(points).distances_mm.max() < 1e-9
    assert locator.closest(points, exact=False).distances_mm.max() > 0.05


def test_exact_with_huge_sliver_triangles_against_brute_force(rng):
    """Decimated meshes carry a few huge slivers across flat regions (190 mm on a real CT's
    skin); the radius classes must keep the answer exact, near and far from them."""
    vertices, triangles = implicit_mesh("sphere", 20.0)
    slab = np.array([[-150.0, -150.0, -30.0], [150.0, -149.0, -30.0], [0.0, 150.0, -30.0]])
    vertices = np.vstack([vertices, slab])
    n = len(vertices)
    triangles = np.vstack([triangles, [[n - 3, n - 2, n - 1]]])
    locator = TriangleMeshLocator(vertices, triangles)
    points = rng.uniform([-120.0, -120.0, -45.0], [120.0, 120.0, 35.0], size=(300, 3))
    result = locator.closest(points)
    np.testing.assert_allclose(
        result.distances_mm, brute_force_distances(points, vertices, triangles), atol=1e-9
    )
    assert (result.triangle_ids == len(triangles) - 1).sum() > 20  # the sliver is found
