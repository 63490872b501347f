"""Predicted target registration error (TRE) of rigid point-based registration, from theory.

- Isotropic, homogeneous FLE: Fitzpatrick, West & Maurer 1998 (IEEE TMI 17:694, eq. 46),
  ``<TRE^2(r)> = (<FLE^2> / N) (1 + 1/3 sum_k d_k^2 / f_k^2)``, with d_k the distance of the
  target from principal axis k of the fiducial configuration (through its centroid) and f_k
  the RMS distance of the fiducials from that axis; ``<FRE^2> = (1 - 2/N) <FLE^2>`` (eq. 10).
  :func:`predict_tre_rms` is vectorised over any number of targets (a TRE map of every vertex
  of a mesh is one call) and correct for any position and orientation of the layout;
  :func:`predict_tre_with_added_point` over candidate layouts (where one more fiducial helps a
  target most).
- Anisotropic / inhomogeneous FLE and weights: first-order propagation of per-fiducial FLE
  covariances through the linearised weighted least-squares fit (Danilchenko & Fitzpatrick
  2011, IEEE TMI 30:679), :func:`predict_tre_covariance`, giving each target's 3x3 TRE
  covariance. For isotropic FLE it reduces exactly to the 1998 formula.

Model: only the difference of the two sides' localisation errors enters to first order, so FLE
here is the total of tracker and image sides: ``<FLE^2> = FLE_tracker^2 + FLE_image^2``;
covariances are expressed in the image (LPS) frame. A Monte Carlo counterpart is in
:mod:`registration.tre_simulation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from registration.core.checks import Float64Array, InputError, check_finite, check_points
from registration.fiducial_configuration import COLLINEAR_RATIO, check_configuration

#: Targets per block in :func:`predict_tre_rms`: blocks stay in cache and below OpenBLAS's
#: threading threshold (threaded tall-skinny products were 10x slower on a busy 2-core machine).
_BLOCK_ROWS = 4096


@dataclass(frozen=True)
class TREPrediction:
    """First-order TRE/FRE statistics from :func:`predict_tre_covariance`.

    Attributes
    ----------
    tre_covariance_mm2 : (M, 3, 3) covariance of each target's registration error, mm^2,
        image (LPS) frame.
    tre_rms_mm : (M,) sqrt(trace(covariance)): the RMS TRE at each target, mm.
    fre_rms_mm : expected RMS FRE, sqrt(<FRE^2>), mm.
    pose_covariance : (6, 6) covariance of the small rotation (rad, about the weighted
        fiducial centroid) and translation (mm) of the registration error.
    """

    tre_covariance_mm2: Float64Array
    tre_rms_mm: Float64Array
    fre_rms_mm: float
    pose_covariance: Float64Array


def expected_fre_rms(n_fiducials: int, fle_rms_mm: float) -> float:
    """sqrt(<FRE^2>) = sqrt(1 - 2/N) * FLE_rms in mm (Fitzpatrick et al. 1998, eq. 10)."""
    if n_fiducials < 3:
        raise InputError(f"n_fiducials must be >= 3; got {n_fiducials}.")
    return float(np.sqrt(1.0 - 2.0 / n_fiducials) * fle_rms_mm)


def principal_axes(fiducials: Float64Array) -> tuple[Float64Array, Float64Array, Float64Array]:
    """Centroid (3,), principal axes (3, 3) as columns, and f_k^2 (3,): mean squared distance
    of the fiducials from each axis (mm^2). Fiducials (N, 3) mm, validated by the caller."""
    centroid = fiducials.mean(axis=0)
    centred = fiducials - centroid
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt.T  # columns are the principal axes
    second_moments = s**2 / len(fiducials)  # mean squared coordinate along each axis
    f_squared = second_moments.sum() - second_moments  # distance from axis k: other two coords
    return centroid, axes, f_squared


def predict_tre_rms(
    fiducials_in_image: ArrayLike, targets_in_image: ArrayLike, *, fle_rms_mm: float
) -> Float64Array:
    """RMS TRE at each target for isotropic FLE (Fitzpatrick, West & Maurer 1998, eq. 46).

    Parameters
    ----------
    fiducials_in_image : (N, 3) float, mm, LPS; N >= 3, not collinear.
    targets_in_image : (M, 3) or (3,) float, mm, LPS; any M (a mesh's vertices).
    fle_rms_mm : sqrt(<FLE^2>) in mm, 3-D RMS, both sides combined.

    Returns
    -------
    (M,) float64 sqrt(<TRE^2>) in mm.
    """
    fiducials = check_points(fiducials_in_image, "fiducials_in_image", min_count=3)
    check_configuration(fiducials, "fiducials_in_image")
    targets = check_points(targets_in_image, "targets_in_image")
    fle = float(check_finite(fle_rms_mm, "fle_rms_mm"))
    if fle < 0:
        raise InputError(f"fle_rms_mm must be >= 0; got {fle}.")
    centroid, axes, f_squared = principal_axes(fiducials)
    # With y the target's coordinates along the principal axes, d_k^2 = |y|^2 - y_k^2, so
    # sum_k d_k^2 / f_k^2 = sum_j y_j^2 (S - 1 / f_j^2), S = sum_k 1 / f_k^2: one pass over y^2.
    inverse = 1.0 / f_squared
    scale = fle * fle / len(fiducials)
    weights = (inverse.sum() - inverse) * (scale / 3.0)
    offset = centroid @ axes
    tre = np.empty(len(targets))
    for start in range(0, len(targets), _BLOCK_ROWS):
        along = targets[start : start + _BLOCK_ROWS] @ axes  # coordinates on the principal axes
        along -= offset
        np.square(along, out=along)
        tre_squared = along @ weights
        tre_squared += scale
        np.sqrt(tre_squared, out=tre[start : start + _BLOCK_ROWS])
    return tre


def predict_tre_with_added_point(
    fiducials_in_image: ArrayLike,
    candidates_in_image: ArrayLike,
    target_in_image: ArrayLike,
    *,
    fle_rms_mm: float,
) -> Float64Array:
    """RMS TRE at one target for each layout "the fiducials plus one candidate point"
    (Fitzpatrick, West & Maurer 1998, eq. 46, as :func:`predict_tre_rms`): where one more
    fiducial helps the target most is the candidate with the smallest value.

    fiducials_in_image : (N, 3) float, mm, LPS; N >= 2 (with the candidate at least three).
    candidates_in_image : (C, 3) float, mm, LPS (e.g. skin vertices).
    target_in_image : (3,) float, mm, LPS.
    Returns (C,) float64 sqrt(<TRE^2>) in mm; +inf where the layout with that candidate is
    collinear (ratio of singular values below the registration's own collinearity limit).
    """
    fiducials = check_points(fiducials_in_image, "fiducials_in_image", min_count=2)
    candidates = check_points(candidates_in_image, "candidates_in_image")
    target = check_points(target_in_image, "target_in_image")
    if target.shape[0] != 1:
        raise InputError(f"target_in_image must be one point; got {target.shape[0]}.")
    fle = float(check_finite(fle_rms_mm, "fle_rms_mm"))
    if fle < 0:
        raise InputError(f"fle_rms_mm must be >= 0; got {fle}.")
    n = len(fiducials) + 1
    layouts = np.concatenate(
        [np.broadcast_to(fiducials, (len(candidates), n - 1, 3)), candidates[:, None, :]], axis=1
    )
    centroids = layouts.mean(axis=1)
    _, s, vt = np.linalg.svd(layouts - centroids[:, None, :], full_matrices=False)
    second_moments = s**2 / n
    f_squared = second_moments.sum(axis=1, keepdims=True) - second_moments
    along = np.einsum("ckj,cj->ck", vt, target[0] - centroids)  # target on the principal axes
    squared = along**2
    distance_squared = squared.sum(axis=1, keepdims=True) - squared  # d_k^2 from each axis
    collinear = (s[:, 0] == 0) | (s[:, 1] < COLLINEAR_RATIO * s[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (distance_squared / f_squared).sum(axis=1)
        tre = np.sqrt(fle * fle / n * (1.0 + ratio / 3.0))
    tre[collinear | ~np.isfinite(tre)] = np.inf
    return np.asarray(tre, dtype=np.float64)


def predict_tre_covariance(
    fiducials_in_image: ArrayLike,
    targets_in_image: ArrayLike,
    *,
    fle_covariances_mm2: ArrayLike,
    weights: ArrayLike | None = None,
) -> TREPrediction:
    """TRE covariance at each target for anisotropic, inhomogeneous FLE (first order).

    Linearise the weighted fit about the truth: the error of fiducial i, e_i (covariance
    C_i), moves the registration by a small rotation w and translation t solving
    min sum_i w_i |e_i + w x (x_i - c) + t|^2 (c the weighted centroid). With A_i =
    [-[x_i - c]_x, I], M = sum w_i A_i^T A_i, the pose covariance is
    M^-1 (sum w_i^2 A_i^T C_i A_i) M^-1 and the target error B_r (w, t), B_r = [-[r - c]_x, I],
    has covariance B_r cov B_r^T (Danilchenko & Fitzpatrick 2011, eqs. 13-20 in our notation).

    Parameters
    ----------
    fiducials_in_image : (N, 3) float, mm, LPS; N >= 3, not collinear.
    targets_in_image : (M, 3) or (3,) float, mm, LPS.
    fle_covariances_mm2 : (3, 3) shared or (N, 3, 3) per-fiducial FLE covariance in mm^2,
        image frame, tracker and image sides summed; symmetric positive semi-definite.
    weights : (N,) positive registration weights, or None for equal weights.
    """
    fiducials = check_points(fiducials_in_image, "fiducials_in_image", min_count=3)
    check_configuration(fiducials, "fiducials_in_image")
    targets = check_points(targets_in_image, "targets_in_image")
    n = len(fiducials)
    covariances = check_fle_covariances(fle_covariances_mm2, n)
    w = np.ones(n) if weights is None else check_finite(weights, "weights")
    if w.shape != (n,) or (w <= 0).any():
        raise InputError(f"weights must be {n} positive numbers; got {np.asarray(w).tolist()}.")
    w = w / w.sum()

    centroid = w @ fiducials
    a = _jacobians(fiducials - centroid)  # (N, 3, 6)
    normal = np.einsum("n,nki,nkj->ij", w, a, a)
    normal_inverse = np.linalg.inv(normal)
    middle = np.einsum("n,nki,nkl,nlj->ij", w * w, a, covariances, a)
    pose_covariance = normal_inverse @ middle @ normal_inverse

    b = _jacobians(targets - centroid)  # (M, 3, 6)
    tre_covariance = np.matmul(b @ pose_covariance, b.transpose(0, 2, 1))
    tre_rms = np.sqrt(np.clip(np.trace(tre_covariance, axis1=1, axis2=2), 0.0, None))

    # Residual r_i = e_i + A_i theta, theta = -M^-1 sum_j w_j A_j^T e_j; <FRE^2> = mean tr cov r_i
    gain = -np.einsum("ij,n,nkj->nik", normal_inverse, w, a)  # (N, 6, 3): theta = sum G_j e_j
    fre_squared = 0.0
    for i in range(n):
        transfer = np.einsum("ki,nij->nkj", a[i], gain)  # (N, 3, 3): r_i = e_i + sum_j T_ij e_j
        transfer[i] += np.eye(3)
        fre_squared += float(np.einsum("nkl,nlm,nkm->", transfer, covariances, transfer))
    return TREPrediction(
        tre_covariance_mm2=tre_covariance,
        tre_rms_mm=tre_rms,
        fre_rms_mm=float(np.sqrt(fre_squared / n)),
        pose_covariance=pose_covariance,
    )


def check_fle_covariances(fle_covariances_mm2: ArrayLike, n: int) -> Float64Array:
    """Return (N, 3, 3) FLE covariances from a shared (3, 3) or per-fiducial (N, 3, 3) input,
    refusing asymmetric or non positive semi-definite matrices."""
    c = check_finite(fle_covariances_mm2, "fle_covariances_mm2")
    if c.shape == (3, 3):
        c = np.broadcast_to(c, (n, 3, 3))
    if c.shape != (n, 3, 3):
        raise InputError(
            f"fle_covariances_mm2 must have shape (3, 3) or ({n}, 3, 3); got {c.shape}."
        )
    if np.abs(c - c.transpose(0, 2, 1)).max() > 1e-9 * max(1.0, float(np.abs(c).max())):
        raise InputError("fle_covariances_mm2 must be symmetric.")
    if np.linalg.eigvalsh(c).min() < -1e-12 * max(1.0, float(np.abs(c).max())):
        raise InputError("fle_covariances_mm2 must be positive semi-definite.")
    return np.ascontiguousarray(c, dtype=np.float64)


def isotropic_covariance(fle_rms_mm: float) -> Float64Array:
    """(3, 3) covariance of an isotropic FLE with 3-D RMS ``fle_rms_mm``: (FLE^2 / 3) I."""
    return np.eye(3) * (float(fle_rms_mm) ** 2 / 3.0)


def _jacobians(offsets: Float64Array) -> Float64Array:
    """(K, 3, 6) [-[x]_x, I] for offsets x (K, 3): d(w x x + t)/d(w, t)."""
    k = len(offsets)
    out = np.zeros((k, 3, 6))
    x, y, z = offsets[:, 0], offsets[:, 1], offsets[:, 2]
    # w x x = -[x]_x w, with [x]_x = [[0, -z, y], [z, 0, -x], [-y, x, 0]]
    out[:, 0, 1], out[:, 0, 2] = z, -y
    out[:, 1, 0], out[:, 1, 2] = -z, x
    out[:, 2, 0], out[:, 2, 1] = y, -x
    out[:, :, 3:] = np.eye(3)
    return out
