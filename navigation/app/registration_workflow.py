"""The registration workflow of the navigation app: collect, register, exclude, refine, accept.

Logic only, no widgets and no tracking: the session hands it fiducials collected with the
pointer (:class:`~navigation.tracking.fiducial_collection.CollectedFiducial`, tip positions in
the patient reference frame) and skin sweep points; the registration panel and the headless
runner read :meth:`RegistrationWorkflow.state`, an immutable :class:`RegistrationState`.

Because the points are in the reference frame, every registration here is
``image_from_reference`` (``register_points`` calls its result ``image_from_tracker``: the
"tracker" side is whatever frame the collected points are in).

- Paired points: :func:`registration.point_registration.register_points` (Arun / Umeyama) on
  the collected, not excluded fiducials, with the plan's image fiducials; per-fiducial
  residuals (also for excluded fiducials: how far the registration puts them), leave-one-out
  errors and warnings; the predicted RMS TRE at the tumour centroid
  (:func:`registration.tre.predict_tre_rms`, Fitzpatrick et al. 1998) for the configured FLE.
- Surface refinement (optional): :func:`registration.surface_registration.register_surface`
  (robust point-to-plane ICP) of the sweep points to the plan's skin mesh, started from the
  paired-point result; the result says how far refinement moved the tumour. Fitzpatrick's
  formula does not cover ICP: the refined result's predicted TRE at the tumour is *pending*
  (None, never the paired-point number) until :meth:`RegistrationWorkflow.predict_refined`
  (Monte Carlo over landmark and surface noise, :mod:`registration.combined_tre`; seconds, so
  the session runs it outside its lock) gives it and :meth:`attach_prediction` stores it. The
  fiducials of a refined registration are taken as anatomical landmarks touched on the skin
  (their FLE in the skin's tangent plane); the sweep's independent noise is its RMS distance to
  the skin after ICP, and the skin is assumed to have shifted smoothly by
  :data:`registration.combined_tre.SKIN_SHIFT_MM` RMS (correlation
  :data:`~registration.combined_tre.SKIN_SHIFT_LENGTH_MM`) since the scan.
- Accept: the result in force, until the next accept.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from navigation.app.plan_scene import SkinSurface
from navigation.tracking.fiducial_collection import CollectedFiducial
from registration.checks import Float64Array, InputError, check_points, check_positive
from registration.closest_point import TriangleMeshLocator
from registration.combined_tre import (
    SKIN_SHIFT_LENGTH_MM,
    SKIN_SHIFT_MM,
    landmark_covariances,
    predict_combined_tre,
)
from registration.point_registration import register_points
from registration.surface_registration import register_surface
from registration.transforms import apply_transform, invert_rigid
from registration.tre import expected_fre_rms, predict_tre_rms

#: Warned (in the result) when surface refinement moves the tumour more than this (mm).
REFINEMENT_WARNING_MM = 2.0
#: The trimmed second ICP pass drops sweep points beyond this many robust sigmas.
REFIT_SIGMAS = 3.0
#: Monte Carlo trials of the refined registration's TRE prediction.
PREDICTION_TRIALS = 48
PENDING = "pending: Monte Carlo over landmark and surface noise"


@dataclass(frozen=True)
class SurfaceRefinement:
    """What the skin sweep refinement did.

    point_count : sweep points used. rms_distance_mm : RMS distance of the inliers to the skin
    after refinement. inlier_fraction : 0..1. converged : ICP converged. iterations : run.
    tumour_shift_mm : distance the refinement moved the tumour centroid (vs the paired-point
    registration), mm; None without a tumour.
    tre_landmarks_mm : the paired-point prediction at the tumour before refinement (mm).
    prediction : how the refined result's predicted TRE was obtained, or that it is pending.
    """

    point_count: int
    rms_distance_mm: float
    inlier_fraction: float
    converged: bool
    iterations: int
    tumour_shift_mm: float | None
    tre_landmarks_mm: float | None = None
    prediction: str = PENDING


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
    tre_at_tumour_predicted_mm : predicted RMS TRE at the tumour centroid (paired-point model;
        after surface refinement the Monte Carlo of landmarks + ICP), or None without a tumour
        or while a refined result's prediction is pending.
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
    tre_at_tumour_predicted_mm: float | None
    surface: SurfaceRefinement | None = None

    def tre_at(self, points_lps_mm: ArrayLike) -> Float64Array:
        """(M,) predicted RMS TRE (mm) at image points (paired-point model, this FLE)."""
        return predict_tre_rms(
            self.fiducials_used_in_image, points_lps_mm, fle_rms_mm=self.fle_rms_mm
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (recorded with the session, written by the headless summary)."""
        surface = None
        if self.surface is not None:
            surface = {
                "point_count": self.surface.point_count,
                "rms_distance_mm": self.surface.rms_distance_mm,
                "inlier_fraction": self.surface.inlier_fraction,
                "converged": self.surface.converged,
                "iterations": self.surface.iterations,
                "tumour_shift_mm": self.surface.tumour_shift_mm,
                "tre_landmarks_mm": self.surface.tre_landmarks_mm,
                "prediction": self.surface.prediction,
            }
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
            "tre_at_tumour_predicted_mm": self.tre_at_tumour_predicted_mm,
            "surface": surface,
        }


@dataclass(frozen=True)
class FiducialRow:
    """One planned fiducial as the registration panel lists it.

    collected : the averaged pointer tip (reference frame), or None.
    residual_mm : its distance from the image fiducial under the latest result (None before).
    """

    index: int
    name: str
    position_in_image: Float64Array
    collected: CollectedFiducial | None
    excluded: bool
    residual_mm: float | None


@dataclass(frozen=True)
class RegistrationState:
    """An immutable view of the workflow.

    rows : one per planned fiducial, plan order. current_index : the fiducial the next
    collection fills (None when all are collected). result : the latest computed registration.
    result_outdated : fiducials were collected or excluded since ``result``. accepted : the
    registration in force. message : the last thing the workflow has to say.
    """

    rows: tuple[FiducialRow, ...]
    current_index: int | None
    result: RegistrationResult | None
    result_outdated: bool
    accepted: RegistrationResult | None
    message: str

    @property
    def collected_count(self) -> int:
        return sum(row.collected is not None for row in self.rows)

    @property
    def usable_count(self) -> int:
        return sum(row.collected is not None and not row.excluded for row in self.rows)


class RegistrationWorkflow:
    """The state machine behind the registration panel (not thread-safe: the session locks).

    Parameters
    ----------
    fiducial_names : the plan's fiducial names, in plan order.
    fiducials_in_image : (N, 3) planned fiducials, image LPS mm, N >= 3.
    fle_rms_mm : fiducial localisation error assumed for predictions (RMS 3-D, mm).
    tumour_lps_mm : (3,) tumour centroid for the predicted TRE, or None.
    skin : the skin surface for sweep refinement, or None.
    """

    def __init__(
        self,
        fiducial_names: Sequence[str],
        fiducials_in_image: ArrayLike,
        *,
        fle_rms_mm: float,
        tumour_lps_mm: ArrayLike | None = None,
        skin: SkinSurface | None = None,
    ) -> None:
        self.fiducials_in_image = check_points(
            fiducials_in_image, "fiducials_in_image", min_count=3
        )
        self.names = tuple(str(n) for n in fiducial_names)
        if len(self.names) != len(self.fiducials_in_image):
            raise InputError(
                f"{len(self.names)} fiducial names for {len(self.fiducials_in_image)} fiducials."
            )
        self.fle_rms_mm = check_positive(fle_rms_mm, "fle_rms_mm")
        self.tumour_lps_mm = (
            None if tumour_lps_mm is None else check_points(tumour_lps_mm, "tumour_lps_mm")[0]
        )
        self.skin = skin
        self._collected: list[CollectedFiducial | None] = [None] * len(self.names)
        self._excluded = [False] * len(self.names)
        self._current: int | None = 0
        self._result: RegistrationResult | None = None
        self._outdated = False
        self._accepted: RegistrationResult | None = None
        self._message = f"collect {self.names[0]} with the pointer"
        self._locator: TriangleMeshLocator | None = None
        self._sweep_in_image: Float64Array | None = None

    # ------------------------------------------------------------------ reading
    def state(self) -> RegistrationState:
        """The immutable state for display."""
        rows = []
        for index, name in enumerate(self.names):
            collected = self._collected[index]
            residual = None
            if collected is not None and self._result is not None:
                residual = self._result.residuals_mm.get(name)
            rows.append(
                FiducialRow(
                    index,
                    name,
                    self.fiducials_in_image[index],
                    collected,
                    self._excluded[index],
                    residual,
                )
            )
        return RegistrationState(
            tuple(rows),
            self._current,
            self._result,
            self._outdated,
            self._accepted,
            self._message,
        )

    @property
    def accepted(self) -> RegistrationResult | None:
        return self._accepted

    @property
    def result(self) -> RegistrationResult | None:
        return self._result

    # ------------------------------------------------------------------ actions
    def index_of(self, name_or_index: str | int) -> int:
        """The index of a fiducial given by name or index; clear error when unknown."""
        if isinstance(name_or_index, str):
            if name_or_index not in self.names:
                raise InputError(
                    f"no planned fiducial {name_or_index!r}; the plan has {', '.join(self.names)}."
                )
            return self.names.index(name_or_index)
        index = int(name_or_index)
        if not 0 <= index < len(self.names):
            raise InputError(f"fiducial index {index} is not in 0..{len(self.names) - 1}.")
        return index

    def select(self, name_or_index: str | int) -> None:
        """Make a fiducial the next one to collect (to re-collect it)."""
        self._current = self.index_of(name_or_index)
        self._message = f"collect {self.names[self._current]} with the pointer"

    def store(self, collected: CollectedFiducial, name_or_index: str | int | None = None) -> int:
        """Keep a collected point for a fiducial (default: the current one); returns its index
        and moves on to the next fiducial not yet collected."""
        if name_or_index is None:
            if self._current is None:
                raise InputError(
                    "every planned fiducial is collected; select one to collect it again."
                )
            index = self._current
        else:
            index = self.index_of(name_or_index)
        self._collected[index] = collected
        self._outdated = self._result is not None
        missing = [i for i, c in enumerate(self._collected) if c is None]
        later = [i for i in missing if i > index]
        self._current = later[0] if later else (missing[0] if missing else None)
        name = self.names[index]
        self._message = f"{name} collected (spread {collected.spread_mm:.2f} mm); " + (
            f"next: {self.names[self._current]}"
            if self._current is not None
            else "all fiducials collected: register"
        )
        return index

    def set_excluded(self, name_or_index: str | int, excluded: bool) -> None:
        """Leave a fiducial out of (or put it back into) the next registration."""
        index = self.index_of(name_or_index)
        if self._excluded[index] != bool(excluded):
            self._excluded[index] = bool(excluded)
            self._outdated = self._result is not None
        verb = "excluded" if excluded else "included"
        self._message = f"{self.names[index]} {verb}; register again"

    def register(self) -> RegistrationResult:
        """Paired-point registration of the collected, included fiducials (>= 3)."""
        used = [i for i, c in enumerate(self._collected) if c is not None and not self._excluded[i]]
        if len(used) < 3:
            raise InputError(
                f"{len(used)} fiducials collected and included; registration needs at least 3. "
                "Collect more fiducials (or include excluded ones)."
            )
        points_in_reference = np.array(
            [self._collected[i].position_in_reference for i in used]  # type: ignore[union-attr]
        )
        points_in_image = self.fiducials_in_image[used]
        names = tuple(self.names[i] for i in used)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # listed in the result instead
            fit = register_points(
                points_in_reference, points_in_image, fle_rms_mm=self.fle_rms_mm, names=names
            )
        loo = dict(zip(names, (float(v) for v in fit.leave_one_out_mm), strict=True))
        result = self._result_for(
            fit.image_from_tracker, "points", used, loo=loo, messages=fit.warnings
        )
        self._result = result
        self._outdated = False
        self._message = (
            f"registered {len(used)} fiducials: FRE {result.fre_mm:.2f} mm"
            + (
                f", predicted TRE at tumour {result.tre_at_tumour_predicted_mm:.2f} mm"
                if result.tre_at_tumour_predicted_mm is not None
                else ""
            )
            + (f" ({len(result.warnings)} warnings)" if result.warnings else "")
        )
        return result

    def refine(self, sweep_points_in_reference: ArrayLike) -> RegistrationResult:
        """Refine the latest paired-point result with skin sweep points (reference frame)."""
        if self.skin is None:
            raise InputError("the plan has no skin mesh; surface refinement is not possible.")
        base = self._result
        if base is None or self._outdated:
            raise InputError("register the fiducials first; refinement starts from that result.")
        points = check_points(sweep_points_in_reference, "sweep_points_in_reference")
        fit = register_surface(
            points,
            self.skin.vertices,
            self.skin.triangles,
            self.skin.normals,
            image_from_tracker=base.image_from_reference,
            locator=self._skin_locator(),
            refit_sigmas=REFIT_SIGMAS,
        )
        shift = None
        if self.tumour_lps_mm is not None:
            moved = apply_transform(
                fit.image_from_tracker @ invert_rigid(base.image_from_reference),
                self.tumour_lps_mm,
            )
            shift = float(np.linalg.norm(moved - self.tumour_lps_mm))
        used = [self.names.index(name) for name in base.fiducial_names]
        refinement = SurfaceRefinement(
            point_count=len(points),
            rms_distance_mm=float(fit.rms_distance_mm),
            inlier_fraction=float(fit.inlier_fraction),
            converged=bool(fit.converged),
            iterations=int(fit.iterations),
            tumour_shift_mm=shift,
            tre_landmarks_mm=base.tre_at_tumour_predicted_mm,
        )
        messages = list(base.warnings)
        if not fit.converged:
            messages.append("surface refinement did not converge")
        if shift is not None and shift > REFINEMENT_WARNING_MM:
            messages.append(
                f"surface refinement moved the tumour by {shift:.1f} mm (> "
                f"{REFINEMENT_WARNING_MM:g} mm); check the sweep before accepting"
            )
        result = self._result_for(
            fit.image_from_tracker,
            "points+surface",
            used,
            loo=base.leave_one_out_mm,
            messages=tuple(messages),
            surface=refinement,
        )
        result = replace(result, tre_at_tumour_predicted_mm=None)  # pending: not Fitzpatrick's
        self._sweep_in_image = apply_transform(fit.image_from_tracker, points[fit.inliers])
        self._result = result
        self._message = (
            f"refined with {len(points)} skin points: RMS {fit.rms_distance_mm:.2f} mm to the "
            f"skin, fiducial FRE {result.fre_mm:.2f} mm"
            + (f", tumour moved {shift:.2f} mm" if shift is not None else "")
        )
        return result

    def predict_refined(
        self, result: RegistrationResult, *, trials: int = PREDICTION_TRIALS, seed: int = 0
    ) -> tuple[float, str] | None:
        """The refined ``result``'s predicted RMS TRE at the tumour (mm) and how it was found,
        by Monte Carlo (module docstring); None without a tumour or a sweep. Reads only
        immutable data: safe to run outside the session's lock, on another thread."""
        sweep = self._sweep_in_image
        if self.tumour_lps_mm is None or result.surface is None or sweep is None:
            return None
        locator = self._skin_locator()
        landmarks = result.fiducials_used_in_image
        noise = max(result.surface.rms_distance_mm**2 - SKIN_SHIFT_MM**2, 0.1**2) ** 0.5
        prediction = predict_combined_tre(
            landmarks,
            self.tumour_lps_mm,
            landmark_covariances_mm2=landmark_covariances(
                locator.closest(landmarks).normals, tangential_rms_mm=self.fle_rms_mm
            ),
            sweep_points_in_image=sweep,
            surface_noise_mm=noise,
            skin_shift_mm=SKIN_SHIFT_MM,
            skin_shift_length_mm=SKIN_SHIFT_LENGTH_MM,
            skin=locator,
            trials=trials,
            seed=seed,
            refit_sigmas=REFIT_SIGMAS,
        )
        how = (
            f"Monte Carlo, {prediction.trials} trials: landmarks FLE {self.fle_rms_mm:g} mm "
            f"RMS in the skin's tangent plane, sweep noise {noise:.2f} mm RMS + skin shift "
            f"{SKIN_SHIFT_MM:g} mm RMS over {SKIN_SHIFT_LENGTH_MM:g} mm along the normal, "
            "robust point-to-plane ICP (registration.combined_tre)"
        )
        return float(prediction.tre_rms_mm[0]), how

    def attach_prediction(
        self, result: RegistrationResult, tre_mm: float, how: str
    ) -> RegistrationResult | None:
        """Store the refined ``result``'s prediction (in the latest and the accepted result
        when they are it); None when ``result`` is no longer either."""
        if result.surface is None:
            return None
        updated = replace(
            result,
            tre_at_tumour_predicted_mm=float(tre_mm),
            surface=replace(result.surface, prediction=how),
        )
        found = False
        if self._result is result:
            self._result, found = updated, True
        if self._accepted is result:
            self._accepted, found = updated, True
        return updated if found else None

    def accept(self) -> RegistrationResult:
        """Put the latest result in force."""
        if self._result is None:
            raise InputError("nothing to accept: register first.")
        if self._outdated:
            raise InputError(
                "fiducials changed since the last registration; register again before accepting."
            )
        self._accepted = self._result
        self._message = f"registration accepted ({self._result.method})"
        return self._accepted

    def note(self, message: str) -> None:
        """Set the message shown to the user (e.g. why a collection failed)."""
        self._message = message

    # ------------------------------------------------------------------ internals
    def _skin_locator(self) -> TriangleMeshLocator:
        if self._locator is None:
            assert self.skin is not None
            self._locator = TriangleMeshLocator(
                self.skin.vertices, self.skin.triangles, self.skin.normals
            )
        return self._locator

    def _result_for(
        self,
        image_from_reference: Float64Array,
        method: str,
        used: list[int],
        *,
        loo: dict[str, float],
        messages: tuple[str, ...],
        surface: SurfaceRefinement | None = None,
    ) -> RegistrationResult:
        residuals = {}
        for index, collected in enumerate(self._collected):
            if collected is None:
                continue
            mapped = apply_transform(image_from_reference, collected.position_in_reference)
            residuals[self.names[index]] = float(
                np.linalg.norm(mapped - self.fiducials_in_image[index])
            )
        used_names = tuple(self.names[i] for i in used)
        fre = math.sqrt(float(np.mean([residuals[n] ** 2 for n in used_names])))
        used_in_image = self.fiducials_in_image[used].copy()
        used_in_image.setflags(write=False)
        tre = None
        if self.tumour_lps_mm is not None:
            tre = float(
                predict_tre_rms(used_in_image, self.tumour_lps_mm, fle_rms_mm=self.fle_rms_mm)[0]
            )
        matrix = np.array(image_from_reference, dtype=np.float64)
        matrix.setflags(write=False)
        return RegistrationResult(
            image_from_reference=matrix,
            method=method,
            fiducial_names=used_names,
            fiducials_used_in_image=used_in_image,
            fre_mm=fre,
            residuals_mm=residuals,
            leave_one_out_mm=dict(loo),
            warnings=tuple(messages),
            fle_rms_mm=self.fle_rms_mm,
            expected_fre_mm=expected_fre_rms(len(used), self.fle_rms_mm),
            tre_at_tumour_predicted_mm=tre,
            surface=surface,
        )


def _json_float(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


__all__ = [
    "FiducialRow",
    "RegistrationResult",
    "RegistrationState",
    "RegistrationWorkflow",
    "SurfaceRefinement",
]
