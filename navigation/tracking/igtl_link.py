"""What the OpenIGTLink client and server share: one TCP connection, delivery and counters.

A :class:`Connection` owns a connected socket, its :class:`IgtlFramer`, the thread that reads
it and, on a server, the thread that writes to it from its own
:class:`~navigation.tracking.igtl_send_queue.SendQueue` (a client that stops reading delays
nobody else). Received messages go to an :class:`Endpoint` (the client or server), which
delivers each one to the ``on_message`` callback and/or a bounded queue: every message, in
order, not just the latest per name. When the queue is full the oldest message is dropped and
counted (``queue_dropped``).

Header versions (:meth:`Connection.version`): a server sends each client header v1 until that
client has sent a v2 message (then v2, as PLUS does), whatever version a message was recorded
or built with; a client sends what it was configured with. Converting to v1 drops what v1
cannot carry - metadata and message id, counted in ``v1_fields_dropped``. A message whose
metadata says its content is not valid (``TransformStatus`` or another ``...Status`` other
than OK) is sent to a v1 peer only when it is PLUS's identity placeholder, which v1 consumers
recognise; otherwise (an all-zero matrix, a last-known pose, a
frame) it would be taken for valid and is withheld, counted in ``v1_withheld``
(:func:`withheld_from_v1`).

Liveness: with ``silence_timeout_s`` set, no bytes, or bytes but no valid message, for that
long closes the link (and a client reconnects); while a verified large body (an IMAGE) is
arriving its bytes count as progress. The reason is kept in :attr:`Endpoint.disconnect_reason`.
An endpoint with liveness that *announces on the first message* (the client with a silence
timeout) reports a connection as up only when its first valid message arrives, not when the TCP
handshake completes: the kernel completes handshakes for a frozen (SIGSTOP) or hung server from
its listen backlog, and such a connection, silent until the liveness closes it, would otherwise
show the link CONNECTED for most of every reconnect cycle while nothing arrives. A connection
that never delivered a message closes without a disconnect callback (the link stayed down).

Sockets: waited on with :mod:`selectors` (epoll/poll: any descriptor number, unlike
``select``), TCP_NODELAY (small messages leave at once), keep-alive probes after 1 s idle and
a send timeout after which the connection is closed (a peer that stops reading cannot block
us).

One module of some 440 lines: the endpoint (the thread and selector client and server share)
and its connections (reading, framing, sending) share socket state and counters; split, each
half would reach into the other's.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_framing import FramerCounters, IgtlFramer
from navigation.tracking.igtl_send_queue import SendQueue, SendQueueCounts
from navigation.tracking.messages import IgtlMessage, TransformBody

log = logging.getLogger(__name__)

MessageCallback = Callable[[IgtlMessage], None]
ConnectionCallback = Callable[[bool, str], None]

DEFAULT_QUEUE_SIZE = 4096
_IDENTITY = np.eye(4)
_POLL_S = 0.25
_RECV_BYTES = 256 * 1024


class NotConnectedError(ConnectionError):
    """``send`` was called while no peer is connected."""


@dataclass(frozen=True)
class LinkCounters:
    """Counts for a client or server since it was created.

    ``framing`` sums the framers of every connection (messages, CRC errors, resyncs...).
    ``silence_disconnects``: links closed by the liveness timeout. ``v1_fields_dropped`` /
    ``v1_withheld``: messages converted for, or held back from, header-v1 peers.
    ``send_coalesced`` / ``send_images_dropped`` / ``slow_peers``: what the per-client send
    queues did for clients that fell behind, and how many were dropped for it.
    """

    framing: FramerCounters = field(default_factory=FramerCounters)
    connects: int = 0
    disconnects: int = 0
    refused: int = 0
    messages_sent: int = 0
    send_errors: int = 0
    queue_dropped: int = 0
    callback_errors: int = 0
    silence_disconnects: int = 0
    v1_fields_dropped: int = 0
    v1_withheld: int = 0
    send_coalesced: int = 0
    send_images_dropped: int = 0
    slow_peers: int = 0


def configure_socket(sock: socket.socket, send_timeout_s: float) -> None:
    """TCP_NODELAY, keep-alive probes and a send timeout on a connected socket."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 1), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    sock.settimeout(send_timeout_s)


def invalid_status(message: IgtlMessage) -> str | None:
    """The metadata entry saying the content is not valid (``TransformStatus=INVALID``...)."""
    for key, value in message.metadata.items():
        if key.endswith("Status") and value.strip().upper() != "OK":
            return f"{key}={value}"
    return None


def withheld_from_v1(message: IgtlMessage) -> str | None:
    """Why ``message`` must not reach a header-v1 peer (the status it cannot carry), or None.

    A TRANSFORM that is exactly the identity is PLUS's placeholder for an invalid pose, which
    v1 consumers following PLUS recognise (our pose store: OUT_OF_VIEW): it is sent, as PLUS
    sends it. Any other content marked not valid (an all-zero matrix, a last-known pose, a
    frame) would be taken for valid: withheld.
    """
    status = invalid_status(message)
    body = message.body
    if status is None or (
        isinstance(body, TransformBody) and np.array_equal(body.matrix, _IDENTITY)
    ):
        return None
    return status


class Endpoint:
    """Delivery, counters and callbacks common to :class:`IgtlClient` and :class:`IgtlServer`."""

    #: Servers answer in the version each client speaks; clients send their own.
    negotiates = False

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
        if silence_timeout_s is not None and not silence_timeout_s > 0:
            raise ValueError(f"silence_timeout_s must be positive; got {silence_timeout_s}")
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
        #: Why the last connection closed ("" before any did).
        self.disconnect_reason = ""
        #: Report a connection up at its first valid message (see the module docstring).
        self.announce_on_first_message = False

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
            counts = dict(self._counts)
            for connection in self._connections:
                framing = framing + connection.framer.counters
                _add_send_counts(counts, connection)
            return LinkCounters(framing=framing, **counts)

    @property
    def connected(self) -> bool:
        """True while at least one peer is connected (and, announcing on the first message, has
        delivered one)."""
        with self._lock:
            return any(connection.announced for connection in self._connections)

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
        if self.announce_on_first_message:
            log.debug("OpenIGTLink TCP connection to %s; up at its first message", connection.peer)
            return
        self._announce(connection)

    def _announce(self, connection: Connection) -> None:
        """Report ``connection`` up (once)."""
        with self._lock:
            if connection.announced:
                return
            connection.announced = True
        log.info("OpenIGTLink connected: %s", connection.peer)
        self._notify_connection(True, connection.peer)

    def _closed(self, connection: Connection) -> None:
        with self._lock:
            if connection not in self._connections:
                return
            self._connections.remove(connection)
            self._closed_framing = self._closed_framing + connection.framer.counters
            _add_send_counts(self._counts, connection)
            self._counts["disconnects"] += 1
            self.disconnect_reason = connection.close_reason
        if not connection.announced:  # never up: the link stayed down
            log.debug("OpenIGTLink: %s closed before any message", connection.peer)
            return
        log.info("OpenIGTLink disconnected: %s (%s)", connection.peer, connection.close_reason)
        self._notify_connection(False, connection.peer)

    def _notify_connection(self, connected: bool, peer: str) -> None:
        if self._on_connection is not None:
            try:
                self._on_connection(connected, peer)
            except Exception:
                self._count("callback_errors")
                log.exception("on_connection callback failed")


class Connection:
    """One connected socket: its reader loop, a thread-safe ``send`` and, when ``queued``,
    a sender thread fed by :meth:`enqueue`."""

    def __init__(
        self, endpoint: Endpoint, sock: socket.socket, peer: str, *, queued: bool = False
    ) -> None:
        self.endpoint = endpoint
        self.sock = sock
        self.peer = peer
        self.framer = IgtlFramer(body_caps=endpoint.body_caps)
        self.peer_header_version = 1
        self.close_reason = ""
        #: Reported up to the endpoint's ``on_connection`` (see :meth:`Endpoint._announce`).
        self.announced = False
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self._queue = SendQueue() if queued else None
        self._was_behind = False
        self.sender: threading.Thread | None = None
        configure_socket(sock, endpoint.send_timeout_s)
        if self._queue is not None:
            self.sender = threading.Thread(
                target=self._send_loop, name=f"igtl-send-{peer}", daemon=True
            )

    def version(self, limit: int | None = None) -> int:
        """The header version for this peer now (see the module docstring), at most ``limit``."""
        if self.endpoint.negotiates:
            version = min(self.endpoint.header_version, self.peer_header_version)
        else:
            version = max(self.endpoint.header_version, self.peer_header_version)
        return version if limit is None else min(version, limit)

    def send(self, message: IgtlMessage, header_version: int | None = None) -> None:
        """Encode and send ``message`` now; on failure close the connection and raise."""
        data = encode_message(message, header_version=header_version or self.version())
        self.send_bytes(data)

    def send_bytes(self, data: bytes) -> None:
        """Send encoded bytes now; on failure close the connection and raise ConnectionError."""
        try:
            with self._send_lock:
                self.sock.sendall(data)
        except OSError as error:
            self.endpoint._count("send_errors")
            reason = (
                f"not reading: a send blocked {self.endpoint.send_timeout_s:.1f} s"
                if isinstance(error, TimeoutError)
                else f"send failed: {error}"
            )
            self.close(reason)
            raise ConnectionError(f"sending to {self.peer} failed: {reason}") from error
        self.endpoint._count("messages_sent")

    def enqueue(self, message: IgtlMessage, data: bytes) -> bool:
        """Hand encoded ``data`` to the sender thread; False (and the peer dropped) when the
        peer is too far behind."""
        assert self._queue is not None, "enqueue needs a queued connection"
        if self._queue.put(message.type, message.device_name, data):
            return True
        if not self._closed.is_set():
            self.endpoint._count("slow_peers")
            log.warning("OpenIGTLink client %s dropped: it is not reading its messages", self.peer)
            self.close("not reading: its send queue overflowed")
        return False

    def flush(self, timeout: float) -> bool:
        """Wait until the send queue is empty; True if so within ``timeout`` s."""
        return self._queue is None or self._queue.wait_empty(timeout)

    def _send_loop(self) -> None:
        send_queue = self._queue
        assert send_queue is not None
        while not self._closed.is_set():
            data = send_queue.get(_POLL_S)
            self._report_backlog(send_queue)
            if data is None:
                continue
            send_queue.sending(True)
            try:
                self.send_bytes(data)
            except ConnectionError as error:
                if isinstance(error.__cause__, TimeoutError):
                    self.endpoint._count("slow_peers")
                log.warning("OpenIGTLink client dropped: %s", error)
                return
            finally:
                send_queue.sending(False)

    def _report_backlog(self, send_queue: SendQueue) -> None:
        behind = send_queue.behind
        if behind != self._was_behind:
            self._was_behind = behind
            if behind:
                log.warning(
                    "OpenIGTLink client %s is not keeping up: newest poses only, at most %d "
                    "pending frames",
                    self.peer,
                    send_queue.max_images,
                )
            else:
                log.info("OpenIGTLink client %s caught up", self.peer)

    def read_loop(self, stop: threading.Event) -> None:
        """Read and deliver until the peer closes, an error, silence, ``stop`` or close()."""
        buffer = bytearray(_RECV_BYTES)
        view = memoryview(buffer)
        now = time.monotonic()
        last_bytes = last_progress = now
        silence = self.endpoint.silence_timeout_s
        wait_s = _POLL_S if silence is None else min(_POLL_S, silence / 5)
        reason = "closed by the peer"
        selector = selectors.DefaultSelector()
        try:
            selector.register(self.sock, selectors.EVENT_READ)
            while not stop.is_set() and not self._closed.is_set():
                ready = selector.select(wait_s)
                now = time.monotonic()
                if ready:
                    count = self.sock.recv_into(buffer)
                    now = time.monotonic()
                    if count == 0:
                        break
                    last_bytes = now
                    messages = self.framer.feed(view[:count], arrival_s=now)
                    if messages or self.framer.in_verified_body:
                        last_progress = now
                    if messages:
                        if not self.announced:
                            self.endpoint._announce(self)
                        self.endpoint._deliver(self, messages)
                if silence is not None:
                    if now - last_bytes > silence:
                        reason = f"no bytes for {silence:.2f} s"
                    elif now - last_progress > silence:
                        reason = f"bytes but no valid message for {silence:.2f} s"
                    else:
                        continue
                    self.endpoint._count("silence_disconnects")
                    log.warning("%s: %s; disconnecting", self.peer, reason)
                    break
        except (OSError, ValueError) as error:  # ValueError: a socket closed meanwhile
            reason = f"connection lost: {error}"
            if not self._closed.is_set() and not stop.is_set():
                log.info("connection to %s lost: %s", self.peer, error)
        finally:
            selector.close()
            self.close(reason)

    def close(self, reason: str = "closed") -> None:
        """Shut the socket down (wakes the reader) and report the disconnection once."""
        if self._closed.is_set():
            return
        self.close_reason = self.close_reason or reason
        self._closed.set()
        if self._queue is not None:
            self._queue.close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        self.endpoint._closed(self)

    @property
    def send_counts(self) -> SendQueueCounts | None:
        """The send queue's counts (None on an unqueued connection)."""
        return None if self._queue is None else self._queue.counts


def _add_send_counts(counts: dict[str, int], connection: Connection) -> None:
    sent = connection.send_counts
    if sent is not None:
        counts["send_coalesced"] += sent.coalesced
        counts["send_images_dropped"] += sent.images_dropped


def peer_text(address: tuple) -> str:
    """``host:port`` (``[v6]:port``) of a socket address."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
