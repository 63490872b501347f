"""Recording off the tracking thread: a bounded queue of received bytes, written by its own
thread.

:class:`BackgroundRecorder` has the interface of a
:class:`~navigation.tracking.recording.SessionWriter` (``write``, ``write_event``, ``close``)
and hands every record to a writer thread. The thread that reads the tracker only appends a
reference to the bytes a message arrived as (``IgtlMessage.wire``; nothing is encoded or
copied on that path) to a queue bounded in records and bytes (large messages - camera frames -
and small ones - poses - each with a budget of their own, so frames are dropped before any
pose), and never waits: when the disk cannot keep up and the queue is full, the message is
dropped and counted
(:class:`RecorderCounts`), and the writer records a ``recording_gap`` event with the counts so
the file says where it is incomplete. Events (registrations, state changes) are small and
rare and are never dropped: the writer thread serialises nothing, the caller's thread turns
an event into JSON (so bad data raises where it was made).

The writer takes whatever is queued (up to 200 records) and writes it with one ``os.writev``
(which releases the GIL); its CRC-32 (fastcrc) takes 0.25 ms for a 2.5 MiB frame. It looks
at the queue every 20 ms rather than being woken per message. Recording 1000 poses and 30
1280x1024 frames a second (75 MB/s) costs about 0.1 CPU-second per second here
(``benchmarks/bench_igtl_stress.py``).
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from navigation.tracking.messages import IgtlMessage
from navigation.tracking.recording import SessionWriter, encode_event

log = logging.getLogger(__name__)

#: Default bounds of the queue: about 3 s of 30 fps 1280x1024 uint16 frames.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_RECORDS = 200_000
#: Messages up to this size (poses, strings, statuses) have a budget of their own
#: (:data:`SMALL_BYTES`), so a queue full of camera frames still takes every pose.
SMALL_MESSAGE = 64 * 1024
SMALL_BYTES = 64 * 1024 * 1024
#: Records written per system call at most.
_BATCH = 64
#: The writer looks at the queue this often (s): a wake-up per message would hand the GIL to
#: it a thousand times a second at 1000 Hz; this way it takes tens of records at a time.
WRITER_PERIOD_S = 0.02


@dataclass(frozen=True)
class RecorderCounts:
    """Records written, messages dropped (and their bytes), the queue now and at its peak."""

    written: int = 0
    dropped: int = 0
    dropped_bytes: int = 0
    queued: int = 0
    queued_bytes: int = 0
    peak_queued_bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class _Message:
    message: IgtlMessage
    arrival_s: float
    direction: str
    source: str
    size: int


@dataclass(frozen=True)
class _Event:
    payload: bytes
    arrival_s: float
    source: str


class BackgroundRecorder:
    """Write a session from a thread of its own (see the module docstring).

    Parameters
    ----------
    writer : the session file to write (closed by :meth:`close`).
    max_bytes, max_records : queue bounds for messages larger than :data:`SMALL_MESSAGE`
        (bytes) and for all records; a message that would exceed them is dropped. Small
        messages have :data:`SMALL_BYTES` of their own.
    """

    def __init__(
        self,
        writer: SessionWriter,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        self.writer = writer
        self.max_bytes = max_bytes
        self.max_records = max_records
        self._queue: collections.deque[_Message | _Event] = collections.deque()
        self._ready = threading.Condition()
        self._bytes = 0
        self._small_bytes = 0
        self._closing = False
        self._writing = False
        self._counts = dict.fromkeys(RecorderCounts.__dataclass_fields__, 0)
        self._gap_reported = (0, 0)
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-{writer.path.name}", daemon=True
        )
        self._thread.start()

    @property
    def path(self) -> Path:
        return self.writer.path

    @property
    def counts(self) -> RecorderCounts:
        with self._ready:
            return RecorderCounts(
                **{**self._counts, "queued": len(self._queue), "queued_bytes": self._bytes}
            )

    def write(
        self,
        message: IgtlMessage,
        arrival_s: float | None = None,
        *,
        direction: str = "in",
        source: str = "",
    ) -> bool:
        """Queue ``message`` (never waits); False when it was dropped because the queue is full."""
        if arrival_s is None:
            arrival_s = message.arrival_s if math.isfinite(message.arrival_s) else time.monotonic()
        wire = message.wire
        size = wire.size if wire is not None else 4096  # encoded later: an estimate
        small = size <= SMALL_MESSAGE
        with self._ready:
            if self._closing:
                raise ValueError(f"session {self.path} is closed")
            full = (
                self._small_bytes + size > SMALL_BYTES
                if small
                else self._bytes - self._small_bytes + size > self.max_bytes
            )
            if len(self._queue) >= self.max_records or full:
                self._counts["dropped"] += 1
                self._counts["dropped_bytes"] += size
                return False
            self._queue.append(_Message(message, arrival_s, direction, source, size))
            self._bytes += size
            self._small_bytes += size if small else 0
            self._counts["peak_queued_bytes"] = max(self._counts["peak_queued_bytes"], self._bytes)
            return True  # no wake-up: the writer looks every WRITER_PERIOD_S

    def write_event(
        self,
        kind: str,
        data: Mapping[str, Any] | None = None,
        *,
        arrival_s: float | None = None,
        source: str = "",
    ) -> None:
        """Queue an event (never dropped). Raises InputError when ``data`` is not JSON-able."""
        payload = encode_event(kind, data)
        stamp = time.monotonic() if arrival_s is None else float(arrival_s)
        with self._ready:
            if self._closing:
                raise ValueError(f"session {self.path} is closed")
            self._queue.append(_Event(payload, stamp, source))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; True if so within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._queue or self._writing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._ready.wait(min(remaining, 0.05))
            return True

    def close(self, timeout: float = 30.0) -> RecorderCounts:
        """Write what is queued (at most ``timeout`` s), then close the session file."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the recorder did not finish writing %s within %.0f s", self.path, timeout)
        else:
            self.writer.close()
        counts = self.counts
        if counts.dropped:
            log.warning(
                "recording %s: %d messages (%.1f MB) dropped because the disk did not keep up",
                self.path,
                counts.dropped,
                counts.dropped_bytes / 1e6,
            )
        return counts

    def __enter__(self) -> BackgroundRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        # Not at a lower OS priority: a thread descheduled while it holds the GIL (or the
        # queue's lock) would stall the tracking thread behind it.
        while True:
            with self._ready:
                if len(self._queue) < _BATCH and not self._closing:  # no backlog: let it gather
                    self._ready.wait_for(lambda: self._closing, WRITER_PERIOD_S)
                if not self._queue and not self._closing:
                    continue
                if not self._queue:
                    gap = self._gap_event()
                    if gap is not None:
                        self._write(_Event(gap, time.monotonic(), ""))
                    return
                items = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
                self._writing = True
            try:
                with self.writer.batch():  # one system call for the lot
                    for item in items:
                        self._write(item)
            except Exception:  # a failing disk must not stop the recorder (nor the app)
                log.exception("%d records could not be written to %s", len(items), self.path)
            with self._ready:
                self._writing = False
                self._counts["written"] += len(items)
                sizes = [item.size for item in items if isinstance(item, _Message)]
                self._bytes -= sum(sizes)
                self._small_bytes -= sum(size for size in sizes if size <= SMALL_MESSAGE)
                gap = self._gap_event()
                self._ready.notify_all()
            if gap is not None:
                self._write(_Event(gap, time.monotonic(), ""))

    def _write(self, item: _Message | _Event) -> None:
        try:
            if isinstance(item, _Message):
                self.writer.write(
                    item.message, item.arrival_s, direction=item.direction, source=item.source
                )
            else:
                self.writer.write_event_payload(
                    item.payload, arrival_s=item.arrival_s, source=item.source
                )
        except Exception:  # a record that cannot be written must not stop the recording
            log.exception("a record could not be written to %s", self.path)

    def _gap_event(self) -> bytes | None:
        """A ``recording_gap`` event once the queue has drained after drops (lock held)."""
        dropped = (self._counts["dropped"], self._counts["dropped_bytes"])
        if dropped == self._gap_reported or self._queue:
            return None
        new = dropped[0] - self._gap_reported[0], dropped[1] - self._gap_reported[1]
        self._gap_reported = dropped
        return encode_event(
            "recording_gap",
            {"dropped_messages": new[0], "dropped_bytes": new[1], "total_dropped": dropped[0]},
        )
