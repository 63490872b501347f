"""A tracker stand-in for window tests: feeds a session PLUS-named TRANSFORM messages from a
thread at a steady rate (the reference fixed, the pointer where the test puts it), through the
session's own ingest path (``on_message``), as the transport thread would."""

from __future__ import annotations

import threading
import time

import numpy as np

from navigation.app.session import NavigationSession
from navigation.tracking.messages import IgtlMessage, TransformBody
from registration.core.transforms import make_rigid

#: Where the feeder's patient reference sits in the tracker (mm).
TRACKER_FROM_REFERENCE = make_rigid(translation_mm=(20.0, -50.0, -1200.0))


class PoseFeeder:
    """Streams ``PointerToTracker`` and ``ReferenceToTracker`` at ``rate_hz`` until closed.

    ``reference_from_pointer`` (set it any time) is the pointer's pose relative to the
    reference, which sits at :data:`TRACKER_FROM_REFERENCE` (not the identity: PLUS sends an
    identity for a tool it cannot see, and the pose store reads it so). ``drop_pointer`` stops
    the pointer (the reference keeps streaming); ``last_pointer_s`` is the arrival time stamped
    on the last pointer message fed; after :meth:`move_pointer`, ``moved_s`` is the arrival
    time of the first message carrying the new pose.
    """

    def __init__(self, session: NavigationSession, rate_hz: float = 60.0) -> None:
        self.session = session
        self.period_s = 1.0 / rate_hz
        self.reference_from_pointer = np.eye(4)
        self.drop_pointer = threading.Event()
        self.last_pointer_s = float("nan")
        self.moved_s = float("nan")
        self._moved = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-pose-feeder", daemon=True)

    def start(self) -> PoseFeeder:
        self.session.on_connection(True, "test pose feeder")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            self.session.on_message(
                IgtlMessage("TRANSFORM", "ReferenceToTracker",
                            TransformBody(TRACKER_FROM_REFERENCE), now, arrival_s=now)
            )  # fmt: skip
            if not self.drop_pointer.is_set():
                moved = self._moved  # read before the pose: move_pointer sets the pose first
                pose = TRACKER_FROM_REFERENCE @ self.reference_from_pointer
                self.session.on_message(
                    IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(pose), now,
                                arrival_s=now)
                )  # fmt: skip
                self.last_pointer_s = now
                if moved:
                    self.moved_s, self._moved = now, False
            self._stop.wait(self.period_s)

    def move_pointer(self, reference_from_pointer: np.ndarray) -> None:
        """Stream a new pointer pose from the next message on (``moved_s`` is set then)."""
        self.moved_s = float("nan")
        self.reference_from_pointer = np.array(reference_from_pointer, dtype=np.float64)
        self._moved = True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
