"""OpenCV pinhole camera with k1, k2, p1, p2, k3 distortion: vectorised projection and undistortion.

Built from :class:`registration.camera_intrinsics.CameraIntrinsics` (the calibration JSON).
The camera frame is OpenCV's: x right, y down, z forward, millimetres. Pixel (u, v): u along
columns, v down rows, the centre of the top-left pixel at (0, 0).

Projection follows OpenCV's model (Bradski & Kaehler, *Learning OpenCV*, ch. 11; the
``cv::projectPoints`` documentation) written in numpy for all points at once;
``cv2.projectPoints`` is the reference in the tests (agreement < 1e-6 px).

**Why frames are sampled at the distorted projection, not undistorted first.** A surface point
seen by the camera lands on the raw (distorted) sensor at ``project_points(p)``. Reading the raw
frame there, bilinearly, is the exact geometry with one interpolation. Undistorting the whole
frame first (``cv2.remap`` with :meth:`CameraModel.undistortion_maps`) and reading the
undistorted frame at the pinhole projection gives the same geometry but interpolates twice
(blurring by about half a pixel), costs a full-frame remap per frame, and loses the sensor border
that the rectified image crops. So the mapper samples the raw frame at the distorted projection;
the undistortion maps are kept for display and for the test that both routes agree. Occlusion,
on the other hand, is decided on the undistorted (pinhole) image plane, where straight triangle
edges stay straight: see :class:`PinholeGrid`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import ArrayLike

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError, check_points

#: Points closer than this to the camera plane (z, mm) are not projected (NaN).
NEAR_PLANE_MM = 1.0


@dataclass(frozen=True)
class PinholeGrid:
    """A pixel grid on the undistorted (pinhole) image plane that covers the whole raw sensor.

    Grid pixel (gx, gy) has centre ``gx = fx * x/z + skew * y/z + cx - offset_x`` and
    ``gy = fy * y/z + cy - offset_y`` (times ``scale``), i.e. camera pixels without distortion,
    shifted so that the undistorted image of every raw sensor pixel lies inside. Barrel
    distortion makes this grid larger than the sensor.

    Attributes
    ----------
    width, height : grid size in pixels.
    offset_x, offset_y : camera pixel coordinate of grid pixel (0, 0) (before scaling).
    scale : grid pixels per camera pixel (1 for occlusion; >1 to supersample).
    """

    width: int
    height: int
    offset_x: float
    offset_y: float
    scale: float = 1.0


@dataclass(frozen=True)
class CameraModel:
    """A calibrated OpenCV camera: intrinsics plus cached undistortion tables.

    Build with ``CameraModel(intrinsics)`` or :meth:`load` (the calibration JSON). A non-zero
    skew is refused: OpenCV's model has none.
    """

    intrinsics: CameraIntrinsics
    _cache: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        skew = float(self.intrinsics.camera_matrix[0, 1])
        if skew != 0.0:
            raise InputError(
                f"camera_matrix has skew {skew:g}; OpenCV's pinhole model (and cv2.projectPoints, "
                "which ignores it) has none. Recalibrate with OpenCV or set the skew to 0."
            )

    @classmethod
    def load(cls, path: str | Path) -> CameraModel:
        """Read the camera intrinsics JSON written by calibration."""
        return cls(CameraIntrinsics.load(path))

    @property
    def image_size_px(self) -> tuple[int, int]:
        """(width, height) of the sensor in pixels."""
        return self.intrinsics.image_size_px

    @property
    def focal_px(self) -> float:
        """Mean focal length in pixels (for pixel footprints: ``footprint_mm = z / focal_px``)."""
        k = self.intrinsics.camera_matrix
        return float(0.5 * (k[0, 0] + k[1, 1]))

    def project_points(self, points_in_camera: ArrayLike) -> Float64Array:
        """Distorted pixel coordinates of (N, 3) points in the camera frame.

        points_in_camera : (N, 3) float, mm, OpenCV camera frame.
        Returns (N, 2) float (u, v) pixels on the raw sensor; NaN for points with
        z <= NEAR_PLANE_MM (behind or at the camera).
        """
        points = check_points(points_in_camera, "points_in_camera")
        return distort_normalised(self.intrinsics, *_normalise(points))

    def project_pinhole(self, points_in_camera: ArrayLike) -> Float64Array:
        """Undistorted (ideal pinhole) pixel coordinates (N, 2) of (N, 3) camera-frame points."""
        points = check_points(points_in_camera, "points_in_camera")
        x, y = _normalise(points)
        k = self.intrinsics.camera_matrix
        return np.stack([k[0, 0] * x + k[0, 1] * y + k[0, 2], k[1, 1] * y + k[1, 2]], axis=1)

    def undistort_pixels(self, pixels: ArrayLike) -> Float64Array:
        """Normalised pinhole coordinates (x/z, y/z) (N, 2) of raw pixel positions (N, 2).

        Inverts the distortion iteratively (OpenCV's undistortion iterated to convergence:
        :meth:`CameraIntrinsics.normalised_from_pixels`).
        """
        uv = np.asarray(pixels, dtype=np.float64)
        if uv.ndim != 2 or uv.shape[1] != 2:
            raise InputError(f"pixels must have shape (N, 2); got {uv.shape}.")
        return self.intrinsics.normalised_from_pixels(uv)

    def pinhole_grid(self, *, scale: float = 1.0) -> PinholeGrid:
        """The pinhole grid that covers the undistorted image of the whole sensor (cached)."""
        key = f"grid{scale}"
        if key not in self._cache:
            width, height = self.image_size_px
            samples = max(width, height)
            border = np.concatenate(
                [
                    np.stack([np.linspace(-0.5, width - 0.5, samples), np.full(samples, -0.5)], 1),
                    np.stack(
                        [np.linspace(-0.5, width - 0.5, samples), np.full(samples, height - 0.5)],
                        1,
                    ),
                    np.stack([np.full(samples, -0.5), np.linspace(-0.5, height - 0.5, samples)], 1),
                    np.stack(
                        [np.full(samples, width - 0.5), np.linspace(-0.5, height - 0.5, samples)],
                        1,
                    ),
                ]
            )
            x, y = self.undistort_pixels(border).T
            k = self.intrinsics.camera_matrix
            gx = k[0, 0] * x + k[0, 1] * y + k[0, 2]
            gy = k[1, 1] * y + k[1, 2]
            offset_x = float(np.floor(gx.min())) - 1.0
            offset_y = float(np.floor(gy.min())) - 1.0
            grid_width = int(np.ceil((gx.max() - offset_x + 2.0) * scale))
            grid_height = int(np.ceil((gy.max() - offset_y + 2.0) * scale))
            if grid_width * grid_height > 16 * width * height * scale * scale:
                raise InputError(
                    "the distortion coefficients map the sensor onto a pinhole plane more than 16x "
                    f"its area ({grid_width} x {grid_height} px): the calibration is implausible "
                    "(fisheye lenses need another model)."
                )
            self._cache[key] = PinholeGrid(grid_width, grid_height, offset_x, offset_y, scale)
        grid = self._cache[key]
        assert isinstance(grid, PinholeGrid)
        return grid

    def pixel_rays(self, *, supersample: int = 1) -> Float64Array:
        """Normalised pinhole coordinates of (sub)pixel samples of the raw sensor (cached).

        Returns (H * s, W * s, 2) float: (x/z, y/z) of sample (row, column); with ``s =
        supersample`` the samples sit at the centres of an s x s split of each pixel.
        """
        key = f"rays{supersample}"
        if key not in self._cache:
            width, height = self.image_size_px
            s = int(supersample)
            offsets = (np.arange(s) + 0.5) / s - 0.5
            us = (np.arange(width)[:, np.newaxis] + offsets[np.newaxis, :]).ravel()
            vs = (np.arange(height)[:, np.newaxis] + offsets[np.newaxis, :]).ravel()
            grid_u, grid_v = np.meshgrid(us, vs)
            rays = self.undistort_pixels(np.stack([grid_u.ravel(), grid_v.ravel()], axis=1))
            rays = rays.reshape(height * s, width * s, 2)
            rays.setflags(write=False)
            self._cache[key] = rays
        cached = self._cache[key]
        assert isinstance(cached, np.ndarray)
        return cached

    def undistortion_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """``cv2.initUndistortRectifyMap`` tables (float32 map_x, map_y) for ``cv2.remap``, cached.

        The undistorted image keeps the camera matrix (same fx, fy, cx, cy, no rectification).
        """
        if "maps" not in self._cache:
            k = self.intrinsics.camera_matrix
            self._cache["maps"] = cv2.initUndistortRectifyMap(
                k, self.intrinsics.distortion, None, k, self.image_size_px, cv2.CV_32FC1
            )
        maps = self._cache["maps"]
        assert isinstance(maps, tuple)
        return maps

    def undistort_frame(self, frame: np.ndarray) -> np.ndarray:
        """A raw frame resampled (bilinear) onto the pinhole geometry of the same camera matrix."""
        map_x, map_y = self.undistortion_maps()
        return cv2.remap(
            np.asarray(frame),
            map_x,
            map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=np.nan if np.asarray(frame).dtype.kind == "f" else 0,
        )


def _normalise(points: Float64Array) -> tuple[Float64Array, Float64Array]:
    z = points[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where(z > NEAR_PLANE_MM, 1.0 / z, np.nan)
    return points[:, 0] * inverse, points[:, 1] * inverse


def distort_normalised(
    intrinsics: CameraIntrinsics, x: Float64Array, y: Float64Array
) -> Float64Array:
    """OpenCV's distortion + camera matrix applied to normalised coordinates (x/z, y/z).

    Returns (N, 2) raw pixel coordinates (u, v).
    """
    k1, k2, p1, p2, k3 = intrinsics.distortion
    k = intrinsics.camera_matrix
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xy = x * y
    xd = x * radial + 2.0 * p1 * xy + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * xy
    return np.stack([k[0, 0] * xd + k[0, 1] * yd + k[0, 2], k[1, 1] * yd + k[1, 2]], axis=1)
