"""Surface refinement of a paired-point registration: skin sweep points fitted to the plan's
skin mesh, the checks of a refined result, and its Monte Carlo TRE prediction.

Robust point-to-plane ICP with a trimmed second pass
(:func:`registration.surface_registration.register_surface`) of the sweep points to the plan's
skin mesh, started from the paired-point result (:func:`fit_sweep`); the result says how far
refinement moved the tumour. Fitzpatrick's formula does not cover ICP: the refined result's
predicted TRE at the tumour comes from a Monte Carlo over landmark and surface noise
(:func:`predict_refined_tre`, :mod:`registration.combined_tre`; seconds of work). The
fiducials of a refined registration are taken as anatomical landmarks touched on the skin
(their FLE in the skin's tangent plane); the sweep's independent noise is its RMS distance to
the skin after ICP, and the skin is assumed to have shifted smoothly by
:data:`registration.combined_tre.SKIN_SHIFT_MM` RMS (correlation
:data:`~registration.combined_tre.SKIN_SHIFT_LENGTH_MM`) since the scan. A refinement may move
the tumour by up to three times the paired-point registration's own predicted error there (at
least :data:`registration.acceptance.REFINEMENT_SHIFT_LIMIT_MM`): anatomical landmarks (FLE
2-3 mm) leave millimetres for the skin to correct (:func:`with_refinement_checks`).

The state (which result is the latest, the sweep in the image) stays with
:class:`~navigation.app.registration_workflow.RegistrationWorkflow`; these are its numbers.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from navigation.app.registration_state import RegistrationResult, SurfaceRefinement
from navigation.planning.plan_scene import SkinSurface
from registration.acceptance import REFINEMENT_SHIFT_LIMIT_MM, RegistrationChecks, surface_refusals
from registration.closest_point import TriangleMeshLocator
from registration.combined_tre import (
    SKIN_SHIFT_LENGTH_MM,
    SKIN_SHIFT_MM,
    landmark_covariances,
    predict_combined_tre,
)
from registration.core.checks import Float64Array
from registration.core.transforms import apply_transform, invert_rigid
from registration.surface_registration import SurfaceRegistration, register_surface

#: The trimmed second ICP pass drops sweep points beyond this many robust sigmas.
REFIT_SIGMAS = 3.0
#: Monte Carlo trials of the refined registration's TRE prediction.
PREDICTION_TRIALS = 48


def fit_sweep(
    points: Float64Array,
    skin: SkinSurface,
    locator: TriangleMeshLocator,
    base: RegistrationResult,
    tumour_lps_mm: Float64Array | None,
) -> tuple[SurfaceRegistration, SurfaceRefinement]:
    """ICP of the sweep ``points`` (reference frame, mm) to the ``skin`` from the paired-point
    ``base``; the fit and its summary (how far it moved the tumour, when there is one)."""
    fit = register_surface(
        points,
        skin.vertices,
        skin.triangles,
        skin.normals,
        image_from_tracker=base.image_from_reference,
        locator=locator,
        refit_sigmas=REFIT_SIGMAS,
    )
    shift = None
    if tumour_lps_mm is not None:
        moved = apply_transform(
            fit.image_from_tracker @ invert_rigid(base.image_from_reference), tumour_lps_mm
        )
        shift = float(np.linalg.norm(moved - tumour_lps_mm))
    refinement = SurfaceRefinement(
        point_count=len(points),
        rms_distance_mm=float(fit.rms_distance_mm),
        inlier_fraction=float(fit.inlier_fraction),
        converged=bool(fit.converged),
        iterations=int(fit.iterations),
        tumour_shift_mm=shift,
        tre_landmarks_mm=base.tre_at_tumour_predicted_mm,
    )
    return fit, refinement


def predict_refined_tre(
    result: RegistrationResult,
    sweep_in_image: Float64Array,
    locator: TriangleMeshLocator,
    tumour_lps_mm: Float64Array,
    fle_rms_mm: float,
    *,
    trials: int = PREDICTION_TRIALS,
    seed: int = 0,
) -> tuple[float, str]:
    """The refined ``result``'s predicted RMS TRE at the tumour (mm) by Monte Carlo (module
    docstring) and how it was found, in words."""
    assert result.surface is not None
    landmarks = result.fiducials_used_in_image
    noise = max(result.surface.rms_distance_mm**2 - SKIN_SHIFT_MM**2, 0.1**2) ** 0.5
    prediction = predict_combined_tre(
        landmarks,
        tumour_lps_mm,
        landmark_covariances_mm2=landmark_covariances(
            locator.closest(landmarks).normals, tangential_rms_mm=fle_rms_mm
        ),
        sweep_points_in_image=sweep_in_image,
        surface_noise_mm=noise,
        skin_shift_mm=SKIN_SHIFT_MM,
        skin_shift_length_mm=SKIN_SHIFT_LENGTH_MM,
        skin=locator,
        trials=trials,
        seed=seed,
        refit_sigmas=REFIT_SIGMAS,
    )
    how = (
        f"Monte Carlo, {prediction.trials} trials: landmarks FLE {fle_rms_mm:g} mm "
        f"RMS in the skin's tangent plane, sweep noise {noise:.2f} mm RMS + skin shift "
        f"{SKIN_SHIFT_MM:g} mm RMS over {SKIN_SHIFT_LENGTH_MM:g} mm along the normal, "
        "robust point-to-plane ICP with a trimmed second pass (registration.combined_tre)"
    )
    return float(prediction.tre_rms_mm[0]), how


def with_refinement_checks(
    result: RegistrationResult, base: RegistrationChecks
) -> RegistrationResult:
    """The refined result's checks: the paired-point checks of the layout (leave-one-out,
    mirror), and :func:`registration.acceptance.surface_refusals` on the refined transform."""
    surface = result.surface
    assert surface is not None
    kept = tuple(
        r for r in base.refusals if r.code != "fre_above_alarm" and not r.code.startswith("surface")
    )
    landmarks = surface.tre_landmarks_mm or 0.0
    # Under the refined transform the fiducials are no longer fitted: their RMS residual is
    # about the FLE itself, not sqrt(1 - 2/N) FLE as after the paired-point fit (Fitzpatrick
    # et al. 1998), so the alarm grows by 1 / sqrt(1 - 2/N) (x 1.29 for 5 landmarks).
    count = len(result.fiducial_names)
    alarm = base.fre_alarm_mm
    if alarm is not None and count > 2:
        alarm = alarm / math.sqrt(1.0 - 2.0 / count)
    extra = surface_refusals(
        fre_mm=result.fre_mm,
        fre_alarm_mm=alarm,
        converged=surface.converged,
        iterations=surface.iterations,
        tumour_shift_mm=surface.tumour_shift_mm,
        shift_limit_mm=max(REFINEMENT_SHIFT_LIMIT_MM, 3.0 * landmarks),
    )
    checks = RegistrationChecks(kept, base.cautions, base.fre_alarm_mm, base.leave_one_out_alarm_mm)
    return replace(result, checks=checks.with_refusals(*extra))
