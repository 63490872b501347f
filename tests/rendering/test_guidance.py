"""Signed distance to the tumour against an analytic sphere."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from registration.core.checks import InputError
from rendering.guidance import SurfaceDistance, tip_guidance

CENTRE = np.array([10.0, -20.0, 5.0])
RADIUS = 15.0


@pytest.fixture(scope="module")
def sphere() -> pv.PolyData:
    return pv.Sphere(radius=RADIUS, center=CENTRE, theta_resolution=200, phi_resolution=200)


def chord_error(mesh: pv.PolyData) -> float:
    """Upper bound of the gap between the tessellation and the true sphere: R minus the
    smallest distance from the centre to a facet's plane (a facet never comes closer)."""
    triangles = np.asarray(mesh.points)[mesh.regular_faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    plane_distance = np.abs(np.einsum("ij,ij->i", normals, triangles[:, 0] - CENTRE))
    return float(RADIUS - plane_distance.min())


def test_signed_distance_matches_the_analytic_sphere(sphere, rng):
    directions = rng.normal(size=(200, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = rng.uniform(0.0, 2.5 * RADIUS, size=200)
    points = CENTRE + directions * radii[:, None]
    distances = SurfaceDistance(sphere).signed_distance_mm(points)
    truth = radii - RADIUS
    assert np.abs(distances - truth).max() <= chord_error(sphere) + 1e-9
    assert chord_error(sphere) < 0.01
    assert (np.sign(distances) == np.sign(truth)).all()


def test_sign_is_right_for_a_mesh_with_inward_faces(sphere):
    inward = sphere.copy()
    inward.flip_faces(inplace=True)
    surface = SurfaceDistance(inward)
    inside, outside = CENTRE + np.array([0.0, 0.0, 5.0]), CENTRE + np.array([0.0, 0.0, 25.0])
    assert surface.signed_distance_mm(inside)[0] == pytest.approx(-10.0, abs=0.01)
    assert surface.signed_distance_mm(outside)[0] == pytest.approx(10.0, abs=0.01)


def test_closest_point_lies_on_the_sphere_along_the_ray(sphere):
    closest = SurfaceDistance(sphere).closest_point_lps_mm(CENTRE + np.array([30.0, 0.0, 0.0]))
    assert np.allclose(closest, CENTRE + np.array([RADIUS, 0.0, 0.0]), atol=0.05)


def test_guidance_warns_within_the_margin_and_inside(sphere):
    surface = SurfaceDistance(sphere)
    far = tip_guidance(CENTRE + np.array([0, 0, RADIUS + 8.0]), surface, tre_at_tip_mm=0.8)
    near = tip_guidance(CENTRE + np.array([0, 0, RADIUS + 3.0]), surface, warning_distance_mm=5.0)
    inside = tip_guidance(CENTRE, surface)
    assert far.signed_distance_mm == pytest.approx(8.0, abs=0.01) and not far.margin_warning
    assert far.tre_at_tip_mm == 0.8
    assert near.margin_warning and near.signed_distance_mm == pytest.approx(3.0, abs=0.01)
    assert inside.margin_warning and inside.signed_distance_mm == pytest.approx(-RADIUS, abs=0.01)


def test_open_surfaces_are_refused():
    hemisphere = pv.Sphere(radius=RADIUS).clip(normal="z")
    with pytest.raises(InputError, match="not closed"):
        SurfaceDistance(hemisphere)
    with pytest.raises(InputError, match="non-empty"):
        SurfaceDistance(pv.PolyData())
