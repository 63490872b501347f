"""Rigid paired-point registration of tracked fiducials to image fiducials.

Arun, Huang & Blostein 1987 (SVD of the cross-covariance) with Umeyama 1991's
``diag(1, 1, det(U) det(V))`` correction, so the result is always a proper rotation, also for
coplanar sets; optional per-fiducial weights (weighted centroids and cross-covariance). The
batched kernel :func:`fit_rigid_batch` is shared with leave-one-out errors and the Monte Carlo
accuracy studies (numpy's stacked ``linalg.svd``).

Refused with :class:`~registration.core.checks.InputError`: fewer than 3 pairs, mismatched counts,
NaN/Inf, duplicate points, collinear sets. Warned (Python ``warnings`` with a
:class:`RegistrationWarning` subclass, and listed in the result): near-coplanar sets, a best fit
that is a mirror image, and an FRE far above what the stated FLE predicts (naming the suspect).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree
from scipy.stats import chi2

from registration.core.checks import Float64Array, InputError, check_finite, check_points
from registration.fiducial_configuration import check_configuration, configuration_singular_values
from registration.tre import expected_fre_rms

#: Warn when the third singular value is below this fraction of the first: a mirrored set
#: (LPS/RAS mix-up) then fits almost as well as the true one and targets off the plane are
#: poorly constrained. Three fiducials are always coplanar.
COPLANAR_RATIO = 0.1
#: Points of one set closer than this (mm) are the same point entered twice.
DUPLICATE_TOLERANCE_MM = 1e-3
#: False-alarm probability of the FRE test: N FRE^2 / sigma^2 ~ chi-square(3N - 6) for
#: isotropic Gaussian FLE with per-axis variance sigma^2 = <FLE^2> / 3 (Fitzpatrick et al. 1998,
#: Sibson 1978); FRE above the (1 - alpha) quantile is flagged.
FRE_TEST_ALPHA = 1e-3
#: Try every pairwise swap to explain a high FRE when there are at most this many fiducials.
MAX_SWAP_SEARCH = 40


class RegistrationWarning(UserWarning):
    """Base class of the warnings a registration can raise."""


class CoplanarFiducialsWarning(RegistrationWarning):
    """The fiducials are (nearly) coplanar."""


class MirroredFiducialsWarning(RegistrationWarning):
    """The best orthogonal fit is a reflection: one set looks mirrored (LPS/RAS mix-up?)."""


class HighFREWarning(RegistrationWarning):
    """FRE is far above what the stated FLE predicts: a swapped or mis-touched fiducial."""


@dataclass(frozen=True)
class PointRegistration:
    """Result of :func:`register_points`.

    Attributes
    ----------
    image_from_tracker : (4, 4) float64 rigid transform, mm; maps tracker points to image LPS.
    fre_rms_mm : RMS fiducial registration error (unweighted), mm.
    residuals_mm : (N,) distance of each mapped tracker fiducial from its image fiducial, mm.
    leave_one_out_mm : (N,) distance of each fiducial when the other N-1 register it, mm
        (NaN when N = 3: two points cannot register).
    warnings : messages of the warnings raised, in order.
    suspect_indices : indices of the fiducials a high-FRE warning blamed (empty otherwise).
    fre_threshold_mm : FRE above which the FLE test warns (None without ``fle_rms_mm``).
    coplanar : the near-coplanar warning was raised.
    mirrored : the mirrored-set warning was raised.
    """

    image_from_tracker: Float64Array
    fre_rms_mm: float
    residuals_mm: Float64Array
    leave_one_out_mm: Float64Array
    warnings: tuple[str, ...] = ()
    suspect_indices: tuple[int, ...] = ()
    fre_threshold_mm: float | None = None
    coplanar: bool = False
    mirrored: bool = False


def register_points(
    fiducials_in_tracker: ArrayLike,
    fiducials_in_image: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    fle_rms_mm: float | None = None,
    names: Sequence[str] | None = None,
) -> PointRegistration:
    """Rigid paired-point registration (Arun et al. 1987, reflection fix of Umeyama 1991).

    Parameters
    ----------
    fiducials_in_tracker : (N, 3) float, mm, tracker frame, N >= 3, not collinear.
    fiducials_in_image : (N, 3) float, mm, image LPS frame, same order.
    weights : (N,) float > 0, optional relative weights (e.g. 1 / per-fiducial FLE^2).
    fle_rms_mm : optional RMS 3-D fiducial localisation error sqrt(<FLE^2>) in mm, both sides
        combined (sqrt(FLE_tracker^2 + FLE_image^2)). Enables the high-FRE test.
    names : optional fiducial names used in messages (default "#1", "#2", ...).

    Returns
    -------
    PointRegistration with ``image_from_tracker`` minimising sum w_i |R p_i + t - q_i|^2.
    """
    tracker, image = _check_pairs(fiducials_in_tracker, fiducials_in_image)
    n = tracker.shape[0]
    labels = _labels(names, n)
    w = _check_weights(weights, n)
    for points, name in ((tracker, "fiducials_in_tracker"), (image, "fiducials_in_image")):
        _check_duplicates(points, name, labels)
        check_configuration(points, name)

    rotation, translation = fit_rigid_batch(tracker[np.newaxis], image[np.newaxis], w)
    image_from_tracker = np.eye(4)
    image_from_tracker[:3, :3] = rotation[0]
    image_from_tracker[:3, 3] = translation[0]
    residuals = np.linalg.norm(tracker @ rotation[0].T + translation[0] - image, axis=1)
    fre = float(np.sqrt(np.mean(residuals**2)))
    loo = leave_one_out_errors(tracker, image, weights=w)

    messages: list[tuple[type[RegistrationWarning], str]] = []
    planar = _coplanar_message(tracker, image)
    if planar:
        messages.append((CoplanarFiducialsWarning, planar))
    mirror = None if planar else _mirror_message(tracker, image, w)
    if mirror:
        messages.append((MirroredFiducialsWarning, mirror))
    threshold = None
    suspects: tuple[int, ...] = ()
    if fle_rms_mm is not None:
        fle = float(check_finite(fle_rms_mm, "fle_rms_mm"))
        if fle <= 0:
            raise InputError(
                f"fle_rms_mm must be > 0 (with no localisation error every FRE would be "
                f"implausible); got {fle}. Omit it to skip the FRE test."
            )
        threshold = fre_alarm_factor(n) * expected_fre_rms(n, fle)
        if fre > threshold:
            suspects, text = _explain_high_fre(tracker, image, w, loo, labels, threshold)
            messages.append(
                (
                    HighFREWarning,
                    f"FRE {fre:.2f} mm is far above the {expected_fre_rms(n, fle):.2f} mm "
                    f"expected for FLE {fle:.2f} mm with {n} fiducials (alarm at "
                    f"{threshold:.2f} mm): {text}",
                )
            )
    for category, text in messages:
        warnings.warn(text, category, stacklevel=2)
    return PointRegistration(
        image_from_tracker=image_from_tracker,
        fre_rms_mm=fre,
        residuals_mm=residuals,
        leave_one_out_mm=loo,
        warnings=tuple(text for _, text in messages),
        suspect_indices=suspects,
        fre_threshold_mm=threshold,
        coplanar=bool(planar),
        mirrored=bool(mirror),
    )


def fit_rigid_batch(
    moving: Float64Array, fixed: Float64Array, weights: Float64Array | None = None
) -> tuple[Float64Array, Float64Array]:
    """Least-squares rigid fits of many point sets at once, no validation (internal kernel).

    Parameters
    ----------
    moving, fixed : (B, N, 3) float64, corresponding points (any frame, mm).
    weights : (N,) or (B, N) non-negative weights, or None for equal weights.

    Returns
    -------
    rotation (B, 3, 3) and translation (B, 3) with ``fixed ~ moving @ R.T + t``; always proper
    rotations (Umeyama's correction).
    """
    if weights is None:
        w = np.full(moving.shape[:2], 1.0 / moving.shape[1])
    else:
        w = np.broadcast_to(np.asarray(weights, dtype=np.float64), moving.shape[:2])
        w = w / w.sum(axis=1, keepdims=True)
    moving_centroid = np.einsum("bn,bni->bi", w, moving)
    fixed_centroid = np.einsum("bn,bni->bi", w, fixed)
    p = moving - moving_centroid[:, np.newaxis, :]
    q = fixed - fixed_centroid[:, np.newaxis, :]
    h = np.matmul((p * w[..., np.newaxis]).transpose(0, 2, 1), q)  # sum_i w_i p_i q_i^T
    rotation = rotations_from_cross_covariance(h)
    translation = fixed_centroid - np.einsum("bij,bj->bi", rotation, moving_centroid)
    return rotation, translation


def rotations_from_cross_covariance(h: Float64Array) -> Float64Array:
    """(B, 3, 3) proper rotations R maximising trace(R H) for cross-covariances H (B, 3, 3)
    = sum_i w_i p_i q_i^T: R = V diag(1, 1, det(U) det(V)) U^T with H = U S V^T (Umeyama)."""
    u, _, vt = np.linalg.svd(h)
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    sign[sign == 0] = 1.0
    v = vt.transpose(0, 2, 1).copy()
    v[:, :, 2] *= sign[:, np.newaxis]
    return np.matmul(v, u.transpose(0, 2, 1))


def leave_one_out_errors(
    fiducials_in_tracker: Float64Array,
    fiducials_in_image: Float64Array,
    *,
    weights: Float64Array | None = None,
) -> Float64Array:
    """(N,) distance in mm of each image fiducial from its tracker fiducial mapped by the
    registration of the other N - 1 pairs; NaN for every fiducial when N < 4. Inputs (N, 3)
    are assumed validated (see :func:`register_points`).

    Exact and O(N): with coordinates centred on the full weighted centroids, removing pair i
    (weight w_i of total W) changes the cross-covariance by a rank-one term,
    H_-i = H - (w_i W / (W - w_i)) p_i q_i^T, and the centroids to -w_i p_i / (W - w_i) (and
    likewise for q); one batched 3x3 SVD gives all N rotations.
    """
    n = fiducials_in_tracker.shape[0]
    if n < 4:
        return np.full(n, np.nan)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    total = w.sum()
    p = fiducials_in_tracker - (w @ fiducials_in_tracker) / total
    q = fiducials_in_image - (w @ fiducials_in_image) / total
    h = (p * w[:, np.newaxis]).T @ q
    rest = total - w
    h_without = h - (w * total / rest)[:, np.newaxis, np.newaxis] * np.einsum("ni,nj->nij", p, q)
    p_centroid = -(w / rest)[:, np.newaxis] * p
    q_centroid = -(w / rest)[:, np.newaxis] * q
    rotation = rotations_from_cross_covariance(h_without)
    mapped = np.einsum("nij,nj->ni", rotation, p - p_centroid) + q_centroid
    return np.linalg.norm(mapped - q, axis=1)


def fre_alarm_factor(n_fiducials: int, *, alpha: float = FRE_TEST_ALPHA) -> float:
    """Factor on the expected RMS FRE above which an FRE is implausible at level ``alpha``.

    With isotropic Gaussian FLE, N FRE^2 / sigma^2 ~ chi-square with 3N - 6 degrees of freedom
    (sigma^2 = <FLE^2> / 3), so FRE / sqrt(<FRE^2>) <= sqrt(chi2.ppf(1 - alpha, 3N - 6) /
    (3N - 6)) with probability 1 - alpha: 2.33 for N = 3, 1.66 for N = 6, 1.34 for N = 12.
    """
    dof = 3 * n_fiducials - 6
    return float(np.sqrt(chi2.ppf(1.0 - alpha, dof) / dof))


def _check_pairs(tracker_in: ArrayLike, image_in: ArrayLike) -> tuple[Float64Array, Float64Array]:
    tracker = check_points(tracker_in, "fiducials_in_tracker")
    image = check_points(image_in, "fiducials_in_image")
    if tracker.shape[0] != image.shape[0]:
        raise InputError(
            f"fiducials_in_tracker has {tracker.shape[0]} points but fiducials_in_image has "
            f"{image.shape[0]}; give one tracker point per image fiducial, in the same order."
        )
    if tracker.shape[0] < 3:
        raise InputError(
            f"rigid registration needs at least 3 fiducial pairs; got {tracker.shape[0]}. "
            "Touch more fiducials (4 or more, spread around the target, are advised)."
        )
    return tracker, image


def _check_weights(weights: ArrayLike | None, n: int) -> Float64Array | None:
    if weights is None:
        return None
    w = check_finite(weights, "weights")
    if w.shape != (n,):
        raise InputError(f"weights must have shape ({n},), one per fiducial; got {w.shape}.")
    if (w <= 0).any():
        raise InputError(f"weights must be positive; got {w.tolist()}.")
    return w


def _labels(names: Sequence[str] | None, n: int) -> list[str]:
    if names is None:
        return [f"#{i + 1}" for i in range(n)]
    if len(names) != n:
        raise InputError(f"names has {len(names)} entries for {n} fiducials.")
    return [str(name) for name in names]


def _check_duplicates(points: Float64Array, name: str, labels: list[str]) -> None:
    pairs = sorted(cKDTree(points).query_pairs(DUPLICATE_TOLERANCE_MM))
    if pairs:
        i, j = pairs[0]
        raise InputError(
            f"{name} has duplicate points: {labels[i]} and {labels[j]} are at the same "
            f"position {points[i].round(3).tolist()} (within {DUPLICATE_TOLERANCE_MM} mm); "
            "remove the repeated point or re-acquire it."
        )


def _coplanar_message(tracker: Float64Array, image: Float64Array) -> str | None:
    s = configuration_singular_values(image)
    ratio = s[2] / s[0]
    if ratio >= COPLANAR_RATIO:
        return None
    return (
        f"fiducials are nearly coplanar (s3/s1 = {ratio:.3f} < {COPLANAR_RATIO}): a mirrored "
        "set cannot be told from the true one and targets far from their plane are poorly "
        "constrained; add a fiducial out of the plane."
    )


def _mirror_message(
    tracker: Float64Array, image: Float64Array, weights: Float64Array | None
) -> str | None:
    """A proper rotation costs 4 s3 (singular value of the weighted cross-covariance) more
    than the best reflection; warn when the reflection would remove over half the residual.
    Only asked of sets that are not near-coplanar (a mirror of those fits as well)."""
    w = np.full(len(tracker), 1.0) if weights is None else weights
    w = w / w.sum()
    p = tracker - w @ tracker
    q = image - w @ image
    h = (p * w[:, np.newaxis]).T @ q
    u, s, vt = np.linalg.svd(h)
    if np.linalg.det(u) * np.linalg.det(vt) >= 0:
        return None
    rotation_cost = float(
        w @ (p**2).sum(axis=1) + w @ (q**2).sum(axis=1) - 2 * (s[0] + s[1] - s[2])
    )
    if 4 * s[2] <= 0.5 * max(rotation_cost, 0.0) or s[2] <= 1e-12 * s[0]:
        return None
    return (
        "the best fit of the two sets is a reflection, not a rotation: one set looks mirrored "
        "(an LPS/RAS or left/right mix-up?). Check the coordinate system of the point files."
    )


def _explain_high_fre(
    tracker: Float64Array,
    image: Float64Array,
    weights: Float64Array | None,
    loo: Float64Array,
    labels: list[str],
    threshold: float,
) -> tuple[tuple[int, ...], str]:
    """Name the likely culprit: a pair whose swap brings FRE under the alarm, else the
    fiducial with the largest leave-one-out error."""
    n = len(tracker)
    if n <= MAX_SWAP_SEARCH:
        pairs = list(combinations(range(n), 2))
        swapped = np.repeat(image[np.newaxis], len(pairs), axis=0)
        for b, (i, j) in enumerate(pairs):
            swapped[b, [i, j]] = image[[j, i]]
        moving = np.repeat(tracker[np.newaxis], len(pairs), axis=0)
        rotation, translation = fit_rigid_batch(moving, swapped, weights)
        mapped = np.einsum("bij,bnj->bni", rotation, moving) + translation[:, np.newaxis]
        fres = np.sqrt(np.mean(np.sum((mapped - swapped) ** 2, axis=2), axis=1))
        best = int(np.argmin(fres))
        if fres[best] <= threshold:
            i, j = pairs[best]
            return (i, j), (
                f"fiducials {labels[i]} and {labels[j]} look swapped (FRE {fres[best]:.2f} mm "
                "with them exchanged); check their order or names."
            )
    if np.isnan(loo).all():
        return (), "with 3 fiducials the culprit cannot be isolated; re-touch all of them."
    k = int(np.nanargmax(loo))
    return (k,), (
        f"fiducial {labels[k]} is the likely culprit (leave-one-out error {loo[k]:.2f} mm, "
        f"next largest {np.sort(loo)[-2]:.2f} mm); re-touch it or check its label."
    )
