from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError, check_points
from registration.core.transforms import (
    RAS_FROM_LPS,
    apply_transform,
    check_rigid,
    invert_rigid,
    lps_to_ras,
    make_rigid,
    random_rigid,
    ras_to_lps,
    rigidity_error,
    rotation_about,
    rotation_error_deg,
    translation_error_mm,
)


def test_rotation_about_z_by_90_maps_x_to_y():
    r = rotation_about([0, 0, 1], 90.0)
    np.testing.assert_allclose(r @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)


def test_chain_reads_with_inner_names_cancelling():
    tracker_from_pointer = make_rigid(rotation_about([1, 0, 0], 30.0), [10.0, 0.0, 0.0])
    image_from_tracker = make_rigid(rotation_about([0, 0, 1], 90.0), [0.0, 0.0, 5.0])
    tip_in_pointer = np.array([0.0, 0.0, 100.0])
    image_from_pointer = image_from_tracker @ tracker_from_pointer
    expected = apply_transform(
        image_from_tracker, apply_transform(tracker_from_pointer, tip_in_pointer)
    )
    np.testing.assert_allclose(apply_transform(image_from_pointer, tip_in_pointer), expected)
    # Hand-checked: rotate (0,0,100) by 30 deg about x -> (0,-50,86.60); +10 in x; then
    # rotate 90 deg about z -> (50, 10, 86.60); +5 in z.
    np.testing.assert_allclose(
        expected, [50.0, 10.0, 100 * np.cos(np.radians(30)) + 5.0], atol=1e-12
    )


def test_invert_rigid_round_trip(rng):
    for _ in range(100):
        a_from_b = random_rigid(rng)
        np.testing.assert_allclose(invert_rigid(a_from_b) @ a_from_b, np.eye(4), atol=1e-12)


def test_check_rigid_refuses_scaling_reflection_nan():
    with pytest.raises(InputError, match="not rigid"):
        check_rigid(np.diag([1.01, 1.0, 1.0, 1.0]), "tracker_from_pointer")
    with pytest.raises(InputError, match="reflection"):
        check_rigid(np.diag([-1.0, 1.0, 1.0, 1.0]), "tracker_from_pointer")
    bad = np.eye(4)
    bad[0, 3] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        check_rigid(bad, "tracker_from_pointer")
    with pytest.raises(InputError, match=r"shape \(4, 4\)"):
        check_rigid(np.eye(3), "tracker_from_pointer")


def test_lps_ras_round_trip_and_sign():
    p = np.array([[10.0, -20.0, 30.0]])
    np.testing.assert_allclose(lps_to_ras(p), [[-10.0, 20.0, 30.0]])
    np.testing.assert_allclose(ras_to_lps(lps_to_ras(p)), p)
    assert not RAS_FROM_LPS.flags.writeable


def test_errors_between_transforms():
    a = make_rigid(rotation_about([0, 1, 0], 10.0), [1.0, 2.0, 2.0])
    assert rotation_error_deg(a, np.eye(4)) == pytest.approx(10.0)
    assert translation_error_mm(a, np.eye(4)) == pytest.approx(3.0)


def test_check_points_messages():
    with pytest.raises(InputError, match=r"fiducials must have shape \(N, 3\)"):
        check_points(np.zeros((4, 2)), "fiducials")
    with pytest.raises(InputError, match="at least 3"):
        check_points(np.zeros((2, 3)), "fiducials", min_count=3)
    assert check_points([1, 2, 3], "p").shape == (1, 3)


def test_rigidity_error_matches_the_numpy_definition():
    """The float fast path equals max(|R^T R - I|, |det R - 1|, |bottom row - (0,0,0,1)|)."""
    rng = np.random.default_rng(5)
    for index in range(200):
        m = random_rigid(rng)
        if index % 3 == 1:
            m = m @ np.diag([*rng.uniform(0.9, 1.1, 3), 1.0])
        elif index % 3 == 2:
            m = m + rng.normal(0.0, 1e-3, (4, 4))
        rotation = m[:3, :3]
        expected = max(
            np.abs(rotation.T @ rotation - np.eye(3)).max(),
            abs(np.linalg.det(rotation) - 1.0),
            np.abs(m[3] - [0.0, 0.0, 0.0, 1.0]).max(),
        )
        assert rigidity_error(m) == pytest.approx(expected, abs=1e-14)
    assert rigidity_error(np.full((4, 4), np.nan)) == np.inf
    assert rigidity_error(np.eye(3)) == np.inf
    assert rigidity_error(np.diag([1.0, 1.0, -1.0, 1.0])) == pytest.approx(2.0)
