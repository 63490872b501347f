"""How an application connects to its tracker: address, liveness, header version, and the
STT_ request that starts a TDATA/QTDATA stream.

One frozen :class:`LinkSettings` is made by the command line (``igcs navigate``, ``igcs
record``) or the app's connection dialog and turned into an
:class:`~navigation.tracking.igtl_transport.IgtlClient` by :meth:`LinkSettings.client`.

Liveness: :data:`DEFAULT_LINK_TIMEOUT_S` (0.5 s) without bytes, or without a valid message,
closes the link and reconnects; the tools show DISCONNECTED. With the reader's check every
tenth of the timeout, a pulled cable or a frozen tracker is DISCONNECTED about 0.6 s after its
last message, well inside a second, while a tracker streaming at 10 Hz or faster never trips
it. Raise it for a slower tracker.

Starting a stream: servers that send TDATA or QTDATA only on request (OpenIGTLink's
``TrackingDataServer``, some PLUS configurations) wait for ``STT_TDATA``/``STT_QTDATA``
carrying the minimum interval between messages (the protocol's "resolution", ms) and a
coordinate name (empty: the server's default); see the protocol document ``tdata.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from navigation.tracking.igtl_transport import IgtlClient
from navigation.tracking.messages import IgtlMessage, RequestBody
from registration.core.checks import InputError

DEFAULT_PORT = 18944
DEFAULT_LINK_TIMEOUT_S = 0.5
DEFAULT_TRACKING_RESOLUTION_MS = 20
START_TRACKING_TYPES = ("TDATA", "QTDATA")


@dataclass(frozen=True)
class LinkSettings:
    """A tracker connection.

    host, port : the OpenIGTLink server (PLUS, a tracker, ``igcs simulate``/``replay``).
    start_tracking : "TDATA" or "QTDATA" to send STT_TDATA/STT_QTDATA on every connect, or
        None for servers that stream without being asked.
    tracking_resolution_ms : the STT request's minimum interval between messages (ms).
    link_timeout_s : no bytes, or no valid message, for this long is a lost link (s).
    header_version : the header version we send (2 asks PLUS for status metadata).
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    start_tracking: str | None = None
    tracking_resolution_ms: int = DEFAULT_TRACKING_RESOLUTION_MS
    link_timeout_s: float = DEFAULT_LINK_TIMEOUT_S
    header_version: int = 1

    def __post_init__(self) -> None:
        if not self.host:
            raise InputError("the tracker host is empty; give a host name or address.")
        if not 0 < int(self.port) < 65536:
            raise InputError(f"the tracker port must be 1-65535; got {self.port}.")
        if self.start_tracking is not None and self.start_tracking not in START_TRACKING_TYPES:
            raise InputError(
                f"start tracking must be one of {', '.join(START_TRACKING_TYPES)}; "
                f"got {self.start_tracking!r}."
            )
        if not 0 <= int(self.tracking_resolution_ms) < 2**31:
            raise InputError(
                f"the tracking resolution must be 0 or more ms; got {self.tracking_resolution_ms}."
            )
        if not self.link_timeout_s > 0:
            raise InputError(f"the link timeout must be positive; got {self.link_timeout_s} s.")
        if self.header_version not in (1, 2):
            raise InputError(f"the header version must be 1 or 2; got {self.header_version}.")

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def requests(self) -> tuple[IgtlMessage, ...]:
        """What to send on every connect: the STT_ request, if any."""
        if self.start_tracking is None:
            return ()
        body = RequestBody("STT", self.start_tracking, int(self.tracking_resolution_ms), "")
        return (
            IgtlMessage(
                f"STT_{self.start_tracking}",
                "",
                body,
                header_version=self.header_version,
            ),
        )

    def client(self, **options: Any) -> IgtlClient:
        """An (unstarted) reconnecting client with these settings; ``options`` are passed on
        (``on_message``, ``on_connection``, ``queue_size``...)."""
        return IgtlClient(
            self.host,
            self.port,
            header_version=self.header_version,
            requests_on_connect=self.requests(),
            silence_timeout_s=self.link_timeout_s,
            **options,
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def parse_address(text: str, what: str = "address") -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port); InputError naming ``what`` otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{what} must be HOST:PORT (e.g. 127.0.0.1:18944); got {text!r}")
    return host.strip("[]"), int(port)
