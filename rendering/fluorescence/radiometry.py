"""Radiometric correction of linear NIR fluorescence frames: dark, flat field, excitation.

All on *linear* data (raw sensor counts, no gamma, no auto-gain between frames).

1. Dark subtraction: ``I - dark`` removes the sensor offset and dark current (a dark frame or a
   constant level, in raw counts).
2. Flat field: division by the relative response ``flat`` (1 at the reference, includes lens
   vignetting and pixel gain), measured once per camera on a uniform target.
3. Excitation correction (coaxial illumination: the excitation source sits at the camera):
   ``I * (r / r0)^n / max(cos(theta), c_min)^m``, with r the camera-to-surface distance,
   theta the angle between the surface normal and the ray to the camera, defaults n = 2
   (point-source fall-off of the excitation), m = 1 (Lambertian incidence), r0 = 300 mm.

Why distance appears at all: the radiance of a Lambertian emitter does not depend on how far
away the camera is (the pixel's solid angle and the emitting area it sees scale together), so
camera-to-surface distance alone changes nothing. What changes with distance and angle is the
*excitation*: a coaxial source's irradiance falls as 1/r^2 and as cos(theta) on a tilted
surface, and emitted fluorescence is proportional to it. The correction undoes that, and is
only as right as the light model (ring lights and diffusers deviate from n = 2 near the
camera: calibrate n and m on a uniform target when the device allows). ``c_min`` caps the
gain at grazing angles where noise would be amplified without bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from registration.core.checks import Float64Array, InputError, check_finite, check_positive


@dataclass(frozen=True)
class RadiometricCalibration:
    """Per-camera dark level, flat field and saturation level (raw counts, linear).

    Attributes
    ----------
    dark_frame : (H, W) float raw counts, or None with ``dark_level`` instead.
    dark_level : constant dark offset in raw counts (used when ``dark_frame`` is None).
    flat_field : (H, W) float relative response (> 0; 1 at the reference) or None (all 1).
    saturation_level : raw count at or above which a pixel is saturated (4095 for 12 bits).
    """

    dark_frame: Float64Array | None = None
    dark_level: float = 0.0
    flat_field: Float64Array | None = None
    saturation_level: float = 4095.0

    def __post_init__(self) -> None:
        if self.dark_frame is not None:
            dark = check_finite(self.dark_frame, "dark_frame")
            if dark.ndim != 2:
                raise InputError(f"dark_frame must be a 2-D (H, W) image; got {dark.shape}.")
            object.__setattr__(self, "dark_frame", np.ascontiguousarray(dark))
        if self.flat_field is not None:
            flat = check_finite(self.flat_field, "flat_field")
            if flat.ndim != 2 or (flat <= 0).any():
                raise InputError(
                    "flat_field must be a 2-D (H, W) image of positive relative responses; "
                    "re-measure it on a uniform target."
                )
            object.__setattr__(self, "flat_field", np.ascontiguousarray(flat))
        check_positive(self.saturation_level, "saturation_level")

    def check_frame_shape(self, shape: tuple[int, ...]) -> None:
        """Refuse a frame whose (H, W) differs from the calibration images."""
        for name in ("dark_frame", "flat_field"):
            image = getattr(self, name)
            if image is not None and image.shape != shape:
                raise InputError(
                    f"{name} has shape {image.shape} but the frame is {shape}; use the "
                    "calibration of this camera and resolution."
                )

    def correct_frame(self, frame: ArrayLike) -> Float64Array:
        """A whole frame dark-subtracted and flat-fielded (float64), for display and checks.

        The mapper does the same per sampled vertex (bilinear sampling is linear), never on the
        whole frame.
        """
        image = np.asarray(frame, dtype=np.float64)
        self.check_frame_shape(image.shape)
        dark = self.dark_frame if self.dark_frame is not None else self.dark_level
        corrected = image - dark
        if self.flat_field is not None:
            corrected = corrected / self.flat_field
        return corrected


@dataclass(frozen=True)
class ExcitationCorrection:
    """``I * (r / r0)^n / max(cos(theta), c_min)^m``: see the module docstring.

    reference_distance_mm : r0, the distance at which the correction is 1 (at normal incidence).
    distance_exponent : n (2 for a point-like source).
    cos_exponent : m (1 for Lambertian incidence).
    min_cos : c_min in (0, 1], caps the gain at grazing incidence.
    """

    reference_distance_mm: float = 300.0
    distance_exponent: float = 2.0
    cos_exponent: float = 1.0
    min_cos: float = 0.3

    def __post_init__(self) -> None:
        check_positive(self.reference_distance_mm, "reference_distance_mm")
        if not 0.0 < self.min_cos <= 1.0:
            raise InputError(f"min_cos must be in (0, 1]; got {self.min_cos}.")
        if self.distance_exponent < 0 or self.cos_exponent < 0:
            raise InputError("distance_exponent and cos_exponent must be >= 0.")

    def factor(self, distance_mm: ArrayLike, cos_incidence: ArrayLike) -> Float64Array:
        """(N,) multiplicative correction for (N,) distances (mm) and incidence cosines."""
        r = np.asarray(distance_mm, dtype=np.float64)
        c = np.maximum(np.asarray(cos_incidence, dtype=np.float64), self.min_cos)
        return (r / self.reference_distance_mm) ** self.distance_exponent / c**self.cos_exponent

    def apply(
        self, values: ArrayLike, distance_mm: ArrayLike, cos_incidence: ArrayLike
    ) -> Float64Array:
        """Corrected (N,) values of linear (dark- and flat-corrected) (N,) intensities."""
        return np.asarray(values, dtype=np.float64) * self.factor(distance_mm, cos_incidence)
