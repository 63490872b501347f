"""Incremental OpenIGTLink framing: bytes in any TCP split -> decoded messages, with counters.

:class:`IgtlFramer` keeps the bytes it has not yet used and returns every complete message on
each :meth:`IgtlFramer.feed`, in any split of the stream. The header has no checksum, so the
framer decides how far to trust each one (checks in :mod:`~navigation.tracking.
igtl_plausibility`) and never commits to a body it cannot take back:

- **Small bodies** (up to :data:`PROBATION_BYTES`) stay in the buffer with their header until
  complete. A good CRC-64 delivers the message (a body that then does not decode is
  ``malformed`` and skipped: the CRC proves the size was right). A bad CRC means the header
  or the body is wrong, so the framer cannot trust the size: it counts ``bad_crc`` and scans
  again from the header's second byte, losing nothing that follows.
- **Large bodies** are checked by their first bytes (:func:`~navigation.tracking.
  igtl_plausibility.body_prefix_problem`). An IMAGE whose image header accounts for every
  byte is *verified* and streamed straight into its message (no re-buffering). A prefix that
  contradicts the header is a **false lock** (``false_locks``): the framer scans again from
  the header's second byte. Any other large body is on **probation**: while it arrives, its
  bytes are scanned for embedded headers; one that proves itself (strict header, CRC-64
  right) ends the body early - the bytes were not a body - and the stream resumes there.
- **Over-cap bodies of types we do not decode** (a large POLYDATA, say) whose header is
  otherwise valid are skipped by their declared size without being stored
  (``skipped_messages``), on probation in the same way.
- **Implausible headers** (version not 1 or 2, not a type name, a known type over its cap,
  e.g. 2^63 bytes) are **resynchronised** from: the framer scans forward for the next
  believable header (:func:`~navigation.tracking.igtl_plausibility.candidate_problem`:
  a known type or one already seen on this link, names, sizes and timestamp plausible). The
  scan is a :mod:`re` search (C speed), then one set lookup of the candidate's type field,
  then the full check: O(bytes), 2-3 ms per MiB of random bytes and about 0.1 s per MiB of
  bytes with a look-alike header every few bytes here (``benchmarks/bench_igtl_stress.py``).

Resynchronising keeps a link to a tracker alive through a corrupted header instead of
dropping every tool for a reconnect. Memory: the buffer holds at most one partial message
(bounded by the type's cap, :data:`navigation.tracking.igtl_wire.DEFAULT_CONTENT_CAPS`; a
skipped body only its last :data:`PROBATION_BYTES`) plus the bytes of the last feed; it
never grows with a claimed size, only with bytes actually received.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from navigation.tracking import igtl_plausibility as plausible
from navigation.tracking import igtl_wire as wire
from navigation.tracking.igtl_codec import MalformedMessage, decode_message
from navigation.tracking.messages import IgtlMessage, attach_wire

log = logging.getLogger(__name__)

_LOGGED_PER_KIND = 5
#: Bodies up to this size are held with their header until complete; larger ones are
#: verified by their prefix or kept on probation. Embedded headers that can end a probation
#: must have bodies at most this size.
PROBATION_BYTES = 64 * 1024
_MAX_TYPES_SEEN = 64


@dataclass(frozen=True)
class FramerCounters:
    """What a framer has seen since it was created (all counts)."""

    messages: int = 0
    bytes_in: int = 0
    bad_crc: int = 0
    malformed: int = 0
    bad_headers: int = 0
    oversize: int = 0
    resyncs: int = 0
    skipped_bytes: int = 0
    unknown_types: int = 0
    false_locks: int = 0
    skipped_messages: int = 0

    def __add__(self, other: FramerCounters) -> FramerCounters:
        return FramerCounters(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)
        )


_HEADER, _SCAN, _HELD, _STREAM = "header", "scan", "held", "stream"


class IgtlFramer:
    """Turn a byte stream into :class:`IgtlMessage` objects; see the module docstring.

    Parameters
    ----------
    body_caps : per-type content caps in bytes overriding
        :data:`~navigation.tracking.igtl_wire.DEFAULT_CONTENT_CAPS` (e.g. ``{"IMAGE": 2**24}``).

    Each message carries its bytes as received (``message.wire``) for recording.
    Not thread-safe: one framer per connection, fed from one thread.
    """

    def __init__(self, *, body_caps: Mapping[str, int] | None = None) -> None:
        self._caps = dict(body_caps) if body_caps else None
        self._buffer = bytearray()
        self._mode = _HEADER
        self._header: wire.IgtlHeader | None = None
        self._header_bytes = b""
        # _STREAM: the verified body, filled in place. _HELD: probation state (see _probe).
        self._body = bytearray()
        self._parts_size = 0
        self._probation = False
        self._skipping = False
        self._trimmed = 0
        self._probe_from = 0
        self._pending: list[tuple[int, int]] = []
        self._types_seen: set[str] = set()
        self._type_fields = set(plausible.KNOWN_TYPE_FIELDS)
        self._last_stamp: float | None = None
        self._counts = dict.fromkeys(FramerCounters.__dataclass_fields__, 0)
        self._logged: dict[str, int] = {}

    @property
    def counters(self) -> FramerCounters:
        """A snapshot of the counters."""
        return FramerCounters(**self._counts)

    @property
    def buffered(self) -> int:
        """Bytes held for a message not yet complete."""
        return len(self._buffer) + self._parts_size

    @property
    def awaiting(self) -> int:
        """Bytes still needed to complete the body being read (0 if none, or one skipped)."""
        header = self._header
        if header is None or self._skipping:
            return 0
        if self._mode == _STREAM:
            return header.body_size - self._parts_size
        return max(0, wire.HEADER_SIZE + header.body_size - len(self._buffer))

    @property
    def in_verified_body(self) -> bool:
        """True while a verified body (its size confirmed by its content) is arriving."""
        return self._mode == _STREAM

    def feed(
        self, data: bytes | bytearray | memoryview, *, arrival_s: float | None = None
    ) -> list[IgtlMessage]:
        """Add received bytes; return the messages they complete, in stream order.

        ``arrival_s`` (``time.monotonic()`` when the bytes arrived; now when omitted) is stamped
        on every message completed by this call.
        """
        stamp = time.monotonic() if arrival_s is None else arrival_s
        self._counts["bytes_in"] += len(data)
        messages: list[IgtlMessage] = []
        view = memoryview(data)
        if self._mode == _STREAM and not self._buffer:
            # A verified body takes its bytes straight from the input (large frames: copied
            # once, into the body, never re-buffered).
            view = self._stream_body(view, stamp, messages)
        self._buffer += view
        while self._step(stamp, messages):
            pass
        return messages

    # -- the state machine ----------------------------------------------------------------

    def _step(self, stamp: float, messages: list[IgtlMessage]) -> bool:
        """Advance one state; False when more bytes are needed."""
        buffer = self._buffer
        if self._mode == _SCAN:
            return self._scan()
        if self._mode == _HEADER:
            if len(buffer) < wire.HEADER_SIZE:
                return False
            return self._start(bytes(buffer[: wire.HEADER_SIZE]))
        if self._mode == _STREAM:
            with memoryview(buffer) as pending:
                taken = len(pending) - len(self._stream_body(pending, stamp, messages))
            del buffer[:taken]
            return self._mode != _STREAM
        return self._held(stamp, messages)

    def _start(self, head: bytes) -> bool:
        """A header is at the front of the buffer: decide how to read its body."""
        problem = wire.header_problem(head, caps=self._caps)
        header = wire.parse_header(head)
        if problem is not None:
            skippable = (
                "exceeds the cap" in problem
                and header.type not in wire.DEFAULT_CONTENT_CAPS
                and wire.header_problem(head, strict_names=True, caps={header.type: 2**64}) is None
            )
            if not skippable:
                self._reject(problem)
                return True
            self._counts["oversize"] += 1
            self._count("skipped_messages", f"{header.type} {header.device_name!r}: {problem}")
        self._header, self._header_bytes = header, head
        self._skipping = problem is not None
        self._probation = self._skipping or header.body_size > PROBATION_BYTES
        self._trimmed, self._probe_from, self._pending = 0, 1, []
        self._mode = _HELD
        return True

    def _held(self, stamp: float, messages: list[IgtlMessage]) -> bool:
        """The header and the body so far are in the buffer (small, checked or on probation)."""
        header = self._header
        assert header is not None
        buffer = self._buffer
        total = wire.HEADER_SIZE + header.body_size - self._trimmed
        if header.body_size > PROBATION_BYTES and self._probe_from == 1 and not self._skipping:
            need = plausible.prefix_size(header)
            if len(buffer) < wire.HEADER_SIZE + need:
                return False
            prefix = bytes(buffer[wire.HEADER_SIZE : wire.HEADER_SIZE + need])
            verified, problem = plausible.body_prefix_problem(header, prefix)
            if problem is not None:
                self._false_lock(f"{header.type} {header.device_name!r}: {problem}")
                return True
            if verified:
                del buffer[: wire.HEADER_SIZE]
                self._body, self._parts_size = bytearray(header.body_size), 0
                self._mode = _STREAM
                return True
            self._probe_from = wire.HEADER_SIZE
        if self._probation:
            found = self._probe(min(len(buffer), total))
            if found is not None:
                self._counts["false_locks"] += 1
                self._discard(found, f"{header.type} {header.device_name!r} was a false lock")
                self._mode = _HEADER
                return True
            if self._pending or len(buffer) < total:
                if self._skipping:
                    self._trim()
                return False
        elif len(buffer) < total:
            return False
        if self._skipping:
            self._discard(total)
            self._mode = _HEADER
            return True
        body = bytes(buffer[wire.HEADER_SIZE : total])
        if wire.crc64(body) != header.crc:
            self._count("bad_crc", f"{header.type} {header.device_name!r}: CRC-64 mismatch")
            self._rescan()
            return True
        del buffer[:total]
        self._mode = _HEADER
        self._deliver(header, self._header_bytes, body, stamp, messages)
        return True

    def _stream_body(
        self, view: memoryview, stamp: float, messages: list[IgtlMessage]
    ) -> memoryview:
        """Move the verified body's bytes from ``view``; decode when complete; the rest."""
        header = self._header
        assert header is not None
        filled = self._parts_size
        take = min(len(view), header.body_size - filled)
        if take:
            self._body[filled : filled + take] = view[:take]  # the one copy of a frame's bytes
            self._parts_size += take
        if self._parts_size == header.body_size:
            body, self._body, self._parts_size = self._body, bytearray(), 0
            self._mode = _HEADER
            if wire.crc64(body) != header.crc:
                # The content confirmed the size: only this message is lost.
                self._count("bad_crc", f"{header.type} {header.device_name!r}: CRC-64 mismatch")
            else:
                self._deliver(header, self._header_bytes, body, stamp, messages)
        return view[take:]

    def _deliver(
        self,
        header: wire.IgtlHeader,
        head: bytes,
        body: bytes | bytearray,
        stamp: float,
        messages: list[IgtlMessage],
    ) -> None:
        try:
            message = decode_message(header, body, arrival_s=stamp)
        except MalformedMessage as error:
            self._count("malformed", str(error))
            return
        self._counts["messages"] += 1
        if isinstance(message.body, bytes):
            self._counts["unknown_types"] += 1
        if header.type not in self._types_seen and len(self._types_seen) < _MAX_TYPES_SEEN:
            self._types_seen.add(header.type)
            self._type_fields.add(head[2 : 2 + wire.TYPE_SIZE])
        if header.timestamp_s != 0.0:
            self._last_stamp = header.timestamp_s
        messages.append(attach_wire(message, head, body))

    # -- probation and scanning -----------------------------------------------------------

    def _probe(self, end: int) -> int | None:
        """Scan the held body's new bytes for embedded messages that prove themselves; the
        offset of the first one, or None (unproven candidates wait in ``_pending``)."""
        buffer = self._buffer
        position = self._probe_from
        while (match := plausible.CANDIDATE_START.search(buffer, position, end)) is not None:
            start = position = match.start()
            if len(buffer) - start < wire.HEADER_SIZE:
                end = start
                break
            position += 1
            if bytes(buffer[start + 2 : start + 2 + wire.TYPE_SIZE]) not in self._type_fields:
                continue
            candidate = buffer[start : start + wire.HEADER_SIZE]
            if self._candidate_problem(candidate) is None:
                size = wire.parse_header(candidate).body_size
                if size <= PROBATION_BYTES:
                    self._pending.append((start, start + wire.HEADER_SIZE + size))
        self._probe_from = max(self._probe_from, end)
        still: list[tuple[int, int]] = []
        for start, stop in self._pending:
            if stop > len(buffer):
                still.append((start, stop))
                continue
            head = bytes(buffer[start : start + wire.HEADER_SIZE])
            if wire.crc64(buffer[start + wire.HEADER_SIZE : stop]) == wire.parse_header(head).crc:
                self._pending = []
                return start
        self._pending = still
        return None

    def _trim(self) -> None:
        """While skipping, forget the bytes no pending or future candidate can need."""
        keep_from = min([self._probe_from - 2, *(start for start, _ in self._pending)])
        if keep_from > PROBATION_BYTES:
            del self._buffer[:keep_from]
            self._counts["skipped_bytes"] += keep_from
            self._trimmed += keep_from
            self._probe_from -= keep_from
            self._pending = [(a - keep_from, b - keep_from) for a, b in self._pending]

    def _scan(self) -> bool:
        """Drop bytes up to the next believable header; True once one is at the front."""
        buffer = self._buffer
        position = 0
        while (match := plausible.CANDIDATE_START.search(buffer, position)) is not None:
            start = match.start()
            if len(buffer) - start < wire.HEADER_SIZE:
                self._discard(start)
                return False
            if bytes(buffer[start + 2 : start + 2 + wire.TYPE_SIZE]) in self._type_fields and (
                self._candidate_problem(buffer[start : start + wire.HEADER_SIZE]) is None
            ):
                self._discard(start)
                self._mode = _HEADER
                return True
            position = start + 1
        self._discard(max(0, len(buffer) - 2))  # "\x00\x01" may start the next header
        return False

    def _candidate_problem(self, candidate: bytes | bytearray | memoryview) -> str | None:
        return plausible.candidate_problem(
            candidate,
            caps=self._caps,
            types_seen=self._types_seen,
            last_timestamp_s=self._last_stamp,
        )

    def _reject(self, problem: str) -> None:
        self._count("bad_headers", f"implausible header ({problem}); resynchronising")
        if "exceeds the cap" in problem:
            self._counts["oversize"] += 1
        self._rescan()

    def _false_lock(self, problem: str) -> None:
        self._count("false_locks", f"header contradicted by its body ({problem}); resynchronising")
        self._rescan()

    def _rescan(self) -> None:
        """The header at the front is not trusted: scan again from its second byte."""
        self._counts["resyncs"] += 1
        self._header = None
        self._pending = []
        self._discard(1)
        self._mode = _SCAN

    def _discard(self, count: int, reason: str | None = None) -> None:
        if count:
            del self._buffer[:count]
            self._counts["skipped_bytes"] += count
            if reason is not None:
                self._log("skipped", f"{count} bytes skipped: {reason}")

    def _count(self, kind: str, detail: str) -> None:
        self._counts[kind] += 1
        self._log(kind, f"OpenIGTLink message dropped: {detail}")

    def _log(self, kind: str, text: str) -> None:
        logged = self._logged.get(kind, 0)
        if logged < _LOGGED_PER_KIND:
            self._logged[kind] = logged + 1
            suffix = " (further ones counted, not logged)" if logged + 1 == _LOGGED_PER_KIND else ""
            log.warning("%s%s", text, suffix)
