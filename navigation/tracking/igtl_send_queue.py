"""One OpenIGTLink peer's pending outgoing messages: lossless while it keeps up, newest-wins
when it does not.

A server sends to each client from that client's own thread (:class:`~navigation.tracking.
igtl_link.Connection`), so a client that stops reading delays nobody else. What the
producer hands over waits here:

- while the client keeps up, every message is kept, in order: a recorder or a calibration
  downstream sees every sample. It has fallen behind when its oldest pending message is older
  than ``behind_s`` *and* a send to it has been blocked for half that (its socket buffers are
  full: it is not reading), or when more than ``behind_bytes`` are pending. A sender thread
  that is merely late (a busy machine) is not the client's fault and drops nothing;
- once it falls behind, poses (TRANSFORM, POSITION, QTRANS, TDATA, QTDATA) become
  newest-wins per type and device name (the pending one is replaced in its place in the
  line), and at most ``max_images`` IMAGE/VIDEO frames wait (the oldest is dropped). Other
  messages (STRING, STATUS, replies) are never dropped;
- when even that exceeds ``max_pending`` messages or ``max_bytes``, the queue reports
  overflow and the connection drops the client (logged).

This is the policy of PLUS's and 3D Slicer's servers toward a slow receiver in spirit (the
newest pose is what a navigation display needs), made explicit and counted.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

POSE_TYPES = frozenset({"TRANSFORM", "POSITION", "QTRANS", "TDATA", "QTDATA"})
IMAGE_TYPES = frozenset({"IMAGE", "VIDEO"})


@dataclass(eq=False)
class _Entry:
    data: bytes | None  # None: dropped while waiting
    enqueued_s: float
    key: tuple[str, str] | None
    image: bool


@dataclass(frozen=True)
class SendQueueCounts:
    """What a queue did: poses replaced by newer ones, frames dropped, times it fell behind."""

    coalesced: int = 0
    images_dropped: int = 0
    fell_behind: int = 0


class SendQueue:
    """Bounded pending messages of one peer (see the module docstring). Thread-safe: one
    producer or more call :meth:`put`, the peer's sender thread calls :meth:`get`."""

    def __init__(
        self,
        *,
        behind_s: float = 0.1,
        behind_bytes: int = 16 * 1024 * 1024,
        max_images: int = 2,
        max_pending: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.behind_s = behind_s
        self.behind_bytes = behind_bytes
        self.max_images = max_images
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self._entries: collections.deque[_Entry] = collections.deque()
        self._poses: dict[tuple[str, str], _Entry] = {}
        self._images: collections.deque[_Entry] = collections.deque()
        self._bytes = 0
        self._ready = threading.Condition()
        self._closed = False
        self._behind = False
        self._send_started: float | None = None
        self._counts = {"coalesced": 0, "images_dropped": 0, "fell_behind": 0}

    @property
    def counts(self) -> SendQueueCounts:
        with self._ready:
            return SendQueueCounts(**self._counts)

    @property
    def behind(self) -> bool:
        """True while the peer is not keeping up (poses newest-wins, frames bounded)."""
        with self._ready:
            return self._behind

    @property
    def pending(self) -> int:
        """Messages waiting (dropped ones excluded)."""
        with self._ready:
            return sum(1 for entry in self._entries if entry.data is not None)

    def put(self, message_type: str, device_name: str, data: bytes) -> bool:
        """Queue ``data`` (one encoded message); False when the peer is hopelessly behind
        (the caller drops it) or the queue is closed."""
        now = time.monotonic()
        with self._ready:
            if self._closed:
                return False
            self._update_behind(now)
            key = (message_type, device_name) if message_type in POSE_TYPES else None
            if self._behind and key is not None and key in self._poses:
                entry = self._poses[key]
                self._bytes += len(data) - len(entry.data or b"")
                entry.data = data
                self._counts["coalesced"] += 1
                return True
            entry = _Entry(data, now, key, message_type in IMAGE_TYPES)
            self._entries.append(entry)
            self._bytes += len(data)
            if key is not None:
                self._poses[key] = entry
            if entry.image:
                self._images.append(entry)
                while self._behind and len(self._images) > self.max_images:
                    self._drop(self._images.popleft())
            if len(self._entries) > self.max_pending or self._bytes > self.max_bytes:
                return False
            self._ready.notify()
            return True

    def get(self, timeout: float) -> bytes | None:
        """The next message to send, waiting up to ``timeout`` s; None if none or closed."""
        with self._ready:
            deadline = time.monotonic() + timeout
            while True:
                while self._entries and self._entries[0].data is None:
                    self._entries.popleft()
                if self._entries or self._closed:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._ready.wait(remaining):
                    return None
            if not self._entries:
                return None
            entry = self._entries.popleft()
            data = entry.data
            assert data is not None
            self._forget(entry)
            self._bytes -= len(data)
            self._update_behind(time.monotonic())
            return data

    def sending(self, started: bool) -> None:
        """The sender thread says when a send starts and ends (a send that does not end means
        the peer is not reading)."""
        with self._ready:
            self._send_started = time.monotonic() if started else None

    def wait_empty(self, timeout: float) -> bool:
        """Wait until nothing is pending (sent or dropped); True if so within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while any(entry.data is not None for entry in self._entries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._ready.wait(min(remaining, 0.01))
            return True

    def close(self) -> None:
        """Refuse further messages and wake the sender."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def _update_behind(self, now: float) -> None:
        oldest = next((e for e in self._entries if e.data is not None), None)
        blocked = self._send_started is not None and now - self._send_started > self.behind_s / 2
        behind = oldest is not None and (
            (blocked and now - oldest.enqueued_s > self.behind_s) or self._bytes > self.behind_bytes
        )
        if behind and not self._behind:
            self._counts["fell_behind"] += 1
        self._behind = behind

    def _drop(self, entry: _Entry) -> None:
        if entry.data is not None:
            self._bytes -= len(entry.data)
            entry.data = None
            self._counts["images_dropped"] += 1
        self._forget(entry)

    def _forget(self, entry: _Entry) -> None:
        if entry.key is not None and self._poses.get(entry.key) is entry:
            del self._poses[entry.key]
        if entry.image and entry in self._images:
            self._images.remove(entry)
