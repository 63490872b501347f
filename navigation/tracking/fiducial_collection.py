"""Collect fiducial positions with a tracked pointer: the tip in the patient reference frame,
averaged over a window in which the pointer is held still.

Pure logic fed with poses: :class:`FiducialCollector` takes the live
``reference_from_pointer`` snapshots (``PoseStore.transform("Reference", "Pointer")``) one by
one; :func:`average_still_tip` does the same on a recorded window; :func:`find_still_periods`
finds the dwells in a recording (e.g. a PLUS sequence, or the simulator's stream).

The tip comes from the pointer calibration (pivot calibration): ``tip_in_pointer``, the tip
position in the pointer's marker frame in mm (PLUS: the translation of ``StylusTipToStylus``).
The spread reported is the RMS distance of the window's tip positions from their mean (mm);
with tracker jitter sigma per axis it is about sqrt(3) sigma.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from navigation.tracking.pose_store import ToolPose, ToolState
from registration.core.checks import Float64Array, InputError, check_matrix, check_positive


class FiducialCollectionError(InputError):
    """The pointer cannot be collected now (moved, not tracked, too few samples)."""


@dataclass(frozen=True)
class CollectedFiducial:
    """One collected point.

    position_in_reference : (3,) mean tip position in the reference frame, mm.
    spread_mm : RMS distance of the window's tip positions from the mean, mm.
    max_deviation_mm : largest distance of a tip position from the mean, mm.
    sample_count : number of poses averaged.
    start_s, end_s : timestamps of the first and last pose (local monotonic s; NaN if unknown).
    """

    position_in_reference: Float64Array
    spread_mm: float
    max_deviation_mm: float
    sample_count: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class StillPeriod:
    """A still run of samples ``[start_index, stop_index)``: mean position and RMS spread."""

    start_index: int
    stop_index: int
    start_s: float
    end_s: float
    mean: Float64Array  # (3,)
    spread_mm: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def tip_positions(reference_from_pointer: ArrayLike, tip_in_pointer: ArrayLike) -> Float64Array:
    """(N, 3) tip positions in the reference frame from (N, 4, 4) poses and the (3,) tip (mm)."""
    poses = np.asarray(reference_from_pointer, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise InputError(f"reference_from_pointer must have shape (N, 4, 4); got {poses.shape}.")
    tip = check_matrix(tip_in_pointer, "tip_in_pointer", (3,))
    return np.einsum("nij,j->ni", poses[:, :3, :3], tip) + poses[:, :3, 3]


def average_still_tip(
    reference_from_pointer: ArrayLike,
    tip_in_pointer: ArrayLike,
    *,
    max_spread_mm: float = 0.5,
    timestamps_s: ArrayLike | None = None,
) -> CollectedFiducial:
    """Mean tip position over a window of poses, refused when the pointer moved.

    reference_from_pointer : (N, 4, 4) poses in mm, N >= 1, all valid.
    tip_in_pointer : (3,) tip in the pointer frame, mm.
    max_spread_mm : largest accepted RMS spread of the tip positions.
    timestamps_s : (N,) sample times (optional; only reported).

    Raises :class:`FiducialCollectionError` when the spread exceeds ``max_spread_mm``.
    """
    tips = tip_positions(reference_from_pointer, tip_in_pointer)
    if len(tips) == 0:
        raise FiducialCollectionError("no poses to average; hold the pointer on the fiducial.")
    if not np.isfinite(tips).all():
        raise FiducialCollectionError("the poses contain NaN/Inf; only valid poses can be used.")
    return _summarise(
        tips, timestamps_s, max_spread_mm=check_positive(max_spread_mm, "max_spread_mm")
    )


def find_still_periods(
    timestamps_s: ArrayLike,
    points: ArrayLike,
    *,
    max_speed_mm_s: float = 5.0,
    min_duration_s: float = 1.0,
) -> tuple[StillPeriod, ...]:
    """Runs of samples whose speed stays at most ``max_speed_mm_s``, lasting at least
    ``min_duration_s`` (the dwells of a pointer held on fiducials).

    Speed is the central difference of the positions over time (``numpy.gradient``). A
    hand-held pointer resting on a point moves at 1-3 mm/s (tracker jitter and tremor, measured
    on the PLUS landmark recording at 15 Hz), between points at 50-500 mm/s.

    timestamps_s : (N,) strictly increasing times in s.
    points : (N, 3) positions in mm; NaN rows (invalid samples) are never still.
    """
    times = np.asarray(timestamps_s, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or times.shape != (len(p),):
        raise InputError(
            f"points must be (N, 3) and timestamps_s (N,); got {p.shape} and {times.shape}."
        )
    if len(p) < 2:
        return ()
    if not (np.diff(times) > 0).all():
        raise InputError("timestamps_s must be strictly increasing.")
    limit = check_positive(max_speed_mm_s, "max_speed_mm_s")
    speed = np.linalg.norm(np.gradient(p, times, axis=0), axis=1)
    still = np.isfinite(speed) & (speed <= limit)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], still.astype(np.int8), [0]])))
    periods = []
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if times[stop - 1] - times[start] < min_duration_s:
            continue
        run = p[start:stop]
        mean = run.mean(axis=0)
        spread = float(np.sqrt(np.mean(np.sum((run - mean) ** 2, axis=1))))
        mean.setflags(write=False)
        periods.append(
            StillPeriod(
                int(start), int(stop), float(times[start]), float(times[stop - 1]), mean, spread
            )
        )
    return tuple(periods)


class FiducialCollector:
    """Collects one fiducial from live ``reference_from_pointer`` snapshots.

    Feed every new snapshot to :meth:`add`; when the user asks to collect, :meth:`collect`
    averages the last ``window_samples`` tip positions if the pointer was OK and still for all
    of them (spread <= ``max_spread_mm``), else raises :class:`FiducialCollectionError` saying
    why. A snapshot that is not OK, or a gap longer than ``max_gap_s`` between samples,
    restarts the window: a fiducial is never averaged across a dropout. Repeated snapshots of
    the same sample (same timestamp) are counted once.

    Parameters
    ----------
    tip_in_pointer : (3,) tip in the pointer frame, mm.
    window_samples : poses averaged (e.g. 20, about 0.3-1 s at 20-60 Hz).
    max_spread_mm : largest accepted RMS spread.
    max_gap_s : largest accepted time between consecutive samples.
    """

    def __init__(
        self,
        tip_in_pointer: ArrayLike,
        *,
        window_samples: int = 20,
        max_spread_mm: float = 0.5,
        max_gap_s: float = 0.25,
    ) -> None:
        self.tip_in_pointer = check_matrix(tip_in_pointer, "tip_in_pointer", (3,))
        if int(window_samples) < 2:
            raise InputError(f"window_samples must be at least 2; got {window_samples}.")
        self.window_samples = int(window_samples)
        self.max_spread_mm = check_positive(max_spread_mm, "max_spread_mm")
        self.max_gap_s = check_positive(max_gap_s, "max_gap_s")
        self._tips: deque[Float64Array] = deque(maxlen=self.window_samples)
        self._times: deque[float] = deque(maxlen=self.window_samples)
        self._last_problem = "no pose received yet"

    def reset(self) -> None:
        """Forget the window (e.g. after a fiducial was collected)."""
        self._tips.clear()
        self._times.clear()
        self._last_problem = "no pose received yet"

    def add(self, pose: ToolPose) -> None:
        """Take the latest ``reference_from_pointer`` snapshot (any state)."""
        if pose.state is not ToolState.OK or pose.matrix is None:
            self.reset()
            self._last_problem = f"pointer is {pose.state.value}: {pose.reason}"
            return
        if self._times and pose.timestamp_s == self._times[-1]:
            return
        if self._times and not (0 < pose.timestamp_s - self._times[-1] <= self.max_gap_s):
            self.reset()
        tip = pose.matrix[:3, :3] @ self.tip_in_pointer + pose.matrix[:3, 3]
        self._tips.append(tip)
        self._times.append(pose.timestamp_s)
        self._last_problem = ""

    @property
    def sample_count(self) -> int:
        """Samples in the current window."""
        return len(self._tips)

    @property
    def spread_mm(self) -> float:
        """RMS spread of the current window (NaN when empty), for a live display."""
        if not self._tips:
            return math.nan
        tips = np.array(self._tips)
        return float(np.sqrt(np.mean(np.sum((tips - tips.mean(axis=0)) ** 2, axis=1))))

    def collect(self) -> CollectedFiducial:
        """The averaged tip, or :class:`FiducialCollectionError` saying why not."""
        if self._last_problem:
            raise FiducialCollectionError(
                f"cannot collect: {self._last_problem}; hold the pointer on the fiducial in "
                "view of the tracker."
            )
        if len(self._tips) < self.window_samples:
            raise FiducialCollectionError(
                f"cannot collect: only {len(self._tips)} of {self.window_samples} still samples "
                "so far; keep holding the pointer on the fiducial."
            )
        return _summarise(
            np.array(self._tips), np.array(self._times), max_spread_mm=self.max_spread_mm
        )


def _summarise(
    tips: Float64Array, timestamps_s: ArrayLike | None, *, max_spread_mm: float
) -> CollectedFiducial:
    mean = tips.mean(axis=0)
    distances = np.linalg.norm(tips - mean, axis=1)
    spread = float(np.sqrt(np.mean(distances**2)))
    if spread > max_spread_mm:
        raise FiducialCollectionError(
            f"the pointer moved: tip spread {spread:.2f} mm RMS over {len(tips)} samples "
            f"exceeds {max_spread_mm:.2f} mm; hold it still on the fiducial and collect again."
        )
    times = (
        np.asarray(timestamps_s, dtype=np.float64)
        if timestamps_s is not None
        else np.full(len(tips), np.nan)
    )
    mean.setflags(write=False)
    return CollectedFiducial(
        position_in_reference=mean,
        spread_mm=spread,
        max_deviation_mm=float(distances.max()),
        sample_count=len(tips),
        start_s=float(times[0]),
        end_s=float(times[-1]),
    )
