"""Surface refinement (ICP) on a real head CT's skin and refusals on analytic surfaces."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from registration.core.transforms import (
    apply_transform,
    invert_rigid,
    make_rigid,
    random_rigid,
    rotation_about,
    rotation_error_deg,
)
from registration.surface_registration import register_surface

from .head_surface import face_sweep, load_headsq, skin_mesh
from .meshes import grid_mesh, implicit_mesh


@pytest.fixture(scope="module")
def head(request):
    from tests.conftest import shared_data_path

    return skin_mesh(load_headsq(shared_data_path("vtk-head-volumes/headsq")))


def perturbed(image_from_tracker, centre, rng, *, angle_deg=10.0, shift_mm=10.0):
    """The transform moved by ``angle_deg`` about a random axis through ``centre`` and by
    ``shift_mm`` in a random direction (in the image frame)."""
    rotation = rotation_about(rng.normal(size=3), angle_deg)
    shift = rng.normal(size=3)
    shift *= shift_mm / np.linalg.norm(shift)
    return make_rigid(rotation, centre + shift - rotation @ centre) @ image_from_tracker


@pytest.mark.parametrize("outliers", ["tukey", "huber", "trim"])
def test_converges_from_10_deg_10_mm_on_a_real_head(head, rng, outliers):
    """300 face points, 0.2 mm noise, 5 % outliers lifted 4-15 mm off the skin: from 10 deg /
    10 mm off, the refined pose is within 0.5 mm of the truth everywhere on the head."""
    assert len(head.vertices) > 20000  # a real skin surface, not a toy
    points_in_image, is_outlier = face_sweep(head, rng, count=300, noise_mm=0.2)
    tracker_from_image = random_rigid(rng)
    true_image_from_tracker = invert_rigid(tracker_from_image)
    points_in_tracker = apply_transform(tracker_from_image, points_in_image)
    for _ in range(5):
        start = perturbed(true_image_from_tracker, points_in_image.mean(axis=0), rng)
        result = register_surface(
            points_in_tracker,
            head.vertices,
            head.triangles,
            head.normals,
            image_from_tracker=start,
            outliers=outliers,
        )
        # displacement error over every skin vertex (the face and the back of the head)
        error = np.linalg.norm(
            apply_transform(result.image_from_tracker @ tracker_from_image, head.vertices)
            - head.vertices,
            axis=1,
        )
        assert error.max() < 0.5, error.max()
        assert rotation_error_deg(result.image_from_tracker, true_image_from_tracker) < 0.3
        assert result.converged
        assert result.iterations < 50
        assert 0.15 < result.rms_distance_mm < 0.3  # ~ the 0.2 mm noise
        assert result.constraint_ratio > 0.01
        if outliers != "trim":
            assert result.inliers[is_outlier].mean() < 0.2  # most outliers rejected
            assert result.inliers[~is_outlier].mean() > 0.98  # almost no inlier lost
            assert abs(result.inlier_fraction - (~is_outlier).mean()) < 0.03
        else:
            assert result.inlier_fraction == pytest.approx(0.9, abs=0.01)


def test_result_is_frozen_and_read_only(head, rng):
    points, _ = face_sweep(head, rng, count=100, outlier_fraction=0.0)
    result = register_surface(
        points, head.vertices, head.triangles, head.normals, image_from_tracker=np.eye(4)
    )
    assert result.rms_distance_mm < 0.3
    with pytest.raises(AttributeError):
        result.iterations = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        result.image_from_tracker[0, 0] = 2.0


def test_refuses_too_few_points_and_too_small_sweeps(head, rng):
    points, _ = face_sweep(head, rng, count=30, outlier_fraction=0.0)
    with pytest.raises(InputError, match="has 30 points; surface refinement needs at least 50"):
        register_surface(points, head.vertices, head.triangles, image_from_tracker=np.eye(4))
    nose = head.vertices[np.argmin(head.vertices[:, 1])]
    near = np.linalg.norm(head.vertices - nose, axis=1) < 12.0
    tiny = head.vertices[near][:60]
    with pytest.raises(InputError, match=r"spans only \d+\.\d mm; .* at least 40 mm"):
        register_surface(tiny, head.vertices, head.triangles, image_from_tracker=np.eye(4))


def test_refuses_a_flat_sweep_and_names_the_free_directions(rng):
    vertices, triangles = grid_mesh()
    points = np.column_stack([rng.uniform(20, 130, size=(300, 2)), np.zeros(300)])
    with pytest.raises(
        InputError,
        match=r"too flat .* free: translation along .*; translation along .*; "
        r"rotation about the axis \[0\.0, 0\.0, -?1\.0\]",
    ):
        register_surface(points, vertices, triangles, image_from_tracker=np.eye(4))


def test_refuses_a_cylinder_patch_translation_along_the_axis_is_free(rng):
    vertices, triangles = implicit_mesh("cylinder", 60.0)
    angle = rng.uniform(0, np.pi, 300)
    points = np.column_stack([60 * np.cos(angle), 60 * np.sin(angle), rng.uniform(-50, 50, 300)])
    with pytest.raises(
        InputError,
        match=r"free: translation along \[0\.0, 0\.0, -?1\.0\]; rotation about the axis "
        r"\[0\.0, 0\.0, -?1\.0\]",
    ):
        register_surface(points, vertices, triangles, image_from_tracker=np.eye(4))


def test_refuses_a_spherical_cap_rotations_are_free(rng):
    vertices, triangles = implicit_mesh("sphere", 80.0)
    directions = rng.normal(size=(300, 3))
    directions /= np.linalg.norm(directions, axis=1)[:, None]
    directions[:, 2] = np.abs(directions[:, 2])
    with pytest.raises(InputError, match=r"free: rotation about .*; rotation about .*; rotation"):
        register_surface(80.0 * directions, vertices, triangles, image_from_tracker=np.eye(4))


def test_refuses_bad_options_and_transforms(head, rng):
    points, _ = face_sweep(head, rng, count=100)
    mirrored = np.diag([-1.0, 1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="image_from_tracker is a reflection"):
        register_surface(points, head.vertices, head.triangles, image_from_tracker=mirrored)
    with pytest.raises(InputError, match="outliers must be"):
        register_surface(
            points, head.vertices, head.triangles, image_from_tracker=np.eye(4), outliers="ransac"
        )  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"points_in_tracker contains NaN"):
        bad = points.copy()
        bad[3, 1] = np.nan
        register_surface(bad, head.vertices, head.triangles, image_from_tracker=np.eye(4))
