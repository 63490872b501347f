"""OpenIGTLink client and server over TCP: exact framing, CRC-64, reconnect, clean shutdown.

Both deliver every received message (``on_message`` callback on the reader thread and/or a
bounded queue read with ``get``; see :mod:`navigation.tracking.igtl_link`), stamp
``arrival_s = time.monotonic()`` when the message's last byte arrived, count what they drop,
and report connection changes through ``on_connection(connected, peer)``.

Header versions: a client sends header v1 unless configured with ``header_version=2`` (or the
server has sent v2). A server sends each client header v1 until that client has sent a v2
message, then v2 (as PLUS does: PLUS only sends status metadata to v2 clients, and a client
becomes v2 for PLUS by sending a v2 message, e.g. in ``requests_on_connect``), whatever
version the message was built or recorded with; see :mod:`~navigation.tracking.igtl_link`
for the conversion to v1. A server sends from one thread per client, so a client that stops
reading is throttled or dropped alone (:mod:`~navigation.tracking.igtl_send_queue`).

Security: OpenIGTLink has no authentication or encryption. The server binds to loopback unless
another host is asked for, and refuses peers outside ``allowed_hosts``.

We own this transport instead of pyigtl's ``OpenIGTLinkClient``/``Server`` (pyigtl 0.3.4 keeps
only the latest message per device name, never checks CRC, stays "connected" after the server
closes, does not reconnect and desynchronises on split headers).

One module of some 430 lines: the client and the server share one connection life cycle
(connect, liveness, reconnect, close) and are kept side by side so they stay symmetric.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence

from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_link import (
    Connection,
    ConnectionCallback,
    Endpoint,
    MessageCallback,
    NotConnectedError,
    peer_text,
    withheld_from_v1,
)
from navigation.tracking.messages import IgtlMessage

log = logging.getLogger(__name__)

__all__ = ["IgtlClient", "IgtlServer", "NotConnectedError"]

_ACCEPT_POLL_S = 0.2


class IgtlClient(Endpoint):
    """Connect to an OpenIGTLink server and keep the link up.

    Parameters
    ----------
    host, port : the server.
    on_message : called with each :class:`IgtlMessage` on the reader thread (keep it short).
    on_connection : called with ``(connected, "host:port")`` on every connect and disconnect.
    reconnect : retry after a failed connect or a lost link, with backoff from
        ``backoff_initial_s`` doubling to ``backoff_max_s`` (0.5 s: a returning server is
        reconnected within ~0.5 s). False: one attempt, one session.
    header_version : 1 or 2 for what we send (see the module docstring).
    queue_size : bounded queue for :meth:`get`; None means 4096, or 0 (no queue) when
        ``on_message`` is given. When full, the oldest message is dropped and counted.
    body_caps : per-type content caps in bytes (see ``igtl_wire.DEFAULT_CONTENT_CAPS``).
    requests_on_connect : messages sent after every (re)connect, e.g. STT_TDATA for servers
        that wait for it.
    silence_timeout_s : disconnect (and reconnect) when no bytes, or no valid message, arrive
        for this long (a pulled cable, a frozen server, a stream swallowed by garbage); None
        (default) waits for the OS to see the peer gone. The applications set it
        (``navigation.tracking.igtl_link`` docstring). With it, the link counts as up (the
        ``on_connection`` callback, :attr:`connected`, :meth:`wait_connected`) from the first
        valid message of a connection, not from its TCP handshake.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        on_message: MessageCallback | None = None,
        on_connection: ConnectionCallback | None = None,
        reconnect: bool = True,
        header_version: int = 1,
        queue_size: int | None = None,
        body_caps: Mapping[str, int] | None = None,
        requests_on_connect: Sequence[IgtlMessage] = (),
        connect_timeout_s: float = 1.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 0.5,
        send_timeout_s: float = 2.0,
        silence_timeout_s: float | None = None,
    ) -> None:
        super().__init__(
            on_message=on_message,
            on_connection=on_connection,
            header_version=header_version,
            queue_size=queue_size,
            body_caps=body_caps,
            send_timeout_s=send_timeout_s,
            silence_timeout_s=silence_timeout_s,
        )
        self.host = host
        self.port = int(port)
        self.reconnect = reconnect
        self.requests_on_connect = tuple(requests_on_connect)
        self.connect_timeout_s = connect_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None
        self._connected_event = threading.Event()
        self.announce_on_first_message = silence_timeout_s is not None

    def __repr__(self) -> str:
        return f"IgtlClient({self.host!r}, {self.port})"

    def start(self) -> IgtlClient:
        """Start connecting in the background; returns at once (see :meth:`wait_connected`)."""
        if self._thread is not None:
            raise RuntimeError(f"{self!r} was already started")
        self._thread = threading.Thread(
            target=self._run, name=f"igtl-client-{self.host}:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until connected (with a silence timeout: until a first message came); True if
        so within ``timeout`` s."""
        return self._connected_event.wait(timeout)

    def _announce(self, connection: Connection) -> None:
        super()._announce(connection)
        self._connected_event.set()

    def send(self, message: IgtlMessage, *, header_version: int | None = None) -> None:
        """Send ``message`` to the server (v1/v2 as negotiated unless ``header_version``).

        Raises NotConnectedError when not connected, ConnectionError when the send fails (the
        link is then closed and, with ``reconnect``, re-established), InputError when the
        message cannot be encoded.
        """
        connection = self._connection
        if connection is None:
            raise NotConnectedError(f"not connected to {self.host}:{self.port}")
        connection.send(message, header_version)

    def stop(self, timeout: float = 1.0) -> None:
        """Disconnect and stop the background thread (joined within ``timeout`` s)."""
        self._stop.set()
        connection = self._connection
        if connection is not None:
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%r: reader thread did not stop within %.1f s", self, timeout)

    def __enter__(self) -> IgtlClient:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        backoff = self.backoff_initial_s
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), self.connect_timeout_s)
            except OSError as error:
                log.debug("connect to %s:%d failed: %s", self.host, self.port, error)
                if not self.reconnect:
                    log.warning("cannot connect to %s:%d: %s", self.host, self.port, error)
                    return
                self._stop.wait(backoff)
                backoff = min(2 * backoff, self.backoff_max_s)
                continue
            backoff = self.backoff_initial_s
            connection = Connection(self, sock, peer_text(sock.getpeername()))
            self._connection = connection
            self._opened(connection)
            try:
                for request in self.requests_on_connect:
                    connection.send(request)
            except ConnectionError as error:
                log.warning("sending the connect requests failed: %s", error)
            connection.read_loop(self._stop)
            self._connected_event.clear()
            self._connection = None
            if not self.reconnect:
                return
            # A dying server's kernel may still complete one more handshake; do not race it.
            self._stop.wait(self.backoff_initial_s)


class IgtlServer(Endpoint):
    """Listen for OpenIGTLink clients; ``send`` goes to every connected client.

    Parameters
    ----------
    host : interface to bind: loopback by default. "0.0.0.0", "::" or "" bind every
        interface (logged as a warning: the protocol is unauthenticated).
    port : TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
    allowed_hosts : peer addresses accepted; others are refused at once and counted. None
        accepts any peer. IPv4-mapped IPv6 addresses are compared as IPv4.
    max_clients : further connections are refused while this many are open.
    header_version : the highest header version sent: each client gets v1 until it speaks
        v2 (default 2: negotiated per client, as PLUS; 1: never v2).
    Other parameters as for :class:`IgtlClient`.
    """

    negotiates = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 18944,
        *,
        on_message: MessageCallback | None = None,
        on_connection: ConnectionCallback | None = None,
        allowed_hosts: Iterable[str] | None = ("127.0.0.1", "::1"),
        header_version: int = 2,
        queue_size: int | None = None,
        body_caps: Mapping[str, int] | None = None,
        max_clients: int = 16,
        send_timeout_s: float = 2.0,
        silence_timeout_s: float | None = None,
    ) -> None:
        super().__init__(
            on_message=on_message,
            on_connection=on_connection,
            header_version=header_version,
            queue_size=queue_size,
            body_caps=body_caps,
            send_timeout_s=send_timeout_s,
            silence_timeout_s=silence_timeout_s,
        )
        self.host = host
        self._requested_port = int(port)
        self.allowed_hosts = (
            None if allowed_hosts is None else frozenset(_normalise(h) for h in allowed_hosts)
        )
        self.max_clients = max_clients
        self._listener: socket.socket | None = None
        self._bound_port = 0
        self._bound_host = host
        self._accept_thread: threading.Thread | None = None
        self._reader_threads: list[threading.Thread] = []
        self._withheld_names: set[str] = set()

    def __repr__(self) -> str:
        return f"IgtlServer({self.host!r}, {self.port})"

    @property
    def port(self) -> int:
        """The listening port (the chosen one when created with port 0 and started)."""
        return self._bound_port or self._requested_port

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` (after :meth:`start`)."""
        return self._bound_host, self.port

    @property
    def clients(self) -> tuple[str, ...]:
        """``host:port`` of each connected client."""
        with self._lock:
            return tuple(c.peer for c in self._connections)

    def start(self) -> IgtlServer:
        """Bind, listen and accept in the background; the port is bound when this returns."""
        if self._listener is not None:
            raise RuntimeError(f"{self!r} was already started")
        if self.host in ("", "0.0.0.0", "::"):
            log.warning(
                "OpenIGTLink server on all interfaces (%r): the protocol has no authentication",
                self.host,
            )
        family, _, _, _, address = socket.getaddrinfo(
            self.host or None,
            self._requested_port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )[0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(8)
            listener.settimeout(_ACCEPT_POLL_S)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._bound_host, self._bound_port = listener.getsockname()[:2]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"igtl-server-{self.port}", daemon=True
        )
        self._accept_thread.start()
        log.info("OpenIGTLink server listening on %s", peer_text(listener.getsockname()))
        return self

    def wait_connected(self, timeout: float | None = None, *, count: int = 1) -> bool:
        """Wait until ``count`` clients are connected; True if so within ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self.clients) < count:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._stop.wait(0.005)
        return True

    def send(self, message: IgtlMessage, *, header_version: int | None = None) -> int:
        """Queue ``message`` for every connected client; returns how many it was queued for.

        Each client gets the header version it negotiated (at most ``header_version`` when
        given), converted as the module docstring says; a message that cannot be expressed
        for a v1 client is withheld from it (counted). Sending happens on each client's own
        thread: a client whose send times out or whose queue overflows is dropped alone
        (counted in ``send_errors`` / ``slow_peers``). Raises InputError when the message
        cannot be encoded.
        """
        with self._lock:
            connections = list(self._connections)
        encoded: dict[int, bytes | None] = {}
        reached = 0
        for connection in connections:
            version = connection.version(header_version)
            if version not in encoded:
                encoded[version] = self._encode(message, version)
            data = encoded[version]
            if data is None:
                self._count("v1_withheld")
                continue
            if version == 1 and (message.metadata or message.message_id):
                self._count("v1_fields_dropped")
            if connection.enqueue(message, data):
                reached += 1
        return reached

    def flush(self, timeout: float = 1.0) -> bool:
        """Wait until every client's queued messages are sent; True if so within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            connections = list(self._connections)
        return all(c.flush(max(0.0, deadline - time.monotonic())) for c in connections)

    def _encode(self, message: IgtlMessage, version: int) -> bytes | None:
        if version == 1:
            status = withheld_from_v1(message)
            if status is not None:
                if message.device_name not in self._withheld_names:
                    self._withheld_names.add(message.device_name)
                    log.info(
                        "%s %r with %s not sent to header-v1 clients (v1 cannot say it is not "
                        "valid); further ones counted",
                        message.type,
                        message.device_name,
                        status,
                    )
                return None
        return encode_message(message, header_version=version)

    def stop(self, timeout: float = 1.0, *, flush_s: float = 0.5) -> None:
        """Send what is queued (at most ``flush_s``), close every connection and the listener;
        join all threads within ``timeout`` s."""
        if flush_s > 0:
            self.flush(flush_s)
        self._stop.set()
        listener = self._listener
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes accept() at once on Linux
            with contextlib.suppress(OSError):
                listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)  # no new connections after this
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        for thread in [self._accept_thread, *self._reader_threads]:
            if thread is not None and thread.ident is not None:
                thread.join(timeout)
                if thread.is_alive():
                    log.warning("%r: thread %s did not stop in %.1f s", self, thread.name, timeout)

    def __enter__(self) -> IgtlServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                sock, address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # the listener was closed by stop()
            peer = peer_text(address)
            if self.allowed_hosts is not None and _normalise(address[0]) not in self.allowed_hosts:
                self._refuse(sock, peer, "not in allowed_hosts")
                continue
            if len(self.clients) >= self.max_clients:
                self._refuse(sock, peer, f"already {self.max_clients} clients")
                continue
            connection = Connection(self, sock, peer, queued=True)
            self._opened(connection)
            assert connection.sender is not None
            connection.sender.start()
            self._reader_threads.append(connection.sender)
            thread = threading.Thread(
                target=connection.read_loop,
                args=(self._stop,),
                name=f"igtl-peer-{peer}",
                daemon=True,
            )
            thread.start()
            self._reader_threads = [t for t in self._reader_threads if t.is_alive()]
            self._reader_threads.append(thread)

    def _refuse(self, sock: socket.socket, peer: str, reason: str) -> None:
        self._count("refused")
        log.warning("OpenIGTLink connection from %s refused: %s", peer, reason)
        with contextlib.suppress(OSError):
            sock.close()


def _normalise(host: str) -> str:
    """Canonical text of an IP address; IPv4-mapped IPv6 becomes IPv4; names stay as given."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
