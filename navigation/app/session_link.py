"""The session's link to the tracker: connect (with the link settings: address, liveness,
STT_ request), reconnect with new settings, the link's status, and what a link going up or
down does (every tool DISCONNECTED with the reason; recorded as ``connection``).

:class:`TrackerLink` is a part of :class:`~navigation.app.session.NavigationSession` (a
mixin); the client's messages go to the session's ingest (:mod:`.message_ingest`), and the pose
store's watchdog runs while connected so tools go STALE even when nobody renders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from navigation.app.link_status import LinkStatus, link_status
from navigation.tracking.igtl_transport import IgtlClient
from navigation.tracking.link_settings import DEFAULT_LINK_TIMEOUT_S, LinkSettings
from navigation.tracking.messages import IgtlMessage
from navigation.tracking.pose_store import PoseStore
from navigation.tracking.recorder_thread import BackgroundRecorder
from navigation.tracking.recording import SessionWriter

#: How often the pose store's watchdog looks for tools gone STALE (s).
STORE_WATCHDOG_PERIOD_S = 0.02


class TrackerLink:
    """The tracker link of the session (module docstring); what it uses of the session is
    declared here and set by :class:`~navigation.app.session.NavigationSession`."""

    store: PoseStore
    recorder: SessionWriter | BackgroundRecorder | None
    record_event: Callable[[str, dict[str, Any]], None]
    on_message: Callable[[IgtlMessage], None]
    _client: IgtlClient | None
    _link_settings: LinkSettings | None

    def connect(self, host: str, port: int, **client_options: Any) -> IgtlClient:
        """Start an :class:`IgtlClient` feeding this session (reconnecting, with the default
        link timeout unless ``silence_timeout_s`` is given) and the store's watchdog (STALE
        events while nobody renders). Returns the started client."""
        if self._client is not None:
            raise RuntimeError("the session is already connected to a tracker")
        client_options.setdefault("silence_timeout_s", DEFAULT_LINK_TIMEOUT_S)
        client = IgtlClient(
            host,
            port,
            on_message=self.on_message,
            on_connection=self.on_connection,
            **client_options,
        )
        return self._start_client(client)

    def connect_link(self, settings: LinkSettings) -> IgtlClient:
        """Connect with ``settings`` (address, liveness, STT_ request); see :meth:`connect`."""
        if self._client is not None:
            raise RuntimeError("the session is already connected to a tracker")
        self._link_settings = settings
        self.record_event("link_settings", settings.to_dict())
        client = settings.client(on_message=self.on_message, on_connection=self.on_connection)
        return self._start_client(client)

    def reconnect(self, settings: LinkSettings) -> IgtlClient:
        """Drop the current link (tools DISCONNECTED) and connect with new ``settings``."""
        client = self._client
        if client is not None:
            client.stop()
            self._client = None
        return self.connect_link(settings)

    def _start_client(self, client: IgtlClient) -> IgtlClient:
        self._client = client
        self.store.start_watchdog(STORE_WATCHDOG_PERIOD_S)
        return client.start()

    @property
    def link_settings(self) -> LinkSettings | None:
        return self._link_settings

    def link_status(self) -> LinkStatus:
        """The tracker link and the recording, now (thread-safe)."""
        return link_status(self._client, self.recorder, self._link_settings)

    def on_connection(self, connected: bool, peer: str = "") -> None:
        """Transport callback: link up or down (with the reason it went down)."""
        client = self._client
        reason = "" if connected or client is None else client.disconnect_reason
        if connected:
            self.store.set_connected(True)
        else:
            lost = f"link to {peer or 'the tracker'} lost"
            self.store.set_connected(False, f"{lost}: {reason}" if reason else lost)
        self.record_event("connection", {"connected": connected, "peer": peer, "reason": reason})
