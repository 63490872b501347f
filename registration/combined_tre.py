"""Predicted TRE of a markerless registration: anatomical landmarks, then a skin sweep and ICP.

Fitzpatrick, West & Maurer's formula (:mod:`registration.tre`) covers paired points only; once
surface ICP refines a landmark registration, the error at a target depends on the skin's shape
where it was swept, the sweep's noise and the landmarks' error (which sets ICP's start and,
where the skin leaves a motion poorly constrained, its end). No closed form: Monte Carlo with
the accuracy lab's machinery (:mod:`registration.tre_simulation`'s noise factors and the
batched Arun/Umeyama fit, streams spawned from one ``SeedSequence`` as in
:mod:`registration.accuracy.engine`), running the very estimator the app runs:

1. landmark localisation errors drawn from each landmark's covariance (anatomical landmarks
   are found on the skin: most of their error lies along it) for all trials at once, and the
   landmarks registered (batched fit);
2. surface noise drawn for each sweep point along the skin normal there: independent
   (``surface_noise_mm``: the pointer pressing the skin, tracking noise) plus a smooth shift of
   the skin (``skin_shift_mm`` RMS, correlated over ``skin_shift_length_mm``,
   :func:`registration.random_fields.smooth_noise`: soft tissue settled differently between
   the scan and surgery, segmentation error), which no number of sweep points averages away;
   then the robust point-to-plane
   ICP of :func:`registration.surface_registration.register_surface` run from the trial's
   landmark registration (the skin's locator built once);
3. the trial's TRE at each target: its registered minus true position (the true transform is
   the identity; the error statistics do not depend on it).

The sweep points are taken where the registered sweep lies (snapped onto the skin): the
prediction is for the sweep that was made. Unmodelled: deformation beyond a shift along the
skin normal, a systematic push of the pointer into the skin, a segmentation bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from registration.closest_point import TriangleMeshLocator
from registration.core.checks import Float64Array, InputError, check_points, check_positive
from registration.point_registration import check_configuration, fit_rigid_batch
from registration.random_fields import smooth_noise
from registration.surface_registration import register_surface
from registration.tre import check_fle_covariances
from registration.tre_simulation import noise_factors

#: A smooth shift of the skin between the scan and surgery, along its normal: RMS (mm) and
#: correlation length (mm). Our assumption for soft tissue settled differently and the
#: surface's segmentation error (the app's prediction and the simulator's patient scenario
#: share it); published skin-surface registration studies report TREs of 1-3 mm where bone
#: landmarks give sub-millimetre ones, so the skin's own error is of this order.
SKIN_SHIFT_MM = 0.5
SKIN_SHIFT_LENGTH_MM = 25.0


@dataclass(frozen=True)
class CombinedTREPrediction:
    """Monte Carlo TRE of landmarks + surface ICP (module docstring).

    tre_rms_mm : (M,) sqrt(mean |TRE|^2) at each target after ICP, mm.
    tre_p95_mm : (M,) 95th percentile of |TRE|, mm.
    landmark_tre_rms_mm : (M,) the same trials' TRE after the landmark fit alone, mm.
    trials : registrations simulated; failures : trials whose ICP refused the sweep (left out).
    surface_noise_mm, skin_shift_mm : the sweep noise and skin shift assumed (RMS along the
    normal, mm).
    """

    tre_rms_mm: Float64Array
    tre_p95_mm: Float64Array
    landmark_tre_rms_mm: Float64Array
    trials: int
    failures: int
    surface_noise_mm: float
    skin_shift_mm: float


def landmark_covariances(
    normals: ArrayLike, *, tangential_rms_mm: float, normal_rms_mm: float = 0.0
) -> Float64Array:
    """(N, 3, 3) covariances of landmarks found on a surface: RMS ``tangential_rms_mm`` (2-D,
    in the tangent plane) and ``normal_rms_mm`` along the unit ``normals`` (N, 3)."""
    n = check_points(normals, "normals")
    n = n / np.linalg.norm(n, axis=1, keepdims=True)
    along = np.einsum("ni,nj->nij", n, n)
    tangent = np.eye(3) - along
    return tangent * (tangential_rms_mm**2 / 2.0) + along * normal_rms_mm**2


def predict_combined_tre(
    landmarks_in_image: ArrayLike,
    targets_in_image: ArrayLike,
    *,
    landmark_covariances_mm2: ArrayLike,
    sweep_points_in_image: ArrayLike,
    surface_noise_mm: float,
    skin: TriangleMeshLocator,
    skin_shift_mm: float = 0.0,
    skin_shift_length_mm: float = 25.0,
    trials: int = 64,
    seed: int = 0,
    refit_sigmas: float | None = None,
) -> CombinedTREPrediction:
    """Monte Carlo TRE at targets of landmark registration refined by surface ICP.

    landmarks_in_image : (N, 3) planned landmarks, LPS mm, N >= 3, not collinear.
    targets_in_image : (M, 3) or (3,) targets, LPS mm.
    landmark_covariances_mm2 : (3, 3) or (N, 3, 3) landmark localisation covariances, mm^2.
    sweep_points_in_image : (K, 3) the registered sweep, LPS mm (snapped onto the skin here).
    surface_noise_mm : RMS independent noise of a sweep point along the skin normal, mm (> 0).
    skin : the skin mesh's locator (image frame).
    skin_shift_mm, skin_shift_length_mm : RMS and correlation length of the skin's smooth shift
        along its normal, mm (0: none).
    trials : registrations simulated (>= 2); seed : root of the random streams.
    refit_sigmas : the ICP's trimmed second pass, as the registration being predicted runs it.
    """
    landmarks = check_points(landmarks_in_image, "landmarks_in_image", min_count=3)
    check_configuration(landmarks, "landmarks_in_image")
    targets = check_points(targets_in_image, "targets_in_image")
    sweep = check_points(sweep_points_in_image, "sweep_points_in_image")
    check_positive(surface_noise_mm, "surface_noise_mm")
    if not skin_shift_mm >= 0:
        raise InputError(f"skin_shift_mm must be >= 0; got {skin_shift_mm}.")
    if int(trials) < 2:
        raise InputError(f"trials must be at least 2; got {trials}.")
    landmark_noise = noise_factors(check_fle_covariances(landmark_covariances_mm2, len(landmarks)))
    landmark_rng, surface_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
    )
    # 1. Landmark fits, all trials at once.
    draws = landmark_rng.standard_normal((int(trials), len(landmarks), 3))
    touched = landmarks + np.einsum("nij,bnj->bni", landmark_noise, draws)
    rotations, translations = fit_rigid_batch(
        touched, np.ascontiguousarray(np.broadcast_to(landmarks, touched.shape))
    )
    # 2. ICP per trial, from the trial's landmark fit, on its own noisy sweep.
    on_skin = skin.closest(sweep)
    errors, landmark_errors = [], []
    failures = 0
    for trial in range(int(trials)):
        start = np.eye(4)
        start[:3, :3], start[:3, 3] = rotations[trial], translations[trial]
        offsets = surface_rng.normal(0.0, surface_noise_mm, len(sweep))
        if skin_shift_mm > 0:
            offsets += skin_shift_mm * smooth_noise(
                on_skin.points, skin_shift_length_mm, surface_rng
            )
        noisy = on_skin.points + offsets[:, np.newaxis] * on_skin.normals
        try:
            fit = register_surface(
                noisy, skin.vertices, skin.triangles, image_from_tracker=start, locator=skin,
                refit_sigmas=refit_sigmas,
            )  # fmt: skip
        except InputError:
            failures += 1
            continue
        moved = targets @ fit.image_from_tracker[:3, :3].T + fit.image_from_tracker[:3, 3]
        errors.append(np.linalg.norm(moved - targets, axis=1))
        first = targets @ start[:3, :3].T + start[:3, 3]
        landmark_errors.append(np.linalg.norm(first - targets, axis=1))
    if len(errors) < 2:
        raise InputError(
            f"surface ICP refused the sweep in {failures} of {trials} simulated trials; the "
            "sweep cannot constrain the registration (sweep more of the face)."
        )
    tre = np.array(errors)
    return CombinedTREPrediction(
        tre_rms_mm=np.sqrt(np.mean(tre**2, axis=0)),
        tre_p95_mm=np.percentile(tre, 95.0, axis=0),
        landmark_tre_rms_mm=np.sqrt(np.mean(np.array(landmark_errors) ** 2, axis=0)),
        trials=len(errors),
        failures=failures,
        surface_noise_mm=float(surface_noise_mm),
        skin_shift_mm=float(skin_shift_mm),
    )
