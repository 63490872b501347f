"""TRE prediction: Fitzpatrick, West & Maurer 1998, first-order anisotropic propagation
(Danilchenko & Fitzpatrick 2011) and Monte Carlo, checked against each other and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sksurgerycore.algorithms.errors import compute_tre_from_fle

from registration.core.checks import InputError
from registration.core.transforms import make_rigid, rotation_about
from registration.tre import (
    expected_fre_rms,
    isotropic_covariance,
    predict_tre_covariance,
    predict_tre_rms,
)
from registration.tre_simulation import monte_carlo_tre

#: Head and neck layout (zygoma L/R, nasion, mandible angles L/R, chin) about the head centre.
HEAD = np.array(
    [[0, -95, 30], [60, -60, 5], [-60, -60, 5], [50, -10, -60], [-50, -10, -60], [0, -85, -75]],
    dtype=float,
)
#: A scanner-like pose: rotated 35 deg about an oblique axis and far from the origin.
SCANNER_FROM_HEAD = make_rigid(rotation_about([1.0, 2.0, 0.5], 35.0), [40.0, 230.0, -610.0])


def _place(points: np.ndarray) -> np.ndarray:
    return points @ SCANNER_FROM_HEAD[:3, :3].T + SCANNER_FROM_HEAD[:3, 3]


def _targets() -> np.ndarray:
    """Targets away from the fiducial centroid (head frame, mm): oral cavity, neck level II
    left and right, vertex, occiput."""
    return np.array(
        [[0, -55, -45], [45, 0, -100], [-45, 0, -100], [0, -20, 90], [0, 90, 0]], dtype=float
    )


def test_hand_checked_symmetric_layout():
    """Fiducials at +-a on x and y: centroid 0, axes x, y, z; f_x^2 = f_y^2 = a^2/2, f_z^2 = a^2.
    Target (0, 0, h): d_x = d_y = h, d_z = 0 -> TRE^2 = FLE^2/4 (1 + (4 h^2/a^2)/3)."""
    a, h, fle = 50.0, 80.0, 0.7
    fiducials = np.array([[a, 0, 0], [-a, 0, 0], [0, a, 0], [0, -a, 0]])
    expected = np.sqrt(fle**2 / 4 * (1 + (4 * h**2 / a**2) / 3))
    assert predict_tre_rms(fiducials, [0.0, 0.0, h], fle_rms_mm=fle)[0] == pytest.approx(expected)
    assert predict_tre_rms(fiducials, [0.0, 0.0, 0.0], fle_rms_mm=fle)[0] == pytest.approx(fle / 2)


def test_head_and_neck_worked_example():
    """The worked head-and-neck example: 6 fiducials, FLE 1 mm -> 0.41 mm at the centroid,
    expected FRE 0.82 mm; TRE grows away from the centroid (oral cavity < neck level II)."""
    centroid = HEAD.mean(axis=0)
    tre = predict_tre_rms(HEAD, np.vstack([centroid, _targets()[:2]]), fle_rms_mm=1.0)
    assert tre[0] == pytest.approx(0.408, abs=0.001)
    assert expected_fre_rms(6, 1.0) == pytest.approx(0.816, abs=0.001)
    assert tre[0] < tre[1] < tre[2]


def test_prediction_is_invariant_to_the_layout_pose():
    here = predict_tre_rms(HEAD, _targets(), fle_rms_mm=0.5)
    there = predict_tre_rms(_place(HEAD), _place(_targets()), fle_rms_mm=0.5)
    np.testing.assert_allclose(there, here, rtol=1e-10)


def test_isotropic_propagation_reduces_to_the_1998_formula():
    fiducials, targets = _place(HEAD), _place(_targets())
    formula = predict_tre_rms(fiducials, targets, fle_rms_mm=0.8)
    propagated = predict_tre_covariance(
        fiducials, targets, fle_covariances_mm2=isotropic_covariance(0.8)
    )
    np.testing.assert_allclose(propagated.tre_rms_mm, formula, rtol=1e-10)
    assert propagated.fre_rms_mm == pytest.approx(expected_fre_rms(6, 0.8), rel=1e-10)


def test_tre_map_over_200k_vertices_in_one_call(rng):
    fiducials = _place(HEAD)
    vertices = _place(rng.uniform(-120, 120, (200_000, 3)))
    tre = predict_tre_rms(fiducials, vertices, fle_rms_mm=0.3)
    assert tre.shape == (200_000,)
    sample = rng.choice(200_000, 20, replace=False)
    single = [predict_tre_rms(fiducials, vertices[k], fle_rms_mm=0.3)[0] for k in sample]
    np.testing.assert_allclose(tre[sample], single, rtol=1e-12)
    assert tre.min() >= 0.3 / np.sqrt(6) - 1e-12  # the minimum is at the centroid


def test_monte_carlo_matches_theory_on_a_rotated_off_origin_layout():
    """Acceptance: 20,000 trials; <FRE^2> within 5 %, <TRE^2> within 10 % at 5 targets, four
    of them 100-150 mm from the fiducial centroid."""
    fiducials, targets = _place(HEAD), _place(_targets())
    fle = 0.9
    mc = monte_carlo_tre(
        fiducials, targets, fle_covariances_mm2=isotropic_covariance(fle), trials=20_000, seed=7
    )
    theory = predict_tre_rms(fiducials, targets, fle_rms_mm=fle)
    assert mc.fre_rms_mm**2 == pytest.approx((1 - 2 / 6) * fle**2, rel=0.05)
    np.testing.assert_allclose(mc.tre_rms_mm**2, theory**2, rtol=0.10)
    distances = np.linalg.norm(targets - fiducials.mean(axis=0), axis=1)
    assert (distances[1:] > 100).all()


def test_anisotropic_propagation_agrees_with_monte_carlo(rng):
    """Per-fiducial anisotropic covariances (needle-like, 1.5 mm along a random direction,
    0.3 mm across) and unequal weights: RMS TRE within 3 %, covariances within 5 % (relative
    Frobenius norm), expected FRE within 3 %, over 100,000 trials (sampling error ~0.5 %)."""
    fiducials, targets = _place(HEAD), _place(_targets())
    directions = rng.normal(size=(6, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    covariances = 0.3**2 * np.eye(3) + (1.5**2 - 0.3**2) * np.einsum(
        "ni,nj->nij", directions, directions
    )
    weights = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    predicted = predict_tre_covariance(
        fiducials, targets, fle_covariances_mm2=covariances, weights=weights
    )
    mc = monte_carlo_tre(
        fiducials,
        targets,
        fle_covariances_mm2=covariances,
        weights=weights,
        trials=100_000,
        seed=11,
    )
    np.testing.assert_allclose(predicted.tre_rms_mm, mc.tre_rms_mm, rtol=0.03)
    for p, m in zip(predicted.tre_covariance_mm2, mc.tre_covariance_mm2, strict=True):
        assert np.linalg.norm(p - m) / np.linalg.norm(m) < 0.05
    assert predicted.fre_rms_mm == pytest.approx(mc.fre_rms_mm, rel=0.03)
    isotropic = predict_tre_rms(
        fiducials,
        targets,
        fle_rms_mm=float(np.sqrt(np.trace(covariances, axis1=1, axis2=2).mean())),
    )
    assert np.abs(predicted.tre_rms_mm / isotropic - 1).max() > 0.1  # anisotropy matters here


def test_image_side_fle_adds_in_quadrature():
    fiducials, targets = _place(HEAD), _place(_targets())
    both = monte_carlo_tre(
        fiducials,
        targets,
        fle_covariances_mm2=isotropic_covariance(0.6),
        fle_image_covariances_mm2=isotropic_covariance(0.8),
        trials=20_000,
        seed=3,
    )
    np.testing.assert_allclose(
        both.tre_rms_mm, predict_tre_rms(fiducials, targets, fle_rms_mm=1.0), rtol=0.05
    )


def test_scikit_surgerycore_differs_off_origin_where_ours_matches_monte_carlo():
    """sksurgerycore 0.8's compute_tre_from_fle takes eigenvector rows and passes an axis
    direction as a second point on the line: off the origin its axes are wrong. Ours follows
    the Monte Carlo truth; its <TRE^2> is off by more than 25 % at some targets and
    underestimates it 1.5-fold at one (measured: 0.64 and 0.62 of the truth at the neck and
    the vertex, 1.29 at the other neck level)."""
    fiducials, targets = _place(HEAD), _place(_targets())
    fle = 1.0
    mc = monte_carlo_tre(
        fiducials, targets, fle_covariances_mm2=isotropic_covariance(fle), trials=50_000, seed=5
    )
    ours = predict_tre_rms(fiducials, targets, fle_rms_mm=fle) ** 2
    theirs = np.array([compute_tre_from_fle(fiducials, fle**2, t[None]) for t in targets])
    truth = mc.tre_rms_mm**2
    np.testing.assert_allclose(ours, truth, rtol=0.05)
    assert np.abs(theirs / truth - 1).max() > 0.25
    assert (theirs / truth).min() < 1 / 1.5
    # Centred on the origin with axes along x, y, z, the two agree.
    centred = HEAD - HEAD.mean(axis=0)
    _, _, vt = np.linalg.svd(centred)
    aligned, aligned_targets = centred @ vt.T, (_targets() - HEAD.mean(axis=0)) @ vt.T
    theirs_aligned = [compute_tre_from_fle(aligned, fle**2, t[None]) for t in aligned_targets]
    np.testing.assert_allclose(
        theirs_aligned, predict_tre_rms(aligned, aligned_targets, fle_rms_mm=fle) ** 2, rtol=1e-9
    )


def test_refusals():
    line = np.outer(np.arange(4.0), [1.0, 1.0, 0.0])
    with pytest.raises(InputError, match="fiducials_in_image are collinear"):
        predict_tre_rms(line, [0.0, 0.0, 0.0], fle_rms_mm=1.0)
    with pytest.raises(InputError, match="fle_rms_mm must be >= 0"):
        predict_tre_rms(HEAD, [0.0, 0.0, 0.0], fle_rms_mm=-0.1)
    with pytest.raises(InputError, match="needs at least 3 points; got 2"):
        predict_tre_rms(HEAD[:2], [0.0, 0.0, 0.0], fle_rms_mm=1.0)
    with pytest.raises(InputError, match=r"targets_in_image must have shape \(N, 3\)"):
        predict_tre_rms(HEAD, [[0.0, 0.0]], fle_rms_mm=1.0)
    with pytest.raises(InputError, match=r"shape \(3, 3\) or \(6, 3, 3\)"):
        predict_tre_covariance(HEAD, HEAD, fle_covariances_mm2=np.eye(2))
    with pytest.raises(InputError, match="must be symmetric"):
        predict_tre_covariance(HEAD, HEAD, fle_covariances_mm2=[[1, 0.5, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(InputError, match="positive semi-definite"):
        predict_tre_covariance(HEAD, HEAD, fle_covariances_mm2=-np.eye(3))
    with pytest.raises(InputError, match="weights must be 6 positive numbers"):
        predict_tre_covariance(HEAD, HEAD, fle_covariances_mm2=np.eye(3), weights=[1, 1])
    with pytest.raises(InputError, match="trials must be at least 2"):
        monte_carlo_tre(HEAD, HEAD, fle_covariances_mm2=np.eye(3), trials=1)
    with pytest.raises(InputError, match="n_fiducials must be >= 3"):
        expected_fre_rms(2, 1.0)


def test_tre_with_one_more_point_equals_the_formula_for_each_layout(rng):
    from registration.tre import predict_tre_with_added_point

    fiducials = rng.normal(0, 40, (4, 3)) + np.array([10.0, -60.0, 5.0])
    candidates = rng.normal(0, 60, (50, 3))
    target = np.array([5.0, -20.0, -30.0])
    tre = predict_tre_with_added_point(fiducials, candidates, target, fle_rms_mm=0.7)
    for candidate, value in zip(candidates, tre, strict=True):
        expected = predict_tre_rms(np.vstack([fiducials, candidate]), target, fle_rms_mm=0.7)[0]
        assert value == pytest.approx(expected, rel=1e-10)
    # two fiducials: a candidate on their line is collinear (infinite), one off it is not
    pair = np.array([[0.0, 0.0, 0.0], [50.0, 0.0, 0.0]])
    on_line, off_line = [100.0, 0.0, 0.0], [25.0, 40.0, 0.0]
    both = predict_tre_with_added_point(pair, [on_line, off_line], target, fle_rms_mm=1.0)
    assert np.isinf(both[0]) and np.isfinite(both[1])
    assert both[1] == pytest.approx(
        predict_tre_rms(np.vstack([pair, off_line]), target, fle_rms_mm=1.0)[0]
    )
