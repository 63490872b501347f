"""Monte Carlo TRE and FRE: perturb the fiducials, register, measure the error at targets.

The independent check of :mod:`registration.tre`'s theory, and the kernel of the accuracy lab
(:mod:`registration.accuracy`). Each trial draws Gaussian FLE for every fiducial on the tracker
side (and optionally the image side), registers the noisy tracker points to the noisy image
points with the batched Arun/Umeyama fit of :func:`registration.point_registration.fit_rigid_batch`
(no Python loop over trials), and maps each target through the estimated transform. The true
transform is the identity: registration error statistics do not depend on it, and the layout
keeps its own position and orientation (off-origin, rotated layouts are simulated as given).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from registration.core.checks import Float64Array, InputError, check_points
from registration.fiducial_configuration import check_configuration
from registration.point_registration import fit_rigid_batch
from registration.tre import check_fle_covariances

#: Trials per batch in :func:`monte_carlo_tre`, bounding memory (~ trials x N x 3 x 8 bytes).
BATCH_TRIALS = 50_000


@dataclass(frozen=True)
class SimulatedErrors:
    """Per-trial errors from :func:`simulate_registration_errors`.

    fre_rms_mm : (B,) RMS FRE of each trial, mm.
    target_errors_mm : (B, M, 3) registered minus true target position, mm, image LPS frame.
    """

    fre_rms_mm: Float64Array
    target_errors_mm: Float64Array


@dataclass(frozen=True)
class TREMonteCarlo:
    """Monte Carlo estimate from :func:`monte_carlo_tre`.

    tre_rms_mm : (M,) sqrt(mean |TRE|^2) at each target, mm.
    tre_covariance_mm2 : (M, 3, 3) sample covariance of the target error, mm^2, LPS.
    fre_rms_mm : sqrt(mean FRE^2) over trials, mm.
    trials : number of registrations simulated.
    """

    tre_rms_mm: Float64Array
    tre_covariance_mm2: Float64Array
    fre_rms_mm: float
    trials: int


def noise_factors(covariances_mm2: Float64Array) -> Float64Array:
    """(N, 3, 3) L with L L^T = C for each PSD covariance (eigen square root, so singular
    covariances, e.g. FLE confined to a plane, are allowed)."""
    values, vectors = np.linalg.eigh(covariances_mm2)
    return vectors * np.sqrt(np.clip(values, 0.0, None))[:, np.newaxis, :]


def simulate_registration_errors(
    fiducials: Float64Array,
    targets: Float64Array,
    tracker_noise: Float64Array,
    image_noise: Float64Array | None,
    trials: int,
    rng: np.random.Generator,
    *,
    weights: Float64Array | None = None,
) -> SimulatedErrors:
    """Simulate ``trials`` registrations (internal kernel; inputs assumed valid).

    Parameters
    ----------
    fiducials : (N, 3) true fiducial positions, mm, LPS.
    targets : (M, 3) true target positions, mm, LPS.
    tracker_noise, image_noise : (N, 3, 3) factors L (FLE = L z, z ~ N(0, I)) per fiducial, from
        :func:`noise_factors`; ``image_noise`` None for a noise-free image side.
    trials : number of registrations; rng : the generator (draws tracker then image noise).
    weights : (N,) registration weights or None.
    """
    n = len(fiducials)
    draws = rng.standard_normal((trials, n, 3))
    moving = fiducials + np.einsum("nij,bnj->bni", tracker_noise, draws)
    if image_noise is None:
        fixed = np.broadcast_to(fiducials, moving.shape)
    else:
        draws = rng.standard_normal((trials, n, 3))
        fixed = fiducials + np.einsum("nij,bnj->bni", image_noise, draws)
    rotation, translation = fit_rigid_batch(moving, fixed, weights)
    mapped = np.matmul(moving, rotation.transpose(0, 2, 1)) + translation[:, np.newaxis, :]
    fre = np.sqrt(np.mean(np.sum((mapped - fixed) ** 2, axis=2), axis=1))
    registered = np.matmul(targets, rotation.transpose(0, 2, 1)) + translation[:, np.newaxis, :]
    return SimulatedErrors(fre_rms_mm=fre, target_errors_mm=registered - targets)


def monte_carlo_tre(
    fiducials_in_image: ArrayLike,
    targets_in_image: ArrayLike,
    *,
    fle_covariances_mm2: ArrayLike,
    trials: int = 10_000,
    seed: int | np.random.SeedSequence = 0,
    weights: ArrayLike | None = None,
    fle_image_covariances_mm2: ArrayLike | None = None,
) -> TREMonteCarlo:
    """Monte Carlo RMS TRE and TRE covariance at targets for any FLE covariances.

    Parameters
    ----------
    fiducials_in_image : (N, 3) float, mm, LPS; N >= 3, not collinear.
    targets_in_image : (M, 3) or (3,) float, mm, LPS.
    fle_covariances_mm2 : (3, 3) or (N, 3, 3) tracker-side FLE covariance, mm^2, LPS frame.
    trials : number of simulated registrations (>= 2).
    seed : seed of ``numpy.random.default_rng`` (same seed, same numbers).
    weights : (N,) positive registration weights, or None.
    fle_image_covariances_mm2 : optional image-side FLE covariance, like the tracker side.
    """
    fiducials = check_points(fiducials_in_image, "fiducials_in_image", min_count=3)
    check_configuration(fiducials, "fiducials_in_image")
    targets = check_points(targets_in_image, "targets_in_image")
    n = len(fiducials)
    if int(trials) < 2:
        raise InputError(f"trials must be at least 2; got {trials}.")
    tracker = noise_factors(check_fle_covariances(fle_covariances_mm2, n))
    image = (
        None
        if fle_image_covariances_mm2 is None
        else noise_factors(check_fle_covariances(fle_image_covariances_mm2, n))
    )
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or (w <= 0).any():
            raise InputError(f"weights must be {n} positive finite numbers.")
    rng = np.random.default_rng(seed)
    fre_squared_sum = 0.0
    second_moment = np.zeros((len(targets), 3, 3))
    mean = np.zeros((len(targets), 3))
    done = 0
    while done < trials:
        batch = min(BATCH_TRIALS, int(trials) - done)
        sim = simulate_registration_errors(
            fiducials, targets, tracker, image, batch, rng, weights=w
        )
        fre_squared_sum += float(np.sum(sim.fre_rms_mm**2))
        mean += sim.target_errors_mm.sum(axis=0)
        second_moment += np.einsum("bmi,bmj->mij", sim.target_errors_mm, sim.target_errors_mm)
        done += batch
    mean /= done
    raw = second_moment / done
    covariance = (raw - np.einsum("mi,mj->mij", mean, mean)) * done / (done - 1)
    return TREMonteCarlo(
        tre_rms_mm=np.sqrt(np.einsum("mii->m", raw)),
        tre_covariance_mm2=covariance,
        fre_rms_mm=float(np.sqrt(fre_squared_sum / done)),
        trials=done,
    )
