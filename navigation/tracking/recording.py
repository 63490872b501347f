"""Session recordings: an append-only log of OpenIGTLink messages and app events in one file.

Format (little endian; one file per session, suggested suffix ``.igcsrec``)::

    file header: b"IGCSREC\\0" | uint16 format (1) | uint16 0 | float64 created (Unix s)
                 | float64 time.monotonic() at creation
    record:      uint32 payload size | uint8 kind | uint8 direction | uint16 source size
                 | float64 arrival_s | source (UTF-8) | payload | uint32 CRC-32 of all before

Kinds: 1 = an OpenIGTLink message, payload = its complete wire bytes (header + body): the bytes
as received for a message read from a link (``IgtlMessage.wire``), else encoded from the
:class:`IgtlMessage` with its header version, metadata and message id;
2 = an event, payload = a UTF-8 JSON object ``{"kind": ..., "data": {...}}`` (app events,
registrations, connection changes). Directions: 0 = received, 1 = sent, 2 = local.
``arrival_s`` is the receiving process's ``time.monotonic()``; the file header maps it to wall
time (``created_unix_s + arrival_s - created_monotonic_s``).

Threads: a :class:`SessionWriter` writes on the caller's thread; the applications wrap it in a
:class:`~navigation.tracking.recorder_thread.BackgroundRecorder` so that the thread reading
the tracker never waits for the disk.

Flush policy: each record is handed to the kernel with one unbuffered ``os.writev`` as it is
written, so a crash or ``kill -9`` of the recorder loses nothing already written; a background
thread fsyncs the file every ``fsync_interval_s`` (default 1 s, so a power loss loses at most
about a second; the writer itself never waits for the disk) and ``close`` fsyncs. Memory
does not grow with the session: nothing is kept in memory.

The CRC-32 is ISO-HDLC, zlib's: computed with ``fastcrc`` (SIMD, a 2.5 MiB camera frame in
0.25 ms instead of zlib's 2 ms here; the same values), zlib when ``fastcrc`` is missing.

Reading stops at the first incomplete or corrupt record (a torn last record after a crash):
:class:`SessionReader` logs a warning and reports the unread bytes in ``unreadable_bytes``.
This is a streaming log, so it is not written atomically (``registration.core.atomic_files``);
the CRC per record serves the same purpose.

One module of some 400 lines: the record format is written and read here together, so
writer and reader cannot drift apart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

from navigation.tracking import igtl_wire as wire
from navigation.tracking.igtl_codec import MalformedMessage, decode_message, encode_message
from navigation.tracking.messages import IgtlMessage
from registration.core.checks import InputError

log = logging.getLogger(__name__)

MAGIC = b"IGCSREC\0"
FORMAT_VERSION = 1
FILE_HEADER = struct.Struct("<8sHHdd")
RECORD_HEAD = struct.Struct("<IBBHd")
RECORD_TAIL = struct.Struct("<I")
KIND_MESSAGE = 1
KIND_EVENT = 2
DIRECTIONS = ("in", "out", "local")


def _load_crc32():  # pragma: no cover - the branch taken depends on the installation
    try:
        from fastcrc import crc32

        return crc32.iso_hdlc
    except ImportError:
        return zlib.crc32


_crc32 = _load_crc32()

#: Buffers per os.writev call (Linux's IOV_MAX is 1024).
_IOV_MAX = 1024

#: Largest payload a reader accepts (a larger size field is treated as corruption).
MAX_PAYLOAD = 1 << 30


@dataclass(frozen=True)
class RecordedMessage:
    """An OpenIGTLink message from a session (``message.arrival_s`` is the recorded time)."""

    arrival_s: float
    message: IgtlMessage
    direction: str
    source: str


@dataclass(frozen=True)
class SessionEvent:
    """An app event from a session: ``kind`` (e.g. "registration") and JSON ``data``."""

    arrival_s: float
    kind: str
    data: Mapping[str, Any]
    source: str = ""


class SessionWriter:
    """Append messages and events to a new session file; thread-safe.

    Parameters
    ----------
    path : the session file; refused if it exists unless ``overwrite``.
    fsync_interval_s : fsync at most this often (None: only on close).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        fsync_interval_s: float | None = 1.0,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(
                f"session {self.path} already exists; choose another name or remove it."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created under a temporary name and renamed once its file header is written, so a
        # reader never finds a session without one.
        creating = self.path.with_name(f".{self.path.name}.creating")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        self._fd: int | None = os.open(creating, flags, 0o644)
        self._lock = threading.RLock()
        self._pending: list[bytes | bytearray] | None = None
        self._closing = threading.Event()
        self._syncer: threading.Thread | None = None
        if fsync_interval_s is not None:
            self._syncer = threading.Thread(
                target=self._sync_periodically,
                args=(float(fsync_interval_s),),
                name=f"session-fsync-{self.path.name}",
                daemon=True,
            )
        self.created_unix_s = time.time()
        self.created_monotonic_s = time.monotonic()
        self.records = 0
        self.bytes_written = 0
        self._write_all(
            [
                FILE_HEADER.pack(
                    MAGIC, FORMAT_VERSION, 0, self.created_unix_s, self.created_monotonic_s
                )
            ]
        )
        os.replace(creating, self.path)
        if self._syncer is not None:
            self._syncer.start()

    def write(
        self,
        message: IgtlMessage,
        arrival_s: float | None = None,
        *,
        direction: str = "in",
        source: str = "",
    ) -> None:
        """Append ``message``; ``arrival_s`` defaults to ``message.arrival_s``, else now.

        A message read from a link is written as the bytes it arrived as (``message.wire``);
        others are encoded. Raises InputError if the message cannot be encoded (nothing is
        written then).
        """
        if arrival_s is None:
            arrival_s = message.arrival_s if math.isfinite(message.arrival_s) else time.monotonic()
        wire_bytes = message.wire
        parts = (
            [encode_message(message)]
            if wire_bytes is None
            else [wire_bytes.header, wire_bytes.body]
        )
        self._append(KIND_MESSAGE, direction, source, float(arrival_s), parts)

    def write_event(
        self,
        kind: str,
        data: Mapping[str, Any] | None = None,
        *,
        arrival_s: float | None = None,
        source: str = "",
    ) -> None:
        """Append an event ``{"kind": kind, "data": data}`` (``data`` must be JSON-able)."""
        self.write_event_payload(encode_event(kind, data), arrival_s=arrival_s, source=source)

    def write_event_payload(
        self, payload: bytes, *, arrival_s: float | None = None, source: str = ""
    ) -> None:
        """Append an event already encoded by :func:`encode_event`."""
        stamp = time.monotonic() if arrival_s is None else float(arrival_s)
        self._append(KIND_EVENT, "local", source, stamp, [payload])

    def close(self) -> None:
        """fsync and close; further writes raise ValueError."""
        self._closing.set()
        if self._syncer is not None and self._syncer.ident is not None:
            self._syncer.join()
        with self._lock:
            if self._fd is None:
                return
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[SessionWriter]:
        """Records appended inside the block are written together when it ends, with as few
        system calls as possible (one ``os.writev`` per few hundred records), for a writer
        thread that drains a queue. Other threads wait for the block to end."""
        with self._lock:
            self._pending = []
            try:
                yield self
            finally:
                pending, self._pending = self._pending, None
                self._write_all(pending)

    def _sync_periodically(self, interval: float) -> None:
        # fsync off the writing thread: a slow disk never stalls whoever records (the link).
        synced = -1
        while not self._closing.wait(interval):
            fd, records = self._fd, self.records
            if fd is not None and records != synced:
                try:
                    os.fsync(fd)
                except OSError:  # closed meanwhile
                    return
                synced = records

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _append(
        self,
        kind: int,
        direction: str,
        source: str,
        arrival_s: float,
        payload: Sequence[bytes | bytearray],
    ) -> None:
        if direction not in DIRECTIONS:
            raise InputError(f"direction must be one of {DIRECTIONS}; got {direction!r}.")
        source_bytes = source.encode("utf-8")
        size = sum(len(part) for part in payload)
        if len(source_bytes) > 65535 or size > MAX_PAYLOAD:
            raise InputError("record source or payload too large for a session file.")
        head = RECORD_HEAD.pack(
            size, kind, DIRECTIONS.index(direction), len(source_bytes), arrival_s
        )
        crc = _crc32(source_bytes, _crc32(head))
        for part in payload:
            crc = _crc32(part, crc)
        parts = [head, source_bytes, *payload, RECORD_TAIL.pack(crc)]
        with self._lock:
            if self._pending is not None:
                self._pending.extend(parts)
            else:
                self._write_all(parts)
            self.records += 1

    def _write_all(self, parts: Sequence[bytes | bytearray]) -> None:
        if self._fd is None:
            raise ValueError(f"session {self.path} is closed")
        views = [memoryview(p) for p in parts if len(p)]
        while views:
            written = os.writev(self._fd, views[:_IOV_MAX])
            self.bytes_written += written
            while views and written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            if views and written:
                views[0] = views[0][written:]


def encode_event(kind: str, data: Mapping[str, Any] | None = None) -> bytes:
    """The record payload of an event: UTF-8 JSON ``{"kind": kind, "data": data}``.

    Raises InputError when ``data`` is not JSON-serialisable (numpy arrays are).
    """
    try:
        text = json.dumps({"kind": kind, "data": dict(data or {})}, default=_json_default)
    except (TypeError, ValueError) as error:
        raise InputError(f"event {kind!r} data is not JSON-serialisable: {error}") from None
    return text.encode("utf-8")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


class SessionReader:
    """Stream a session file record by record (constant memory).

    Iterating yields ``(arrival_s, IgtlMessage)`` for the *received* messages, in order;
    :meth:`records` yields every :class:`RecordedMessage` and :class:`SessionEvent`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"session {self.path} does not exist (igcs record writes one).")
        with open(self.path, "rb") as handle:
            head = handle.read(FILE_HEADER.size)
        if len(head) < FILE_HEADER.size or not head.startswith(MAGIC):
            raise InputError(f"{self.path} is not an igcs session recording (bad file header).")
        _magic, version, _reserved, unix_s, monotonic_s = FILE_HEADER.unpack(head)
        if version != FORMAT_VERSION:
            raise InputError(
                f"{self.path} is session format {version}; this igcs reads {FORMAT_VERSION}."
            )
        self.created_unix_s = unix_s
        self.created_monotonic_s = monotonic_s
        #: bytes at the end that could not be read (torn or corrupt record); set by iteration.
        self.unreadable_bytes = 0

    def __iter__(self) -> Iterator[tuple[float, IgtlMessage]]:
        for record in self.records():
            if isinstance(record, RecordedMessage) and record.direction == "in":
                yield record.arrival_s, record.message

    def messages(self, direction: str | None = None) -> Iterator[RecordedMessage]:
        """Recorded messages, optionally only those of one direction ("in", "out", "local")."""
        for record in self.records():
            if isinstance(record, RecordedMessage) and direction in (None, record.direction):
                yield record

    def events(self) -> Iterator[SessionEvent]:
        """The recorded events."""
        for record in self.records():
            if isinstance(record, SessionEvent):
                yield record

    def records(self) -> Iterator[RecordedMessage | SessionEvent]:
        """Every record in file order; stops (with a warning) at a torn or corrupt record."""
        self.unreadable_bytes = 0
        with open(self.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            offset = FILE_HEADER.size
            handle.seek(offset)
            while offset < size:
                record = self._read_record(handle, offset, size)
                if record is None:
                    self.unreadable_bytes = size - offset
                    log.warning(
                        "%s: %d bytes at offset %d are not a complete record (a torn last "
                        "record after a crash, or corruption); reading stopped there",
                        self.path,
                        size - offset,
                        offset,
                    )
                    return
                item, offset = record
                if item is not None:
                    yield item

    def _read_record(
        self, handle: BinaryIO, offset: int, size: int
    ) -> tuple[RecordedMessage | SessionEvent | None, int] | None:
        head = handle.read(RECORD_HEAD.size)
        if len(head) < RECORD_HEAD.size:
            return None
        length, kind, direction, source_size, arrival_s = RECORD_HEAD.unpack(head)
        total = RECORD_HEAD.size + source_size + length + RECORD_TAIL.size
        if length > MAX_PAYLOAD or offset + total > size or direction >= len(DIRECTIONS):
            return None
        rest = handle.read(total - RECORD_HEAD.size)
        if len(rest) < total - RECORD_HEAD.size:
            return None
        (crc,) = RECORD_TAIL.unpack_from(rest, len(rest) - RECORD_TAIL.size)
        if _crc32(rest[: -RECORD_TAIL.size], _crc32(head)) != crc:
            return None
        source = rest[:source_size].decode("utf-8", "replace")
        payload = rest[source_size : source_size + length]
        next_offset = offset + total
        if kind == KIND_MESSAGE:
            message = self._decode_message(payload, arrival_s, offset)
            if message is None:
                return None, next_offset
            return RecordedMessage(arrival_s, message, DIRECTIONS[direction], source), next_offset
        if kind == KIND_EVENT:
            event = json.loads(payload.decode("utf-8"))
            data = MappingProxyType(dict(event.get("data", {})))
            return SessionEvent(arrival_s, str(event.get("kind", "")), data, source), next_offset
        log.warning("%s: record kind %d at offset %d skipped", self.path, kind, offset)
        return None, next_offset

    def _decode_message(self, payload: bytes, arrival_s: float, offset: int) -> IgtlMessage | None:
        try:
            header = wire.parse_header(payload)
            body = payload[wire.HEADER_SIZE :]
            if header.body_size != len(body) or wire.crc64(body) != header.crc:
                raise MalformedMessage("header size or CRC-64 does not match the body")
            return decode_message(header, body, arrival_s=arrival_s)
        except (MalformedMessage, struct.error) as error:
            log.warning("%s: message at offset %d skipped: %s", self.path, offset, error)
            return None
