"""Point-based rigid registration: exactness, agreement with scikit-surgerycore, refusals,
warnings (coplanar, mirrored, high FRE naming the culprit)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from sksurgerycore.algorithms.procrustes import orthogonal_procrustes

from registration.core.checks import InputError
from registration.core.transforms import apply_transform, random_rigid
from registration.point_registration import (
    CoplanarFiducialsWarning,
    HighFREWarning,
    MirroredFiducialsWarning,
    RegistrationWarning,
    configuration_singular_values,
    fit_rigid_batch,
    fre_alarm_factor,
    register_points,
)
from registration.tre import expected_fre_rms


def _rotation_error_rad(estimated: np.ndarray, truth: np.ndarray) -> float:
    """Angle of R_est R_true^T, computed without arccos' loss of precision near 0."""
    return float(Rotation.from_matrix(estimated[:3, :3] @ truth[:3, :3].T).magnitude())


def _random_set(rng: np.random.Generator, case: int) -> np.ndarray:
    n = int(rng.integers(3, 25))
    while True:  # random, not collinear (those are refused: see the refusal tests)
        points = rng.uniform(-80.0, 80.0, size=(n, 3))
        if case % 3 == 0:  # exactly coplanar, then placed anywhere in space
            points[:, 2] = 0.0
        s = configuration_singular_values(points)
        if s[1] / s[0] > 0.05:
            break
    return apply_transform(random_rigid(rng, max_translation_mm=500.0), points)


@pytest.fixture
def head_layout() -> np.ndarray:
    """Six fiducials on a head (zygoma L/R, nasion, mandible angles, chin), LPS mm."""
    return np.array(
        [[0, -95, 30], [60, -60, 5], [-60, -60, 5], [50, -10, -60], [-50, -10, -60], [0, -85, -75]],
        dtype=float,
    )


@pytest.mark.slow
def test_noise_free_random_transforms_are_exact_and_match_scikit_surgerycore(rng):
    worst_rotation = worst_translation = 0.0
    for case in range(1000):
        image = _random_set(rng, case)
        image_from_tracker = random_rigid(rng, max_translation_mm=300.0)
        tracker = apply_transform(np.linalg.inv(image_from_tracker), image)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoplanarFiducialsWarning)
            result = register_points(tracker, image)
        m = result.image_from_tracker
        assert np.linalg.det(m[:3, :3]) == pytest.approx(1.0, abs=1e-12)  # never a reflection
        worst_rotation = max(worst_rotation, _rotation_error_rad(m, image_from_tracker))
        worst_translation = max(
            worst_translation, float(np.linalg.norm(m[:3, 3] - image_from_tracker[:3, 3]))
        )
        rotation, translation, fre = orthogonal_procrustes(image, tracker)
        np.testing.assert_allclose(m[:3, :3], rotation, atol=1e-9)
        np.testing.assert_allclose(m[:3, 3], translation[:, 0], atol=1e-6)
        assert result.fre_rms_mm == pytest.approx(fre, abs=1e-7)
    assert worst_rotation < 1e-9
    assert worst_translation < 1e-6


def test_noisy_random_sets_match_scikit_surgerycore(rng):
    """With FLE the optimum is not the truth; both implementations must find the same one."""
    for case in range(300):
        image = _random_set(rng, case + 1)
        tracker = apply_transform(random_rigid(rng), image) + rng.normal(0, 0.5, image.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RegistrationWarning)
            result = register_points(tracker, image)
        rotation, translation, fre = orthogonal_procrustes(image, tracker)
        np.testing.assert_allclose(result.image_from_tracker[:3, :3], rotation, atol=1e-9)
        np.testing.assert_allclose(result.image_from_tracker[:3, 3], translation[:, 0], atol=1e-6)
        assert result.fre_rms_mm == pytest.approx(fre, rel=1e-9)
        mapped = apply_transform(result.image_from_tracker, tracker)
        np.testing.assert_allclose(result.residuals_mm, np.linalg.norm(mapped - image, axis=1))


def test_three_coplanar_points_register_exactly_and_warn(rng):
    image = np.array([[10.0, 20.0, 30.0], [90.0, 25.0, 35.0], [40.0, 95.0, 20.0]])
    truth = random_rigid(rng)
    tracker = apply_transform(np.linalg.inv(truth), image)
    with pytest.warns(CoplanarFiducialsWarning, match="nearly coplanar"):
        result = register_points(tracker, image)
    assert _rotation_error_rad(result.image_from_tracker, truth) < 1e-12
    assert result.fre_rms_mm < 1e-9
    assert np.isnan(result.leave_one_out_mm).all()  # two points cannot register
    assert any("coplanar" in text for text in result.warnings)


def test_weights_equal_repeating_a_point(rng):
    """Integer weights are the same as repeating points (Umeyama's weighted form)."""
    image = rng.uniform(-50, 50, (6, 3))
    tracker = apply_transform(random_rigid(rng), image) + rng.normal(0, 1.0, (6, 3))
    weights = np.array([3.0, 1.0, 1.0, 2.0, 1.0, 1.0])
    weighted = register_points(tracker, image, weights=weights)
    repeat = np.repeat(np.arange(6), weights.astype(int))
    rotation, translation = fit_rigid_batch(tracker[repeat][None], image[repeat][None])
    np.testing.assert_allclose(weighted.image_from_tracker[:3, :3], rotation[0], atol=1e-12)
    np.testing.assert_allclose(weighted.image_from_tracker[:3, 3], translation[0], atol=1e-9)
    unweighted = register_points(tracker, image)
    assert not np.allclose(weighted.image_from_tracker, unweighted.image_from_tracker)


def test_leave_one_out_matches_explicit_registrations(rng, head_layout):
    tracker = apply_transform(random_rigid(rng), head_layout) + rng.normal(0, 0.6, (6, 3))
    result = register_points(tracker, head_layout)
    for k in range(6):
        keep = np.arange(6) != k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoplanarFiducialsWarning)
            others = register_points(tracker[keep], head_layout[keep])
        error = np.linalg.norm(
            apply_transform(others.image_from_tracker, tracker[k]) - head_layout[k]
        )
        assert result.leave_one_out_mm[k] == pytest.approx(error, rel=1e-9)
    assert (result.leave_one_out_mm > result.residuals_mm).all()
    weights = np.array([1.0, 4.0, 0.5, 2.0, 1.0, 3.0])
    weighted = register_points(tracker, head_layout, weights=weights)
    for k in range(6):
        keep = np.arange(6) != k
        rotation, translation = fit_rigid_batch(
            tracker[keep][None], head_layout[keep][None], weights[keep]
        )
        error = np.linalg.norm(rotation[0] @ tracker[k] + translation[0] - head_layout[k])
        assert weighted.leave_one_out_mm[k] == pytest.approx(error, rel=1e-9)


def test_noise_free_leave_one_out_is_zero(rng, head_layout):
    truth = random_rigid(rng)
    result = register_points(apply_transform(np.linalg.inv(truth), head_layout), head_layout)
    assert result.leave_one_out_mm.max() < 1e-9
    assert result.residuals_mm.max() < 1e-9


@pytest.mark.parametrize(
    ("tracker", "image", "message"),
    [
        (np.zeros((2, 3)), np.zeros((2, 3)), "at least 3 fiducial pairs; got 2"),
        (np.eye(3), np.ones((4, 3)), "has 3 points but fiducials_in_image has 4"),
        (
            [[0, 0, 0], [1, 0, np.nan], [0, 1, 0]],
            np.eye(3),
            r"NaN or Inf \(first at index \(1, 2\)",
        ),
        ([[0, 0, 0], [10, 0, 0], [0, 10, np.inf]], np.eye(3), "fiducials_in_tracker contains NaN"),
        (np.ones((3, 2)), np.ones((3, 2)), r"shape \(N, 3\)"),
    ],
)
def test_refusals_of_bad_arrays(tracker, image, message):
    with pytest.raises(InputError, match=message):
        register_points(tracker, image)


def test_refuses_duplicate_points(head_layout):
    image = head_layout.copy()
    image[4] = image[1]
    with pytest.raises(InputError, match="fiducials_in_image has duplicate points: B and E"):
        register_points(head_layout, image, names=list("ABCDEF"))


def test_refuses_collinear_and_nearly_collinear_sets():
    line = np.outer(np.arange(5.0), [10.0, 5.0, 2.0])
    with pytest.raises(InputError, match=r"fiducials_in_tracker are collinear \(singular value"):
        register_points(line, line + 7.0)
    nearly = line.copy()
    nearly[2] += [0.0, 0.0, 0.1]  # 0.1 mm off a 45 mm line: s2/s1 = 0.002
    spread = line.copy()
    spread[2] += [0.0, 0.0, 20.0]
    with pytest.raises(InputError, match=r"fiducials_in_tracker are collinear .* s2/s1 = 0.002"):
        register_points(nearly, spread)
    with pytest.raises(InputError, match=r"fiducials_in_image are collinear .* s2/s1 = 0.002"):
        register_points(spread, nearly)


def test_refuses_bad_weights_and_names(head_layout):
    with pytest.raises(InputError, match=r"weights must have shape \(6,\)"):
        register_points(head_layout, head_layout, weights=[1, 2, 3])
    with pytest.raises(InputError, match="weights must be positive"):
        register_points(head_layout, head_layout, weights=[1, 1, 1, 0, 1, 1])
    with pytest.raises(InputError, match="names has 2 entries for 6 fiducials"):
        register_points(head_layout, head_layout, names=["a", "b"])
    with pytest.raises(InputError, match="fle_rms_mm must be > 0"):
        register_points(head_layout, head_layout, fle_rms_mm=-1.0)
    with pytest.raises(InputError, match="Omit it to skip the FRE test"):
        register_points(head_layout, head_layout, fle_rms_mm=0.0)


def test_mirrored_set_warns(rng):
    """An LPS/RAS mix-up mirrors the set (x negated): no rotation fits it."""
    image = rng.uniform(-60.0, 60.0, (6, 3))
    tracker = apply_transform(random_rigid(rng), image * [-1.0, 1.0, 1.0])
    with pytest.warns(MirroredFiducialsWarning, match="looks mirrored"):
        result = register_points(tracker, image)
    assert np.linalg.det(result.image_from_tracker[:3, :3]) == pytest.approx(1.0)
    assert result.fre_rms_mm > 10.0


def test_swapped_pair_is_named(rng, head_layout):
    names = ["nasion", "zygoma L", "zygoma R", "mandible L", "mandible R", "chin"]
    truth = random_rigid(rng)
    tracker = apply_transform(np.linalg.inv(truth), head_layout) + rng.normal(0, 0.2, (6, 3))
    tracker[[1, 3]] = tracker[[3, 1]]  # zygoma L and mandible L touched in the wrong order
    with pytest.warns(HighFREWarning, match="zygoma L and mandible L look swapped"):
        result = register_points(tracker, head_layout, fle_rms_mm=0.35, names=names)
    assert result.suspect_indices == (1, 3)
    assert result.fre_rms_mm > result.fre_threshold_mm


def test_mis_touched_fiducial_is_named(rng, head_layout):
    names = ["nasion", "zygoma L", "zygoma R", "mandible L", "mandible R", "chin"]
    tracker = apply_transform(random_rigid(rng), head_layout) + rng.normal(0, 0.2, (6, 3))
    image = head_layout.copy()
    image[4] += [0.0, 6.0, -4.0]  # the image fiducial was placed 7 mm off
    with pytest.warns(HighFREWarning, match="fiducial mandible R is the likely culprit"):
        result = register_points(tracker, image, fle_rms_mm=0.35, names=names)
    assert result.suspect_indices == (4,)
    assert int(np.argmax(result.leave_one_out_mm)) == 4


def test_consistent_fle_raises_no_warning(rng, head_layout):
    tracker = apply_transform(random_rigid(rng), head_layout) + rng.normal(
        0, 0.3 / np.sqrt(3), (6, 3)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RegistrationWarning)
        result = register_points(tracker, head_layout, fle_rms_mm=0.3)
    assert result.warnings == ()
    assert result.suspect_indices == ()
    assert result.fre_threshold_mm == pytest.approx(fre_alarm_factor(6) * expected_fre_rms(6, 0.3))


def test_fre_alarm_has_the_stated_false_alarm_rate(rng, head_layout):
    """Simulated FRE exceeds factor * expected FRE in ~0.1 % of registrations (chi-square)."""
    assert fre_alarm_factor(6) == pytest.approx(1.656, abs=1e-3)
    trials, sigma = 200_000, 1.0 / np.sqrt(3.0)
    moving = head_layout + rng.normal(0.0, sigma, (trials, 6, 3))
    fixed = np.broadcast_to(head_layout, moving.shape)
    rotation, translation = fit_rigid_batch(moving, fixed)
    mapped = np.matmul(moving, rotation.transpose(0, 2, 1)) + translation[:, None]
    fre = np.sqrt(np.mean(np.sum((mapped - fixed) ** 2, axis=2), axis=1))
    rate = np.mean(fre > fre_alarm_factor(6) * expected_fre_rms(6, 1.0))
    assert 0.0007 < rate < 0.0014
