"""Replay a recording through an :class:`IgtlServer` with the original timing.

Two kinds of recording are served (:func:`open_recording`):

- an igcs session (``igcs record``, ``igcs navigate``): its received messages, each sent when
  ``(arrival_s - first arrival_s) / speed`` has elapsed since the start;
- a PLUS sequence metafile (``.igs.mha``, :mod:`~navigation.tracking.plus_sequence`): per
  frame, one TRANSFORM per transform with the ``TransformStatus`` metadata and, for frames
  holding an image, an IMAGE, sent at the frame's ``Timestamp`` intervals, as PLUS streams
  them.

Each client receives the header version it negotiated (:mod:`~navigation.tracking.
igtl_transport`): v1 until it speaks v2, whatever version a message was recorded with, so a
header-v1-only client (Debian's libOpenIGTLink 1.11) decodes the poses a v2 recording holds;
metadata reaches v2 clients only, and content whose status is not OK reaches v1 clients only
as PLUS's identity placeholder (anything else marked invalid is withheld rather than sent as a
pose).

With ``restamp`` (default) header timestamps are shifted by one constant so that the first
equals the wall clock at the start: intervals are kept and the receiving pose store sees fresh
timestamps, as from a live tracker; without it they are sent as recorded (a PLUS frame
timestamp of exactly 0 then reads as "no timestamp" on the wire, the protocol's convention).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from navigation.tracking.igtl_transport import IgtlServer
from navigation.tracking.messages import IgtlMessage
from navigation.tracking.plus_sequence import read_plus_sequence, sequence_messages
from navigation.tracking.recording import MAGIC, SessionReader
from registration.core.checks import InputError, check_positive


@dataclass(frozen=True)
class ReplayStats:
    """What a replay did: messages sent, its duration, the worst lateness of a send (s).

    ``v1_withheld`` / ``v1_fields_dropped``: messages held back from, or sent without their
    metadata to, header-v1 clients (see the module docstring).
    """

    messages: int
    duration_s: float
    max_late_s: float
    stopped: bool
    v1_withheld: int = 0
    v1_fields_dropped: int = 0


@dataclass(frozen=True)
class Recording:
    """A recording to replay: its kind ("igcs session" or "PLUS sequence"), a one-line
    description, and a fresh iterator of ``(time_s, message)`` on each :meth:`messages`.

    ``always_stamped``: every message carries a real timestamp (PLUS frames), so a 0.0 is a
    time, not "unset", and is restamped like the others.
    """

    path: Path
    kind: str
    description: str
    messages: Callable[[], Iterator[tuple[float, IgtlMessage]]]
    always_stamped: bool = False


def open_recording(path: str | os.PathLike[str]) -> Recording:
    """Open an igcs session or a PLUS sequence metafile for replay.

    Raises FileNotFoundError for a missing file and :class:`InputError` for a file that is
    neither (or a broken PLUS sequence), naming the file.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"recording {file} does not exist.")
    with open(file, "rb") as handle:
        start = handle.read(len(MAGIC))
    if start == MAGIC:
        reader = SessionReader(file)
        return Recording(file, "igcs session", f"igcs session {file.name}", lambda: iter(reader))
    if file.name.lower().endswith(".mha") or start.startswith(b"ObjectType"):
        sequence = read_plus_sequence(file)
        description = (
            f"PLUS sequence {file.name}: {len(sequence.frames)} frames, "
            f"{', '.join(sequence.transform_names) or 'no transforms'}"
        )
        return Recording(
            file,
            "PLUS sequence",
            description,
            lambda: sequence_messages(sequence),
            always_stamped=True,
        )
    raise InputError(
        f"{file} is neither an igcs session recording (igcs record, igcs navigate) nor a PLUS "
        "sequence metafile (.igs.mha); give one of those."
    )


def replay_session(
    path: str | os.PathLike[str] | Recording,
    server: IgtlServer,
    *,
    speed: float = 1.0,
    restamp: bool = True,
    stop: threading.Event | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> ReplayStats:
    """Send the messages of the recording at ``path`` to ``server``'s clients in real time.

    ``speed`` > 0 scales time (2.0 plays twice as fast). ``stop`` ends the replay early.
    ``on_sent(n)`` is called after each message with the count so far (for progress bars).
    Messages are sent whether or not a client is connected (like a live tracker); each client
    gets them in the header version it negotiated.
    """
    speed = check_positive(speed, "speed")
    stop = stop or threading.Event()
    recording = path if isinstance(path, Recording) else open_recording(path)
    before = server.counters
    start = time.monotonic()
    wall_start = time.time()
    first_time: float | None = None
    stamp_offset: float | None = None
    sent = 0
    max_late = 0.0
    for time_s, message in recording.messages():
        if first_time is None:
            first_time = time_s
        due = start + (time_s - first_time) / speed
        wait = due - time.monotonic()
        if wait > 0 and stop.wait(wait):
            break
        if stop.is_set():
            break
        max_late = max(max_late, time.monotonic() - due)
        if restamp and (message.timestamp_s > 0 or recording.always_stamped):
            if stamp_offset is None:
                stamp_offset = wall_start + (due - start) - message.timestamp_s
            message = dataclasses.replace(message, timestamp_s=message.timestamp_s + stamp_offset)
        server.send(message)
        sent += 1
        if on_sent is not None:
            on_sent(sent)
    after = server.counters
    return ReplayStats(
        sent,
        time.monotonic() - start,
        max_late,
        stop.is_set(),
        v1_withheld=after.v1_withheld - before.v1_withheld,
        v1_fields_dropped=after.v1_fields_dropped - before.v1_fields_dropped,
    )
