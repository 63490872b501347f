"""Tissue thresholds: the CT presets (HU) and MR settings, and the threshold steps for the body,
bone and airway, each runnable alone (``igcs plan`` runs them in turn; ``igcs review`` re-runs
one after the planner changes its threshold).

CT (:class:`CtPreset`, Hounsfield units):

- ``skin`` (the body): HU > -500 (halfway between air and fat) without the couch, head rests,
  holders and immobilisation masks (:mod:`navigation.planning.body`: shape and connected
  components), holes filled slice by slice (so the airway and sinuses belong to the body);
  what was removed is reported;
- ``bone``: HU > 300 inside the body, components under 0.05 ml dropped, and those that do not
  reach 3 mm under the skin (dense parts of a holder pressed against it);
- ``airway``: HU < -500 inside the filled body, components under 0.5 ml dropped;
- markers: HU > 2000 (above cortical bone; :mod:`navigation.planning.fiducial_detection`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from navigation.planning.body import Body, segment_body
from navigation.planning.regions import (
    RegionMask,
    box_morphology,
    keep_components,
    remove_small_components,
)
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry


@dataclass(frozen=True)
class CtPreset:
    """CT thresholds (HU) and sizes (``igcs plan --body-hu/--bone-hu/--airway-hu/--marker-hu``).

    Refused (:class:`InputError`) unless body < bone < marker and airway < bone: a bone
    threshold below the body's would call fat bone, a marker threshold below bone's would take
    every bone edge for a marker.
    """

    body_hu: float = -500.0
    bone_hu: float = 300.0
    air_hu: float = -500.0
    marker_hu: float = 2000.0
    marker_diameter_mm: float = 4.0
    min_bone_ml: float = 0.05
    bone_depth_mm: float = 3.0  # bone pieces not reaching this deep under the skin are dropped
    min_airway_ml: float = 0.5
    search_radius_mm: float = 50.0

    def __post_init__(self) -> None:
        for name in ("body_hu", "bone_hu", "air_hu", "marker_hu"):
            value = getattr(self, name)
            if not np.isfinite(value):
                raise InputError(f"CT threshold {name} must be a finite number (HU); got {value}.")
        if not self.body_hu < self.bone_hu < self.marker_hu:
            raise InputError(
                f"CT thresholds must rise body < bone < marker; got body {self.body_hu:g}, bone "
                f"{self.bone_hu:g}, marker {self.marker_hu:g} HU (defaults -500, 300, 2000)."
            )
        if not self.air_hu < self.bone_hu:
            raise InputError(
                f"the airway threshold ({self.air_hu:g} HU) must lie below bone's "
                f"({self.bone_hu:g} HU); air is about -1000 HU (default -500)."
            )

    def thresholds(self) -> dict[str, Any]:
        """The plan.json record of the thresholds used (HU)."""
        return {
            "units": "HU",
            "body": self.body_hu,
            "bone": self.bone_hu,
            "airway": self.air_hu,
            "marker": self.marker_hu,
            "changed_from_default": [
                name
                for name, attribute in _FIELD.items()
                if getattr(self, attribute) != getattr(CtPreset, attribute)
            ],
        }


_FIELD = {"body": "body_hu", "bone": "bone_hu", "airway": "air_hu", "marker": "marker_hu"}


@dataclass(frozen=True)
class MrPreset:
    """MR settings (intensities are relative: thresholds come from the image)."""

    marker_diameter_mm: float = 4.0
    search_radius_mm: float = 50.0


def body_region(
    array: np.ndarray,
    geometry: ImageGeometry,
    threshold: float,
    modality: str = "CT",
    *,
    separate_supports: bool = True,
) -> Body:
    """The body above ``threshold``, holes filled slice by slice, without the supports a CT
    shows (``separate_supports``; :func:`navigation.planning.body.segment_body`).
    array : (k, j, i) CT (HU) or MR."""
    found = segment_body(array, geometry, threshold=threshold, separate_supports=separate_supports)
    if found.region.voxel_count == 0:
        raise InputError(f"no body found above {threshold:g}; is this a {modality} image?")
    return found


def bone_region(
    array: np.ndarray,
    geometry: ImageGeometry,
    body: RegionMask,
    preset: CtPreset,
    *,
    exclude: np.ndarray | None = None,
) -> RegionMask:
    """Bone: HU above ``preset.bone_hu`` inside the body (its bounding box: less work than the
    whole volume), components under ``preset.min_bone_ml`` dropped and those not reaching
    ``preset.bone_depth_mm`` under the skin; ``exclude`` (full-grid (k, j, i) bool, e.g. the
    markers and their rims) is left out."""
    box, inside = body.slices, body.mask
    bone = (array[box] > preset.bone_hu) & inside
    if exclude is not None:
        bone &= ~exclude[box]
    voxel_ml = float(np.prod(geometry.spacing_mm)) / 1000.0
    depth = np.ceil(preset.bone_depth_mm / geometry.spacing_mm[::-1]).astype(int)
    bone = keep_components(
        bone,
        min_voxels=int(np.ceil(preset.min_bone_ml / voxel_ml)),
        reaching=_deep_inside(body, geometry.shape_kji, depth),
    )
    return RegionMask.from_full(bone, body.offset_kji)


def airway_region(
    array: np.ndarray, geometry: ImageGeometry, body: RegionMask, preset: CtPreset
) -> RegionMask:
    """Airway: HU below ``preset.air_hu`` inside the (hole-filled) body, 6-connected components
    under ``preset.min_airway_ml`` dropped."""
    air = RegionMask.from_full((array[body.slices] < preset.air_hu) & body.mask, body.offset_kji)
    voxel_ml = float(np.prod(geometry.spacing_mm)) / 1000.0
    airway = remove_small_components(
        air.mask, int(np.ceil(preset.min_airway_ml / voxel_ml)), connectivity=6
    )
    return RegionMask.from_full(airway, air.offset_kji)


def near(markers: np.ndarray, regions: tuple[RegionMask, ...]) -> np.ndarray:
    """The markers (full-grid (k, j, i) bool) grown by two voxels around each region: bright
    marker rims are not bone."""
    around_markers = np.zeros(markers.shape, dtype=bool)
    for region in regions:
        around = tuple(
            slice(max(s.start - 2, 0), min(s.stop + 2, n))
            for s, n in zip(region.slices, markers.shape, strict=True)
        )
        around_markers[around] |= ndimage.binary_dilation(markers[around], iterations=2)
    return around_markers


def _deep_inside(
    body: RegionMask, shape_kji: tuple[int, int, int], depth_kji: np.ndarray
) -> np.ndarray:
    """``body.mask`` eroded by ``depth_kji`` voxels: from the air around it, but not from the
    ends of the scan, where the body goes on (the block is padded with air only on the sides
    that are inside the image)."""
    pad = [
        (int(d) if s.start > 0 else 0, int(d) if s.stop < n else 0)
        for s, n, d in zip(body.slices, shape_kji, depth_kji, strict=True)
    ]
    padded = np.pad(body.mask, pad, mode="constant", constant_values=False)
    eroded = box_morphology(padded, depth_kji, erode=True)
    return eroded[tuple(slice(a, a + n) for (a, _b), n in zip(pad, body.mask.shape, strict=True))]
