from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from registration.core.checks import InputError
from registration.pivot_calibration import calibrate_pivot

TIP_IN_TOOL = np.array([3.0, -12.0, 160.0])
PIVOT_IN_TRACKER = np.array([-120.0, 40.0, -1500.0])


def pivot_poses(rng, count=1000, *, cone_deg=30.0, noise_mm=0.0, spin_only=False):
    """Poses of a pointer pivoting about its tip: tilts up to ``cone_deg`` in every direction
    around a base orientation (or only spins about the shaft), translation noise ``noise_mm``
    RMS per axis and rotation noise of the same size at the tip (``noise_mm`` / 160 mm)."""
    base = Rotation.from_euler("xyz", [20, -35, 110], degrees=True)
    if spin_only:
        shaft = TIP_IN_TOOL / np.linalg.norm(TIP_IN_TOOL)
        tilts = Rotation.from_rotvec(np.outer(rng.uniform(-1.5, 1.5, count), shaft))
    else:
        axis = rng.normal(size=(count, 3))
        angle = np.radians(rng.uniform(0, cone_deg, count))
        tilts = Rotation.from_rotvec(axis / np.linalg.norm(axis, axis=1)[:, None] * angle[:, None])
    rotations = (base * tilts).as_matrix()
    translations = PIVOT_IN_TRACKER - rotations @ TIP_IN_TOOL
    jitter = Rotation.from_rotvec(rng.normal(scale=noise_mm / 160.0, size=(count, 3)))
    poses = np.tile(np.eye(4), (count, 1, 1))
    poses[:, :3, :3] = (jitter * Rotation.from_matrix(rotations)).as_matrix()
    poses[:, :3, 3] = translations + rng.normal(scale=noise_mm, size=(count, 3))
    return poses


@pytest.mark.parametrize(("method", "tolerance_mm"), [("algebraic", 0.1), ("sphere", 0.5)])
def test_recovers_a_known_tip_within_0_1_mm_at_0_2_mm_noise(rng, method, tolerance_mm):
    """1000 poses (45 s at 22 Hz, like the real recording) tilting up to 30 deg. The sphere fit
    sees positions only; on a 30 deg cap its radius (the shaft length) is less certain, so it
    gets 0.5 mm; the default algebraic method meets the issue's 0.1 mm."""
    for _ in range(5):
        result = calibrate_pivot(pivot_poses(rng, noise_mm=0.2), method=method)
        assert np.linalg.norm(result.tip_in_tool - TIP_IN_TOOL) < tolerance_mm
        assert np.linalg.norm(result.pivot_in_tracker - PIVOT_IN_TRACKER) < tolerance_mm
        # 0.2 mm per axis of translation noise plus as much from rotation noise at the tip:
        # 3-D RMS about sqrt(3 * 0.2^2 + 2 * 0.2^2) = 0.45 mm
        assert 0.35 < result.rms_error_mm < 0.55
        assert result.passed and result.gate_mm == 0.8
        assert result.method == method
        assert result.mean_error_mm <= result.rms_error_mm <= result.max_error_mm


def test_noise_free_is_exact(rng):
    result = calibrate_pivot(pivot_poses(rng, count=20))
    np.testing.assert_allclose(result.tip_in_tool, TIP_IN_TOOL, atol=1e-9)
    np.testing.assert_allclose(result.pivot_in_tracker, PIVOT_IN_TRACKER, atol=1e-9)
    assert result.rms_error_mm < 1e-9
    np.testing.assert_allclose(result.tool_from_tip[:3, 3], TIP_IN_TOOL, atol=1e-9)


def test_gate_fails_noisy_data(rng):
    result = calibrate_pivot(pivot_poses(rng, noise_mm=1.0))
    assert not result.passed
    assert result.rms_error_mm > 0.8
    assert calibrate_pivot(pivot_poses(rng, noise_mm=1.0), gate_mm=5.0).passed


def test_real_ndi_recording_matches_the_reference(shared_data):
    """1151 real NDI poses; SOURCE.txt: a one-step algebraic solve gives tip (-14.48, 395.14,
    -7.56) mm, pivot (-805.29, -85.45, -2112.07) mm and a per-axis RMS residual of 1.84 mm."""
    path = shared_data("pivot-calibration-ndi/pivot_matrices.txt")
    poses = np.loadtxt(path).reshape(-1, 4, 4)
    result = calibrate_pivot(poses)
    np.testing.assert_allclose(result.tip_in_tool, [-14.476, 395.143, -7.558], atol=1e-3)
    np.testing.assert_allclose(result.pivot_in_tracker, [-805.285, -85.448, -2112.066], atol=1e-3)
    assert result.rms_error_mm == pytest.approx(3.184, abs=1e-3)
    # scikit-surgerycore's own regression test at the commit this data comes from (44d0133d,
    # tests/algorithms/test_pivot.py) asserts 1.8385 == round(pivot_calibration(...), 4): its
    # residual is the RMS of the stacked residual's 3N entries, our component_rms_mm
    assert round(result.residuals.component_rms_mm, 4) == 1.8385
    assert not result.passed  # a hand-held recording with wobble: fails NousNav's 0.8 mm
    assert result.rotation_spread_deg == pytest.approx(10.4, abs=0.1)
    assert any("small rotation spread: 10.4 deg" in w for w in result.warnings)
    # The later scikit-surgerycalibration test expects tip (-14.473, 394.634, -7.407) and
    # residual 1.761 for "the same" files: no residual definition moves a least-squares tip,
    # so its input was a later revision of the data; the tips still agree within 0.6 mm.
    assert np.linalg.norm(result.tip_in_tool - [-14.473, 394.634, -7.407]) < 0.6
    # the marker origins cover only a ~10 deg cap, so the sphere radius (the shaft length) is
    # weakly determined: the sphere fit moves the tip ~13 mm along the shaft, with larger error
    check = result.other_method
    assert check is not None and check.method == "sphere"
    assert 12.0 < check.tip_difference_mm < 14.0
    assert check.pivot_difference_mm < 15.0 and check.rms_error_mm > result.rms_error_mm
    assert any("algebraic and sphere methods disagree: tips 13.02 mm" in w for w in result.warnings)
    sphere = calibrate_pivot(poses, method="sphere")
    np.testing.assert_allclose(sphere.tip_in_tool, check.tip_in_tool, atol=1e-9)


def test_residual_definitions_against_the_stacked_least_squares_residual(rng):
    """Independent arithmetic: A x - b of the one-step system, summarised by hand."""
    poses = pivot_poses(rng, count=300, noise_mm=0.4)
    result = calibrate_pivot(poses)
    count = len(poses)
    a = np.concatenate([poses[:, :3, :3], -np.broadcast_to(np.eye(3), (count, 3, 3))], axis=2)
    x = np.concatenate([result.tip_in_tool, result.pivot_in_tracker])
    stacked = a.reshape(-1, 6) @ x + poses[:, :3, 3].reshape(-1)  # A x - b, b = -t
    r = result.residuals
    assert r.component_rms_mm == pytest.approx(np.sqrt(np.sum(stacked**2) / (3 * count)))
    per_pose = stacked.reshape(-1, 3)
    distances = np.linalg.norm(per_pose, axis=1)
    assert r.rms_mm == pytest.approx(np.sqrt(np.mean(distances**2)))
    assert r.mean_mm == pytest.approx(distances.mean())
    np.testing.assert_allclose(r.per_axis_rms_mm, np.sqrt(np.mean(per_pose**2, axis=0)))
    np.testing.assert_allclose(r.residuals_mm, per_pose, atol=1e-9)
    assert np.sum(r.per_axis_rms_mm**2) == pytest.approx(r.rms_mm**2)


def test_well_spread_pivot_has_no_warnings_and_methods_agree(rng):
    result = calibrate_pivot(pivot_poses(rng, noise_mm=0.2))
    assert result.warnings == ()
    assert result.rotation_spread_deg > 12.0
    assert result.other_method is not None and result.other_method.tip_difference_mm < 0.5


def test_small_rotation_spread_is_flagged(rng):
    result = calibrate_pivot(pivot_poses(rng, cone_deg=14.0, noise_mm=0.1))
    assert result.rotation_spread_deg < 12.0
    assert any("small rotation spread" in w for w in result.warnings)


def test_ransac_rejects_a_slipped_tip(rng):
    """A fifth of the poses pivot about a point 6 mm away (the tip slipped out of the divot)."""
    poses = pivot_poses(rng, count=500, noise_mm=0.2)
    slipped = rng.choice(500, size=100, replace=False)
    poses[slipped, :3, 3] += [6.0, -2.0, 3.0]
    plain = calibrate_pivot(poses)
    assert np.linalg.norm(plain.tip_in_tool - TIP_IN_TOOL) > 0.3
    robust = calibrate_pivot(poses, ransac_threshold_mm=2.0)
    assert np.linalg.norm(robust.tip_in_tool - TIP_IN_TOOL) < 0.1
    assert set(np.flatnonzero(~robust.inliers)) == set(slipped)
    assert 0.35 < robust.rms_error_mm < 0.55 and robust.passed
    assert robust.residuals.errors_mm[slipped].min() > 2.0  # outliers keep their residuals
    again = calibrate_pivot(poses, ransac_threshold_mm=2.0)
    np.testing.assert_array_equal(again.tip_in_tool, robust.tip_in_tool)  # seeded
    with pytest.raises(InputError, match=r"RANSAC kept \d+ of 500 poses within 0.001 mm"):
        calibrate_pivot(poses, ransac_threshold_mm=0.001)


def test_refusals(rng):
    with pytest.raises(InputError, match="at least 10 poses; got 5"):
        calibrate_pivot(pivot_poses(rng, count=5))
    with pytest.raises(InputError, match=r"too little rotation .* about the axis \[-?0\.02, "):
        calibrate_pivot(pivot_poses(rng, spin_only=True))
    with pytest.raises(InputError, match="too little rotation"):
        calibrate_pivot(pivot_poses(rng, cone_deg=2.0))
    poses = pivot_poses(rng, count=20)
    poses[7, :3, :3] *= 1.1
    with pytest.raises(InputError, match=r"pose 7 is not rigid .* 1 of 20 poses are bad"):
        calibrate_pivot(poses)
    poses[7] = np.nan
    with pytest.raises(InputError, match="contains NaN or Inf"):
        calibrate_pivot(poses)
    with pytest.raises(InputError, match=r"shape \(N, 4, 4\); got \(20, 16\)"):
        calibrate_pivot(np.zeros((20, 16)))
    with pytest.raises(InputError, match="method must be"):
        calibrate_pivot(pivot_poses(rng), method="ransac")  # type: ignore[arg-type]
