"""The NIR camera as the session sees it: the newest frame (newest wins: the mapper and the AR
view take the latest, never a queue), the count of frames received, and the recent
``reference_from_cameramarker`` poses each frame is paired with (by local arrival time).

Not thread-safe on its own: the session ingests and reads under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from navigation.app.pose_history import PoseHistory
from navigation.tracking.messages import IgtlMessage, ImageBody
from registration.core.checks import Float64Array
from registration.pose_interpolation import PoseTrack

#: Seconds of camera marker poses kept to pair with camera frames.
CAMERA_HISTORY_S = 5.0
#: A frame is paired with the camera marker poses within this time of its arrival (s).
CAMERA_TRACK_WINDOW_S = 0.5


@dataclass(frozen=True)
class CameraFrame:
    """The latest NIR camera frame: (rows, cols) pixels, sender and arrival times (s)."""

    pixels: np.ndarray
    timestamp_s: float
    arrival_s: float
    index: int


class CameraFeed:
    """The newest :class:`CameraFrame` (``latest``), ``count`` of frames, camera marker poses."""

    def __init__(self) -> None:
        self.latest: CameraFrame | None = None
        self.count = 0
        self._poses = PoseHistory(CAMERA_HISTORY_S)

    def take_frame(self, message: IgtlMessage) -> None:
        """An IMAGE message from the camera: its first plane becomes the latest frame."""
        body = message.body
        if not isinstance(body, ImageBody):
            return
        pixels = body.pixels[0] if body.pixels.ndim >= 3 else body.pixels
        self.count += 1
        self.latest = CameraFrame(pixels, message.timestamp_s, message.arrival_s, self.count)

    def add_pose(self, arrival_s: float, reference_from_cameramarker: Float64Array) -> None:
        """An OK camera marker pose relative to the reference, by its local arrival time."""
        self._poses.add(arrival_s, reference_from_cameramarker)

    def track(self, around_s: float) -> PoseTrack | None:
        """The camera marker poses within 0.5 s of ``around_s`` (None when there are none)."""
        return self._poses.around(around_s, CAMERA_TRACK_WINDOW_S)
