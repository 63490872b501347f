"""What the OpenIGTLink client and server share: one TCP connection, delivery and counters.

A :class:`Connection` owns a connected socket, its :class:`IgtlFramer` and the thread that
reads it. Received messages go to an :class:`Endpoint` (the client or server), which delivers
each one to the ``on_message`` callback and/or a bounded queue: every message, in order, not
just the latest per name. When the queue is full the oldest message is dropped and counted
(``queue_dropped``): a consumer that falls behind sees the newest data, and the counter says
that it fell behind.

Sockets: TCP_NODELAY (small messages leave at once), keep-alive probes after 1 s idle (a
vanished peer without FIN is noticed in ~4 s; use ``silence_timeout_s`` for faster detection
on streams that never pause), and a send timeout after which the connection is closed (a peer
that stops reading cannot block us).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_framing import FramerCounters, IgtlFramer
from navigation.tracking.messages import IgtlMessage

log = logging.getLogger(__name__)

MessageCallback = Callable[[IgtlMessage], None]
ConnectionCallback = Callable[[bool, str], None]

DEFAULT_QUEUE_SIZE = 4096
_POLL_S = 0.25
_RECV_BYTES = 256 * 1024


class NotConnectedError(ConnectionError):
    """``send`` was called while no peer is connected."""


@dataclass(frozen=True)
class LinkCounters:
    """Counts for a client or server since it was created.

    ``framing`` sums the framers of every connection (messages, CRC errors, resyncs...).
    """

    framing: FramerCounters = field(default_factory=FramerCounters)
    connects: int = 0
    disconnects: int = 0
    refused: int = 0
    messages_sent: int = 0
    send_errors: int = 0
    queue_dropped: int = 0
    callback_errors: int = 0


def configure_socket(sock: socket.socket, send_timeout_s: float) -> None:
    """TCP_NODELAY, keep-alive probes and a send timeout on a connected socket."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 1), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    sock.settimeout(send_timeout_s)


class Endpoint:
    """Delivery, counters and callbacks common to :class:`IgtlClient` and :class:`IgtlServer`."""

    def __init__(
        self,
        *,
        on_message: MessageCallback | None,
        on_connection: ConnectionCallback | None,
        header_version: int,
        queue_size: int | None,
        body_caps: Mapping[str, int] | None,
        send_timeout_s: float,
        silence_timeout_s: float | None,
    ) -> None:
        if header_version not in (1, 2):
            raise ValueError(f"header_version must be 1 or 2; got {header_version}")
        self.header_version = header_version
        self._on_message = on_message
        self._on_connection = on_connection
        if queue_size is None:
            queue_size = 0 if on_message is not None else DEFAULT_QUEUE_SIZE
        self._queue: collections.deque[IgtlMessage] | None = (
            collections.deque(maxlen=queue_size) if queue_size > 0 else None
        )
        self._queue_ready = threading.Condition()
        self.body_caps = dict(body_caps) if body_caps else None
        self.send_timeout_s = send_timeout_s
        self.silence_timeout_s = silence_timeout_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(
            (f for f in LinkCounters.__dataclass_fields__ if f != "framing"), 0
        )
        self._closed_framing = FramerCounters()
        self._connections: list[Connection] = []
        self._logged_callback_errors = 0

    # -- consumer API -------------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> IgtlMessage:
        """The oldest undelivered message; waits up to ``timeout`` s (None: forever).

        Raises ``queue.Empty`` on timeout and RuntimeError when the queue is disabled
        (``queue_size=0``, the default when ``on_message`` is given).
        """
        if self._queue is None:
            raise RuntimeError("the message queue is disabled; pass queue_size > 0 to use get()")
        pending = self._queue
        with self._queue_ready:
            if not self._queue_ready.wait_for(lambda: len(pending) > 0, timeout):
                raise queue.Empty
            return pending.popleft()

    def drain(self) -> list[IgtlMessage]:
        """All queued messages, oldest first, without waiting."""
        if self._queue is None:
            return []
        with self._queue_ready:
            messages = list(self._queue)
            self._queue.clear()
        return messages

    @property
    def counters(self) -> LinkCounters:
        """A snapshot of the counters."""
        with self._lock:
            framing = self._closed_framing
            for connection in self._connections:
                framing = framing + connection.framer.counters
            return LinkCounters(framing=framing, **self._counts)

    @property
    def connected(self) -> bool:
        """True while at least one peer is connected."""
        with self._lock:
            return bool(self._connections)

    # -- used by connections ------------------------------------------------------------------

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def _deliver(self, connection: Connection, messages: list[IgtlMessage]) -> None:
        for message in messages:
            if message.header_version >= 2:
                connection.peer_header_version = 2
            if self._queue is not None:
                with self._queue_ready:
                    if len(self._queue) == self._queue.maxlen:
                        self._count("queue_dropped")
                    self._queue.append(message)
                    self._queue_ready.notify()
            if self._on_message is not None:
                try:
                    self._on_message(message)
                except Exception:
                    self._count("callback_errors")
                    if self._logged_callback_errors < 5:
                        self._logged_callback_errors += 1
                        log.exception("on_message callback failed for %s", message.type)

    def _opened(self, connection: Connection) -> None:
        with self._lock:
            self._connections.append(connection)
            self._counts["connects"] += 1
        log.info("OpenIGTLink connected: %s", connection.peer)
        self._notify_connection(True, connection.peer)

    def _closed(self, connection: Connection) -> None:
        with self._lock:
            if connection not in self._connections:
                return
            self._connections.remove(connection)
            self._closed_framing = self._closed_framing + connection.framer.counters
            self._counts["disconnects"] += 1
        log.info("OpenIGTLink disconnected: %s", connection.peer)
        self._notify_connection(False, connection.peer)

    def _notify_connection(self, connected: bool, peer: str) -> None:
        if self._on_connection is not None:
            try:
                self._on_connection(connected, peer)
            except Exception:
                self._count("callback_errors")
                log.exception("on_connection callback failed")


class Connection:
    """One connected socket: its reader loop and a thread-safe ``send``."""

    def __init__(self, endpoint: Endpoint, sock: socket.socket, peer: str) -> None:
        self.endpoint = endpoint
        self.sock = sock
        self.peer = peer
        self.framer = IgtlFramer(body_caps=endpoint.body_caps)
        self.peer_header_version = 1
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        configure_socket(sock, endpoint.send_timeout_s)

    def send(self, message: IgtlMessage, header_version: int | None = None) -> None:
        """Encode and send ``message``; on failure close the connection and raise."""
        version = header_version or max(self.endpoint.header_version, self.peer_header_version)
        data = encode_message(message, header_version=version)
        try:
            with self._send_lock:
                self.sock.sendall(data)
        except OSError as error:
            self.endpoint._count("send_errors")
            self.close()
            raise ConnectionError(f"sending to {self.peer} failed: {error}") from error
        self.endpoint._count("messages_sent")

    def read_loop(self, stop: threading.Event) -> None:
        """Read and deliver until the peer closes, an error, silence, ``stop`` or close()."""
        buffer = bytearray(_RECV_BYTES)
        view = memoryview(buffer)
        last_bytes = time.monotonic()
        silence = self.endpoint.silence_timeout_s
        try:
            while not stop.is_set() and not self._closed.is_set():
                readable, _, _ = select.select([self.sock], [], [], _POLL_S)
                if not readable:
                    if silence is not None and time.monotonic() - last_bytes > silence:
                        log.warning("%s sent nothing for %.2f s; disconnecting", self.peer, silence)
                        break
                    continue
                count = self.sock.recv_into(buffer)
                arrival_s = time.monotonic()
                if count == 0:
                    break
                last_bytes = arrival_s
                messages = self.framer.feed(view[:count], arrival_s=arrival_s)
                if messages:
                    self.endpoint._deliver(self, messages)
        except (OSError, ValueError) as error:  # ValueError: select on a closed socket
            if not self._closed.is_set() and not stop.is_set():
                log.info("connection to %s lost: %s", self.peer, error)
        finally:
            self.close()

    def close(self) -> None:
        """Shut the socket down (wakes the reader) and report the disconnection once."""
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        self.endpoint._closed(self)


def peer_text(address: tuple) -> str:
    """``host:port`` (``[v6]:port``) of a socket address."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
