"""What the app shows and records about its tracker link and its recording.

:class:`LinkStatus` is a snapshot built by :func:`link_status` from the session's
:class:`~navigation.tracking.igtl_transport.IgtlClient` and its recorder: whether the link is
up, why it last went down (e.g. "no bytes for 0.50 s"), how often it was lost, what the framer
had to discard, and what the recorder could not keep up with. The link panel shows it, the
headless summary writes it (``link``, ``recording``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from navigation.tracking.igtl_transport import IgtlClient
from navigation.tracking.link_settings import LinkSettings
from navigation.tracking.recorder_thread import BackgroundRecorder, RecorderCounts


@dataclass(frozen=True)
class LinkStatus:
    """The tracker link and the recording, now.

    connected : the link is up. address : the tracker. last_disconnect : why the link last
    went down ("" before it ever did). connects, disconnects, timeouts : link counts
    (timeouts: lost for silence or for bytes that made no valid message). messages, bad_crc,
    malformed, resyncs, false_locks, skipped_bytes : what the framer delivered and discarded.
    recording : the recorder's counts (None when not recording, or recording synchronously).
    settings : the link settings in use (None before connecting).
    """

    connected: bool
    address: str
    last_disconnect: str
    connects: int
    disconnects: int
    timeouts: int
    messages: int
    bad_crc: int
    malformed: int
    resyncs: int
    false_locks: int
    skipped_bytes: int
    recording: RecorderCounts | None
    settings: LinkSettings | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["recording"] = None if self.recording is None else self.recording.to_dict()
        out["settings"] = None if self.settings is None else self.settings.to_dict()
        return out

    def text(self) -> str:
        """One line for a panel: state, reason, counts."""
        state = "CONNECTED" if self.connected else "DISCONNECTED"
        line = f"Tracker {self.address or '-'}: {state}"
        if not self.connected and self.last_disconnect:
            line += f" ({self.last_disconnect}; reconnecting)"
        if self.timeouts or self.disconnects:
            line += f"; lost {self.disconnects}x"
        problems = self.bad_crc + self.malformed + self.false_locks
        if problems or self.resyncs:
            line += f"; {problems} bad messages, {self.resyncs} resyncs"
        return line

    def recording_text(self) -> str:
        if self.recording is None:
            return "Recording: off"
        dropped = self.recording.dropped
        state = "OK" if dropped == 0 else f"{dropped} MESSAGES NOT RECORDED (disk too slow)"
        return (
            f"Recording: {self.recording.written} records, {state}, "
            f"queue {self.recording.queued_bytes / 1e6:.1f} MB"
        )


def link_status(
    client: IgtlClient | None,
    recorder: object | None,
    settings: LinkSettings | None,
) -> LinkStatus:
    """A :class:`LinkStatus` of ``client`` (None: not connected yet) and ``recorder``."""
    recording = recorder.counts if isinstance(recorder, BackgroundRecorder) else None
    if client is None:
        return LinkStatus(
            False, "", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, recording, settings
        )  # fmt: skip
    counters = client.counters
    framing = counters.framing
    address = settings.address if settings is not None else f"{client.host}:{client.port}"
    return LinkStatus(
        connected=client.connected,
        address=address,
        last_disconnect=client.disconnect_reason,
        connects=counters.connects,
        disconnects=counters.disconnects,
        timeouts=counters.silence_disconnects,
        messages=framing.messages,
        bad_crc=framing.bad_crc,
        malformed=framing.malformed,
        resyncs=framing.resyncs,
        false_locks=framing.false_locks,
        skipped_bytes=framing.skipped_bytes,
        recording=recording,
        settings=settings,
    )
