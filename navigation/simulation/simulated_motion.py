"""How the simulated pointer and camera move (image LPS mm; rotations are ``image_from_tool``).

Pointer story segments (:class:`Still`, :class:`Travel` with a minimum-jerk profile, Flash &
Hogan 1985, lifting off the skin, and :class:`Sweep` along skin vertices at constant speed),
rotations interpolated with SciPy's ``Slerp``; the camera's :class:`CameraOrbit` circles a
target in a cone. Used by :mod:`navigation.simulation.simulator`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation, Slerp

from registration.core.checks import Float64Array
from registration.core.transforms import make_rigid

#: Height of the arc the pointer tip makes between two points (mm).
LIFT_MM = 30.0
#: Half-angle of the camera's cone about the exposed direction (degrees), and its period (s).
CAMERA_CONE_DEG = 20.0
CAMERA_PERIOD_S = 20.0


class Segment:
    """A piece of the pointer's story on ``[start_s, end_s)``: tip (image mm) and rotation."""

    def __init__(self, start_s: float, end_s: float) -> None:
        self.start_s, self.end_s = start_s, end_s

    def progress(self, t: float) -> float:
        return float(np.clip((t - self.start_s) / (self.end_s - self.start_s), 0.0, 1.0))

    def tip_and_rotation(self, t: float) -> tuple[Float64Array, Float64Array]:
        raise NotImplementedError


class Still(Segment):
    def __init__(self, start_s: float, end_s: float, tip: Float64Array, rotation: Float64Array):
        super().__init__(start_s, end_s)
        self.tip, self.rotation = tip, rotation

    def tip_and_rotation(self, t: float) -> tuple[Float64Array, Float64Array]:
        return self.tip, self.rotation


class Travel(Segment):
    """Minimum-jerk move between two poses, lifting the tip off the skin on the way."""

    def __init__(
        self,
        start_s: float,
        end_s: float,
        origin: tuple[Float64Array, Float64Array],
        destination: tuple[Float64Array, Float64Array],
    ) -> None:
        super().__init__(start_s, end_s)
        (self.tip_from, rotation_from), (self.tip_to, rotation_to) = origin, destination
        self.lift = unit(rotation_from[:, 2] + rotation_to[:, 2])
        self.slerp = Slerp([0.0, 1.0], Rotation.from_matrix([rotation_from, rotation_to]))

    def tip_and_rotation(self, t: float) -> tuple[Float64Array, Float64Array]:
        tau = self.progress(t)
        # Minimum-jerk profile; rounding can put it a hair outside [0, 1] (Slerp refuses that).
        s = min(max(10 * tau**3 - 15 * tau**4 + 6 * tau**5, 0.0), 1.0)
        tip = (
            self.tip_from
            + (self.tip_to - self.tip_from) * s
            + LIFT_MM * math.sin(math.pi * s) * self.lift
        )
        return tip, self.slerp(s).as_matrix()


class Sweep(Segment):
    """Constant speed along a polyline of skin vertices, the shaft along their normals."""

    def __init__(
        self, start_s: float, end_s: float, points: Float64Array, rotations: list[Float64Array]
    ) -> None:
        super().__init__(start_s, end_s)
        self.points = points
        self.arc = np.concatenate(
            [[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
        )
        self.slerp = Slerp(self.arc, Rotation.from_matrix(rotations))

    def tip_and_rotation(self, t: float) -> tuple[Float64Array, Float64Array]:
        s = self.progress(t) * self.arc[-1]
        tip = np.array([np.interp(s, self.arc, self.points[:, axis]) for axis in range(3)])
        return tip, self.slerp(s).as_matrix()


class CameraOrbit:
    """The camera circles the target in a cone about the exposed direction."""

    def __init__(self, target: Float64Array, exposed: Float64Array, distance_mm: float) -> None:
        self.target, self.exposed, self.distance = target, exposed, distance_mm
        self.side = frame_from_z(exposed)[:, 0]

    def image_from_camera(self, t: float) -> Float64Array:
        """``image_from_camera`` at time ``t`` (s)."""
        return self.poses(np.array([t]))[0]

    def poses(self, times: np.ndarray) -> Float64Array:
        """(T, 4, 4) ``image_from_camera`` at ``times`` (s)."""
        azimuth = 2 * math.pi * np.asarray(times, dtype=np.float64) / CAMERA_PERIOD_S
        tilt = Rotation.from_rotvec(self.side * math.radians(CAMERA_CONE_DEG))
        spin = Rotation.from_rotvec(np.outer(azimuth, self.exposed))
        direction = (spin * tilt).apply(self.exposed).reshape(-1, 3)
        forward = -direction
        right = np.cross(forward, self.exposed)
        right /= np.linalg.norm(right, axis=1, keepdims=True)  # the cone keeps them apart
        down = np.cross(forward, right)
        out = np.tile(np.eye(4), (len(direction), 1, 1))
        out[:, :3, :3] = np.stack([right, down, forward], axis=2)
        out[:, :3, 3] = self.target + self.distance * direction
        return out


def pointer_pose(segments: list[Segment], t: float, tip_in_pointer: Float64Array) -> Float64Array:
    segment = segments[-1]
    for candidate in segments:
        if t < candidate.end_s:
            segment = candidate
            break
    tip, rotation = segment.tip_and_rotation(t)
    return make_rigid(rotation, tip - rotation @ tip_in_pointer)


def sweep_path(
    skin: Float64Array,
    normals: Float64Array,
    exposed: Float64Array,
    start_near: Float64Array,
    count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Indices of ``count`` skin vertices on the exposed side, in nearest-neighbour order."""
    if count < 2:
        return np.zeros(0, dtype=int)
    facing = np.flatnonzero(normals @ exposed > 0.5)
    if len(facing) < count:
        facing = np.argsort(-(normals @ exposed))[: max(count, 2)]
    chosen = rng.choice(facing, size=min(count, len(facing)), replace=False)
    remaining = list(chosen)
    current = int(
        remaining.pop(int(np.argmin(np.linalg.norm(skin[remaining] - start_near, axis=1))))
    )
    path = [current]
    while remaining:
        nearest = int(np.argmin(np.linalg.norm(skin[remaining] - skin[current], axis=1)))
        current = int(remaining.pop(nearest))
        path.append(current)
    return np.array(path, dtype=int)


def touch_rotation(normal: Float64Array, rng: np.random.Generator) -> Float64Array:
    """Pointer orientation on a fiducial: shaft along the outward normal, tilted up to 15
    degrees, with a random roll."""
    base = frame_from_z(normal)
    roll = Rotation.from_rotvec(base[:, 2] * rng.uniform(0.0, 2 * math.pi))
    tilt_axis = unit(np.cross(base[:, 2], rng.normal(size=3)))
    tilt = Rotation.from_rotvec(tilt_axis * math.radians(rng.uniform(0.0, 15.0)))
    return (tilt * roll).as_matrix() @ base


def frame_from_z(z_axis: Float64Array) -> Float64Array:
    """A rotation whose third column is ``z_axis`` (continuous for z away from +-L)."""
    z = unit(z_axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = unit(np.cross(helper, z))
    return np.column_stack([x, np.cross(z, x), z])


def unit(vector: ArrayLike, fallback: Float64Array | None = None) -> Float64Array:
    v = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    if norm < 1e-9:
        return fallback if fallback is not None else np.array([0.0, 0.0, 1.0])
    return v / norm
