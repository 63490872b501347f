"""Vertex visibility against independent ray casting (VTK's vtkOBBTree) on a concave mesh."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from registration.core.checks import InputError
from registration.core.transforms import invert_rigid
from rendering.fluorescence.nir_camera import image_from_camera_looking_at
from rendering.fluorescence.visibility import (
    GRAZING,
    OCCLUDED,
    OUTSIDE_VIEW,
    VISIBLE,
    VisibilityOptions,
    compute_visibility,
)
from tests.rendering import scenes


@pytest.mark.parametrize(
    "position", [(250.0, 30.0, 140.0), (150.0, -100.0, 250.0), (-200.0, 50.0, 200.0)]
)
def test_no_occluded_vertex_is_visible_on_a_concave_mesh(position):
    """Corrugated sheet (8 mm ridges every 20 mm) with a sphere floating over it, seen
    obliquely: every vertex the ray caster finds occluded must not be visible; agreement on
    all front-facing in-view vertices is exact here (>= 99.9 % asserted)."""
    mesh = scenes.corrugated_scene(1.0, sphere_resolution=70)
    image_from_camera = image_from_camera_looking_at(position, (0, 0, 0), up_in_image=(0, 1, 0))
    camera_from_image = invert_rigid(image_from_camera)
    visibility = compute_visibility(mesh, scenes.camera(), camera_from_image)
    candidates = np.flatnonzero(np.isin(visibility.status, (VISIBLE, OCCLUDED)))
    occluded_by_rays = scenes.ray_cast_occluded(mesh, camera_from_image, candidates)
    visible = visibility.status[candidates] == VISIBLE
    assert occluded_by_rays.mean() > 0.1  # the scene really self-occludes
    assert not (visible & occluded_by_rays).any()
    assert (visible == ~occluded_by_rays).mean() >= 0.999


def test_grazing_cut_and_field_of_view():
    """A plane seen at 65 deg is visible, at 75 deg cut (default 70 deg); its back is cut;
    points outside the sensor are outside the view."""
    vertices, triangles, normals = scenes.bump_surface(2.0, half_size_mm=20.0)
    vertices[:, 2] = 0.0
    normals[:] = (0.0, 0.0, 1.0)
    mesh = scenes.placed_mesh(vertices, triangles, normals, np.eye(4))
    camera = scenes.camera()
    centre = np.argmin(np.linalg.norm(vertices, axis=1))

    def status(angle_deg, options=None):
        a = np.radians(angle_deg)
        pose = image_from_camera_looking_at(300 * np.array([np.sin(a), 0, np.cos(a)]), (0, 0, 0),
                                            up_in_image=(0, 1, 0))  # fmt: skip
        return compute_visibility(mesh, camera, invert_rigid(pose), options=options).status

    assert status(65.0)[centre] == VISIBLE
    assert status(75.0)[centre] == GRAZING
    assert status(75.0, VisibilityOptions(max_view_angle_deg=80.0))[centre] == VISIBLE
    assert status(180.0)[centre] == GRAZING  # from behind
    pose = image_from_camera_looking_at((0, 0, 300.0), (400.0, 0, 0), up_in_image=(0, 1, 0))
    far_off = compute_visibility(mesh, camera, invert_rigid(pose)).status
    assert (far_off == OUTSIDE_VIEW).all()


def test_pixels_of_visible_vertices_equal_cv2(rng):
    scene = scenes.BumpScene(spacing_mm=2.0)
    image_from_camera = scene.camera_pose(300.0, 30.0, 45.0)
    camera_from_image = invert_rigid(image_from_camera)
    camera = scenes.camera()
    visibility = compute_visibility(scene.mesh, camera, camera_from_image)
    seen = visibility.visible
    reference, _ = cv2.projectPoints(
        scene.mesh.vertices_in_image[seen], cv2.Rodrigues(camera_from_image[:3, :3])[0],
        camera_from_image[:3, 3], camera.intrinsics.camera_matrix, camera.intrinsics.distortion,
    )  # fmt: skip
    assert seen.sum() > 1000
    assert np.abs(visibility.pixels_uv[seen] - reference.reshape(-1, 2)).max() < 1e-6
    distance = np.linalg.norm(scene.mesh.vertices_in_image - image_from_camera[:3, 3], axis=1)
    np.testing.assert_allclose(visibility.distance_mm, distance, rtol=1e-12)


def test_bad_options_and_poses_are_refused():
    with pytest.raises(InputError, match=r"max_view_angle_deg must be in \(0, 90\]"):
        VisibilityOptions(max_view_angle_deg=120.0)
    with pytest.raises(InputError, match="depth_tolerance_px must be a positive"):
        VisibilityOptions(depth_tolerance_px=0.0)
    mesh = scenes.corrugated_scene(4.0, half_size_mm=10.0)
    with pytest.raises(InputError, match="camera_from_image is not rigid"):
        compute_visibility(mesh, scenes.camera(), np.diag([2.0, 1.0, 1.0, 1.0]))
