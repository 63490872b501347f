"""The one store of tool poses, with an explicit state per tool: a pose is never shown stale.

Fed with decoded OpenIGTLink messages (:class:`~navigation.tracking.messages.IgtlMessage`:
TRANSFORM, TDATA, QTDATA, POSITION, STATUS) by the transport thread, read by the app, the
fiducial collector and the recorder from any thread. Each tool (a PLUS transform name such as
``PointerToTracker``, which carries ``tracker_from_pointer``) is in one :class:`ToolState`:

- ``OK``: a valid pose, updated within ``stale_timeout_s``;
- ``OUT_OF_VIEW``: the sender says so: header-v2 metadata ``TransformStatus`` other than "OK"
  (or ``TransformValid`` false), PLUS's identity placeholder for an invalid transform, or a
  STATUS message other than OK for that device;
- ``STALE``: no update for longer than ``stale_timeout_s`` (default 250 ms; IBIS uses
  0.2 s, CustusX 0.5 s), never received, no update since the link came back, or a sender
  repeating the same sample with a frozen timestamp;
- ``INVALID``: NaN/Inf, non-rigid (rigidity error above 1e-3 by default, see
  :data:`~navigation.tracking.pose_validation.TRACKER_RIGID_TOLERANCE`; catches scaling, shear
  and reflections), a non-unit quaternion, or a translation beyond the working volume;
- ``DISCONNECTED``: the transport is down (``set_connected(False)``).

The per-sample checks are in :mod:`navigation.tracking.pose_validation`. Queries return frozen
:class:`ToolPose` snapshots; ``matrix`` is set only when the state is OK, so an old pose can
never be shown as current. Staleness is checked against an injectable monotonic ``clock`` at
query time, so it holds even when nobody polls. State changes are
:class:`ToolStateEvent` s, delivered to subscribers and to a bounded queue; time-driven changes
(STALE) are found by :meth:`PoseStore.update_states`, which the app calls from its timer or
which :meth:`PoseStore.start_watchdog` calls from a thread.

One module of some 460 lines: the per-tool state machine, its events and the store's lock are
one thing; the states are only correct together.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from navigation.tracking.messages import IgtlMessage, transform_name_to_frames
from navigation.tracking.pose_validation import (
    PoseValidation,
    ToolState,
    tool_samples,
)
from navigation.tracking.timestamps import (
    StampedTime,
    TimeSource,
    TimestampFault,
    TimestampMapper,
    TimestampPolicy,
)
from registration.core.checks import Float64Array, check_positive
from registration.core.transforms import invert_rigid

log = logging.getLogger(__name__)

#: Which state wins when two poses are combined (the first listed wins).
_SEVERITY = ("DISCONNECTED", "INVALID", "OUT_OF_VIEW", "STALE", "OK")


@dataclass(frozen=True)
class ToolPose:
    """A snapshot of one tool (or a relative pose) at query time.

    Attributes
    ----------
    name : PLUS transform name ``FromToTo`` (``"PointerToTracker"`` is ``tracker_from_pointer``).
    state : :class:`ToolState`.
    matrix : (4, 4) float64 read-only ``to_from_from`` in mm when ``state`` is OK, else None.
    timestamp_s : local monotonic time of the sample (mapped sender time, or arrival time;
        see :mod:`navigation.tracking.timestamps`); NaN when never received.
    arrival_s : local monotonic time the sample arrived; NaN when never received.
    age_s : query time minus ``timestamp_s`` (inf when never received).
    reason : why the state is not OK ("" when OK), for the app to show.
    """

    name: str
    state: ToolState
    matrix: Float64Array | None
    timestamp_s: float
    arrival_s: float
    age_s: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when the pose may be used."""
        return self.state is ToolState.OK


@dataclass(frozen=True)
class ToolStateEvent:
    """A tool changed state. ``previous`` is None for a tool's first event."""

    name: str
    previous: ToolState | None
    state: ToolState
    time_s: float
    reason: str = ""


@dataclass(frozen=True)
class PoseStoreConfig:
    """Thresholds of the pose store.

    stale_timeout_s : a tool not updated for longer is STALE (s).
    validation : per-sample checks (rigidity tolerance, working volume, identity rule).
    max_relative_skew_s : two poses are combined into a relative pose only when their
        timestamps are at most this far apart (s).
    event_queue_size : events kept for :meth:`PoseStore.drain_events`.
    max_tools : tool names kept; further new names are ignored (memory stays bounded whatever
        a sender sends).
    timestamps : the timestamp policy.
    """

    stale_timeout_s: float = 0.25
    validation: PoseValidation = field(default_factory=PoseValidation)
    max_relative_skew_s: float = 0.1
    event_queue_size: int = 1000
    max_tools: int = 256
    timestamps: TimestampPolicy = field(default_factory=TimestampPolicy)

    def __post_init__(self) -> None:
        check_positive(self.stale_timeout_s, "stale_timeout_s")
        check_positive(self.max_relative_skew_s, "max_relative_skew_s")


@dataclass
class _Record:
    state: ToolState
    matrix: Float64Array | None
    timestamp_s: float
    arrival_s: float
    fresh_s: float  # arrival of the last sample that counts as an update
    reason: str
    repeated: bool = False  # the last message repeated the previous sample (frozen timestamp)
    reported: ToolState | None = None


class PoseStore:
    """Thread-safe store of the latest state and pose of every tool.

    Parameters
    ----------
    config : thresholds (:class:`PoseStoreConfig`).
    clock : monotonic clock in seconds, injectable for tests (default ``time.monotonic``);
        messages whose ``arrival_s`` is NaN are stamped with it.
    connected : initial transport state. A store fed by a transport is told about link
        changes with :meth:`set_connected`; a store fed from a file can stay connected.
    """

    def __init__(
        self,
        config: PoseStoreConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        connected: bool = True,
    ) -> None:
        self.config = config or PoseStoreConfig()
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}
        self._mapper = TimestampMapper(self.config.timestamps)
        self._connected = connected
        #: When the link last went down: a pose that arrived before it is from before the
        #: outage (a link counts as up from its first message, so the poses of the message
        #: batch that brought it up arrived a moment before it was declared up).
        self._disconnected_s = -math.inf
        self._link_reason = "" if connected else "transport not connected"
        self._events: deque[ToolStateEvent] = deque(maxlen=self.config.event_queue_size)
        self._subscribers: list[Callable[[ToolStateEvent], None]] = []
        self._watchdog: threading.Thread | None = None
        self._watchdog_stop = threading.Event()
        self._refused_tools = 0

    # ----------------------------------------------------------------- feeding
    def ingest(self, message: IgtlMessage) -> bool:
        """Take one message; returns True when it updated a tool.

        TRANSFORM, POSITION (one tool named by the device), TDATA and QTDATA (one tool per
        element) and STATUS (a non-OK code for a known tool makes it OUT_OF_VIEW) are used;
        other types are ignored. Never raises on bad content: a bad pose becomes INVALID.
        """
        arrival = message.arrival_s if math.isfinite(message.arrival_s) else self._clock()
        samples = tool_samples(message, self.config.validation)
        if not samples:
            return False
        events: list[ToolStateEvent] = []
        updated = False
        with self._lock:
            if message.type == "STATUS":
                stamped = StampedTime(arrival, TimeSource.ARRIVAL)
            else:
                stamped = self._mapper.stamp(message.device_name, message.timestamp_s, arrival)
            now = self._clock()
            for sample in samples:
                name, state, matrix, reason = (
                    sample.name,
                    sample.state,
                    sample.matrix,
                    sample.reason,
                )
                record = self._records.get(name)
                if message.type == "STATUS" and (record is None or state is ToolState.OK):
                    continue  # a STATUS only ever takes a known tool out of OK
                if record is None and len(self._records) >= self.config.max_tools:
                    if not self._refused_tools:
                        log.warning(
                            "more than %d tool names received; ignoring new ones such as %r "
                            "(a misbehaving sender?).",
                            self.config.max_tools,
                            name,
                        )
                    self._refused_tools += 1
                    continue
                repeated = (
                    stamped.fault is TimestampFault.FROZEN
                    and record is not None
                    and matrix is not None
                    and record.matrix is not None
                    and np.array_equal(matrix, record.matrix)
                )
                fresh = record.fresh_s if (repeated and record is not None) else arrival
                if record is None:
                    record = _Record(state, matrix, stamped.time_s, arrival, fresh, reason)
                    self._records[name] = record
                else:
                    record.state, record.matrix, record.reason = state, matrix, reason
                    if not repeated:  # a repeated sample keeps its original time
                        record.timestamp_s = stamped.time_s
                    record.arrival_s, record.fresh_s = arrival, fresh
                record.repeated = repeated
                updated = True
                events.extend(self._changes(now, [name]))
        self._publish(events)
        return updated

    def set_connected(self, connected: bool, reason: str = "") -> None:
        """Tell the store the transport went down (all tools DISCONNECTED) or came back
        (tools STALE until their next sample)."""
        with self._lock:
            if connected == self._connected:
                return
            self._connected = connected
            now = self._clock()
            if connected:
                self._link_reason = ""
            else:
                self._disconnected_s = now
                self._link_reason = reason or "transport disconnected"
            events = self._changes(now, list(self._records))
        self._publish(events)

    def on_connection(self, connected: bool, peer: str = "") -> None:
        """Adapter for a transport's ``on_connection(connected, peer)`` callback."""
        self.set_connected(connected, "" if connected else f"link to {peer or 'peer'} lost")

    @property
    def connected(self) -> bool:
        """The transport state last set."""
        with self._lock:
            return self._connected

    # ----------------------------------------------------------------- queries
    def tool_names(self) -> tuple[str, ...]:
        """Names of the tools received so far, sorted."""
        with self._lock:
            return tuple(sorted(self._records))

    def pose(self, name: str) -> ToolPose:
        """Snapshot of tool ``name`` (a PLUS name such as ``"PointerToTracker"``).

        A tool never received is STALE (or DISCONNECTED) with no matrix.
        """
        with self._lock:
            return self._snapshot(name, self._clock())

    def poses(self) -> dict[str, ToolPose]:
        """Snapshots of all tools received so far, taken at one instant."""
        with self._lock:
            now = self._clock()
            return {name: self._snapshot(name, now) for name in sorted(self._records)}

    def transform(self, to_frame: str, from_frame: str) -> ToolPose:
        """``to_from_from`` as a snapshot named ``"{from_frame}To{to_frame}"``.

        Uses the tool named so directly, else the inverse of ``"{to}To{from}"``, else the
        composition through a frame both are measured in:
        ``reference_from_pointer = inverse(tracker_from_reference) @ tracker_from_pointer``.
        The result is OK only when both poses are OK and their timestamps are at most
        ``max_relative_skew_s`` apart (else STALE, saying so); otherwise it takes the state
        of the worse pose with that pose's reason.
        """
        name = f"{from_frame}To{to_frame}"
        with self._lock:
            now = self._clock()
            if name in self._records:
                return self._snapshot(name, now)
            inverse_name = f"{to_frame}To{from_frame}"
            if inverse_name in self._records:
                inverse = self._snapshot(inverse_name, now)
                matrix = invert_rigid(inverse.matrix) if inverse.matrix is not None else None
                return _renamed(inverse, name, matrix)
            common = self._common_frame(to_frame, from_frame)
            if common is None:
                return self._snapshot(name, now)
            base_from_to = self._snapshot(f"{to_frame}To{common}", now)
            base_from_from = self._snapshot(f"{from_frame}To{common}", now)
        return _compose(name, base_from_to, base_from_from, self.config.max_relative_skew_s)

    # ----------------------------------------------------------------- events
    def subscribe(self, callback: Callable[[ToolStateEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on every state change (from the thread that caused it,
        outside the store's lock). Returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def drain_events(self) -> list[ToolStateEvent]:
        """Events since the last call (oldest first; the queue keeps the newest
        ``event_queue_size``)."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events

    def update_states(self) -> list[ToolStateEvent]:
        """Re-evaluate time-dependent states (STALE) now; publish and return the changes."""
        with self._lock:
            events = self._changes(self._clock(), list(self._records))
        self._publish(events)
        return events

    def start_watchdog(self, period_s: float = 0.05) -> None:
        """Run :meth:`update_states` every ``period_s`` in a daemon thread until
        :meth:`stop_watchdog`, so STALE events come without anyone polling."""
        check_positive(period_s, "period_s")
        if self._watchdog is not None:
            return
        self._watchdog_stop.clear()

        def loop() -> None:
            while not self._watchdog_stop.wait(period_s):
                self.update_states()

        self._watchdog = threading.Thread(target=loop, name="pose-store-watchdog", daemon=True)
        self._watchdog.start()

    def stop_watchdog(self) -> None:
        """Stop the watchdog thread (joins it)."""
        thread, self._watchdog = self._watchdog, None
        if thread is not None:
            self._watchdog_stop.set()
            thread.join(timeout=2.0)

    @property
    def timestamp_fault_counts(self) -> dict[tuple[str, TimestampFault], int]:
        """How often each device's timestamps fell back to arrival time, per fault."""
        with self._lock:
            return self._mapper.fault_counts

    # ----------------------------------------------------------------- internals
    def _effective(self, record: _Record, now: float) -> tuple[ToolState, str]:
        if not self._connected:
            return ToolState.DISCONNECTED, self._link_reason
        if record.arrival_s <= self._disconnected_s:
            return ToolState.STALE, "no update since the link came back"
        idle = now - record.fresh_s
        if idle > self.config.stale_timeout_s:
            detail = "the sender repeats an old sample" if record.repeated else "no update"
            return ToolState.STALE, f"{detail} for {idle * 1000:.0f} ms"
        return record.state, record.reason

    def _snapshot(self, name: str, now: float) -> ToolPose:
        record = self._records.get(name)
        if record is None:
            state = ToolState.STALE if self._connected else ToolState.DISCONNECTED
            reason = "never received" if self._connected else self._link_reason
            return ToolPose(name, state, None, math.nan, math.nan, math.inf, reason)
        state, reason = self._effective(record, now)
        return ToolPose(
            name=name,
            state=state,
            matrix=record.matrix if state is ToolState.OK else None,
            timestamp_s=record.timestamp_s,
            arrival_s=record.arrival_s,
            age_s=now - record.timestamp_s,
            reason=reason,
        )

    def _changes(self, now: float, names: Iterable[str]) -> list[ToolStateEvent]:
        events = []
        for name in names:
            record = self._records[name]
            state, reason = self._effective(record, now)
            if state is not record.reported:
                event = ToolStateEvent(name, record.reported, state, now, reason)
                record.reported = state
                self._events.append(event)
                events.append(event)
        return events

    def _publish(self, events: list[ToolStateEvent]) -> None:
        if not events:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for event in events:
            if event.state is not ToolState.OK:
                log.info("%s is %s: %s", event.name, event.state.value, event.reason)
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:  # a faulty view must not stop tracking
                    log.exception("pose store subscriber failed on %s", event)

    def _common_frame(self, to_frame: str, from_frame: str) -> str | None:
        bases: dict[str, set[str]] = {}
        for name in self._records:
            frames = transform_name_to_frames(name)
            if frames is not None:
                bases.setdefault(frames[1], set()).add(frames[0])
        shared = bases.get(to_frame, set()) & bases.get(from_frame, set())
        return sorted(shared)[0] if shared else None


def _renamed(pose: ToolPose, name: str, matrix: Float64Array | None) -> ToolPose:
    if matrix is not None:
        matrix.setflags(write=False)
    return ToolPose(
        name, pose.state, matrix, pose.timestamp_s, pose.arrival_s, pose.age_s, pose.reason
    )


def _compose(
    name: str, base_from_to: ToolPose, base_from_from: ToolPose, max_skew_s: float
) -> ToolPose:
    parts = (base_from_to, base_from_from)
    worst = min(parts, key=lambda p: _SEVERITY.index(p.state.name))
    timestamp = min(base_from_to.timestamp_s, base_from_from.timestamp_s)
    arrival = min(base_from_to.arrival_s, base_from_from.arrival_s)
    age = max(base_from_to.age_s, base_from_from.age_s)
    if worst.state is not ToolState.OK:
        return ToolPose(
            name, worst.state, None, timestamp, arrival, age, f"{worst.name}: {worst.reason}"
        )
    skew = abs(base_from_to.timestamp_s - base_from_from.timestamp_s)
    if skew > max_skew_s:
        reason = (
            f"{base_from_to.name} and {base_from_from.name} are {skew * 1000:.0f} ms apart "
            f"(> {max_skew_s * 1000:.0f} ms)"
        )
        return ToolPose(name, ToolState.STALE, None, timestamp, arrival, age, reason)
    assert base_from_to.matrix is not None and base_from_from.matrix is not None
    matrix = invert_rigid(base_from_to.matrix) @ base_from_from.matrix
    matrix.setflags(write=False)
    return ToolPose(name, ToolState.OK, matrix, timestamp, arrival, age, "")
