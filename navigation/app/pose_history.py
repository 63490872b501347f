"""Recent OK poses of one tool, by time: the pointer's (automatic registration reads its
dwells) and the camera marker's (each camera frame is paired with the pose at its arrival).

Not thread-safe on its own: the session adds and reads under its lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from registration.core.checks import Float64Array
from registration.pose_interpolation import PoseTrack


@dataclass
class PoseHistory:
    """The (time s, (4, 4) pose) samples of the last ``max_age_s``, strictly increasing in time
    (a sample not newer than the last is dropped)."""

    max_age_s: float
    times: deque[float] = field(default_factory=deque)
    poses: deque[Float64Array] = field(default_factory=deque)

    def add(self, time_s: float, pose: Float64Array) -> None:
        if self.times and time_s <= self.times[-1]:
            return
        self.times.append(time_s)
        self.poses.append(pose)
        while self.times and self.times[0] < time_s - self.max_age_s:
            self.times.popleft()
            self.poses.popleft()

    def since(self, since_s: float) -> tuple[Float64Array, Float64Array]:
        """((N,) times s, (N, 4, 4) poses) of the samples at or after ``since_s``."""
        times = np.array(self.times, dtype=np.float64)
        keep = times >= since_s
        poses = np.array(self.poses, dtype=np.float64).reshape(-1, 4, 4)
        return times[keep], poses[keep]

    def around(self, around_s: float, window_s: float) -> PoseTrack | None:
        """The samples within ``window_s`` of ``around_s`` as a
        :class:`~registration.pose_interpolation.PoseTrack` (None when there are none)."""
        times = np.array(self.times, dtype=np.float64)
        keep = np.abs(times - around_s) <= window_s
        if not keep.any():
            return None
        poses = np.array(self.poses, dtype=np.float64)[keep]
        return PoseTrack(times[keep], poses)
