"""Message ingest: what the transport thread does with each OpenIGTLink message.

:class:`MessageIngest` records the message (bytes as received, queued to the recorder thread),
feeds the pose store, counts it by type, and routes what the session needs from it: the tip
calibration STRING (:mod:`.tip_calibration`), the camera's IMAGE frames and the camera marker's
poses (:mod:`.camera_feed`), the pointer's samples (its recent history, the fiducial
collector's still window, the skin sweep, :mod:`.skin_sweep`) and the last time each tool was
OK. It also counts the tools' state changes and records them (``tool_state``), and wakes the
render loop when a fresh pointer sample or a state change is in
(:meth:`MessageIngest.wait_for_pointer_sample`).

Threads: :meth:`MessageIngest.on_message` runs on the transport thread and never raises; it
holds the session's lock (given) while it updates what the session reads.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from navigation.app.camera_feed import CameraFeed
from navigation.app.config import NavigationConfig
from navigation.app.pose_history import PoseHistory
from navigation.app.skin_sweep import SkinSweep
from navigation.app.tip_calibration import TipCalibration
from navigation.tracking.messages import IgtlMessage
from navigation.tracking.pose_store import PoseStore, ToolStateEvent
from navigation.tracking.recorder_thread import BackgroundRecorder
from navigation.tracking.recording import SessionWriter
from registration.core.checks import InputError

log = logging.getLogger(__name__)


class MessageIngest:
    """The session's intake (module docstring).

    Parameters
    ----------
    config : tool and device names, windows.
    store : the pose store the messages feed.
    recorder : where each message is recorded, or None.
    lock : the session's lock (guards what the session reads of the ingest).
    record_event : records an app event (tip calibrations, tool states).
    """

    def __init__(
        self,
        config: NavigationConfig,
        store: PoseStore,
        recorder: SessionWriter | BackgroundRecorder | None,
        lock: threading.RLock,
        record_event: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.store = store
        self.recorder = recorder
        self._lock = lock
        self._record_event = record_event
        self.tips = TipCalibration(
            config,
            lambda tip, source: record_event(
                "tip_calibration", {"tip_in_pointer_mm": tip, "source": source}
            ),
        )
        self.pointer_history = PoseHistory(config.history_s)
        self.camera = CameraFeed()
        self.sweep = SkinSweep()
        self.messages: Counter[str] = Counter()
        self.state_changes: dict[str, Counter[str]] = {}
        self.last_good_s: dict[str, float] = {}
        self._fresh = threading.Condition()
        self._pointer_arrival_s = math.nan
        self._state_epoch = 0
        self.pointer_name = config.transform_name(config.pointer)
        self.reference_name = config.transform_name(config.reference)
        self.camera_name = config.transform_name(config.camera)
        self._tools_by_name = {
            self.pointer_name: config.pointer,
            self.reference_name: config.reference,
            self.camera_name: config.camera,
        }

    def on_message(self, message: IgtlMessage) -> None:
        """Transport callback (reader thread): ingest one message. Never raises."""
        try:
            self._ingest(message)
        except Exception:  # a bad message must never stop tracking
            log.exception("message %s %r could not be ingested", message.type, message.device_name)

    def _ingest(self, message: IgtlMessage) -> None:
        if self.recorder is not None:
            try:
                self.recorder.write(message)
            except (InputError, ValueError) as error:
                log.warning("message not recorded: %s", error)
        updated = self.store.ingest(message)
        config = self.config
        with self._lock:
            self.messages[message.type] += 1
            if message.type == "STRING" and message.device_name == config.tip_calibration_device:
                self.tips.take_string(message)
            elif message.type == "IMAGE" and message.device_name == config.camera_image_device:
                self.camera.take_frame(message)
            tool = self._tools_by_name.get(message.device_name)
            if updated and tool is not None and self.store.pose(message.device_name).ok:
                self.last_good_s[tool] = message.arrival_s
            if updated and message.device_name == self.pointer_name:
                self._take_pointer_sample()
            elif updated and message.device_name == self.camera_name:
                camera = self.store.transform(config.reference, config.camera)
                if camera.ok and camera.matrix is not None:
                    self.camera.add_pose(message.arrival_s, camera.matrix)

    def _take_pointer_sample(self) -> None:
        # One sample per pointer message (with the newest reference pose): taking one per
        # reference message too would add samples microseconds apart whose jitter reads as
        # speed.
        pose = self.store.transform(self.config.reference, self.config.pointer)
        if self.tips.collector is not None:
            self.tips.collector.add(pose)
        if not pose.ok or pose.matrix is None:
            return
        self.pointer_history.add(pose.timestamp_s, pose.matrix)
        with self._fresh:
            self._pointer_arrival_s = pose.arrival_s
            self._fresh.notify_all()
        tip = self.tips.tip
        if self.sweep.active and tip is not None:
            self.sweep.add(pose.matrix[:3, :3] @ tip + pose.matrix[:3, 3])

    def on_state_event(self, event: ToolStateEvent) -> None:
        """Pose store callback: a tool changed state (counted, recorded, wakes the waiters)."""
        with self._lock:
            self.state_changes.setdefault(event.name, Counter())[event.state.name] += 1
        with self._fresh:
            self._state_epoch += 1
            self._fresh.notify_all()
        self._record_event(
            "tool_state",
            {
                "tool": event.name,
                "previous": None if event.previous is None else event.previous.name,
                "state": event.state.name,
                "reason": event.reason,
            },
        )

    def wait_for_pointer_sample(self, newer_than_s: float, timeout_s: float) -> bool:
        """Block until an OK pointer sample that arrived after ``newer_than_s`` (local
        monotonic s) is in, at most ``timeout_s``; True if one is. A tool changing state (e.g.
        going STALE) ends the wait at once."""
        with self._fresh:
            epoch = self._state_epoch
            self._fresh.wait_for(
                lambda: self._pointer_arrival_s > newer_than_s or self._state_epoch != epoch,
                timeout=timeout_s,
            )
            return self._pointer_arrival_s > newer_than_s
