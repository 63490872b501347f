"""A tracked tool's pose at any time between its timestamped samples (SLERP + linear translation).

Camera frames and tracker poses are not simultaneous: a frame taken at ``t`` needs the marker
pose at ``t``. :class:`PoseTrack` interpolates the rotation by spherical linear interpolation
(Shoemake 1985, via :class:`scipy.spatial.transform.Slerp`) and the translation linearly between
the two samples that bracket ``t``. It refuses to invent poses: a time further than
``max_extrapolation_s`` outside the samples, or inside a gap between samples longer than
``max_gap_s`` (the tool was not seen), raises :class:`~registration.core.checks.InputError`. Within
``max_extrapolation_s`` of either end the nearest sample is held (no velocity extrapolation: a
hand-held camera's acceleration makes it worse than holding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation, Slerp

from registration.core.checks import Float64Array, InputError, check_finite, check_positive
from registration.core.transforms import check_rigid

#: Default hold beyond the first/last sample, seconds (about one frame at 30-60 Hz tracking).
DEFAULT_MAX_EXTRAPOLATION_S = 0.02
#: Default longest gap between samples to interpolate across, seconds.
DEFAULT_MAX_GAP_S = 0.1


@dataclass(frozen=True)
class PoseTrack:
    """Timestamped rigid poses of one tool, ``a_from_b`` at each time.

    Attributes
    ----------
    timestamps_s : (K,) float, strictly increasing, seconds (any common clock).
    a_from_b : (K, 4, 4) float, rigid, mm (e.g. ``tracker_from_cameramarker``).
    max_extrapolation_s : hold the end samples at most this long beyond them.
    max_gap_s : refuse to interpolate across gaps longer than this.
    """

    timestamps_s: Float64Array
    a_from_b: Float64Array
    max_extrapolation_s: float = DEFAULT_MAX_EXTRAPOLATION_S
    max_gap_s: float = DEFAULT_MAX_GAP_S
    _slerp: Slerp | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        times = check_finite(
            np.asarray(self.timestamps_s, dtype=np.float64).ravel(), "timestamps_s"
        )
        poses = check_finite(self.a_from_b, "a_from_b")
        if poses.ndim != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] != times.size:
            raise InputError(
                f"a_from_b must have shape (K, 4, 4) with K = len(timestamps_s) = {times.size}; "
                f"got {poses.shape}."
            )
        if times.size < 1:
            raise InputError("a PoseTrack needs at least one timestamped pose.")
        if times.size > 1 and not (np.diff(times) > 0).all():
            first = int(np.argmax(np.diff(times) <= 0))
            raise InputError(
                f"timestamps_s must be strictly increasing; sample {first + 1} "
                f"({times[first + 1]!r} s) is not after sample {first} ({times[first]!r} s). "
                "Sort the samples and drop duplicates."
            )
        for index in range(poses.shape[0]):
            check_rigid(poses[index], f"a_from_b[{index}]")
        if self.max_extrapolation_s < 0:
            raise InputError(f"max_extrapolation_s must be >= 0; got {self.max_extrapolation_s}.")
        check_positive(self.max_gap_s, "max_gap_s")
        times.setflags(write=False)
        poses = poses.copy()
        poses.setflags(write=False)
        object.__setattr__(self, "timestamps_s", times)
        object.__setattr__(self, "a_from_b", poses)
        rotations = Rotation.from_matrix(poses[:, :3, :3])
        object.__setattr__(self, "_slerp", Slerp(times, rotations) if times.size > 1 else None)

    def at(self, timestamp_s: float) -> Float64Array:
        """The (4, 4) pose ``a_from_b`` at ``timestamp_s``.

        Raises
        ------
        InputError
            If ``timestamp_s`` is more than ``max_extrapolation_s`` before the first or after the
            last sample, or falls in a gap between samples longer than ``max_gap_s``.
        """
        return self.at_many(np.array([timestamp_s], dtype=np.float64))[0]

    def at_many(self, timestamps_s: ArrayLike) -> Float64Array:
        """(T, 4, 4) poses at each of (T,) times; same rules as :meth:`at`."""
        query = check_finite(np.asarray(timestamps_s, dtype=np.float64).ravel(), "timestamps_s")
        times = self.timestamps_s
        early = query < times[0] - self.max_extrapolation_s
        late = query > times[-1] + self.max_extrapolation_s
        if early.any() or late.any():
            bad = float(query[early | late][0])
            raise InputError(
                f"no pose at t = {bad:.6f} s: the track covers [{times[0]:.6f}, {times[-1]:.6f}] s "
                f"and extrapolation is limited to {self.max_extrapolation_s} s; drop the frame "
                "(the tool was not tracked then)."
            )
        clamped = np.clip(query, times[0], times[-1])
        result = np.repeat(np.eye(4)[np.newaxis], query.size, axis=0)
        if times.size == 1:
            result[:] = self.a_from_b[0]
            return result
        right = np.clip(np.searchsorted(times, clamped, side="left"), 1, times.size - 1)
        gap = times[right] - times[right - 1]
        on_sample = np.isin(clamped, times)
        too_long = (gap > self.max_gap_s) & ~on_sample
        if too_long.any():
            index = int(np.argmax(too_long))
            raise InputError(
                f"no pose at t = {query[index]:.6f} s: it falls in a {gap[index]:.3f} s gap "
                f"between tracker samples, longer than max_gap_s = {self.max_gap_s} s "
                "(the tool was lost); drop the frame."
            )
        fraction = (clamped - times[right - 1]) / gap
        translations = self.a_from_b[:, :3, 3]
        result[:, :3, 3] = (1.0 - fraction)[:, np.newaxis] * translations[right - 1] + fraction[
            :, np.newaxis
        ] * translations[right]
        assert self._slerp is not None  # built in __post_init__ whenever K > 1
        result[:, :3, :3] = self._slerp(clamped).as_matrix()
        return result


def compose_camera_pose(
    *,
    image_from_tracker: ArrayLike,
    tracker_from_cameramarker: ArrayLike,
    cameramarker_from_camera: ArrayLike,
) -> Float64Array:
    """``image_from_camera = image_from_tracker @ tracker_from_cameramarker @
    cameramarker_from_camera``.

    image_from_tracker : (4, 4) patient registration (image LPS mm from tracker mm).
    tracker_from_cameramarker : (4, 4) the camera's marker pose at the frame's time (see
        :meth:`PoseTrack.at`); PLUS's ``CameraMarkerToTracker``.
    cameramarker_from_camera : (4, 4) hand-eye calibration: the OpenCV camera frame (x right,
        y down, z forward, mm) in the marker frame.
    Returns (4, 4) ``image_from_camera``.
    """
    return (
        check_rigid(image_from_tracker, "image_from_tracker")
        @ check_rigid(tracker_from_cameramarker, "tracker_from_cameramarker")
        @ check_rigid(cameramarker_from_camera, "cameramarker_from_camera")
    )
