"""The session's registration actions: collect and exclude fiducials, register, sweep the skin
and refine, accept (or refuse, or override with the risks named), check a landmark; each one
recorded, the registration in force written beside the recording.

:class:`SessionRegistration` is a part of :class:`~navigation.app.session.NavigationSession`
(a mixin: the session's one lock guards the :class:`~navigation.app.registration_workflow.
RegistrationWorkflow`, which holds the numbers and the checks; the actions add the pointer's
collector and sweep, the recording and the file). A refined registration's Monte Carlo TRE
prediction runs in the background (:class:`~navigation.app.background_work.BackgroundWork`)
and lands later (``registration_prediction``; the file is rewritten if it is in force).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from navigation.app.background_work import BackgroundWork
from navigation.app.config import NavigationConfig
from navigation.app.message_ingest import MessageIngest
from navigation.app.registration_state import LandmarkCheck, RegistrationOverride
from navigation.app.registration_workflow import (
    RegistrationRefused,
    RegistrationResult,
    RegistrationWorkflow,
)
from navigation.planning.plan_scene import PlanScene
from navigation.tracking.fiducial_collection import CollectedFiducial, FiducialCollectionError
from navigation.tracking.pose_store import PoseStore
from registration.core.atomic_files import write_json_atomic
from registration.core.checks import Float64Array, InputError

log = logging.getLogger(__name__)

#: Schema of the accepted-registration file written beside a recording.
REGISTRATION_SCHEMA = "igcs-navigation-registration"


class SessionRegistration:
    """The registration actions of the session (module docstring); what they use of it is
    declared here and set by :class:`~navigation.app.session.NavigationSession`."""

    scene: PlanScene
    config: NavigationConfig
    store: PoseStore
    workflow: RegistrationWorkflow
    clock: Callable[[], float]
    registration_path: Path | None
    record_event: Callable[[str, dict[str, Any]], None]
    _lock: threading.RLock
    _ingest: MessageIngest
    _predictions: BackgroundWork
    _registration_file_lock: threading.Lock
    _tracker_from_reference_at_accept: Float64Array | None

    def collect_fiducial(self, name_or_index: str | int | None = None) -> CollectedFiducial:
        """Average the pointer tip over the still window and store it for a fiducial (default:
        the current one). Raises :class:`FiducialCollectionError` saying why not."""
        with self._lock:
            collector = self._ingest.tips.collector
            if collector is None:
                error = FiducialCollectionError(
                    "cannot collect: the pointer tip calibration is unknown (--pointer-tip)."
                )
                self.workflow.note(str(error))
                raise error
            try:
                collected = collector.collect()
            except FiducialCollectionError as error:
                self.workflow.note(str(error))
                raise
            index = self.workflow.store(collected, name_or_index)
            collector.reset()
        self._record_collected(index, collected, "pointer")
        return collected

    def store_fiducial(
        self, collected: CollectedFiducial, name_or_index: str | int, *, source: str
    ) -> None:
        """Store a fiducial collected elsewhere (automatic registration) and record it."""
        with self._lock:
            index = self.workflow.store(collected, name_or_index)
        self._record_collected(index, collected, source)

    def _record_collected(self, index: int, collected: CollectedFiducial, source: str) -> None:
        self.record_event(
            "fiducial_collected",
            {
                "index": index,
                "name": self.workflow.names[index],
                "position_in_reference_mm": collected.position_in_reference,
                "spread_mm": collected.spread_mm,
                "samples": collected.sample_count,
                "source": source,
            },
        )

    def set_excluded(
        self, name_or_index: str | int, excluded: bool, *, reason: str | None = None
    ) -> str | None:
        """Exclude (with a reason shown beside it; default: the check that blames it) or
        include a fiducial; recorded. Returns the reason (None when included)."""
        with self._lock:
            shown = self.workflow.set_excluded(name_or_index, excluded, reason=reason)
            index = self.workflow.index_of(name_or_index)
        self.record_event(
            "fiducial_excluded",
            {
                "index": index,
                "name": self.workflow.names[index],
                "excluded": bool(excluded),
                "reason": shown,
            },
        )
        return shown

    def select_fiducial(self, name_or_index: str | int) -> None:
        with self._lock:
            self.workflow.select(name_or_index)

    def register(self) -> RegistrationResult:
        """Paired-point registration of the collected fiducials (recorded)."""
        with self._lock:
            try:
                result = self.workflow.register()
            except InputError as error:
                self.workflow.note(str(error))
                raise
        self.record_event("registration_computed", result.to_dict())
        return result

    def start_sweep(self) -> None:
        """Start collecting skin sweep points (tip positions in the reference frame)."""
        with self._lock:
            self._ingest.sweep.start()
            self.workflow.note("sweeping: slide the pointer tip over the face")
        self.record_event("surface_sweep", {"action": "start"})

    def stop_sweep(self) -> Float64Array:
        """Stop the sweep; returns its points (N, 3), reference frame, mm."""
        with self._lock:
            points = self._ingest.sweep.stop()
        self.record_event(
            "surface_sweep",
            {"action": "stop", "points": len(points), "points_in_reference_mm": points.tolist()},
        )
        return points

    def refine(self, points_in_reference: ArrayLike | None = None) -> RegistrationResult:
        """Refine the latest registration with sweep points (default: stop the sweep and use
        its points)."""
        points = self.stop_sweep() if points_in_reference is None else points_in_reference
        with self._lock:
            try:
                result = self.workflow.refine(points)
            except InputError as error:
                failure = self.workflow.state().last_failure or str(error)
                self.workflow.note(failure)
                self.record_event("surface_sweep", {"action": "refused", "reason": failure})
                raise
        self.record_event("registration_computed", result.to_dict())
        self._predictions.submit(self._predict, result)
        return result

    def wait_for_predictions(self, timeout_s: float) -> bool:
        """Wait until every pending TRE prediction is stored; False on timeout."""
        return self._predictions.wait(timeout_s)

    def _predict(self, result: RegistrationResult) -> None:
        """Monte Carlo TRE of a refined registration, outside the lock (seconds of work)."""
        try:
            found = self.workflow.predict_refined(result)
        except InputError as error:
            log.warning("no TRE prediction for the refined registration: %s", error)
            return
        if found is None:
            return
        with self._lock:
            updated = self.workflow.attach_prediction(result, *found)
            in_force = updated is not None and self.workflow.accepted is updated
        if updated is not None:
            self.record_event(
                "registration_prediction",
                {"tre_at_tumour_predicted_mm": found[0], "prediction": found[1]},
            )
        if in_force:  # the file holds the registration in force
            self._write_registration()

    def accept(self, *, override_reason: str | None = None) -> RegistrationResult:
        """Put the latest registration in force (recorded with its matrix, numbers and checks).

        A registration that failed its checks raises :class:`RegistrationRefused` (recorded as
        ``registration_refused``) unless ``override_reason`` is given: the caller obtained the
        explicit confirmation that names the risks; it is then in force as UNVERIFIED and
        recorded as ``registration_override``.
        """
        with self._lock:
            result = self.workflow.result
            override = None
            if result is not None and not result.verified and override_reason is not None:
                override = RegistrationOverride(
                    tuple(r.short for r in result.checks.refusals),
                    override_reason.strip(),
                    self.clock(),
                )
            try:
                result = self.workflow.accept(override)
            except RegistrationRefused as error:
                refused = self.workflow.result
                self.record_event(
                    "registration_refused",
                    {
                        "message": str(error),
                        "checks": None if refused is None else refused.checks.to_dict(),
                    },
                )
                raise
            reference = self.store.pose(self._ingest.reference_name)
            self._tracker_from_reference_at_accept = reference.matrix
        record = {
            **result.to_dict(),
            "override": None if override is None else override.to_dict(),
        }
        if override is not None:
            self.record_event(
                "registration_override", {**override.to_dict(), "fre_mm": result.fre_mm}
            )
        self.record_event("registration_accepted", record)
        self._write_registration()
        return result

    def _write_registration(self) -> None:
        """The registration in force to ``registration_path`` (atomically), when set; read and
        written under one lock so the last writer writes the latest state (acceptance and a
        Monte Carlo prediction landing can race)."""
        if self.registration_path is None:
            return
        with self._registration_file_lock:
            with self._lock:
                result, override = self.workflow.accepted, self.workflow.override
            if result is None:
                return
            record = {
                **result.to_dict(),
                "override": None if override is None else override.to_dict(),
            }
            write_json_atomic(
                self.registration_path,
                {
                    "schema": REGISTRATION_SCHEMA,
                    "schema_version": 2,
                    "plan": str(self.scene.plan.root),
                    "units": "mm",
                    "frames": "image_from_reference: patient reference frame to image LPS",
                    **record,
                },
            )

    def landmark_check(self) -> LandmarkCheck:
        """Distance of the tip (image, under the registration in force) from the nearest
        planned fiducial: touch a known point to see whether the registration holds
        (recorded; the panel shows the latest)."""
        with self._lock:
            accepted = self.workflow.accepted
            tip = self._ingest.tips.tip
        if accepted is None or tip is None:
            raise InputError("no registration in force (or no tip calibration) to check.")
        pose = self.store.transform(self.config.reference, self.config.pointer)
        if not pose.ok or pose.matrix is None:
            raise InputError(f"the pointer is {pose.state.name}: {pose.reason}")
        image_from_pointer = accepted.image_from_reference @ pose.matrix
        tip_lps = image_from_pointer[:3, :3] @ tip + image_from_pointer[:3, 3]
        fiducials = self.scene.plan.fiducials_lps_mm
        distances = np.linalg.norm(fiducials - tip_lps, axis=1)
        nearest = int(np.argmin(distances))
        check = LandmarkCheck(
            self.scene.plan.fiducial_names[nearest],
            float(distances[nearest]),
            tip_lps,
            self.clock(),
        )
        with self._lock:
            self.workflow.record_landmark(check)
        self.record_event(
            "landmark_check",
            {
                "fiducial": check.fiducial,
                "distance_mm": check.distance_mm,
                "tip_lps_mm": tip_lps,
                "within_tolerance": check.within_tolerance,
                "registration_verified": accepted.verified,
            },
        )
        return check
