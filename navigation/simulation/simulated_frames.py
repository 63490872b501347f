"""NIR camera frames for the simulator: the synthetic fluorescence camera, or a plain stand-in.

A frame source is any callable ``frame_for(image_from_camera, timestamp_s) -> ndarray`` that
returns a (rows, columns) uint16 frame for the camera's true pose (image LPS mm, OpenCV camera
frame: x right, y down, z forward) at a time.

- :class:`FluorescenceFrames` renders a surface with a known per-vertex emission through
  :func:`rendering.fluorescence.nir_camera.render_nir_frame` (occlusion, lens distortion, excitation
  fall-off, vignetting, blur, shot and read noise, 12 bits): the simulator's frames whenever
  the plan has a tumour (the field and its truth: :mod:`navigation.fluorescence.field`).
- :class:`TumourBlobFrames` is the simple stand-in without a fluorescence model: the tumour
  mesh's vertices projected with the intrinsics (no distortion), their convex hull filled as a
  bright blob on a dark background, blurred, over a background with deterministic noise, in
  12-bit counts. Drawing uses scikit-image (``skimage.draw.polygon``) and SciPy
  (``ConvexHull``, ``gaussian_filter``). With no tumour it gives dark, noisy frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter
from scipy.spatial import ConvexHull, QhullError
from skimage.draw import polygon

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, check_points
from registration.core.transforms import apply_transform, invert_rigid
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.nir_camera import NirSensorModel, render_nir_frame
from rendering.fluorescence.surface_mesh import SurfaceMesh

#: Largest value of a 12-bit camera.
MAX_COUNT_12_BIT = 4095
_NOISE_MARGIN = 64


@dataclass(frozen=True)
class TumourBlobFrames:
    """Frames of the tumour as a bright blob (see the module docstring).

    tumour_vertices_in_image : (N, 3) tumour mesh vertices, image LPS mm (may be empty: dark
        frames).
    intrinsics : the camera's pinhole model (its distortion is ignored).
    background_counts, tumour_counts : mean levels, 12-bit counts.
    noise_counts : standard deviation of the additive Gaussian noise, counts.
    blur_px : Gaussian blur of the blob edge (tissue scattering), pixels.
    seed : noise seed; a frame depends only on the seed, the pose and the timestamp.
    """

    tumour_vertices_in_image: Float64Array
    intrinsics: CameraIntrinsics
    background_counts: float = 120.0
    tumour_counts: float = 3000.0
    noise_counts: float = 15.0
    blur_px: float = 3.0
    seed: int = 0

    def __call__(self, image_from_camera: ArrayLike, timestamp_s: float) -> np.ndarray:
        """(rows, columns) uint16 frame seen from ``image_from_camera`` (4, 4) at a time (s)."""
        width, height = self.intrinsics.image_size_px
        rng = np.random.default_rng([self.seed, round(timestamp_s * 1e6) & 0xFFFFFFFF])
        dy, dx = (int(v) for v in rng.integers(0, _NOISE_MARGIN, 2))
        frame = self._background[dy : dy + height, dx : dx + width].copy()
        blob = self._blob(image_from_camera, (height, width))
        if blob is not None:
            rows, columns = blob
            # Only around the blob: elsewhere the frame is background and noise.
            margin = math.ceil(4 * self.blur_px) + 1
            top, bottom = max(rows.min() - margin, 0), min(rows.max() + margin + 1, height)
            left, right = max(columns.min() - margin, 0), min(columns.max() + margin + 1, width)
            signal = np.zeros((bottom - top, right - left), dtype=np.float32)
            signal[rows - top, columns - left] = 1.0
            if self.blur_px > 0:
                signal = gaussian_filter(signal, self.blur_px)
            region = frame[top:bottom, left:right].astype(np.float32)
            region += np.float32(self.tumour_counts - self.background_counts) * signal
            frame[top:bottom, left:right] = np.clip(np.rint(region), 0, MAX_COUNT_12_BIT)
        return frame

    @cached_property
    def _background(self) -> np.ndarray:
        """Background plus noise, larger than a frame; each frame crops it at a seeded offset
        (a fresh noise field per frame costs ~10x more at 1280x1024)."""
        width, height = self.intrinsics.image_size_px
        rng = np.random.default_rng(self.seed)
        shape = (height + _NOISE_MARGIN, width + _NOISE_MARGIN)
        field = self.background_counts + self.noise_counts * rng.standard_normal(
            shape, dtype=np.float32
        )
        return np.clip(np.rint(field), 0, MAX_COUNT_12_BIT).astype(np.uint16)

    def _blob(
        self, image_from_camera: ArrayLike, shape: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Pixel rows and columns inside the projected tumour's convex hull (None if none)."""
        vertices = np.asarray(self.tumour_vertices_in_image, dtype=np.float64).reshape(-1, 3)
        if len(vertices) < 3:
            return None
        in_camera = apply_transform(
            invert_rigid(image_from_camera), check_points(vertices, "tumour_vertices_in_image")
        )
        in_front = in_camera[in_camera[:, 2] > 1.0]
        if len(in_front) < 3:
            return None
        k = self.intrinsics.camera_matrix
        u = k[0, 0] * in_front[:, 0] / in_front[:, 2] + k[0, 2]
        v = k[1, 1] * in_front[:, 1] / in_front[:, 2] + k[1, 2]
        try:
            hull = ConvexHull(np.column_stack([u, v])).vertices
        except QhullError:  # all projected points on a line: seen edge-on
            return None
        rows, columns = polygon(v[hull], u[hull], shape=shape)
        return (rows, columns) if len(rows) else None


@dataclass(frozen=True)
class FluorescenceFrames:
    """Frames of the synthetic NIR camera looking at ``mesh`` with a known emission.

    mesh : the scene surface (image LPS mm). emission : (N,) relative per-vertex emission.
    intrinsics : the camera (its size is the frame size; it must be the one the simulator's
        truth reports). sensor : radiometry and noise (gain, dark level, 12 bits...).
    seed : noise seed; a frame depends only on the seed, the pose and the timestamp.
    """

    mesh: SurfaceMesh
    emission: Float64Array
    intrinsics: CameraIntrinsics
    sensor: NirSensorModel = field(default_factory=NirSensorModel)
    seed: int = 0
    camera: CameraModel = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "camera", CameraModel(self.intrinsics))

    def __call__(self, image_from_camera: ArrayLike, timestamp_s: float) -> np.ndarray:
        """(rows, columns) uint16 raw frame seen from ``image_from_camera`` (4, 4) at a time (s)."""
        stream = np.random.SeedSequence([self.seed, round(timestamp_s * 1e6) & 0xFFFFFFFF])
        noise_seed = int(stream.generate_state(1)[0])
        frame = render_nir_frame(
            self.mesh,
            self.emission,
            self.camera,
            image_from_camera,
            sensor=self.sensor,
            seed=noise_seed,
        )
        return frame.pixels
