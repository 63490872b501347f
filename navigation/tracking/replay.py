"""Replay a recorded session through an :class:`IgtlServer` with the original timing.

Each received message of the session is sent when ``(arrival_s - first arrival_s) / speed``
has elapsed since the start, with the header version it arrived with (so status metadata
reaches v2 clients, as from PLUS). With ``restamp`` (default) non-zero header timestamps are
shifted by one constant so that the first equals the wall clock at the start: intervals are
kept and the receiving pose store sees fresh timestamps, as from a live tracker; without it
they are sent as recorded.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from navigation.tracking.igtl_transport import IgtlServer
from navigation.tracking.recording import SessionReader
from registration.checks import check_positive


@dataclass(frozen=True)
class ReplayStats:
    """What a replay did: messages sent, its duration, the worst lateness of a send (s)."""

    messages: int
    duration_s: float
    max_late_s: float
    stopped: bool


def replay_session(
    path: str | os.PathLike[str],
    server: IgtlServer,
    *,
    speed: float = 1.0,
    restamp: bool = True,
    stop: threading.Event | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> ReplayStats:
    """Send the received messages of session ``path`` to ``server``'s clients in real time.

    ``speed`` > 0 scales time (2.0 plays twice as fast). ``stop`` ends the replay early.
    ``on_sent(n)`` is called after each message with the count so far (for progress bars).
    Messages are sent whether or not a client is connected (like a live tracker).
    """
    speed = check_positive(speed, "speed")
    stop = stop or threading.Event()
    reader = SessionReader(path)
    start = time.monotonic()
    wall_start = time.time()
    first_arrival: float | None = None
    stamp_offset: float | None = None
    sent = 0
    max_late = 0.0
    for arrival_s, message in reader:
        if first_arrival is None:
            first_arrival = arrival_s
        due = start + (arrival_s - first_arrival) / speed
        wait = due - time.monotonic()
        if wait > 0 and stop.wait(wait):
            break
        if stop.is_set():
            break
        max_late = max(max_late, time.monotonic() - due)
        if restamp and message.timestamp_s > 0:
            if stamp_offset is None:
                stamp_offset = wall_start + (due - start) - message.timestamp_s
            message = dataclasses.replace(message, timestamp_s=message.timestamp_s + stamp_offset)
        server.send(message, header_version=message.header_version)
        sent += 1
        if on_sent is not None:
            on_sent(sent)
    return ReplayStats(sent, time.monotonic() - start, max_late, stop.is_set())
