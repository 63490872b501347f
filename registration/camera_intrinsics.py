"""Camera intrinsics (OpenCV pinhole with k1, k2, p1, p2, k3 distortion) and their JSON file.

The file written by camera calibration and read by the fluorescence camera model::

    {"schema": "igcs-camera-intrinsics", "schema_version": 1, "model": "opencv-pinhole",
     "image_size_px": [width, height],
     "camera_matrix": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],
     "distortion": [k1, k2, p1, p2, k3],
     "rms_reprojection_px": 0.34}          (optional; null when unknown)

Pixel coordinates follow OpenCV: (u, v) with u along image columns, v down the rows, the centre
of the top-left pixel at (0, 0). The camera frame is OpenCV's: x right, y down, z forward (mm).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from registration.core.atomic_files import write_json_atomic
from registration.core.checks import Float64Array, InputError, check_matrix

INTRINSICS_SCHEMA = "igcs-camera-intrinsics"

#: Iterate OpenCV's undistortion until the reprojection error is below 1e-12 (or 100 steps).
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics with OpenCV's 5-coefficient distortion.

    camera_matrix : (3, 3) [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], pixels.
    distortion : (5,) k1, k2, p1, p2, k3 (OpenCV order).
    image_size_px : (width, height).
    rms_reprojection_px : calibration RMS reprojection error, when known.
    """

    camera_matrix: Float64Array
    distortion: Float64Array
    image_size_px: tuple[int, int]
    rms_reprojection_px: float | None = None

    def __post_init__(self) -> None:
        k = check_matrix(self.camera_matrix, "camera_matrix", (3, 3))
        if k[0, 0] <= 0 or k[1, 1] <= 0 or not np.allclose(k[2], [0, 0, 1]) or k[1, 0] != 0:
            raise InputError(
                "camera_matrix must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0; "
                f"got {k.tolist()}."
            )
        d = np.asarray(self.distortion, dtype=np.float64).ravel()
        if d.size < 5:
            d = np.concatenate([d, np.zeros(5 - d.size)])
        d = check_matrix(d[:5], "distortion", (5,))
        width, height = (int(v) for v in self.image_size_px)
        if width < 1 or height < 1:
            raise InputError(f"image_size_px must be positive; got {self.image_size_px}.")
        k.setflags(write=False)
        d.setflags(write=False)
        object.__setattr__(self, "camera_matrix", k)
        object.__setattr__(self, "distortion", d)
        object.__setattr__(self, "image_size_px", (width, height))

    def normalised_from_pixels(self, pixels: Float64Array) -> Float64Array:
        """Normalised pinhole coordinates (x/z, y/z) (N, 2) of raw pixel positions (N, 2).

        OpenCV's iterative undistortion, iterated to convergence (1e-12) on OpenCV 4.x and 5.x:
        OpenCV 4's ``undistortPoints`` runs a fixed 5 iterations and takes termination criteria
        only in ``undistortPointsIter``; OpenCV 5 removed ``undistortPointsIter`` and gave
        ``undistortPoints`` a ``criteria`` argument. The API is detected, not the version.
        """
        uv = np.ascontiguousarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        identity = np.eye(3)
        iterate = getattr(cv2, "undistortPointsIter", None)
        if iterate is not None:
            normalised = iterate(
                uv, self.camera_matrix, self.distortion, identity, identity, _UNDISTORT_CRITERIA
            )
        else:
            normalised = cv2.undistortPoints(
                uv,
                self.camera_matrix,
                self.distortion,
                R=identity,
                P=identity,
                criteria=_UNDISTORT_CRITERIA,
            )
        return np.asarray(normalised, dtype=np.float64).reshape(-1, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": INTRINSICS_SCHEMA,
            "schema_version": 1,
            "model": "opencv-pinhole",
            "image_size_px": list(self.image_size_px),
            "camera_matrix": self.camera_matrix.tolist(),
            "distortion": self.distortion.tolist(),
            "rms_reprojection_px": self.rms_reprojection_px,
        }

    def save(self, path: str | Path) -> None:
        """Write the JSON file atomically."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> CameraIntrinsics:
        """Read and validate the JSON file; errors name the file and field."""
        file = Path(path)
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"camera intrinsics file {file} does not exist.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"{file} is not valid JSON: {error}.") from None
        if payload.get("schema") != INTRINSICS_SCHEMA:
            raise InputError(
                f"{file}: schema {payload.get('schema')!r} is not {INTRINSICS_SCHEMA!r}; "
                "calibrate with `igcs camera-calibration` or convert the file."
            )
        try:
            return cls(
                camera_matrix=np.asarray(payload["camera_matrix"], dtype=np.float64),
                distortion=np.asarray(payload["distortion"], dtype=np.float64),
                image_size_px=(int(payload["image_size_px"][0]), int(payload["image_size_px"][1])),
                rms_reprojection_px=payload.get("rms_reprojection_px"),
            )
        except KeyError as error:
            raise InputError(f"{file} is missing the field {error.args[0]!r}.") from None
        except InputError as error:
            raise InputError(f"{file}: {error}") from None
