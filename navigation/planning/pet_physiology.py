"""Where FDG uptake in a head and neck PET is physiological, and the candidate tumour foci.

Everything here works on the PET's own grid (cropped to the CT's field), with the CT sampled
onto it (nearest voxel, :mod:`navigation.imaging.grid_sampling`):

- **brain**: the cranial vault is the soft tissue enclosed by the skull in axial CT slices
  (bone > 300 HU, holes filled slice by slice at half the CT's in-plane resolution, then on
  the PET grid its largest 3-D component, at least 200 ml). The brain is every PET component
  above 30 % of the vault's cortical uptake (its 99th SUV percentile) that has at least 30 %
  of its voxels in the vault: so the cerebellum and skull-base cortex below the closed skull
  ring go too. Dilated by one
  PET voxel (spill-over of the scanner's point spread);
- **below the lung apices**: slices, counted up from the bottom of the field, where air inside
  the patient's own cross-section (each slice's largest body component, holes filled: not the
  air a table or head holder encloses) covers more than 10 cm^2 on each side of the midline
  (the lungs; the neck's airway holds 2-5 cm^2), and everything below them: myocardium,
  mediastinum, liver, bladder are never a head and neck primary;
- **symmetric pairs** (palatine and lingual tonsils, parotid and submandibular glands,
  pterygoid and laryngeal muscles, brown fat): a focus more than ``mirror_radius_mm`` from the
  midline (the body's centre in its slice) whose mirror image across the midline holds, in
  another region, at least ``symmetry_ratio`` of its SUVmax. A tumour's own contralateral
  half (one region crossing the midline) is never counted as its mirror.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cc3d
import fastremap
import fill_voids
import numpy as np
from scipy import ndimage

from navigation.imaging.grid_sampling import sample_nearest
from navigation.imaging.volume import Volume
from navigation.planning.pet_options import PetOptions
from navigation.planning.regions import largest_component
from registration.core.geometry import ImageGeometry

BONE_HU, BODY_HU, AIR_HU = 300.0, -500.0, -400.0
MIN_VAULT_ML = 200.0
LUNG_AREA_MM2 = 1000.0
BRAIN_FRACTION = 0.3


@dataclass(frozen=True)
class PhysiologyMasks:
    """(k, j, i) bool masks on the PET grid."""

    in_field: np.ndarray
    brain: np.ndarray
    thorax: np.ndarray
    midline_x_mm: np.ndarray  # (k,) LPS x of the body's centre per PET slice (NaN: no body)
    vault_ml: float
    apex_z_mm: float | None

    @property
    def allowed(self) -> np.ndarray:
        """Where a head and neck primary may lie."""
        return self.in_field & ~self.brain & ~self.thorax

    def describe(self, grid: ImageGeometry) -> dict[str, Any]:
        voxel_ml = float(np.prod(grid.spacing_mm)) / 1000.0
        return {
            "brain_ml": round(int(self.brain.sum()) * voxel_ml, 1),
            "cranial_vault_ml": round(self.vault_ml, 1),
            "below_lung_apex_z_mm": self.apex_z_mm,
            "brain_rule": "PET components above 30 % of the cranial vault's uptake, >= 30 % "
            "inside the vault, dilated one PET voxel",
        }


@dataclass(frozen=True)
class PetFocus:
    """A candidate FDG-avid focus on the PET grid (peak voxel, SUVmax) and its verdict."""

    peak_kji: tuple[int, int, int]
    peak_lps_mm: np.ndarray
    suv_max: float
    volume_ml: float  # of its region above the FDG-avid floor
    status: str  # "chosen", "symmetric", "cooler"
    reason: str
    mirror_suv: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_lps_mm": np.round(self.peak_lps_mm, 2).tolist(),
            "suv_max": round(self.suv_max, 3),
            "volume_ml": round(self.volume_ml, 2),
            "status": self.status,
            "reason": self.reason,
            "mirror_suv_max": None if self.mirror_suv is None else round(self.mirror_suv, 3),
        }


def physiology_masks(ct: Volume, grid: ImageGeometry, suv: np.ndarray) -> PhysiologyMasks:
    """Brain, thorax and field masks on the PET ``grid`` (see the module docstring)."""
    in_field = sample_nearest(np.ones((1, 1, 1), dtype=bool), _unit_grid(ct.geometry), grid)
    hu = sample_nearest(ct.array, ct.geometry, grid, fill=-1024)
    body = _body_per_slice((hu > BODY_HU) & in_field)
    midline = _midline(body, grid)
    vault, vault_ml = _cranial_vault(ct, grid)
    brain = _brain(suv, vault, in_field)
    thorax, apex = _thorax(hu, body, grid, midline)
    return PhysiologyMasks(in_field, brain, thorax, midline, vault_ml, apex)


def find_foci(
    suv: np.ndarray, grid: ImageGeometry, masks: PhysiologyMasks, options: PetOptions
) -> list[PetFocus]:
    """Candidate foci (hottest first, at most 8), the first non-symmetric one "chosen"."""
    allowed = masks.allowed
    hot = (suv >= options.min_suv) & allowed
    labels = cc3d.connected_components(hot, connectivity=26)
    values, sizes = fastremap.unique(labels, return_counts=True)
    voxel_ml = float(np.prod(grid.spacing_mm)) / 1000.0
    keep = values != 0
    values, sizes = values[keep], sizes[keep]
    peaks = ndimage.maximum_position(suv, labels, index=values) if values.size else []
    rows = [
        ((int(p[0]), int(p[1]), int(p[2])), float(suv[p]), int(size) * voxel_ml)
        for p, size in zip(peaks, sizes, strict=True)
    ]
    rows.sort(key=lambda row: -row[1])
    foci: list[PetFocus] = []
    chosen = False
    for peak_kji, suv_max, volume in rows[:8]:
        lps = grid.kji_to_lps(np.asarray(peak_kji, dtype=np.float64))
        if chosen:
            foci.append(PetFocus(peak_kji, lps, suv_max, volume, "cooler", "cooler than the "
                                 "chosen focus"))  # fmt: skip
            continue
        mirror = _mirror_uptake(suv, grid, masks, peak_kji, suv_max, options)
        if mirror is not None and mirror >= options.symmetry_ratio * suv_max:
            foci.append(
                PetFocus(
                    peak_kji,
                    lps,
                    suv_max,
                    volume,
                    "symmetric",
                    f"its mirror across the midline holds SUV {mirror:.2f} "
                    f"(>= {options.symmetry_ratio:.0%}): a bilateral physiological pair "
                    "(tonsils, salivary glands, muscle)",
                    mirror,
                )
            )
            continue
        foci.append(PetFocus(peak_kji, lps, suv_max, volume, "chosen",
                             "hottest focus outside physiological uptake", mirror))  # fmt: skip
        chosen = True
    return foci


def _unit_grid(geometry: ImageGeometry) -> ImageGeometry:
    """A 1x1x1 grid covering the same box (so nearest sampling of ``ones`` tells inside)."""
    size = np.asarray(geometry.size_ijk, dtype=np.float64)
    centre = geometry.ijk_to_lps((size - 1) / 2)
    spacing = geometry.spacing_mm * size
    origin = centre  # voxel (0, 0, 0) is the whole box, centred
    return ImageGeometry((1, 1, 1), origin, spacing, geometry.direction)


def _body_per_slice(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of each axial slice, holes filled: the patient's own
    cross-section (a table, cushion or head holder touching the body in 3-D but not in the slice
    is left out, so the air they enclose is not taken for lung)."""
    body = np.zeros_like(mask)
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        labels = cc3d.connected_components(np.ascontiguousarray(mask[k]), connectivity=4)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        body[k] = fill_voids.fill(labels == int(np.argmax(sizes)), in_place=False)
    return body


def _midline(body: np.ndarray, grid: ImageGeometry) -> np.ndarray:
    """LPS x of the body's centroid in each PET slice (NaN where no body)."""
    x_of_i = grid.ijk_to_lps(np.stack([np.arange(body.shape[2]), np.zeros(body.shape[2]),
                                       np.zeros(body.shape[2])], axis=1))[:, 0]  # fmt: skip
    counts = body.sum(axis=(1, 2)).astype(np.float64)
    sums = (body.sum(axis=1) * x_of_i[np.newaxis, :]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _cranial_vault(ct: Volume, grid: ImageGeometry) -> tuple[np.ndarray, float]:
    """The skull-enclosed soft tissue on the PET grid, and its volume (ml)."""
    coarse = ct.array[:, ::2, ::2]
    g = ct.geometry
    coarse_grid = ImageGeometry(
        (coarse.shape[2], coarse.shape[1], coarse.shape[0]),
        g.origin_lps_mm,
        g.spacing_mm * np.array([2.0, 2.0, 1.0]),
        g.direction,
    )
    bone = coarse > BONE_HU
    cavity = np.zeros_like(bone)
    for k in np.flatnonzero(bone.any(axis=(1, 2))):
        cavity[k] = fill_voids.fill(bone[k], in_place=False) & ~bone[k]
    vault = largest_component(sample_nearest(cavity, coarse_grid, grid, fill=False))
    vault_ml = int(vault.sum()) * float(np.prod(grid.spacing_mm)) / 1000.0
    if vault_ml < MIN_VAULT_ML:
        return np.zeros(grid.shape_kji, dtype=bool), vault_ml
    return vault, vault_ml


def dilate_one_voxel(mask: np.ndarray) -> np.ndarray:
    """Binary dilation by the 3x3x3 cube (separable: one voxel along each axis in turn)."""
    out = mask.copy()
    for axis in range(mask.ndim):
        grown = out.copy()
        lead = [slice(None)] * mask.ndim
        trail = [slice(None)] * mask.ndim
        lead[axis], trail[axis] = slice(1, None), slice(None, -1)
        grown[tuple(lead)] |= out[tuple(trail)]
        grown[tuple(trail)] |= out[tuple(lead)]
        out = grown
    return out


def _brain(suv: np.ndarray, vault: np.ndarray, in_field: np.ndarray) -> np.ndarray:
    if not vault.any():
        return np.zeros_like(vault)
    level = BRAIN_FRACTION * float(np.percentile(suv[vault], 99))
    labels = cc3d.connected_components((suv >= level) & in_field, connectivity=26)
    values, sizes = fastremap.unique(labels, return_counts=True)
    inside_values, inside_counts = fastremap.unique(labels[vault], return_counts=True)
    inside = dict(zip(inside_values.tolist(), inside_counts.tolist(), strict=True))
    brain_values = [
        int(v) for v, n in zip(values, sizes, strict=True) if v and inside.get(int(v), 0) >= 0.3 * n
    ]
    # one PET voxel of spill-over (the scanner's point spread)
    return dilate_one_voxel(np.isin(labels, brain_values) | vault)


def _thorax(
    hu: np.ndarray, body: np.ndarray, grid: ImageGeometry, midline: np.ndarray
) -> tuple[np.ndarray, float | None]:
    """Slices at and below the lung apices (counted from the bottom of the field, +z up)."""
    thorax = np.zeros_like(body)
    if not body.any():
        return thorax, None
    pixel_mm2 = float(grid.spacing_mm[0] * grid.spacing_mm[1])
    x_of_i = grid.ijk_to_lps(np.stack([np.arange(hu.shape[2]), np.zeros(hu.shape[2]),
                                       np.zeros(hu.shape[2])], axis=1))[:, 0]  # fmt: skip
    z_of_k = grid.ijk_to_lps(np.stack([np.zeros(hu.shape[0]), np.zeros(hu.shape[0]),
                                       np.arange(hu.shape[0])], axis=1))[:, 2]  # fmt: skip
    order = [k for k in np.argsort(z_of_k) if body[k].any()]  # inferior first, in the field
    apex_k = None
    for k in order:
        if np.isnan(midline[k]):
            break
        inside = body[k] & (hu[k] < AIR_HU)
        left = inside[:, x_of_i > midline[k]].sum() * pixel_mm2
        right = inside[:, x_of_i <= midline[k]].sum() * pixel_mm2
        if min(left, right) < LUNG_AREA_MM2:
            break
        apex_k = k
    if apex_k is None:
        return thorax, None
    apex_z = float(z_of_k[apex_k])
    thorax[z_of_k <= apex_z] = True
    return thorax, apex_z


def _mirror_uptake(
    suv: np.ndarray,
    grid: ImageGeometry,
    masks: PhysiologyMasks,
    peak_kji: tuple[int, int, int],
    suv_max: float,
    options: PetOptions,
) -> float | None:
    """SUVmax near the peak's mirror image across the midline, outside the peak's own region
    (at half its SUVmax); None for a focus on the midline."""
    k = peak_kji[0]
    centre_x = masks.midline_x_mm[k]
    peak = grid.kji_to_lps(np.asarray(peak_kji, dtype=np.float64))
    if np.isnan(centre_x) or abs(peak[0] - centre_x) <= options.mirror_radius_mm:
        return None
    own = cc3d.connected_components(suv >= 0.5 * suv_max, connectivity=26)
    own_region = own == own[peak_kji]
    mirror = peak.copy()
    mirror[0] = 2 * centre_x - peak[0]
    ijk = grid.lps_to_ijk(mirror)
    reach = options.mirror_radius_mm / grid.spacing_mm
    low = np.clip(np.floor(ijk - reach).astype(int), 0, np.array(grid.size_ijk) - 1)
    high = np.clip(np.ceil(ijk + reach).astype(int) + 1, 1, np.array(grid.size_ijk))
    box = (slice(low[2], high[2]), slice(low[1], high[1]), slice(low[0], high[0]))
    kk, jj, ii = np.meshgrid(*(np.arange(s.start, s.stop) for s in box), indexing="ij")
    points = grid.kji_to_lps(np.stack([kk.ravel(), jj.ravel(), ii.ravel()], axis=1))
    near = (np.linalg.norm(points - mirror, axis=1) <= options.mirror_radius_mm).reshape(kk.shape)
    near &= masks.in_field[box] & ~own_region[box]
    if not near.any():
        return 0.0
    return float(suv[box][near].max())
