"""Acceptance on the phantom: surface refinement (ICP) from a 10 deg / 10 mm start."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from navigation.planning.plan import load_plan
from registration.core.transforms import apply_transform, invert_rigid, random_rigid
from registration.surface_registration import register_surface

from ..registration.head_surface import SkinMesh, face_sweep
from ..registration.test_surface_registration import perturbed

pytestmark = pytest.mark.slow


def test_icp_converges_to_the_true_pose_on_the_phantom_skin(phantom_plan, rng):
    """A pointer sweep of 300 face points (0.2 mm noise, 5 % lifted outliers) on the phantom's
    planned skin mesh: from 10 deg / 10 mm off, every skin vertex ends within 0.5 mm."""
    plan = load_plan(phantom_plan)
    mesh = (
        pv.read(plan.mesh_path("skin"))
        .triangulate()
        .compute_normals(cell_normals=False, auto_orient_normals=True)
    )
    skin = SkinMesh(
        np.asarray(mesh.points, dtype=np.float64),
        mesh.faces.reshape(-1, 4)[:, 1:].astype(np.int64),
        np.asarray(mesh.point_data["Normals"], dtype=np.float64),
    )
    points_in_image, _ = face_sweep(skin, rng, count=300, noise_mm=0.2)
    tracker_from_image = random_rigid(rng)
    true_image_from_tracker = invert_rigid(tracker_from_image)
    points_in_tracker = apply_transform(tracker_from_image, points_in_image)
    for _ in range(3):
        start = perturbed(true_image_from_tracker, points_in_image.mean(axis=0), rng)
        start_error = np.linalg.norm(
            apply_transform(start @ tracker_from_image, skin.vertices) - skin.vertices, axis=1
        )
        assert start_error.max() > 10.0  # the start really is off
        result = register_surface(
            points_in_tracker,
            skin.vertices,
            skin.triangles,
            skin.normals,
            image_from_tracker=start,
        )
        error = np.linalg.norm(
            apply_transform(result.image_from_tracker @ tracker_from_image, skin.vertices)
            - skin.vertices,
            axis=1,
        )
        assert result.converged
        assert error.max() < 0.5, error.max()
