"""Automatic registration for unattended (headless) runs: dwells assigned in plan order.

Without a person pressing "collect" nobody says which fiducial the pointer is on, and the app
cannot tell from the image. This works for a pointer that visits the planned fiducials **in
plan order** and rests on each (as ``igcs simulate`` does, and as a scripted phantom test can):

1. The pointer's tip positions in the reference frame (the session's history of OK samples)
   are split into still periods with
   :func:`navigation.tracking.fiducial_collection.find_still_periods` (speed at most
   ``max_speed_mm_s`` for at least ``min_dwell_s``; the speed of positions interpolated on a
   uniform time grid and averaged over ``smoothing_s`` with scipy's ``uniform_filter1d``, since
   jitter alone reads as several mm/s between consecutive samples, and as hundreds between
   samples that arrive in a burst).
2. Each completed period, trimmed by ``trim_s`` at both ends (the pointer settling), is
   averaged with :func:`~navigation.tracking.fiducial_collection.average_still_tip` (refused
   when its spread exceeds ``max_spread_mm``).
3. Once there are at least N periods (N planned fiducials), every run of N consecutive
   periods is registered to the plan's fiducials in plan order and the run with the lowest
   FRE wins, if its FRE is at most ``max_fre_mm``: so rests before, between or after the
   visits (the simulator rests before the first and after the last) are skipped. Until a run
   qualifies, nothing is collected.
4. The winning points are stored in the session as collected fiducials (source "auto"), the
   session registers, optionally sweeps the skin for ``sweep_s`` seconds (points farther than
   ``sweep_max_distance_mm`` from the skin under the point registration, i.e. the pointer in
   the air, are dropped) and refines, then accepts, if the registration passed its checks
   (:mod:`registration.acceptance`): a refined result that fails them falls back to the
   paired-point one; one that fails too is never accepted (phase "refused", nothing in force;
   an unattended run has nobody to confirm an override).

It is never used unless asked for (``igcs navigate --auto-register``); every step is recorded
as in a manual session.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from navigation.app.session import NavigationSession
from navigation.tracking.fiducial_collection import (
    CollectedFiducial,
    FiducialCollectionError,
    StillPeriod,
    average_still_tip,
    find_still_periods,
)
from registration.closest_point import TriangleMeshLocator
from registration.core.checks import Float64Array, InputError, check_positive
from registration.core.transforms import apply_transform
from registration.point_registration import fit_rigid_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutoRegistrationConfig:
    """Thresholds of :class:`AutoRegistrar` (see the module docstring)."""

    max_speed_mm_s: float = 5.0
    smoothing_s: float = 0.25
    min_dwell_s: float = 1.0
    trim_s: float = 0.2
    max_spread_mm: float = 0.5
    max_fre_mm: float = 2.0
    sweep_s: float | None = None
    sweep_max_distance_mm: float = 3.0

    def __post_init__(self) -> None:
        for name in ("max_speed_mm_s", "smoothing_s", "min_dwell_s", "max_spread_mm", "max_fre_mm"):
            check_positive(getattr(self, name), name)
        if self.trim_s < 0 or self.trim_s * 2 >= self.min_dwell_s:
            raise InputError("trim_s must be >= 0 and less than half of min_dwell_s.")
        if self.sweep_s is not None:
            check_positive(self.sweep_s, "sweep_s")


class AutoRegistrar:
    """Drives a session's registration from the pointer's dwells; call :meth:`step` often
    (e.g. every frame). ``phase`` goes "collecting" -> ("sweeping" ->) "done" or "refused"."""

    def __init__(
        self, session: NavigationSession, config: AutoRegistrationConfig | None = None
    ) -> None:
        self.session = session
        self.config = config or AutoRegistrationConfig()
        self.phase = "collecting"
        self.message = "waiting for the pointer to rest on the fiducials"
        self._periods_seen = -1
        self._sweep_end_s = math.inf
        self._locator: TriangleMeshLocator | None = None

    def step(self) -> None:
        """Advance the workflow as far as the pointer's history allows."""
        if self.phase == "collecting":
            self._try_register()
        elif self.phase == "sweeping" and self.session.clock() >= self._sweep_end_s:
            self._finish_sweep()

    # ------------------------------------------------------------------ internals
    def _try_register(self) -> None:
        session = self.session
        tip = session.tip_in_pointer
        if tip is None:
            return
        times, poses = session.pointer_history()
        if len(times) < 3:
            return
        tips = poses[:, :3, :3] @ tip + poses[:, :3, 3]
        periods = completed_dwells(times, tips, self.config)
        if len(periods) == self._periods_seen:
            return
        self._periods_seen = len(periods)
        count = len(session.workflow.names)
        if len(periods) < count:
            self.message = f"{len(periods)} of {count} dwells seen"
            return
        collected: list[CollectedFiducial | None] = []
        for period in periods:
            inner = (times >= period.start_s + self.config.trim_s) & (
                times <= period.end_s - self.config.trim_s
            )
            try:
                collected.append(
                    average_still_tip(
                        poses[inner],
                        tip,
                        max_spread_mm=self.config.max_spread_mm,
                        timestamps_s=times[inner],
                    )
                )
            except FiducialCollectionError:
                collected.append(None)
        best = self._best_run(collected, count)
        if best is None:
            self.message = f"{len(periods)} dwells seen; no run of {count} fits the plan yet"
            return
        start, fre = best
        log.info("automatic registration: dwells %d..%d fit the plan (FRE %.2f mm)",
                 start, start + count - 1, fre)  # fmt: skip
        for index in range(count):
            point = collected[start + index]
            assert point is not None
            session.store_fiducial(point, index, source="auto")
        result = session.register()
        if not result.verified:
            self._refuse(result.checks.summary)
            return
        if self.config.sweep_s is not None and session.workflow.skin is not None:
            session.start_sweep()
            self._sweep_end_s = session.clock() + self.config.sweep_s
            self.phase = "sweeping"
            self.message = f"sweeping the skin for {self.config.sweep_s:g} s"
            return
        session.accept()
        self.phase = "done"
        self.message = "registered and accepted"

    def _refuse(self, why: str) -> None:
        self.phase = "refused"
        self.message = f"registration refused, not accepted: {why}"
        log.warning("automatic registration %s", self.message)

    def _best_run(
        self, collected: list[CollectedFiducial | None], count: int
    ) -> tuple[int, float] | None:
        image = self.session.workflow.fiducials_in_image
        runs = []
        for start in range(len(collected) - count + 1):
            run = collected[start : start + count]
            if any(c is None for c in run):
                continue
            runs.append((start, np.array([c.position_in_reference for c in run])))  # type: ignore[union-attr]
        if not runs:
            return None
        moving = np.array([points for _, points in runs])
        fixed = np.broadcast_to(image, moving.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rotations, translations = fit_rigid_batch(moving, np.ascontiguousarray(fixed))
        mapped = np.einsum("rij,rnj->rni", rotations, moving) + translations[:, np.newaxis, :]
        fre = np.sqrt(np.mean(np.sum((mapped - image) ** 2, axis=2), axis=1))
        best = int(np.argmin(fre))
        if fre[best] > self.config.max_fre_mm:
            return None
        return runs[best][0], float(fre[best])

    def _finish_sweep(self) -> None:
        session = self.session
        points = session.stop_sweep()
        result = session.workflow.result
        skin = session.workflow.skin
        assert result is not None and skin is not None
        kept = self._on_skin(points, result.image_from_reference, skin.vertices, skin.triangles)
        try:
            refined = session.refine(kept)
            self.message = f"refined with {len(kept)} of {len(points)} sweep points"
            if not refined.verified:
                raise InputError(f"the refined registration failed: {refined.checks.summary}")
        except InputError as error:
            log.warning("surface refinement skipped: %s", error)
            session.workflow.note(f"surface refinement skipped: {error}")
            self.message = f"surface refinement skipped: {error}"
            if not session.register().verified:  # back to the paired-point result
                self._refuse(session.workflow.state().result.checks.summary)  # type: ignore[union-attr]
                return
        session.accept()
        self.phase = "done"

    def _on_skin(
        self,
        points_in_reference: Float64Array,
        image_from_reference: Float64Array,
        vertices: Float64Array,
        triangles: np.ndarray,
    ) -> Float64Array:
        if len(points_in_reference) == 0:
            return points_in_reference
        if self._locator is None:
            self._locator = TriangleMeshLocator(vertices, triangles)
        in_image = apply_transform(image_from_reference, points_in_reference)
        distances = self._locator.closest(in_image, exact=False).distances_mm
        return points_in_reference[distances <= self.config.sweep_max_distance_mm]


def completed_dwells(
    times: Float64Array, tips: Float64Array, config: AutoRegistrationConfig
) -> list[StillPeriod]:
    """The still periods of a tip stream that have ended (the pointer has left), in time
    order: ``times`` (N,) s strictly increasing, ``tips`` (N, 3) mm."""
    grid, smoothed = _uniform_smoothed(times, tips, config.smoothing_s)
    periods = find_still_periods(
        grid, smoothed, max_speed_mm_s=config.max_speed_mm_s, min_duration_s=config.min_dwell_s
    )
    return [p for p in periods if p.stop_index < len(grid)]


def _uniform_smoothed(
    times: Float64Array, tips: Float64Array, smoothing_s: float
) -> tuple[Float64Array, Float64Array]:
    """Tip positions on a uniform time grid (linear interpolation, at the stream's median
    sample interval), averaged over ``smoothing_s``: (grid times, (M, 3) positions).

    Tracker jitter alone makes a resting tip "move" at several mm/s sample to sample at
    30-60 Hz, so speed is tested on averaged positions. The grid matters when samples come in
    bursts (a sender or receiver starved of CPU stamps several poses microseconds apart): a
    central difference over 70 us turns 0.03 mm of residual jitter into hundreds of mm/s and
    cuts a 1.6 s dwell into pieces; on a uniform grid every difference spans one interval.
    """
    steps = np.diff(times)
    positive = steps[steps > 0]
    step = float(np.median(positive)) if positive.size else 0.0
    if step <= 0 or times[-1] - times[0] < 2 * step:
        return times, tips
    grid = np.arange(times[0], times[-1] + step / 2, step)
    on_grid = np.stack([np.interp(grid, times, tips[:, k]) for k in range(3)], axis=1)
    width = max(1, round(smoothing_s / step))
    return grid, uniform_filter1d(on_grid, size=width, axis=0, mode="nearest")
