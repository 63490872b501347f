"""The FDG-avid primary tumour from a PET of the same PET/CT session, as a mask on the CT grid.

:func:`tumour_from_pet` takes the planning CT and a PET folder (or a read
:class:`~navigation.imaging.pet.PetSeries`) and returns the tumour mask and its statistics.

Method
------
1. The PET (SUVbw, :mod:`navigation.imaging.suv`) must share the CT's FrameOfReferenceUID
   (one PET/CT session): otherwise refused. Uptake is only looked for inside the CT's field.
2. Physiological uptake is excluded first (:mod:`navigation.planning.pet_physiology`): the
   brain (the PET component overlapping the CT's cranial vault), everything below the lung
   apices (myocardium, mediastinum, abdomen, bladder), and, among the candidate foci,
   bilateral symmetric pairs (palatine/lingual tonsils, salivary glands, muscles, brown fat).
3. The primary's peak is the hottest remaining focus with SUVmax >= ``min_suv`` (2.5, the
   usual "FDG-avid" floor), or, with a seed, the hottest PET voxel within ``seed_radius_mm``
   of it. Other foci are listed with why they were not chosen.
4. The tumour is the connected region around the peak where SUV >= ``fraction`` x SUVmax
   (default 41 %, the fixed-fraction isocontour of the EANM procedure guidelines, Boellaard
   et al., Eur J Nucl Med Mol Imaging 2015;42:328-354; 40-50 % are in common use), found on
   the PET grid, then on the CT grid with the PET trilinearly interpolated (ITK's linear
   interpolator) so its edge follows the CT's finer voxels. CT voxels of air (HU < -400, the
   airway lumen next to a pharyngeal tumour, where PET blur spreads activity) are taken out
   of the label and reported.

Statistics: SUVmax is the largest SUV of the PET's own voxels (never an interpolated value)
whose centres lie in the region; SUVmean the mean interpolated SUV over the region's CT
voxels; MTV (metabolic tumour volume) the region's volume on the CT grid before air removal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cc3d
import numpy as np
from numpy.typing import ArrayLike

from navigation.imaging.grid_sampling import (
    crop_geometry,
    overlap_box,
    sample_linear,
    sample_nearest,
)
from navigation.imaging.pet import PetSeries, check_same_frame, read_pet
from navigation.imaging.suv import SuvCalibration
from navigation.imaging.volume import Volume
from navigation.planning.pet_options import PetOptions
from navigation.planning.pet_physiology import PetFocus, find_foci, physiology_masks
from navigation.planning.regions import RegionMask
from registration.core.checks import Float64Array, InputError, check_points
from registration.core.geometry import ImageGeometry

#: CT voxels below this (HU) are air: never tumour.
AIR_HU = -400.0


@dataclass(frozen=True)
class PetTumour:
    """The PET-defined tumour on the CT grid; positions LPS mm, SUV in g/ml (body weight)."""

    region: RegionMask  # on ``geometry`` (the CT grid), air removed
    geometry: ImageGeometry
    suv_max: float
    suv_mean: float
    mtv_ml: float
    threshold_suv: float
    fraction: float
    peak_lps_mm: Float64Array
    centroid_lps_mm: Float64Array
    air_removed_ml: float
    found: str  # "automatic" or "seed"
    seed_lps_mm: Float64Array | None
    foci: tuple[PetFocus, ...]
    excluded: dict[str, Any]
    calibration: SuvCalibration
    pet_description: str
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def volume_ml(self) -> float:
        return self.region.volume_ml(self.geometry)

    def mask(self) -> np.ndarray:
        """Full-grid (k, j, i) bool mask on the CT grid."""
        return self.region.to_full(self.geometry.shape_kji)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (plan.json ``pet``)."""
        return {
            "series": self.pet_description,
            "found": self.found,
            "seed_lps_mm": None if self.seed_lps_mm is None else self.seed_lps_mm.tolist(),
            "suv_max": round(self.suv_max, 4),
            "suv_mean": round(self.suv_mean, 4),
            "mtv_ml": round(self.mtv_ml, 3),
            "threshold_suv": round(self.threshold_suv, 4),
            "threshold_fraction_of_suv_max": self.fraction,
            "peak_lps_mm": self.peak_lps_mm.tolist(),
            "centroid_lps_mm": self.centroid_lps_mm.tolist(),
            "label_volume_ml": round(self.volume_ml, 3),
            "air_removed_ml": round(self.air_removed_ml, 3),
            "foci": [focus.to_dict() for focus in self.foci],
            "excluded": self.excluded,
            "suv_calibration": self.calibration.to_dict(),
            "warnings": list(self.warnings),
        }


def tumour_from_pet(
    ct: Volume,
    pet: str | Path | PetSeries,
    *,
    seed_lps_mm: ArrayLike | None = None,
    options: PetOptions | None = None,
) -> PetTumour:
    """The FDG-avid primary (see the module docstring) as a mask on ``ct``'s grid.

    ct : the planning CT (HU), read from DICOM (its FrameOfReferenceUID is checked).
    pet : the PET series' folder, or a :class:`PetSeries` already read.
    seed_lps_mm : (3,) LPS mm, a point in or next to the tumour; None finds it automatically.
    Raises :class:`InputError` when the PET cannot be used or no FDG-avid focus is found.
    """
    options = options or PetOptions()
    if ct.modality.upper() != "CT":
        raise InputError(
            f"the PET tumour is found with the PET/CT's CT (HU: skull, lungs, air); the planning "
            f"image's modality is {ct.modality!r}. Plan on the CT of the PET/CT study."
        )
    series = pet if isinstance(pet, PetSeries) else read_pet(pet)
    check_same_frame(ct, series)
    box = overlap_box(ct.geometry, series.suv.geometry)
    if box is None:
        raise InputError(
            "the PET and the CT do not overlap (no PET voxel lies inside the CT's field); check "
            "that both series are of the same study."
        )
    suv, pet_grid = series.suv.array[box], crop_geometry(series.suv.geometry, box)
    seed = None if seed_lps_mm is None else check_points(seed_lps_mm, "tumour seed")[0]
    masks = physiology_masks(ct, pet_grid, suv)
    if not masks.in_field.any():
        raise InputError(
            "the PET and the CT do not overlap (no PET voxel lies inside the CT's field); check "
            "that both series are of the same study."
        )
    warnings: list[str] = list(series.warnings)
    if seed is None:
        foci = find_foci(suv, pet_grid, masks, options)
        chosen = next((f for f in foci if f.status == "chosen"), None)
        if chosen is None:
            hottest = max((f.suv_max for f in foci), default=0.0)
            raise InputError(
                f"no FDG-avid focus (SUVmax >= {options.min_suv:g}) outside the brain and "
                f"physiological uptake in the CT's field (hottest {hottest:.2f}); give "
                "--tumour-seed X,Y,Z (LPS mm) near the tumour."
            )
        peak_kji = chosen.peak_kji
        allowed = masks.allowed
        found = "automatic"
    else:
        if not pet_grid.contains_lps(seed)[0] or not ct.geometry.contains_lps(seed)[0]:
            raise InputError(
                f"the tumour seed {np.round(seed, 1).tolist()} LPS mm lies outside the PET or "
                "the CT; give a point inside the tumour (LPS mm)."
            )
        allowed = masks.in_field & ~masks.brain
        if masks.brain[_nearest_kji(pet_grid, seed)]:
            warnings.append("the seed lies in the brain's uptake; the brain was not excluded")
            allowed = masks.in_field
        peak_kji = _peak_near(suv, pet_grid, seed, allowed, options.seed_radius_mm)
        foci = []
        found = "seed"
    suv_max = float(suv[peak_kji])
    if seed is not None and suv_max < options.min_suv:
        warnings.append(
            f"the hottest PET voxel within {options.seed_radius_mm:g} mm of the seed has SUV "
            f"{suv_max:.2f} (< {options.min_suv:g}): this may not be an FDG-avid tumour"
        )
    threshold = options.fraction * suv_max
    region, suv_mean, mtv_ml, air_ml, native_max = _region_on_ct(
        ct, suv, pet_grid, peak_kji, threshold, allowed
    )
    if region.voxel_count == 0:
        raise InputError(
            f"the PET region at SUV >= {threshold:.2f} holds no CT voxel of tissue; give "
            "--tumour-seed inside the tumour."
        )
    peak_lps = pet_grid.kji_to_lps(np.asarray(peak_kji, dtype=np.float64))
    return PetTumour(
        region=region,
        geometry=ct.geometry,
        suv_max=max(native_max, suv_max),
        suv_mean=suv_mean,
        mtv_ml=mtv_ml,
        threshold_suv=threshold,
        fraction=options.fraction,
        peak_lps_mm=peak_lps,
        centroid_lps_mm=region.centroid_lps_mm(ct.geometry),
        air_removed_ml=air_ml,
        found=found,
        seed_lps_mm=seed,
        foci=tuple(foci),
        excluded=masks.describe(pet_grid),
        calibration=series.calibration,
        pet_description=series.description,
        warnings=tuple(warnings),
    )


def _nearest_kji(geometry: ImageGeometry, point: np.ndarray) -> tuple[int, int, int]:
    i, j, k = np.clip(np.rint(geometry.lps_to_ijk(point)), 0, np.array(geometry.size_ijk) - 1)
    return int(k), int(j), int(i)


def _peak_near(
    suv: np.ndarray, grid: ImageGeometry, seed: np.ndarray, allowed: np.ndarray, radius: float
) -> tuple[int, int, int]:
    """The hottest allowed PET voxel within ``radius`` mm of ``seed``."""
    centre = np.asarray(_nearest_kji(grid, seed))
    reach = np.ceil(radius / grid.spacing_mm[::-1]).astype(int)
    low = np.maximum(centre - reach, 0)
    high = np.minimum(centre + reach + 1, suv.shape)
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    kji = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(low, high, strict=True)),
                               indexing="ij"), axis=-1)  # fmt: skip
    distance = np.linalg.norm(grid.kji_to_lps(kji.reshape(-1, 3)) - seed, axis=1)
    candidates = (distance <= radius).reshape(kji.shape[:3]) & allowed[box]
    if not candidates.any():
        raise InputError(
            f"no PET voxel of the CT's field within {radius:g} mm of the seed "
            f"{np.round(seed, 1).tolist()} LPS mm; give a point inside the tumour."
        )
    values = np.where(candidates, suv[box], -np.inf)
    k, j, i = np.unravel_index(int(np.argmax(values)), values.shape)
    return int(k + low[0]), int(j + low[1]), int(i + low[2])


def _region_on_ct(
    ct: Volume,
    suv: np.ndarray,
    pet_grid: ImageGeometry,
    peak_kji: tuple[int, int, int],
    threshold: float,
    allowed: np.ndarray,
) -> tuple[RegionMask, float, float, float, float]:
    """(label region without air, SUVmean, MTV ml, air removed ml, native SUVmax in region)."""
    hot = (suv >= threshold) & allowed
    labels = cc3d.connected_components(hot, connectivity=26)
    on_pet = labels == labels[peak_kji]
    # The CT box holding the PET region's voxels, one PET voxel wider all round.
    kji = np.argwhere(on_pet)
    corners_kji = np.array(
        [[a, b, c] for a in (kji[:, 0].min() - 1, kji[:, 0].max() + 1)
         for b in (kji[:, 1].min() - 1, kji[:, 1].max() + 1)
         for c in (kji[:, 2].min() - 1, kji[:, 2].max() + 1)], dtype=np.float64
    )  # fmt: skip
    ct_ijk = ct.geometry.lps_to_ijk(pet_grid.kji_to_lps(corners_kji))
    size = np.array(ct.geometry.size_ijk)
    low = np.clip(np.floor(ct_ijk.min(axis=0)).astype(int), 0, size - 1)[::-1]
    high = np.clip(np.ceil(ct_ijk.max(axis=0)).astype(int) + 1, 1, size)[::-1]
    box = (slice(int(low[0]), int(high[0])), slice(int(low[1]), int(high[1])),
           slice(int(low[2]), int(high[2])))  # fmt: skip
    fine = sample_linear(suv, pet_grid, ct.geometry, box_kji=box)
    allowed_fine = sample_nearest(allowed, pet_grid, ct.geometry, fill=False, box_kji=box)
    hot_fine = (fine >= threshold) & allowed_fine
    fine_labels = cc3d.connected_components(hot_fine, connectivity=26)
    peak_ijk = ct.geometry.lps_to_ijk(pet_grid.kji_to_lps(np.asarray(peak_kji, dtype=np.float64)))
    start = np.clip(np.rint(peak_ijk[::-1]).astype(int) - low, 0, np.array(fine.shape) - 1)
    label = fine_labels[tuple(start)]
    if label == 0:  # a one-voxel spike: the brightest interpolated voxel of the PET region
        inside = np.where(sample_nearest(on_pet, pet_grid, ct.geometry, box_kji=box), fine, -1)
        label = fine_labels[np.unravel_index(int(np.argmax(inside)), inside.shape)]
    region = fine_labels == label if label else np.zeros_like(hot_fine)
    voxel_ml = float(np.prod(ct.geometry.spacing_mm)) / 1000.0
    mtv_ml = int(region.sum()) * voxel_ml
    suv_mean = float(fine[region].mean()) if region.any() else 0.0
    tissue = region & (ct.array[box] >= AIR_HU)
    air_ml = int((region & ~tissue).sum()) * voxel_ml
    native_max = _native_max(suv, pet_grid, ct.geometry, region, low)
    offset = (int(low[0]), int(low[1]), int(low[2]))
    return RegionMask.from_full(tissue, offset), suv_mean, mtv_ml, air_ml, native_max


def _native_max(
    suv: np.ndarray,
    pet_grid: ImageGeometry,
    ct_grid: ImageGeometry,
    region: np.ndarray,
    low_kji: np.ndarray,
) -> float:
    """Largest SUV of the PET voxels whose centres fall in ``region`` (a CT-grid block)."""
    kji = np.argwhere(region) + low_kji
    if kji.size == 0:
        return 0.0
    pet_ijk = np.rint(pet_grid.lps_to_ijk(ct_grid.kji_to_lps(kji))).astype(int)
    unique = np.unique(pet_ijk, axis=0)
    unique = unique[np.all((unique >= 0) & (unique < np.array(pet_grid.size_ijk)), axis=1)]
    if unique.size == 0:
        return 0.0
    centres_ct = np.rint(ct_grid.lps_to_ijk(pet_grid.ijk_to_lps(unique))).astype(int)[:, ::-1]
    centres_ct -= low_kji
    inside = np.all((centres_ct >= 0) & (centres_ct < np.array(region.shape)), axis=1)
    hits = unique[inside][region[tuple(centres_ct[inside].T)]]
    if hits.size == 0:
        return 0.0
    return float(suv[hits[:, 2], hits[:, 1], hits[:, 0]].max())
