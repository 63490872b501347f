"""Segmentation of a head-and-neck CT or MR into the canonical labels.

CT: ``skin``, ``bone`` and ``airway`` by the thresholds of :class:`CtPreset` (HU, see
:mod:`navigation.planning.tissue_thresholds`; ``igcs plan --body-hu ...`` changes them), the
body without the couch, head rests, holders and immobilisation masks
(:mod:`navigation.planning.body`; what was removed is reported);

- ``fiducials``: bright compact skin markers (:mod:`fiducial_detection`), HU > 2000 (above
  cortical bone), next to outside air (HU > -1200: not the scanner's padding value);
- ``tumour`` / ``node``: seeded region growing (:mod:`region_growing`) from an LPS seed.

Fewer than :data:`MIN_REGISTRATION_POINTS` markers, or marker-like blobs cut by the image
border (not taken), are reported as warnings; the plan is still written (landmarks can be added
later), and ``igcs register`` refuses a layout with too few points.

MR (:class:`MrPreset`, T1-like): the body by the isodata threshold (Ridler and Calvard 1978)
between background and tissue, markers above the tissue's 99.5th percentile by half the gap to
the brightest voxel, the tumour and node by region growing. MR does not segment bone or
airway (both are dark, like air).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from navigation.imaging.volume import Volume
from navigation.planning.body import RemovedObject
from navigation.planning.fiducial_detection import FiducialDetection, detect_fiducials
from navigation.planning.labels import (
    AIRWAY,
    BONE,
    FIDUCIALS,
    NODE,
    SKIN,
    TUMOUR,
    canonical_entry,
    check_table,
)
from navigation.planning.markups import PointList
from navigation.planning.plan import LabelEntry
from navigation.planning.region_growing import GrownRegion, check_seed, grow_region
from navigation.planning.regions import RegionMask, SurfaceLevel
from navigation.planning.tissue_thresholds import (
    CtPreset,
    MrPreset,
    airway_region,
    body_region,
    bone_region,
    near,
)
from registration.core.checks import Float64Array, InputError
from registration.core.geometry import ImageGeometry

#: Paired-point registration needs at least this many fiducials (Arun et al. 1987).
MIN_REGISTRATION_POINTS = 3


@dataclass(frozen=True)
class Segmentation:
    """Label masks on one grid, the table describing them and what was found.

    ``regions`` maps each label name of ``table`` to its mask (cropped to its bounding box).
    Masks may overlap (``skin`` is the whole body); :meth:`label_map` paints them in table
    order, later rows winning.
    """

    geometry: ImageGeometry
    table: tuple[LabelEntry, ...]
    regions: dict[str, RegionMask]
    modality: str
    surface_levels: dict[str, SurfaceLevel] = field(default_factory=dict)
    fiducials: FiducialDetection | None = None
    tumour: GrownRegion | None = None
    node: GrownRegion | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    removed_from_body: tuple[RemovedObject, ...] = ()
    removed_from_body_ml: float = 0.0
    #: plan.json blocks of structures imported from other sources (``pet``, ``rtstruct``...)
    imports: dict[str, Any] = field(default_factory=dict)
    #: named points from a markups file: the registration fiducials instead of the markers
    landmarks: PointList | None = None
    #: extra files for the plan folder (name -> bytes), e.g. the PET tumour's picture
    attachments: dict[str, bytes] = field(default_factory=dict)
    #: the thresholds each label was segmented with (plan.json report.thresholds)
    thresholds: dict[str, Any] = field(default_factory=dict)

    def entry(self, name: str) -> LabelEntry:
        for entry in self.table:
            if entry.name == name:
                return entry
        raise InputError(f"no label {name!r}; labels: {', '.join(e.name for e in self.table)}.")

    def mask(self, name: str) -> np.ndarray:
        """Full-grid (k, j, i) bool mask of label ``name``."""
        self.entry(name)
        return self.regions[name].to_full(self.geometry.shape_kji)

    def volume_ml(self, name: str) -> float:
        self.entry(name)
        return self.regions[name].volume_ml(self.geometry)

    def label_map(self, slices_k: slice | None = None) -> np.ndarray:
        """(k, j, i) single-layer label map (uint8, or uint16 for values > 255); of the axial
        slices ``slices_k`` only (a step of 1), by default all."""
        dtype = np.uint8 if max((e.value for e in self.table), default=0) < 256 else np.uint16
        shape = self.geometry.shape_kji
        start, stop, _step = (slices_k or slice(None)).indices(shape[0])
        labels = np.zeros((max(stop - start, 0), *shape[1:]), dtype=dtype)
        for entry in self.table:
            region = self.regions[entry.name]
            k0 = region.offset_kji[0]
            low, high = max(k0, start), min(k0 + region.mask.shape[0], stop)
            if low < high:
                here = labels[(slice(low - start, high - start), *region.slices[1:])]
                here[region.mask[low - k0 : high - k0]] = entry.value
        return labels


def _isodata(values: np.ndarray) -> float:
    threshold = float(values.mean())
    for _ in range(100):
        low, high = values[values <= threshold], values[values > threshold]
        if low.size == 0 or high.size == 0:
            break
        new = 0.5 * (float(low.mean()) + float(high.mean()))
        if abs(new - threshold) < 1e-3 * (abs(threshold) + 1.0):
            return new
        threshold = new
    return threshold


def _grow(
    volume: Volume, seed: ArrayLike | None, box: ArrayLike | None, name: str, radius: float
) -> GrownRegion | None:
    if seed is None and box is None:
        return None
    if seed is None:
        corners = np.asarray(box, dtype=np.float64).reshape(2, 3)
        seed = corners.mean(axis=0)
    return grow_region(
        volume.array,
        volume.geometry,
        seed,
        name=name,
        box_lps_mm=box,
        search_radius_mm=radius,
    )


def segment_volume(
    volume: Volume,
    *,
    tumour_seed_lps_mm: ArrayLike | None = None,
    tumour_box_lps_mm: ArrayLike | None = None,
    node_seed_lps_mm: ArrayLike | None = None,
    preset: CtPreset | MrPreset | None = None,
    expected_fiducials: int | None = None,
    on_step: Callable[[str], None] | None = None,
    on_region: Callable[[str, RegionMask, SurfaceLevel | None], None] | None = None,
) -> Segmentation:
    """Segment a CT (HU) or MR volume into skin, bone, airway, fiducials, tumour and node.

    Seeds are LPS mm (3,); a seed outside the volume raises :class:`InputError`. With only a
    box ((2, 3) corners, LPS mm) the tumour is grown from the box centre within the box.
    ``on_step(name)`` is called before each step (progress reporting); ``on_region(name,
    region, level)`` as each label is final (the plan writer meshes it meanwhile).
    """
    modality = volume.modality.upper()
    if modality not in ("CT", "MR"):
        raise InputError(
            f"segmentation needs a CT or MR volume; this one's modality is {volume.modality!r} "
            "(a label map is planned from its labels instead)."
        )
    geometry = volume.geometry
    for seed, name in ((tumour_seed_lps_mm, "tumour"), (node_seed_lps_mm, "node")):
        if seed is not None:
            check_seed(seed, geometry, name)
    if preset is None:
        preset = CtPreset() if modality == "CT" else MrPreset()
    step = on_step or (lambda _name: None)
    done = on_region or (lambda _name, _region, _level: None)
    array = volume.array
    warnings: list[str] = []

    step("body")
    if isinstance(preset, CtPreset):
        body_threshold = preset.body_hu
    else:
        body_threshold = _isodata(np.asarray(array[::2, ::2, ::2], dtype=np.float64).ravel())
    found = body_region(
        array, geometry, body_threshold, modality, separate_supports=isinstance(preset, CtPreset)
    )
    regions: dict[str, RegionMask] = {SKIN: found.region}
    levels: dict[str, SurfaceLevel] = {SKIN: SurfaceLevel(body_threshold)}
    table = [canonical_entry(SKIN)]
    done(SKIN, regions[SKIN], levels[SKIN])
    body = regions[SKIN].to_full(geometry.shape_kji)

    step("fiducials")
    if isinstance(preset, CtPreset):
        marker_threshold = preset.marker_hu
    else:
        tissue = np.percentile(array[body], 99.5)
        marker_threshold = float(tissue + 0.5 * (float(array.max()) - tissue))
    outside = ~body
    if isinstance(preset, CtPreset):
        outside &= array > -1200  # air, not padding outside the reconstructed field
    fiducials = detect_fiducials(
        array,
        geometry,
        threshold=marker_threshold,
        diameter_mm=preset.marker_diameter_mm,
        outside=outside,
        body=body,
    )
    del outside, body  # full-grid masks held no longer than needed
    markers = np.zeros(geometry.shape_kji, dtype=bool)
    for region in fiducials.regions:
        markers[region.slices] |= region.mask
    marker_region = RegionMask.from_full(markers)
    marker_level = (
        SurfaceLevel(float(np.median(fiducials.surface_thresholds))) if fiducials.count else None
    )
    done(FIDUCIALS, marker_region, marker_level)
    exclude = near(markers, fiducials.regions) if isinstance(preset, CtPreset) else None
    del markers
    warnings += fiducial_warnings(fiducials, expected_fiducials)
    thresholds: dict[str, Any] = (
        preset.thresholds()
        if isinstance(preset, CtPreset)
        else {"units": "scanner units (from the image)", "body": body_threshold}
    )
    thresholds["marker"] = marker_threshold

    if isinstance(preset, CtPreset):
        step("bone")
        regions[BONE] = bone_region(array, geometry, regions[SKIN], preset, exclude=exclude)
        del exclude
        levels[BONE] = SurfaceLevel(preset.bone_hu)
        table.append(canonical_entry(BONE))
        done(BONE, regions[BONE], levels[BONE])
        step("airway")
        regions[AIRWAY] = airway_region(array, geometry, regions[SKIN], preset)
        levels[AIRWAY] = SurfaceLevel(preset.air_hu, bright=False)
        table.append(canonical_entry(AIRWAY))
        done(AIRWAY, regions[AIRWAY], levels[AIRWAY])

    step("tumour")
    radius = preset.search_radius_mm
    tumour = _grow(volume, tumour_seed_lps_mm, tumour_box_lps_mm, TUMOUR, radius)
    node = _grow(volume, node_seed_lps_mm, None, NODE, radius)
    for grown in (tumour, node):
        if grown is None:
            continue
        regions[grown.name] = grown.region
        levels[grown.name] = grown_level(grown)
        table.append(canonical_entry(grown.name))
        done(grown.name, regions[grown.name], levels[grown.name])
        if grown.touches_search_box:
            warnings.append(leak_warning(grown))
    regions[FIDUCIALS] = marker_region
    if marker_level is not None:
        levels[FIDUCIALS] = marker_level
    table.append(canonical_entry(FIDUCIALS))
    return Segmentation(
        geometry=geometry,
        table=check_table(tuple(table)),
        regions=regions,
        modality=modality,
        surface_levels=levels,
        fiducials=fiducials,
        tumour=tumour,
        node=node,
        warnings=tuple(warnings),
        thresholds=thresholds,
        removed_from_body=found.removed,
        removed_from_body_ml=found.removed_ml,
    )


def grown_level(grown: GrownRegion) -> SurfaceLevel:
    """How a grown lesion's surface is placed (its window edge facing the surroundings) and the
    box that holds it (the mesh is clipped to it)."""
    bright = grown.inside_level >= grown.surround_level
    return SurfaceLevel(
        grown.lower if bright else grown.upper,
        bright=bright,
        smoothing_mm=grown.smoothing_mm,
        clip_box_lps_mm=grown.box_lps_mm,
    )


def leak_warning(grown: GrownRegion) -> str:
    """The warning for a lesion that reached the edge of its search box."""
    return (
        f"the {grown.name} region reached the edge of its search box (it may have leaked into "
        "neighbouring tissue): check the seed or give a box"
    )


def fiducial_warnings(fiducials: FiducialDetection, expected: int | None) -> list[str]:
    """Warnings on the markers found: not the number expected, blobs cut by the image border
    (rejected: their centre would be biased). Too few for a registration is the plan's
    warning (:func:`registration_point_warning`: landmarks may stand in for markers)."""
    warnings = []
    if expected is not None and fiducials.count != expected:
        warnings.append(f"found {fiducials.count} fiducial markers, expected {expected}")
    at_border = [r for r in fiducials.rejected if "image border" in r]
    if at_border:
        warnings.append(
            f"{len(at_border)} marker-like blob(s) at the image border were not taken (cut by "
            f"the field of view, their centres would be biased): {'; '.join(at_border)}"
        )
    return warnings


def registration_point_warning(count: int, what: str) -> str | None:
    """The warning for a plan with fewer registration points than a registration needs."""
    if count >= MIN_REGISTRATION_POINTS:
        return None
    found = "no" if count == 0 else f"only {count}"
    return (
        f"{found} {what}: paired-point registration needs at least "
        f"{MIN_REGISTRATION_POINTS}; place landmarks with `igcs review PLAN` or give them with "
        "--fiducials FILE.mrk.json (igcs register refuses fewer)"
    )


def segmentation_from_label_map(
    labels: Volume, table: tuple[LabelEntry, ...] | None = None
) -> Segmentation:
    """A :class:`Segmentation` of an existing integer label map (one value per structure).

    Without a table, values are named ``label_<value>`` with palette colours.
    """
    from navigation.planning.labels import PALETTE

    array = np.asarray(labels.array)
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"a label map must hold integers; got {array.dtype}.")
    values = [int(v) for v in np.unique(array) if v != 0]
    if table is None:
        table = tuple(
            LabelEntry(f"label_{v}", v, PALETTE[n % len(PALETTE)]) for n, v in enumerate(values)
        )
    check_table(table)
    regions = {e.name: RegionMask.from_full(array == e.value) for e in table}
    empty = [e.name for e in table if regions[e.name].voxel_count == 0]
    return Segmentation(
        geometry=labels.geometry,
        table=table,
        regions=regions,
        modality="LABEL",
        warnings=tuple(f"label {name!r} is empty" for name in empty),
    )


def seed_from_text(text: str, what: str) -> Float64Array:
    """Parse ``"x,y,z"`` (LPS mm) into a (3,) array, with a clear error."""
    try:
        values = np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError:
        values = np.array([])
    if values.shape != (3,) or not np.isfinite(values).all():
        raise InputError(
            f"{what} must be three numbers X,Y,Z in LPS mm (e.g. 12,-40,-24); got {text!r}."
        )
    return values
