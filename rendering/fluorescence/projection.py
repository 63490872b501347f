"""Project one NIR frame onto a mesh: visible vertices get a radiometrically corrected sample.

The per-frame step of fluorescence mapping, a thin loop for callers::

    projector = FrameProjector(mesh, camera, calibration=calibration)
    fmap = FluorescenceMap(mesh.vertex_count)
    for frame in frames:                                   # each with its timestamp
        tracker_from_cameramarker = marker_track.at(frame.timestamp_s)
        image_from_camera = compose_camera_pose(
            image_from_tracker=image_from_tracker,
            tracker_from_cameramarker=tracker_from_cameramarker,
            cameramarker_from_camera=cameramarker_from_camera)
        fmap.fuse(projector.project(frame.pixels, image_from_camera, timestamp_s=frame.timestamp_s))

Sampling: bilinear, on the raw frame at each visible vertex's *distorted* projection (the exact
geometry with one interpolation; see :mod:`rendering.fluorescence.camera_model`). Dark and flat
field are sampled bilinearly at the same place (bilinear sampling is linear, so this equals
correcting the frame first, without touching the whole frame). A vertex whose four neighbouring
pixels include a masked pixel (instrument, specular highlight) is not sampled in that frame; one
whose raw neighbours reach the saturation level is sampled but flagged (its value is a lower bound).

Fusion weight of a sample (:class:`FusionWeights`): ``w = w_angle * w_distance * w_border *
w_saturation`` with ``w_angle = (cos(theta) - cos(theta_max)) / (1 - cos(theta_max))`` (0 at the
grazing cut), ``w_distance = (r0 / r)^2`` (closer views resolve more and collect more light),
``w_border`` rising linearly from 0 at the image edge over ``border_feather_px`` (so a view's
footprint fades in instead of leaving a seam), and ``w_saturation`` for saturated samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
from numba import prange
from numpy.typing import ArrayLike

from registration.core.checks import Float64Array, InputError, check_positive
from registration.core.transforms import check_rigid, invert_rigid
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.radiometry import ExcitationCorrection, RadiometricCalibration
from rendering.fluorescence.rasterizer import serialized
from rendering.fluorescence.surface_mesh import SurfaceMesh
from rendering.fluorescence.visibility import (
    VISIBLE,
    Visibility,
    VisibilityOptions,
    visibility_into,
)


@dataclass(frozen=True)
class FusionWeights:
    """How much one frame's sample of a vertex counts in the fused mean (module docstring).

    reference_distance_mm : r0 of the distance weight.
    border_feather_px : width of the image-border fade, pixels (0: none).
    saturated_factor : weight factor of saturated samples (small: a lower bound only).
    """

    reference_distance_mm: float = 300.0
    border_feather_px: float = 32.0
    saturated_factor: float = 0.01

    def __post_init__(self) -> None:
        check_positive(self.reference_distance_mm, "reference_distance_mm")
        if self.border_feather_px < 0 or not 0.0 <= self.saturated_factor <= 1.0:
            raise InputError("border_feather_px must be >= 0 and saturated_factor in [0, 1].")


@dataclass(frozen=True)
class FrameSample:
    """One frame's samples of every vertex (NaN / 0 where not sampled in this frame).

    Attributes
    ----------
    values : (N,) float, excitation-corrected linear intensity (the fused quantity).
    linear_values : (N,) float, dark- and flat-corrected intensity before the excitation
        correction (raw counts above dark).
    weights : (N,) float >= 0, fusion weights; 0 where not sampled.
    saturated : (N,) bool, sampled from saturated pixels (values are lower bounds).
    masked : (N,) bool, visible but excluded by the frame's mask.
    visibility : the frame's :class:`~rendering.fluorescence.visibility.Visibility`.
    timestamp_s : the frame's time, seconds.
    """

    values: Float64Array
    linear_values: Float64Array
    weights: Float64Array
    saturated: np.ndarray
    masked: np.ndarray
    visibility: Visibility
    timestamp_s: float

    @property
    def sampled(self) -> np.ndarray:
        """(N,) bool, vertices that received a value from this frame."""
        return np.isfinite(self.values)


@dataclass(frozen=True)
class FrameProjector:
    """Maps frames of one calibrated camera onto one mesh (reuses its buffers between frames).

    Not thread-safe: use one projector per thread (numba kernels run one call at a time).
    """

    mesh: SurfaceMesh
    camera: CameraModel
    calibration: RadiometricCalibration = field(default_factory=RadiometricCalibration)
    excitation: ExcitationCorrection = field(default_factory=ExcitationCorrection)
    weighting: FusionWeights = field(default_factory=FusionWeights)
    visibility_options: VisibilityOptions = field(default_factory=VisibilityOptions)
    _buffers: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def visibility(self, image_from_camera: ArrayLike) -> Visibility:
        """Per-vertex :class:`Visibility` from the camera pose ``image_from_camera`` (4, 4)."""
        grid = self.camera.pinhole_grid()
        if not self._buffers:
            self._buffers["packed"] = np.empty((grid.height, grid.width), dtype=np.int64)
            self._buffers["boxes"] = np.empty((self.mesh.triangles.shape[0], 4), dtype=np.int32)
        camera_from_image = invert_rigid(check_rigid(image_from_camera, "image_from_camera"))
        return visibility_into(
            self.mesh,
            self.camera,
            camera_from_image,
            self._buffers["packed"],
            self._buffers["boxes"],
            options=self.visibility_options,
        )

    def project(
        self,
        frame: ArrayLike,
        image_from_camera: ArrayLike,
        *,
        timestamp_s: float = 0.0,
        mask: ArrayLike | None = None,
    ) -> FrameSample:
        """Sample a linear raw frame at every visible vertex.

        frame : (H, W) raw linear counts (uint8/uint16/float), H, W = the camera's image size.
        image_from_camera : (4, 4) rigid, camera (OpenCV frame) to image LPS mm.
        timestamp_s : the frame's time (kept as the vertices' last-seen time).
        mask : (H, W) bool or None; True marks pixels to ignore (instruments, highlights).
        """
        pixels = np.asarray(frame)
        width, height = self.camera.image_size_px
        if pixels.shape != (height, width) or pixels.dtype.kind not in "uif":
            raise InputError(
                f"frame must be a single-channel (H, W) = ({height}, {width}) numeric image (the "
                f"camera's calibrated size); got shape {pixels.shape}, dtype {pixels.dtype}."
            )
        self.calibration.check_frame_shape(pixels.shape)
        if mask is not None:
            mask_array = np.ascontiguousarray(mask, dtype=np.bool_)
            if mask_array.shape != pixels.shape:
                raise InputError(f"mask must have the frame's shape {pixels.shape}.")
        else:
            mask_array = np.zeros((1, 1), dtype=np.bool_)
        visibility = self.visibility(image_from_camera)
        cal = self.calibration
        dark = cal.dark_frame if cal.dark_frame is not None else np.zeros((1, 1))
        flat = cal.flat_field if cal.flat_field is not None else np.ones((1, 1))
        exc = self.excitation
        w = self.weighting
        cos_limit = float(np.cos(np.radians(self.visibility_options.max_view_angle_deg)))
        parameters = np.array([
            cal.dark_level, cal.saturation_level,
            exc.reference_distance_mm, exc.distance_exponent, exc.cos_exponent, exc.min_cos,
            w.reference_distance_mm, w.border_feather_px, w.saturated_factor, cos_limit,
        ], dtype=np.float64)  # fmt: skip
        values, linear, weights, saturated, masked = _sample(
            np.ascontiguousarray(pixels),
            dark,
            flat,
            mask_array,
            parameters,
            visibility.status,
            visibility.pixels_uv,
            visibility.points_in_camera,
            visibility.cos_view,
        )
        return FrameSample(
            values, linear, weights, saturated, masked, visibility, float(timestamp_s)
        )


@serialized
@numba.njit(parallel=True, cache=True)
def _sample(frame, dark, flat, mask, parameters, status, uv, cam, cos_view):
    """Bilinear samples, dark/flat, excitation correction and fusion weights per vertex."""
    n = status.shape[0]
    height, width = frame.shape
    use_dark = dark.shape[0] > 1
    use_flat = flat.shape[0] > 1
    use_mask = mask.shape[0] > 1
    dark_level, saturation_level = parameters[0], parameters[1]
    r0, n_exp, m_exp, min_cos = parameters[2], parameters[3], parameters[4], parameters[5]
    weight_r0, feather = parameters[6], parameters[7]
    saturated_factor, cos_limit = parameters[8], parameters[9]
    values = np.full(n, np.nan)
    linear = np.full(n, np.nan)
    weights = np.zeros(n)
    saturated = np.zeros(n, dtype=np.bool_)
    masked = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        if status[i] != VISIBLE:
            continue
        u = uv[i, 0]
        v = uv[i, 1]
        x0 = min(int(np.floor(u)), width - 2)
        y0 = min(int(np.floor(v)), height - 2)
        fu = u - x0
        fv = v - y0
        if use_mask and (
            mask[y0, x0] or mask[y0, x0 + 1] or mask[y0 + 1, x0] or mask[y0 + 1, x0 + 1]
        ):
            masked[i] = True
            continue
        a = float(frame[y0, x0])
        b = float(frame[y0, x0 + 1])
        c = float(frame[y0 + 1, x0])
        d = float(frame[y0 + 1, x0 + 1])
        is_saturated = max(max(a, b), max(c, d)) >= saturation_level
        value = (1 - fv) * ((1 - fu) * a + fu * b) + fv * ((1 - fu) * c + fu * d)
        if use_dark:
            value -= (1 - fv) * ((1 - fu) * dark[y0, x0] + fu * dark[y0, x0 + 1]) + fv * (
                (1 - fu) * dark[y0 + 1, x0] + fu * dark[y0 + 1, x0 + 1]
            )
        else:
            value -= dark_level
        if use_flat:
            value /= (1 - fv) * ((1 - fu) * flat[y0, x0] + fu * flat[y0, x0 + 1]) + fv * (
                (1 - fu) * flat[y0 + 1, x0] + fu * flat[y0 + 1, x0 + 1]
            )
        distance = np.sqrt(cam[i, 0] ** 2 + cam[i, 1] ** 2 + cam[i, 2] ** 2)
        cosine = cos_view[i]
        linear[i] = value
        values[i] = value * _power(distance / r0, n_exp) / _power(max(cosine, min_cos), m_exp)
        weight = min(max((cosine - cos_limit) / (1.0 - cos_limit), 0.0), 1.0)
        relative = weight_r0 / distance
        weight *= relative * relative
        if feather > 0:
            edge = min(min(u, v), min(width - 1.0 - u, height - 1.0 - v))
            weight *= min(max(edge / feather, 0.0), 1.0)
        if is_saturated:
            weight *= saturated_factor
        saturated[i] = is_saturated
        weights[i] = weight
    return values, linear, weights, saturated, masked


@numba.njit(cache=True, inline="always")
def _power(base, exponent):
    """``base ** exponent`` with exact products for the common exponents 0, 1 and 2 (libm's
    ``pow`` costs about 20 ns a call: two calls per vertex were 60 % of :func:`_sample`)."""
    if exponent == 2.0:
        return base * base
    if exponent == 1.0:
        return base
    if exponent == 0.0:
        return 1.0
    return base**exponent
