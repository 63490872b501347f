"""Dwells in a tracking recording: where a tracked point (a pointer tip) rested, and for how long.

A landmark touched with a tracked pointer shows up in a recording as a run of samples in which
the tip hardly moves. :func:`recorded_dwells` finds them with
:func:`navigation.tracking.fiducial_collection.find_still_periods` (speed at most
``max_speed_mm_s`` for at least ``min_duration_s``) on the origin of the tool frame
(``tool_from_frame[:3, 3]`` of ``<Tool>To<Frame>``, e.g. the tip for ``StylusTipToReference``)
and summarises each: the mean position (the collected point), the RMS spread about it and the
largest deviation (mm), samples and times. Invalid samples (NaN) are never part of a dwell.

On the real PLUS landmark recording (15 Hz, the stylus held on each of 8 landmarks for about
5 s) a resting tip moves at 1-3 mm/s and between landmarks at 50-500 mm/s; the dwells' RMS
spreads are 0.46-1.02 mm (the hand drifts slowly), so the default gate on the spread is 1.5 mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from navigation.tracking.fiducial_collection import find_still_periods
from registration.core.checks import Float64Array, InputError

#: Defaults of :func:`recorded_dwells` and the spread gate (see the module docstring).
DEFAULT_MAX_SPEED_MM_S = 5.0
DEFAULT_MIN_DURATION_S = 1.0
DEFAULT_MAX_SPREAD_MM = 1.5


@dataclass(frozen=True)
class RecordedDwell:
    """One dwell: ``number`` (1-based, in time order), the sample range ``[start_index,
    stop_index)``, times (s, the recording's clock), the mean position (3,) mm in the
    recording's reference frame, the RMS spread and the largest deviation from it (mm)."""

    number: int
    start_index: int
    stop_index: int
    start_s: float
    end_s: float
    position_mm: Float64Array
    spread_mm: float
    max_deviation_mm: float

    @property
    def sample_count(self) -> int:
        return self.stop_index - self.start_index

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def recorded_dwells(
    timestamps_s: ArrayLike,
    positions_mm: ArrayLike,
    *,
    max_speed_mm_s: float = DEFAULT_MAX_SPEED_MM_S,
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
) -> tuple[RecordedDwell, ...]:
    """The dwells of a tracked point, in time order.

    timestamps_s : (N,) increasing sample times, s (a repeated timestamp is a duplicate sample
        and is ignored, as PLUS does).
    positions_mm : (N, 3) positions, mm; NaN rows are invalid samples.
    """
    times = np.asarray(timestamps_s, dtype=np.float64)
    points = np.asarray(positions_mm, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or times.shape != (len(points),):
        raise InputError(
            f"positions must be (N, 3) and timestamps (N,); got {points.shape} and {times.shape}."
        )
    if len(times) and not np.isfinite(times).all():
        raise InputError("the recording has a timestamp that is not a number.")
    keep = np.concatenate([[True], np.diff(times) > 0]) if len(times) else np.ones(0, bool)
    if (np.diff(times[keep]) <= 0).any():
        raise InputError(
            "the recording's timestamps go backwards; it cannot be searched for dwells."
        )
    index = np.flatnonzero(keep)
    periods = find_still_periods(
        times[index], points[index], max_speed_mm_s=max_speed_mm_s, min_duration_s=min_duration_s
    )
    dwells = []
    for number, period in enumerate(periods, start=1):
        run = points[index[period.start_index : period.stop_index]]
        deviations = np.linalg.norm(run - period.mean, axis=1)
        position = np.array(period.mean, dtype=np.float64)
        position.setflags(write=False)
        dwells.append(
            RecordedDwell(
                number=number,
                start_index=int(index[period.start_index]),
                stop_index=int(index[period.stop_index - 1]) + 1,
                start_s=period.start_s,
                end_s=period.end_s,
                position_mm=position,
                spread_mm=period.spread_mm,
                max_deviation_mm=float(deviations.max()),
            )
        )
    return tuple(dwells)


def parse_selection(text: str, count: int) -> list[int]:
    """``"2-9"``, ``"1,3,5-7"`` -> dwell numbers (1-based, in the order given), each within
    1..count and not repeated."""
    numbers: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "-" in part:
                first, last = (int(v) for v in part.split("-", 1))
                numbers.extend(range(first, last + 1))
            else:
                numbers.append(int(part))
        except ValueError:
            raise InputError(
                f"--keep {text!r}: expected dwell numbers and ranges such as 2-9 or 1,3,5-7."
            ) from None
    bad = [n for n in numbers if not 1 <= n <= count]
    if bad or not numbers:
        raise InputError(
            f"--keep {text!r}: the recording has dwells 1..{count}; {bad or 'none'} chosen."
        )
    if len(set(numbers)) != len(numbers):
        raise InputError(f"--keep {text!r} names a dwell twice.")
    return numbers
