"""Which time a received sample happened at: the sender's timestamp, or its arrival time.

OpenIGTLink header timestamps come from the sender's clock (UNIX time for PLUS and 3D Slicer,
anything for other peers); arrival times are the local ``time.monotonic()``. A sender's
timestamp is used when it is sane, mapped onto the local monotonic clock with an offset
estimate; otherwise the arrival time is used and the fault is logged once per device and
reason (zero, frozen, backwards or far-off sender clocks are common in practice). Faults:

- ``zero``: the sender set no timestamp (0, or negative);
- ``not finite``: NaN or Inf;
- ``frozen``: the same timestamp as this device's previous message;
- ``backwards``: earlier than this device's previous message;
- ``jump``: the mapped time is more than ``max_deviation_s`` away from the arrival time (the
  sender's clock jumped, or is far from the local clock in a way the offset does not explain).

Backwards and jumping samples do not move the estimate; but after ``relock_samples``
consecutive ones that agree on a new offset, the mapper re-locks on it (a sender whose clock
was reset or stepped is then followed again).

Offset estimate: ``offset = arrival - sender`` is the clock offset plus a non-negative
transport delay, so the minimum over a sliding window of recent samples is the least-delayed
estimate (the "lower envelope" used in network clock synchronisation, e.g. Paxson 1998); it
is robust to delay spikes and follows slow drift as the window slides. A mapped time is never
later than its arrival.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

from registration.core.checks import InputError

log = logging.getLogger(__name__)


class TimeSource(Enum):
    """Where a sample's time came from."""

    SENDER = "sender"
    ARRIVAL = "arrival"


class TimestampFault(Enum):
    """Why a sender timestamp was not used."""

    ZERO = "zero"
    NOT_FINITE = "not finite"
    FROZEN = "frozen"
    BACKWARDS = "backwards"
    JUMP = "jump"


@dataclass(frozen=True)
class TimestampPolicy:
    """Thresholds of the timestamp policy.

    max_deviation_s : largest accepted |mapped sender time - arrival time|, s.
    window : number of recent accepted samples in the offset estimate.
    relock_samples : consecutive samples agreeing (within ``max_deviation_s``) on a new offset
        after which the mapper follows a sender clock that jumped.
    """

    max_deviation_s: float = 0.5
    window: int = 64
    relock_samples: int = 8

    def __post_init__(self) -> None:
        if not (self.max_deviation_s > 0 and math.isfinite(self.max_deviation_s)):
            raise InputError(f"max_deviation_s must be > 0; got {self.max_deviation_s}.")
        if self.window < 1 or self.relock_samples < 1:
            raise InputError("window and relock_samples must be at least 1.")


@dataclass(frozen=True)
class StampedTime:
    """A sample's time on the local monotonic clock.

    time_s : local monotonic seconds (mapped sender time, or the arrival time).
    source : :class:`TimeSource` used.
    fault : why the sender time was not used (None when it was).
    """

    time_s: float
    source: TimeSource
    fault: TimestampFault | None = None


class TimestampMapper:
    """Maps one sender's message timestamps onto the local monotonic clock.

    One mapper per sender (connection): all devices of a sender share its clock offset, while
    frozen/backwards checks are per device. Not thread-safe by itself; :class:`PoseStore`
    calls it under its lock.
    """

    def __init__(self, policy: TimestampPolicy | None = None) -> None:
        self.policy = policy or TimestampPolicy()
        self._offsets: deque[float] = deque(maxlen=self.policy.window)
        self._candidates: list[float] = []
        self._last_sender: dict[str, float] = {}
        self._logged: set[tuple[str, TimestampFault]] = set()
        self._counts: dict[tuple[str, TimestampFault], int] = {}
        self._relocks = 0

    @property
    def offset_s(self) -> float | None:
        """Current estimate of ``local - sender`` in seconds (None before the first sample)."""
        return min(self._offsets) if self._offsets else None

    @property
    def relock_count(self) -> int:
        """How many times the mapper followed a jump of the sender's clock."""
        return self._relocks

    @property
    def fault_counts(self) -> dict[tuple[str, TimestampFault], int]:
        """How many times each (device, fault) made the mapper fall back to arrival time."""
        return dict(self._counts)

    def stamp(self, device_name: str, timestamp_s: float, arrival_s: float) -> StampedTime:
        """The local time of a sample from ``device_name`` sent at ``timestamp_s``.

        Parameters
        ----------
        device_name : the message's device name (faults are tracked and logged per device).
        timestamp_s : the header timestamp in the sender's seconds (0 when none).
        arrival_s : local ``time.monotonic()`` when the message arrived (finite).
        """
        if not math.isfinite(arrival_s):
            raise InputError(f"arrival_s must be finite; got {arrival_s} for {device_name!r}.")
        if not math.isfinite(timestamp_s):
            return self._fallback(device_name, TimestampFault.NOT_FINITE, arrival_s)
        if timestamp_s <= 0.0:
            return self._fallback(device_name, TimestampFault.ZERO, arrival_s)
        previous = self._last_sender.get(device_name)
        if previous is not None and timestamp_s == previous:
            return self._fallback(device_name, TimestampFault.FROZEN, arrival_s)
        offset = arrival_s - timestamp_s
        if not self._offsets:
            self._offsets.append(offset)
            self._last_sender[device_name] = timestamp_s
            return StampedTime(arrival_s, TimeSource.SENDER)
        backwards = previous is not None and timestamp_s < previous
        mapped = timestamp_s + min(self._offsets)
        if backwards or abs(mapped - arrival_s) > self.policy.max_deviation_s:
            # Not believed now; a new sender clock if enough consecutive samples agree on it.
            self._candidates.append(offset)
            recent = self._candidates[-self.policy.relock_samples :]
            if (
                len(recent) == self.policy.relock_samples
                and max(recent) - min(recent) <= self.policy.max_deviation_s
            ):
                self._relocks += 1
                log.log(
                    logging.WARNING if self._relocks == 1 else logging.DEBUG,
                    "sender clock of %r moved by %.3f s; following it from now on (re-lock %d; "
                    "later ones are logged at debug level).",
                    device_name,
                    min(self._offsets) - min(recent),
                    self._relocks,
                )
                self._offsets.clear()
                self._offsets.extend(recent)
                self._candidates.clear()
                self._last_sender = {device_name: timestamp_s}
                return StampedTime(timestamp_s + min(self._offsets), TimeSource.SENDER)
            fault = TimestampFault.BACKWARDS if backwards else TimestampFault.JUMP
            return self._fallback(device_name, fault, arrival_s)
        self._candidates.clear()
        self._offsets.append(offset)
        self._last_sender[device_name] = timestamp_s
        return StampedTime(timestamp_s + min(self._offsets), TimeSource.SENDER)

    def _fallback(self, device_name: str, fault: TimestampFault, arrival_s: float) -> StampedTime:
        key = (device_name, fault)
        self._counts[key] = self._counts.get(key, 0) + 1
        if key not in self._logged:
            self._logged.add(key)
            log.warning(
                "timestamps of %r are %s; using arrival time instead (logged once per device "
                "and fault).",
                device_name,
                fault.value,
            )
        return StampedTime(arrival_s, TimeSource.ARRIVAL, fault)
