"""The registration gate: refused for a high FRE, a leave-one-out outlier, a mirrored layout;
passed for honest noise at about the designed false-alarm rate."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import chi2

from registration.acceptance import (
    Refusal,
    check_point_registration,
    leave_one_out_alarms,
)
from registration.core.checks import InputError
from registration.core.transforms import apply_transform, invert_rigid, random_rigid
from registration.point_registration import register_points
from registration.tre import predict_tre_rms

#: Eight fiducials around a head, image LPS mm (not coplanar).
IMAGE = np.array(
    [
        [0.0, -95.0, 30.0],
        [60.0, -60.0, 10.0],
        [-60.0, -60.0, 10.0],
        [50.0, -40.0, -70.0],
        [-50.0, -40.0, -70.0],
        [0.0, -70.0, -90.0],
        [70.0, 10.0, 40.0],
        [-70.0, 10.0, 40.0],
    ]
)
NAMES = tuple(f"F{i + 1}" for i in range(len(IMAGE)))


def _register(tracker, fle, image=IMAGE, names=NAMES):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = register_points(tracker, image, fle_rms_mm=fle, names=names)
    return fit, check_point_registration(fit, image, fle_rms_mm=fle, names=names)


@pytest.fixture
def truth(rng):
    return random_rigid(rng, max_translation_mm=300.0)


def test_leave_one_out_alarm_formula():
    """alarm_i = sqrt(chi2(1 - a/N, 3)/3) * sqrt(TRE_-i(q_i)^2 + FLE^2), by hand for one i."""
    alarms = leave_one_out_alarms(IMAGE, fle_rms_mm=0.8)
    factor = np.sqrt(chi2.ppf(1 - 1e-3 / 8, 3) / 3)
    tre = predict_tre_rms(IMAGE[1:], IMAGE[0], fle_rms_mm=0.8)[0]
    assert alarms[0] == pytest.approx(factor * np.hypot(tre, 0.8))
    assert np.isnan(leave_one_out_alarms(IMAGE[:3], fle_rms_mm=0.8)).all()


@pytest.mark.slow
def test_honest_noise_passes_at_about_the_designed_rate(rng, truth):
    """2000 registrations with Gaussian FLE of the stated size: refusals are rare (two tests at
    alpha = 1e-3 each, Bonferroni; the first-order model is not exact, so allow 1 %)."""
    fle = 1.0
    tracker_true = apply_transform(invert_rigid(truth), IMAGE)
    refused = 0
    for _ in range(2000):
        noisy = tracker_true + rng.normal(0.0, fle / np.sqrt(3.0), IMAGE.shape)
        _, checks = _register(noisy, fle)
        refused += not checks.passed
    assert refused / 2000 < 0.01


def test_a_single_mis_touch_is_refused_by_leave_one_out_although_fre_is_low(truth):
    """12 mm off on one of eight fiducials with a generous FLE: the RMS FRE stays under its
    alarm, the leave-one-out test names the fiducial."""
    fle = 2.5
    tracker = apply_transform(invert_rigid(truth), IMAGE)
    tracker[6] += [0.0, 0.0, 12.0]
    fit, checks = _register(tracker, fle)
    assert fit.fre_rms_mm < fit.fre_threshold_mm  # the RMS alone would accept it
    assert not checks.passed
    assert [r.code for r in checks.refusals] == ["leave_one_out_outlier"]
    assert checks.refusals[0].fiducials[0] == "F7"
    assert checks.suspects[0] == "F7"
    assert "Re-touch F7" in checks.refusals[0].message


def test_forty_mm_off_is_refused_and_names_the_culprit(truth):
    tracker = apply_transform(invert_rigid(truth), IMAGE)
    tracker[5] += [40.0, 0.0, 0.0]
    _, checks = _register(tracker, 1.0)
    assert [r.code for r in checks.refusals] == ["fre_above_alarm"]
    assert checks.suspects == ("F6",)
    assert "F6 is the likely culprit" in checks.refusals[0].message
    assert checks.summary.startswith("FRE ") and "> alarm" in checks.summary


def test_swapped_pair_is_refused_and_named(truth):
    tracker = apply_transform(invert_rigid(truth), IMAGE)
    tracker[[0, 5]] = tracker[[5, 0]]
    _, checks = _register(tracker, 0.5)
    assert checks.refusals[0].code == "fre_above_alarm"
    assert set(checks.refusals[0].fiducials) == {"F1", "F6"}
    assert "swapped" in checks.refusals[0].message


def test_mirrored_set_is_refused(truth):
    mirrored = IMAGE * [-1.0, 1.0, 1.0]  # left/right flipped (RAS read as LPS in x)
    tracker = apply_transform(invert_rigid(truth), mirrored)
    _, checks = _register(tracker, 1.0)
    assert "mirrored_layout" in [r.code for r in checks.refusals]


def test_coplanar_is_a_caution_not_a_refusal(truth):
    flat = IMAGE.copy()
    flat[:, 1] = -80.0 + 0.5 * np.arange(len(flat))  # all within 4 mm of a plane
    tracker = apply_transform(invert_rigid(truth), flat)
    _, checks = _register(tracker, 1.0, image=flat)
    assert checks.passed and checks.cautions and "coplanar" in checks.cautions[0]


def test_bad_inputs_say_what_to_do(truth):
    tracker = apply_transform(invert_rigid(truth), IMAGE)
    fit = register_points(tracker, IMAGE)
    with pytest.raises(InputError, match="without fle_rms_mm"):
        check_point_registration(fit, IMAGE, fle_rms_mm=1.0, names=NAMES)
    with pytest.raises(InputError, match="names"):
        check_point_registration(fit, IMAGE, fle_rms_mm=1.0, names=NAMES[:3])
    with pytest.raises(InputError, match="unknown refusal code"):
        Refusal("bad", "x", "y")
