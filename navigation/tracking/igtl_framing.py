"""Incremental OpenIGTLink framing: bytes in any TCP split -> decoded messages, with counters.

:class:`IgtlFramer` keeps the bytes it has not yet used and returns every complete message on
each :meth:`IgtlFramer.feed`. It tolerates any split of the stream (a header arriving one byte
at a time, with gaps, is fine) and never desynchronises on a bad message:

- **Bad CRC, malformed body** (v1 header over a v2 body or the reverse, corrupt metadata sizes,
  invalid text, wrong size for the type): the header was plausible, so its body size is
  trusted and exactly that message is skipped; counted as ``bad_crc`` / ``malformed``.
- **Implausible header** (version not 1 or 2, a type that is not an OpenIGTLink name, a body
  size beyond the type's cap, e.g. 2^63 bytes): nothing is allocated for it. We
  **resynchronise** rather than disconnect: the framer scans forward byte by byte for the next
  plausible header (version 1/2, a valid type, NUL-padded names, size within cap) and resumes
  there (``bad_headers``, ``resyncs``, ``skipped_bytes``). A false lock on look-alike bytes is
  caught by the CRC, and costs at most one capped body. Resynchronising keeps a link to a
  tracker alive through a corrupted header instead of dropping every tool for a reconnect; the
  header itself has no checksum, so this is the only way to recover without reconnecting.

Memory: the buffer holds at most one partial message (bounded by the type's cap, see
:data:`navigation.tracking.igtl_wire.DEFAULT_CONTENT_CAPS`) plus the bytes of the last feed;
it never grows with a claimed size, only with bytes actually received.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from navigation.tracking import igtl_wire as wire
from navigation.tracking.igtl_codec import MalformedMessage, decode_message
from navigation.tracking.messages import IgtlMessage

log = logging.getLogger(__name__)

_LOGGED_PER_KIND = 5
_VERSION_MARKS = (b"\x00\x01", b"\x00\x02")


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

    def __add__(self, other: FramerCounters) -> FramerCounters:
        return FramerCounters(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)
        )


class IgtlFramer:
    """Turn a byte stream into :class:`IgtlMessage` objects; see the module docstring.

    Parameters
    ----------
    body_caps : per-type content caps in bytes overriding
        :data:`~navigation.tracking.igtl_wire.DEFAULT_CONTENT_CAPS` (e.g. ``{"IMAGE": 2**24}``).

    Not thread-safe: one framer per connection, fed from one thread.
    """

    def __init__(self, *, body_caps: Mapping[str, int] | None = None) -> None:
        self._caps = dict(body_caps) if body_caps else None
        self._buffer = bytearray()
        self._header: wire.IgtlHeader | None = None
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._scanning = False
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
        """Bytes still needed to complete the body of the header being read (0 if none)."""
        if self._header is None:
            return 0
        return self._header.body_size - self._parts_size

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
        if self._header is not None and not self._buffer:
            # A body in progress takes its bytes straight from the input (large frames: the
            # bytes are copied once here and once when joined, never re-buffered).
            view = self._collect_body(view, stamp, messages)
        buffer = self._buffer
        buffer += view
        while True:
            if self._header is None:
                if self._scanning and not self._scan():
                    break
                if len(buffer) < wire.HEADER_SIZE:
                    break
                problem = wire.header_problem(buffer, caps=self._caps)
                if problem is not None:
                    self._reject_header(problem)
                    continue
                self._header = wire.parse_header(buffer)
                del buffer[: wire.HEADER_SIZE]
            with memoryview(buffer) as pending:
                taken = len(pending) - len(self._collect_body(pending, stamp, messages))
            del buffer[:taken]
            if self._header is not None:
                break
        return messages

    def _collect_body(
        self, view: memoryview, stamp: float, messages: list[IgtlMessage]
    ) -> memoryview:
        """Move the pending body's bytes from ``view``; decode when complete; return the rest."""
        header = self._header
        assert header is not None
        take = min(len(view), header.body_size - self._parts_size)
        if take:
            self._parts.append(bytes(view[:take]))
            self._parts_size += take
        if self._parts_size == header.body_size:
            body = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
            self._parts.clear()
            self._parts_size = 0
            self._header = None
            message = self._decode(header, body, stamp)
            if message is not None:
                messages.append(message)
        return view[take:]

    def _decode(self, header: wire.IgtlHeader, body: bytes, stamp: float) -> IgtlMessage | None:
        if wire.crc64(body) != header.crc:
            self._count("bad_crc", f"{header.type} {header.device_name!r}: CRC-64 mismatch")
            return None
        try:
            message = decode_message(header, body, arrival_s=stamp)
        except MalformedMessage as error:
            self._count("malformed", str(error))
            return None
        self._counts["messages"] += 1
        if isinstance(message.body, bytes):
            self._counts["unknown_types"] += 1
        return message

    def _reject_header(self, problem: str) -> None:
        self._count("bad_headers", f"implausible header ({problem}); resynchronising")
        if "exceeds the cap" in problem:
            self._counts["oversize"] += 1
        self._counts["resyncs"] += 1
        self._scanning = True
        self._discard(1)

    def _scan(self) -> bool:
        """Drop bytes up to the next plausible header; True once one is at the front."""
        buffer = self._buffer
        start = 0
        while True:
            found = [i for i in (buffer.find(mark, start) for mark in _VERSION_MARKS) if i >= 0]
            if not found:
                self._discard(max(0, len(buffer) - 1))  # a trailing 0x00 may start a header
                return False
            index = min(found)
            if len(buffer) - index < wire.HEADER_SIZE:
                self._discard(index)
                return False
            candidate = bytes(buffer[index : index + wire.HEADER_SIZE])
            if wire.header_problem(candidate, caps=self._caps, strict_names=True) is None:
                self._discard(index)
                self._scanning = False
                return True
            start = index + 1

    def _discard(self, count: int) -> None:
        if count:
            del self._buffer[:count]
            self._counts["skipped_bytes"] += count

    def _count(self, kind: str, detail: str) -> None:
        self._counts[kind] += 1
        logged = self._logged.get(kind, 0)
        if logged < _LOGGED_PER_KIND:
            self._logged[kind] = logged + 1
            suffix = " (further ones counted, not logged)" if logged + 1 == _LOGGED_PER_KIND else ""
            log.warning("OpenIGTLink message dropped: %s%s", detail, suffix)
