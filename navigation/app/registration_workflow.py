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
- Surface refinement (optional): the sweep points fitted to the plan's skin mesh from the
  paired-point result, checked and, later, given a Monte Carlo TRE prediction
  (:mod:`navigation.app.surface_refinement`, which owns the ICP, the checks of a refined
  result and the prediction); the refined result's predicted TRE at the tumour is *pending*
  (None, never the paired-point number) until :meth:`RegistrationWorkflow.predict_refined`
  gives it (seconds: the session runs it outside its lock) and
  :meth:`RegistrationWorkflow.attach_prediction` stores it.
- Checks (:func:`registration.acceptance.check_point_registration`): every result carries
  its verdict; a result that failed (FRE above the alarm, a leave-one-out outlier, a mirrored
  layout, a refinement that did not converge or moved the tumour) cannot be accepted by
  :meth:`RegistrationWorkflow.accept` without an explicit :class:`RegistrationOverride`. Its
  predicted TRE is "not valid" (:mod:`navigation.app.registration_state`).
- Exclude: a fiducial left out carries a visible reason (the check that blamed it, or the
  user's).
- Accept: the result in force, until the next accept; a landmark check is asked for after
  every accept.

One state machine (collected, excluded, latest, outdated, accepted, overridden, the message
shown), so one module of some 450 lines: its numbers live elsewhere (``registration``,
:mod:`navigation.app.surface_refinement`), its state in :mod:`navigation.app.registration_state`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from navigation.app.registration_state import (
    FiducialRow,
    LandmarkCheck,
    RegistrationOverride,
    RegistrationResult,
    RegistrationState,
    SurfaceRefinement,
    SweepOutcome,
    frozen_points,
)
from navigation.app.surface_refinement import (
    PREDICTION_TRIALS,
    fit_sweep,
    predict_refined_tre,
    with_refinement_checks,
)
from navigation.planning.plan_scene import SkinSurface
from navigation.tracking.fiducial_collection import CollectedFiducial
from registration.acceptance import (
    RegistrationChecks,
    check_point_registration,
)
from registration.closest_point import TriangleMeshLocator
from registration.core.checks import Float64Array, InputError, check_points, check_positive
from registration.core.transforms import apply_transform
from registration.point_registration import register_points
from registration.tre import expected_fre_rms


class RegistrationRefused(InputError):
    """Accepting a registration that failed its checks without the explicit override."""


class RegistrationWorkflow:
    """The state machine behind the registration panel (not thread-safe: the session locks).

    Parameters
    ----------
    fiducial_names : the plan's fiducial names, in plan order.
    fiducials_in_image : (N, 3) planned fiducials, image LPS mm, N >= 3.
    fle_rms_mm : fiducial localisation error assumed for predictions and checks (RMS 3-D, mm).
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
        self._excluded: list[str | None] = [None] * len(self.names)  # the reason, when excluded
        self._current: int | None = 0
        self._result: RegistrationResult | None = None
        self._outdated = False
        self._accepted: RegistrationResult | None = None
        self._override: RegistrationOverride | None = None
        self._failure: str | None = None
        self._sweep: SweepOutcome | None = None
        self._landmark: LandmarkCheck | None = None
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
                    self._excluded[index] is not None,
                    residual,
                    self._excluded[index],
                )
            )
        return RegistrationState(
            tuple(rows),
            self._current,
            self._result,
            self._outdated,
            self._accepted,
            self._message,
            self._override,
            self._failure,
            self._sweep,
            self._landmark,
        )

    @property
    def accepted(self) -> RegistrationResult | None:
        return self._accepted

    @property
    def override(self) -> RegistrationOverride | None:
        """How the registration in force was accepted when it failed its checks, else None."""
        return self._override

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

    def exclusion_reason(self, name_or_index: str | int) -> str:
        """Why a fiducial would be excluded now: the latest result's check that blames it, or
        "excluded by the user"."""
        name = self.names[self.index_of(name_or_index)]
        if self._result is not None:
            for refusal in self._result.checks.refusals:
                if name in refusal.fiducials:
                    return refusal.short
            loo = self._result.leave_one_out_mm.get(name)
            if loo is not None and math.isfinite(loo):
                return f"excluded by the user (leave-one-out {loo:.2f} mm)"
        return "excluded by the user"

    def set_excluded(
        self, name_or_index: str | int, excluded: bool, *, reason: str | None = None
    ) -> str | None:
        """Leave a fiducial out of (or put it back into) the next registration; returns the
        reason shown beside it (default :meth:`exclusion_reason`), None when included."""
        index = self.index_of(name_or_index)
        wanted = (reason or self.exclusion_reason(index)) if excluded else None
        if (self._excluded[index] is None) != (wanted is None):
            self._outdated = self._result is not None
        self._excluded[index] = wanted
        verb = f"excluded ({wanted})" if wanted else "included"
        self._message = f"{self.names[index]} {verb}; register again"
        return wanted

    def register(self) -> RegistrationResult:
        """Paired-point registration of the collected, included fiducials (>= 3), checked."""
        used = [
            i for i, c in enumerate(self._collected) if c is not None and self._excluded[i] is None
        ]
        if len(used) < 3:
            self._failure = (
                f"{len(used)} fiducials collected and included; registration needs at least 3. "
                "Collect more fiducials (or include excluded ones)."
            )
            raise InputError(self._failure)
        points_in_reference = np.array(
            [self._collected[i].position_in_reference for i in used]  # type: ignore[union-attr]
        )
        points_in_image = self.fiducials_in_image[used]
        names = tuple(self.names[i] for i in used)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # listed in the result instead
                fit = register_points(
                    points_in_reference, points_in_image, fle_rms_mm=self.fle_rms_mm, names=names
                )
        except InputError as error:  # collinear, duplicates: no registration at all
            self._failure = f"registration refused: {error}"
            raise
        checks = check_point_registration(
            fit, points_in_image, fle_rms_mm=self.fle_rms_mm, names=names
        )
        loo = dict(zip(names, (float(v) for v in fit.leave_one_out_mm), strict=True))
        result = self._result_for(
            fit.image_from_tracker, "points", used, loo=loo, messages=fit.warnings, checks=checks
        )
        self._result = result
        self._outdated = False
        self._failure = None
        tre = result.tre_at_tumour_predicted_mm
        self._message = f"registered {len(used)} fiducials: FRE {result.fre_mm:.2f} mm" + (
            f", predicted TRE at tumour {tre:.2f} mm; accept, then check a landmark"
            if tre is not None
            else ("; accept, then check a landmark" if result.verified else "")
        )
        if not result.verified:
            self._message += f"; REFUSED: {checks.summary}"
        return result

    def refine(self, sweep_points_in_reference: ArrayLike) -> RegistrationResult:
        """Refine the latest paired-point result with skin sweep points (reference frame)."""
        count = int(np.size(sweep_points_in_reference) // 3)
        try:
            return self._refine(sweep_points_in_reference, count)
        except InputError as error:
            self._sweep = SweepOutcome(count, refused=str(error))
            self._failure = f"surface refinement refused ({count} sweep points): {error}"
            raise

    def _refine(self, sweep_points_in_reference: ArrayLike, count: int) -> RegistrationResult:
        if self.skin is None:
            raise InputError("the plan has no skin mesh; surface refinement is not possible.")
        base = self._result
        if base is None or self._outdated:
            raise InputError("register the fiducials first; refinement starts from that result.")
        points = check_points(sweep_points_in_reference, "sweep_points_in_reference")
        fit, refinement = fit_sweep(
            points, self.skin, self._skin_locator(), base, self.tumour_lps_mm
        )
        shift = refinement.tumour_shift_mm
        used = [self.names.index(name) for name in base.fiducial_names]
        result = self._result_for(
            fit.image_from_tracker,
            "points+surface",
            used,
            loo=base.leave_one_out_mm,
            messages=base.warnings,
            checks=base.checks,
            surface=refinement,
        )
        result = with_refinement_checks(result, base.checks)
        self._sweep_in_image = apply_transform(fit.image_from_tracker, points[fit.inliers])
        self._result = result
        self._sweep = SweepOutcome(len(points))
        self._failure = None
        self._message = (
            f"refined with {len(points)} skin points: RMS {fit.rms_distance_mm:.2f} mm to the "
            f"skin, fiducial FRE {result.fre_mm:.2f} mm"
            + (f", tumour moved {shift:.2f} mm" if shift is not None else "")
            + ("" if result.verified else f"; REFUSED: {result.checks.summary}")
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
        return predict_refined_tre(
            result, sweep, self._skin_locator(), self.tumour_lps_mm, self.fle_rms_mm,
            trials=trials, seed=seed,
        )  # fmt: skip

    def attach_prediction(
        self, result: RegistrationResult, tre_mm: float, how: str
    ) -> RegistrationResult | None:
        """Store the refined ``result``'s prediction (in the latest and the accepted result
        when they are it); None when ``result`` is no longer either."""
        if result.surface is None:
            return None
        updated = replace(
            result,
            surface=replace(result.surface, tre_predicted_mm=float(tre_mm), prediction=how),
        )
        found = False
        if self._result is result:
            self._result, found = updated, True
        if self._accepted is result:
            self._accepted, found = updated, True
        return updated if found else None

    def accept(self, override: RegistrationOverride | None = None) -> RegistrationResult:
        """Put the latest result in force.

        A result that failed its checks is refused (:class:`RegistrationRefused`) unless
        ``override`` records the explicit decision to use it anyway; it is then in force as
        UNVERIFIED (``state().override``), without a predicted TRE.
        """
        if self._result is None:
            raise InputError("nothing to accept: register first.")
        if self._outdated:
            raise InputError(
                "fiducials changed since the last registration; register again before accepting."
            )
        result = self._result
        if not result.verified and override is None:
            suspects = result.checks.suspects
            todo = (
                f"re-touch {', '.join(suspects)} or exclude {suspects[0]}"
                if suspects
                else "re-touch the fiducials"
            )
            self._message = (
                f"NOT ACCEPTED: {result.checks.summary}. Then {todo}, or override with the "
                "explicit confirmation (used as UNVERIFIED, no predicted TRE)."
            )
            raise RegistrationRefused(self._message)
        self._accepted = result
        self._override = None if result.verified else override
        self._landmark = None
        self._message = (
            f"registration accepted ({result.method}); now touch a known landmark and check it (V)"
            if result.verified
            else "UNVERIFIED registration in use (override); check a landmark (V)"
        )
        return result

    def record_landmark(self, check: LandmarkCheck) -> None:
        """Keep the latest landmark check of the registration in force."""
        self._landmark = check
        self._message = check.describe()

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
        checks: RegistrationChecks,
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
        return RegistrationResult(
            image_from_reference=frozen_points(image_from_reference),
            method=method,
            fiducial_names=used_names,
            fiducials_used_in_image=frozen_points(self.fiducials_in_image[used]),
            fre_mm=fre,
            residuals_mm=residuals,
            leave_one_out_mm=dict(loo),
            warnings=tuple(messages),
            fle_rms_mm=self.fle_rms_mm,
            expected_fre_mm=expected_fre_rms(len(used), self.fle_rms_mm),
            checks=checks,
            tumour_lps_mm=None if self.tumour_lps_mm is None else frozen_points(self.tumour_lps_mm),
            surface=surface,
        )


__all__ = [
    "FiducialRow",
    "LandmarkCheck",
    "RegistrationOverride",
    "RegistrationRefused",
    "RegistrationResult",
    "RegistrationState",
    "RegistrationWorkflow",
    "SurfaceRefinement",
    "SweepOutcome",
]
