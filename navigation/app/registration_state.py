"""The registration as the app shows it: immutable results, their checks, the one in force.

**The one "valid or not" flag** is :attr:`RegistrationResult.verified`: True when the
registration passed every check of :mod:`registration.acceptance` (FRE alarm, leave-one-out
outlier, mirrored layout, surface refinement). Everything that shows a predicted TRE reads
it, and the result itself enforces it: for a registration that is not verified
:attr:`RegistrationResult.tre_at_tumour_predicted_mm` is None and
:meth:`RegistrationResult.tre_at` returns None, so no screen, file or summary can print a
first-order TRE next to a registration whose premises failed ("not valid" is shown instead,
with :attr:`RegistrationResult.tre_note`).

A registration in force (:attr:`RegistrationState.accepted`) that is not verified got there
only through the explicit override (:class:`RegistrationOverride`, recorded in the session):
the views then show a red "UNVERIFIED REGISTRATION" for as long as it is in use and draw the
pointer as untrusted. :meth:`RegistrationState.banner` is the one text of the registration
actually in use (panel banner and the 3-D view read it); the latest computed result, when it is
not the one in use, is a *candidate* and is labelled so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from navigation.tracking.fiducial_collection import CollectedFiducial
from registration.acceptance import RegistrationChecks
from registration.core.checks import Float64Array
from registration.tre import predict_tre_rms

#: A landmark check within this distance (mm) agrees with the registration: the system
#: accuracy acceptance criterion of a cleared (510(k)) navigation system, <= 2.0 mm.
LANDMARK_TOLERANCE_MM = 2.0


#: A refined registration's prediction before the Monte Carlo has finished.
PENDING_PREDICTION = "pending: Monte Carlo over landmark and surface noise"


@dataclass(frozen=True)
class SurfaceRefinement:
    """What the skin sweep refinement did.

    point_count : sweep points used. rms_distance_mm : RMS distance of the inliers to the skin
    after refinement. inlier_fraction : 0..1. converged : ICP converged. iterations : run.
    tumour_shift_mm : distance the refinement moved the tumour centroid (vs the paired-point
    registration), mm; None without a tumour.
    tre_landmarks_mm : the paired-point prediction at the tumour before refinement, mm.
    tre_predicted_mm : the refined registration's predicted RMS TRE at the tumour (Monte Carlo
        of landmarks + ICP, :mod:`registration.combined_tre`), or None while it is computed.
    prediction : how ``tre_predicted_mm`` was obtained, or that it is pending.
    """

    point_count: int
    rms_distance_mm: float
    inlier_fraction: float
    converged: bool
    iterations: int
    tumour_shift_mm: float | None
    tre_landmarks_mm: float | None = None
    tre_predicted_mm: float | None = None
    prediction: str = PENDING_PREDICTION

    def to_dict(self) -> dict[str, Any]:
        return {
            "point_count": self.point_count,
            "rms_distance_mm": self.rms_distance_mm,
            "inlier_fraction": self.inlier_fraction,
            "converged": self.converged,
            "iterations": self.iterations,
            "tumour_shift_mm": self.tumour_shift_mm,
            "tre_landmarks_mm": self.tre_landmarks_mm,
            "tre_predicted_mm": self.tre_predicted_mm,
            "prediction": self.prediction,
        }


@dataclass(frozen=True)
class RegistrationResult:
    """A computed registration of the patient reference to the image.

    Attributes
    ----------
    image_from_reference : (4, 4) rigid, mm: reference frame to image LPS.
    method : "points" or "points+surface".
    fiducial_names : names of the fiducials used (collected and not excluded), plan order.
    fiducials_used_in_image : (N, 3) their image positions, LPS mm (for TRE predictions).
    fre_mm : RMS FRE over the fiducials used, mm (of this transform).
    residuals_mm : name -> distance of the mapped collected point from its image fiducial,
        for every collected fiducial, excluded ones included (mm).
    leave_one_out_mm : name -> error when the others register it (used fiducials; NaN for 3).
    warnings : messages of the registration's warnings.
    fle_rms_mm : the FLE the predictions assume (RMS, mm).
    expected_fre_mm : sqrt(1 - 2/N) FLE, what the FRE should be about.
    checks : the verdict of :mod:`registration.acceptance` (see :attr:`verified`).
    tumour_lps_mm : (3,) the tumour centroid the TRE is predicted at, or None.
    surface : the skin sweep refinement, or None.
    """

    image_from_reference: Float64Array
    method: str
    fiducial_names: tuple[str, ...]
    fiducials_used_in_image: Float64Array
    fre_mm: float
    residuals_mm: dict[str, float]
    leave_one_out_mm: dict[str, float]
    warnings: tuple[str, ...]
    fle_rms_mm: float
    expected_fre_mm: float
    checks: RegistrationChecks
    tumour_lps_mm: Float64Array | None = None
    surface: SurfaceRefinement | None = None

    @property
    def verified(self) -> bool:
        """True when every check passed: the only registrations whose predicted TRE is shown
        and under which the pointer is drawn as trusted."""
        return self.checks.passed

    @property
    def checks_passed(self) -> bool:
        """The same as :attr:`verified` (the name the guidance code reads)."""
        return self.verified

    @property
    def tre_note(self) -> str:
        """What to show instead of a number when the TRE is not valid ("" when it is)."""
        return "" if self.verified else f"not valid ({self.checks.summary})"

    def tre_at(self, points_lps_mm: ArrayLike) -> Float64Array | None:
        """(M,) predicted RMS TRE (mm) at image points (paired-point model, this FLE), or None
        when the registration is not verified (the model's premises failed)."""
        if not self.verified:
            return None
        return predict_tre_rms(
            self.fiducials_used_in_image, points_lps_mm, fle_rms_mm=self.fle_rms_mm
        )

    @property
    def tre_at_tumour_predicted_mm(self) -> float | None:
        """Predicted RMS TRE at the tumour centroid; None without a tumour or when the
        registration is not verified. After surface refinement, the Monte Carlo prediction of
        the combined registration (None while it is computed), never the paired-point one."""
        if self.tumour_lps_mm is None:
            return None
        if self.surface is not None:
            return self.surface.tre_predicted_mm if self.verified else None
        values = self.tre_at(self.tumour_lps_mm)
        return None if values is None else float(values[0])

    def describe(self) -> str:
        """One line: method, fiducials (and skin points), FRE."""
        text = f"{self.method}, {len(self.fiducial_names)} fiducials"
        if self.surface is not None:
            text += f" + {self.surface.point_count} skin points"
        return f"{text}, FRE {self.fre_mm:.2f} mm"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (recorded with the session, written by the headless summary)."""
        return {
            "image_from_reference": self.image_from_reference.tolist(),
            "method": self.method,
            "fiducials": list(self.fiducial_names),
            "fre_mm": self.fre_mm,
            "residuals_mm": {k: _json_float(v) for k, v in self.residuals_mm.items()},
            "leave_one_out_mm": {k: _json_float(v) for k, v in self.leave_one_out_mm.items()},
            "warnings": list(self.warnings),
            "fle_rms_mm": self.fle_rms_mm,
            "expected_fre_mm": self.expected_fre_mm,
            "verified": self.verified,
            "checks": self.checks.to_dict(),
            "tre_at_tumour_predicted_mm": self.tre_at_tumour_predicted_mm,
            "predicted_tre": "valid" if self.verified else self.tre_note,
            "surface": None if self.surface is None else self.surface.to_dict(),
        }


@dataclass(frozen=True)
class RegistrationOverride:
    """The explicit decision to use a registration that failed its checks.

    risks : the refusals' short texts the confirmation named. reason : what the user typed
    (may be ""). time_s : session clock at the decision.
    """

    risks: tuple[str, ...]
    reason: str
    time_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"risks": list(self.risks), "reason": self.reason, "time_s": self.time_s}


@dataclass(frozen=True)
class LandmarkCheck:
    """The tip touching a known point under the registration in force (image LPS mm).

    fiducial : the nearest planned fiducial. distance_mm : tip to it. time_s : session clock.
    """

    fiducial: str
    distance_mm: float
    tip_lps_mm: Float64Array
    time_s: float = math.nan

    @property
    def within_tolerance(self) -> bool:
        return self.distance_mm <= LANDMARK_TOLERANCE_MM

    def describe(self) -> str:
        verdict = "agrees" if self.within_tolerance else "DISAGREES"
        return (
            f"landmark check: tip {self.distance_mm:.1f} mm from {self.fiducial} "
            f"({verdict}; tolerance {LANDMARK_TOLERANCE_MM:g} mm)"
        )


@dataclass(frozen=True)
class SweepOutcome:
    """The last skin sweep: points recorded, and why refinement refused it (None: used)."""

    points: int
    refused: str | None = None


@dataclass(frozen=True)
class FiducialRow:
    """One planned fiducial as the registration panel lists it.

    collected : the averaged pointer tip (reference frame), or None.
    residual_mm : its distance from the image fiducial under the latest result (None before).
    excluded_reason : why it is excluded (shown beside it), None when included.
    """

    index: int
    name: str
    position_in_image: Float64Array
    collected: CollectedFiducial | None
    excluded: bool
    residual_mm: float | None
    excluded_reason: str | None = None


@dataclass(frozen=True)
class RegistrationState:
    """An immutable view of the workflow.

    rows : one per planned fiducial, plan order. current_index : the fiducial the next
    collection fills (None when all are collected). result : the latest computed registration.
    result_outdated : fiducials were collected or excluded since ``result``. accepted : the
    registration in force. override : how ``accepted`` was put in force when it failed its
    checks (None when it passed). message : the last thing the workflow has to say.
    last_failure : why the last register/refine was refused (None when it was not).
    last_sweep : the last skin sweep. landmark : the last landmark check under ``accepted``.
    """

    rows: tuple[FiducialRow, ...]
    current_index: int | None
    result: RegistrationResult | None
    result_outdated: bool
    accepted: RegistrationResult | None
    message: str
    override: RegistrationOverride | None = None
    last_failure: str | None = None
    last_sweep: SweepOutcome | None = None
    landmark: LandmarkCheck | None = None

    @property
    def collected_count(self) -> int:
        return sum(row.collected is not None for row in self.rows)

    @property
    def usable_count(self) -> int:
        return sum(row.collected is not None and not row.excluded for row in self.rows)

    @property
    def in_use_verified(self) -> bool:
        """A registration is in force and it passed its checks."""
        return self.accepted is not None and self.accepted.verified

    @property
    def candidate(self) -> RegistrationResult | None:
        """The latest result when it is not the one in use (None otherwise)."""
        if self.result is None or self.result is self.accepted:
            return None
        return self.result

    def banner(self) -> tuple[str, str]:
        """(text, level) of the registration actually in use; level is "none", "verified" or
        "unverified" (red)."""
        accepted = self.accepted
        if accepted is None:
            return "NOT REGISTERED", "none"
        if accepted.verified:
            return f"REGISTERED: {accepted.describe()}", "verified"
        return f"UNVERIFIED REGISTRATION\n(override) {accepted.checks.summary}", "unverified"


def _json_float(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def frozen_points(points: ArrayLike) -> Float64Array:
    """A read-only float64 copy."""
    array = np.array(points, dtype=np.float64)
    array.setflags(write=False)
    return array


__all__ = [
    "LANDMARK_TOLERANCE_MM",
    "FiducialRow",
    "LandmarkCheck",
    "RegistrationOverride",
    "RegistrationResult",
    "RegistrationState",
    "SurfaceRefinement",
    "SweepOutcome",
]
