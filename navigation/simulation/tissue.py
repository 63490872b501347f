"""What tissue emits in the NIR-I window: a tracer under the surface, seen through the tissue.

The phantom's tracer (:class:`~navigation.simulation.tracer.TracerModel`) is a patch with an
erfc edge on a uniform background. Real tissue differs in two ways this model adds:

1. **Depth.** The tracer sits in the tumour, under a few millimetres of tissue, and NIR-I light
   diffuses on its way out. In the diffusion approximation a point source in an infinite,
   homogeneous medium gives a fluence ``exp(-mu_eff r) / (4 pi D r)`` (Farrell, Patterson &
   Wilson 1992), ``mu_eff = sqrt(3 mu_a (mu_a + mu_s'))``. The surface signal is the tracer
   concentration convolved with that kernel (FFT, scipy's ``fftconvolve``, on a 1 mm grid),
   normalised so that the flat surface of a half-space full of tracer reads 1; a tumour under
   ``d`` mm of tissue then reads about ``exp(-mu_eff d)``, and the deeper the tumour, the wider
   and dimmer its glow: depth-dependent attenuation and blur in one kernel. Boundary effects
   (the extrapolated boundary) are ignored. Defaults ``mu_a = 0.03 /mm``, ``mu_s' = 1.0 /mm``
   (soft tissue at ~800 nm, Jacques 2013, Phys Med Biol 58:R37): ``mu_eff = 0.30 /mm``, a 1/e
   depth of 3.3 mm, and ~5 mm as the depth from which a tumour still doubles the background.
2. **Background.** Normal tissue glows too (autofluorescence and unbound tracer), unevenly with
   perfusion: the background is ``background x texture`` with a log-normal texture of mean 1,
   coefficient of variation ``texture_cv`` and correlation length ``texture_length_mm``
   (Gaussian-filtered white noise, seeded: the world and its truth make the same texture).
3. **Relief.** A wound is not a polished surface: the rendered world's normals are tilted by a
   smooth random field (``roughness_deg`` RMS), so wet-tissue reflections break into glints.

Emission at a surface point: ``background x (texture + (tumour_to_normal - 1) x S)``, with S
the normalised subsurface sensitivity to the tumour. ``tumour_to_normal`` is the tracer
contrast of exposed tumour over normal tissue: 6 by default, the specimen TBR of 5-6 of
panitumumab-IRDye800CW (Gao et al. 2018); a tumour's convex cap under 2 mm of tissue reads
S ~ 0.4, an in-situ SBR of about 1 + 5 x 0.4 = 3, the top of the 2-3 in-situ range of the same
study (under 3 mm: about 2.4).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import map_coordinates
from scipy.signal import fftconvolve

from navigation.fluorescence.plan_masks import SmoothMask
from registration.core.checks import Float64Array, InputError, check_points, check_positive
from registration.random_fields import smooth_noise

#: The convolution kernel is cut where it has fallen to exp(-6) of its value at 1 mm.
_KERNEL_DECAYS = 6.0


@dataclass(frozen=True)
class TissueOptics:
    """Absorption and reduced scattering of soft tissue at the excitation/emission band (/mm)."""

    absorption_per_mm: float = 0.03
    reduced_scattering_per_mm: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self.absorption_per_mm, "absorption_per_mm")
        check_positive(self.reduced_scattering_per_mm, "reduced_scattering_per_mm")

    @property
    def effective_attenuation_per_mm(self) -> float:
        """mu_eff = sqrt(3 mu_a (mu_a + mu_s')), /mm."""
        mu_a, mu_s = self.absorption_per_mm, self.reduced_scattering_per_mm
        return math.sqrt(3.0 * mu_a * (mu_a + mu_s))


@dataclass(frozen=True)
class TissueModel:
    """Emission of tissue with a tracer-bearing tumour under it (see the module docstring).

    background : mean relative emission of normal tissue. tumour_to_normal : contrast of the
    exposed tumour. texture_cv, texture_length_mm : background heterogeneity. seed : texture.
    grid_mm : spacing of the convolution and texture grids.
    """

    background: float = 0.2
    tumour_to_normal: float = 6.0
    texture_cv: float = 0.15
    texture_length_mm: float = 4.0
    optics: TissueOptics = field(default_factory=TissueOptics)
    seed: int = 0
    grid_mm: float = 1.0
    roughness_deg: float = 6.0
    roughness_length_mm: float = 2.0

    def __post_init__(self) -> None:
        check_positive(self.background, "background")
        check_positive(self.texture_length_mm, "texture_length_mm")
        check_positive(self.grid_mm, "grid_mm")
        if self.tumour_to_normal < 1.0 or not 0.0 <= self.texture_cv < 1.0:
            raise InputError("TissueModel needs tumour_to_normal >= 1 and 0 <= texture_cv < 1.")

    @property
    def peak(self) -> float:
        """Emission of exposed tumour on mean background (for reports)."""
        return self.background * self.tumour_to_normal

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["model"] = "subsurface diffusion (navigation.simulation.tissue)"
        data["effective_attenuation_per_mm"] = self.optics.effective_attenuation_per_mm
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TissueModel:
        try:
            optics = TissueOptics(**data["optics"])
            keys = ("background", "tumour_to_normal", "texture_cv", "texture_length_mm", "seed",
                    "grid_mm", "roughness_deg", "roughness_length_mm")  # fmt: skip
            return cls(optics=optics, **{key: data[key] for key in keys})
        except (KeyError, TypeError) as error:
            raise InputError(f"tissue model is incomplete or malformed: {error}") from None


@dataclass(frozen=True)
class TissueEmission:
    """Per-vertex emission and its parts: ``sensitivity`` (S, 0..1) and ``texture`` (mean 1)."""

    emission: Float64Array
    sensitivity: Float64Array
    texture: Float64Array


def tissue_emission(
    vertices_lps_mm: ArrayLike, tumour: SmoothMask, model: TissueModel
) -> TissueEmission:
    """Emission (N,) at surface points (N, 3) LPS mm over the plan's tumour (module docstring)."""
    points = check_points(vertices_lps_mm, "vertices_lps_mm")
    sensitivity = subsurface_sensitivity(points, tumour, model)
    texture = background_texture(points, model)
    emission = model.background * (texture + (model.tumour_to_normal - 1.0) * sensitivity)
    return TissueEmission(emission, sensitivity, texture)


def subsurface_sensitivity(
    points_lps_mm: Float64Array, tumour: SmoothMask, model: TissueModel
) -> Float64Array:
    """(N,) S in [0, 1]: the tumour's diffuse glow at each point, 1 on the flat surface of a
    half-space of tumour, ~exp(-mu_eff d) under d mm of tissue."""
    mu = model.optics.effective_attenuation_per_mm
    step = model.grid_mm
    reach = _KERNEL_DECAYS / mu
    inside = np.argwhere(tumour.values > 0.5)
    if inside.size == 0:
        return np.zeros(len(points_lps_mm))
    corners = tumour.geometry.kji_to_lps(
        np.array([inside.min(axis=0), inside.max(axis=0)]) + np.asarray(tumour.offset_kji)
    )
    low = corners.min(axis=0) - reach - step
    high = corners.max(axis=0) + reach + step
    axes = [np.arange(lo, hi + step, step) for lo, hi in zip(low, high, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    occupancy = (tumour.occupancy(grid) > 0.5).astype(np.float32)
    occupancy = occupancy.reshape(tuple(len(a) for a in axes))
    half = math.ceil(reach / step)
    offsets = np.arange(-half, half + 1) * step
    x, y, z = np.meshgrid(offsets, offsets, offsets, indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    # The centre cell holds the kernel's integral over a ball of the cell's volume.
    r_cell = (3.0 / (4.0 * math.pi)) ** (1 / 3) * step
    centre = 4.0 * math.pi * (1.0 - (1.0 + mu * r_cell) * math.exp(-mu * r_cell)) / mu**2
    kernel = np.where(r > 0, np.exp(-mu * r) / np.where(r > 0, r, 1.0) * step**3, centre)
    total = 4.0 * math.pi / mu**2  # the kernel's integral over all space
    glow = fftconvolve(occupancy, kernel.astype(np.float32), mode="same") / total
    index = (points_lps_mm - low) / step
    values = map_coordinates(glow, index.T, order=1, mode="constant", cval=0.0)
    return np.clip(2.0 * np.asarray(values, dtype=np.float64), 0.0, 1.0)


def rough_normals(
    points_lps_mm: Float64Array, normals: Float64Array, model: TissueModel
) -> Float64Array:
    """(N, 3) unit normals tilted by a smooth random field of RMS ``roughness_deg`` and
    correlation ``roughness_length_mm``: the small relief of a wound (what makes specular
    reflection a scatter of glints rather than a mirror), for the rendered world only; the
    mapping model keeps the plan's smooth surface."""
    if model.roughness_deg == 0:
        return normals
    fields = [
        smooth_noise(points_lps_mm, model.roughness_length_mm, model.seed + 1 + axis)
        for axis in range(3)
    ]
    tilt = np.stack(fields, axis=1) * math.tan(math.radians(model.roughness_deg)) / math.sqrt(2)
    tilt -= np.sum(tilt * normals, axis=1, keepdims=True) * normals
    rough = normals + tilt
    return rough / np.linalg.norm(rough, axis=1, keepdims=True)


def background_texture(points_lps_mm: Float64Array, model: TissueModel) -> Float64Array:
    """(N,) log-normal texture, mean 1, CV ``texture_cv``, correlation ``texture_length_mm``;
    the same points and seed give the same values."""
    if model.texture_cv == 0:
        return np.ones(len(points_lps_mm))
    sigma = math.sqrt(math.log1p(model.texture_cv**2))
    values = smooth_noise(points_lps_mm, model.texture_length_mm, model.seed)
    return np.exp(sigma * values - 0.5 * sigma**2)
