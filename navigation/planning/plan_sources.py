"""Structures and points a plan takes from other sources than the CT's own segmentation.

``igcs plan`` segments skin, bone and airway from the CT itself; the tumour, the nodes and the
registration points may come instead from:

- a PET of the same PET/CT session (``--pet``): the FDG-avid primary
  (:mod:`navigation.planning.pet_tumour`), with a picture of it, ``PLAN/pet_tumour.png``;
- a radiotherapy structure set (``--rtstruct``): the radiation oncologist's contours
  (:mod:`navigation.planning.rtstruct`);
- a 3D Slicer segmentation (``--segmentation``): the planner's edited segments
  (:mod:`navigation.planning.segmentation_import`);
- a Slicer markups file (``--fiducials``): anatomical landmarks picked by the planner, which
  become the plan's registration fiducials (scans without skin markers).

:func:`segment_with_sources` runs the CT segmentation and adds what the sources give, refusing
two sources for one structure. Each source's record goes to plan.json under its own key
(``pet``, ``rtstruct``, ``segmentation_import``, ``landmarks``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from navigation.imaging.volume import Volume
from navigation.planning.imported_structures import ImportedStructures
from navigation.planning.labels import (
    CANONICAL_LABELS,
    NODE,
    PALETTE,
    TUMOUR,
    canonical_entry,
    check_table,
)
from navigation.planning.markups import PointList, read_point_file
from navigation.planning.plan import LabelEntry
from navigation.planning.segmentation import CtPreset, MrPreset, Segmentation, segment_volume
from registration.core.checks import InputError

PET_PICTURE = "pet_tumour.png"
CANONICAL_NAMES = frozenset(entry.name for entry in CANONICAL_LABELS)
#: A landmark this far (mm) from the skin surface is reported: a pointer touches the skin.
LANDMARK_SKIN_WARNING_MM = 15.0


@dataclass(frozen=True)
class PlanSources:
    """Optional inputs besides the CT (paths as given on the command line)."""

    pet: Path | None = None
    pet_fraction: float = 0.41
    rtstruct: Path | None = None
    tumour_roi: str | None = None
    node_roi: str | None = None
    segmentation: Path | None = None
    fiducials: Path | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.pet, self.rtstruct, self.segmentation,
                                           self.fiducials))  # fmt: skip


def segment_with_sources(
    volume: Volume,
    sources: PlanSources,
    *,
    tumour_seed_lps_mm: ArrayLike | None = None,
    tumour_box_lps_mm: ArrayLike | None = None,
    node_seed_lps_mm: ArrayLike | None = None,
    expected_fiducials: int | None = None,
    preset: CtPreset | MrPreset | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Segmentation:
    """Segment ``volume`` and add the structures and landmarks of ``sources``;
    ``on_step(text)`` is told each step as it starts (progress)."""
    step = on_step or (lambda _text: None)
    _check_combinations(sources, tumour_seed_lps_mm, tumour_box_lps_mm, node_seed_lps_mm)
    grown_seed = None if sources.pet is not None else tumour_seed_lps_mm
    step(f"segmenting the {volume.modality}")
    segmentation = segment_volume(
        volume,
        tumour_seed_lps_mm=grown_seed,
        tumour_box_lps_mm=tumour_box_lps_mm,
        node_seed_lps_mm=node_seed_lps_mm,
        preset=preset,
        expected_fiducials=expected_fiducials,
    )
    imports: list[ImportedStructures] = []
    if sources.pet is not None:
        step(f"PET: SUV and the FDG-avid tumour from {sources.pet}")
        imports.append(_pet_structures(volume, sources, tumour_seed_lps_mm))
    if sources.rtstruct is not None:
        from navigation.planning.rtstruct import rtstruct_structures

        step(f"RTSTRUCT: rasterising the contours of {sources.rtstruct}")
        imports.append(
            rtstruct_structures(
                sources.rtstruct, volume, tumour_roi=sources.tumour_roi, node_roi=sources.node_roi
            )
        )
    if sources.segmentation is not None:
        from navigation.planning.segmentation_import import segmentation_structures

        step(f"segmentation: placing the segments of {sources.segmentation}")
        imports.append(segmentation_structures(sources.segmentation, volume))
    for imported in imports:
        segmentation = add_structures(segmentation, imported)
    if sources.fiducials is not None:
        segmentation = with_landmarks(segmentation, read_point_file(sources.fiducials))
    return segmentation


def _check_combinations(
    sources: PlanSources,
    seed: ArrayLike | None,
    box: ArrayLike | None,
    node_seed: ArrayLike | None,
) -> None:
    if sources.pet is not None and box is not None:
        raise InputError(
            "--tumour-box grows the tumour on the CT; with --pet the tumour comes from the PET "
            "(use --tumour-seed near it, or drop --pet)."
        )
    if sources.rtstruct is None and (sources.tumour_roi or sources.node_roi):
        raise InputError("--tumour-roi and --node-roi choose contours of --rtstruct; give it.")
    tumour_sources = [
        name
        for name, given in (
            ("--pet", sources.pet is not None),
            ("--rtstruct --tumour-roi", sources.tumour_roi is not None),
            ("--tumour-box", box is not None),
            ("--tumour-seed (CT)", seed is not None and box is None and sources.pet is None),
        )
        if given
    ]
    if len(tumour_sources) > 1:
        raise InputError(
            f"the tumour would come from {' and '.join(tumour_sources)}; give one source."
        )
    if sources.node_roi is not None and node_seed is not None:
        raise InputError("the node would come from --node-roi and --node-seed; give one source.")


def _pet_structures(
    volume: Volume, sources: PlanSources, seed: ArrayLike | None
) -> ImportedStructures:
    from navigation.imaging.pet import read_pet
    from navigation.planning.pet_options import PetOptions
    from navigation.planning.pet_picture import pet_overview_png
    from navigation.planning.pet_tumour import tumour_from_pet

    assert sources.pet is not None
    series = read_pet(sources.pet)
    tumour = tumour_from_pet(
        volume, series, seed_lps_mm=seed, options=PetOptions(fraction=sources.pet_fraction)
    )
    picture = {PET_PICTURE: pet_overview_png(volume, series, tumour)}
    return ImportedStructures("pet", {TUMOUR: tumour.region}, {}, tumour.to_dict(), picture)


def add_structures(segmentation: Segmentation, imported: ImportedStructures) -> Segmentation:
    """``segmentation`` with ``imported``'s masks as labels (replacing labels of the same name;
    the canonical labels keep their values and colours) and its record in ``imports``."""
    shape = segmentation.geometry.shape_kji
    for name, region in imported.regions.items():
        if any(s.stop > n for s, n in zip(region.slices, shape, strict=True)):
            raise InputError(f"imported structure {name!r} is not on the planning grid.")
    sources = dict(segmentation.imports.get("sources", {}))
    for grown, flag in ((segmentation.tumour, "--tumour-seed/--tumour-box"),
                        (segmentation.node, "--node-seed")):  # fmt: skip
        if grown is not None and grown.name in imported.regions:
            sources.setdefault(grown.name, flag)
    clash = [n for n in imported.regions if n in sources and sources[n] != imported.key]
    if clash:
        raise InputError(
            f"{', '.join(clash)} would come from both {sources[clash[0]]} and {imported.key}; "
            "give one source for each structure."
        )
    table = [e for e in segmentation.table if e.name not in imported.regions]
    regions = {n: r for n, r in segmentation.regions.items() if n not in imported.regions}
    levels = {n: v for n, v in segmentation.surface_levels.items() if n not in imported.regions}
    used_values = {e.value for e in table}
    for name, region in imported.regions.items():
        if name in CANONICAL_NAMES:
            entry = canonical_entry(name)
        else:
            value = next(v for v in range(7, 65536) if v not in used_values)
            color = imported.colors.get(name, PALETTE[(value - 7) % len(PALETTE)])
            entry = LabelEntry(name, value, color)
        used_values.add(entry.value)
        table.append(entry)
        regions[name] = region
        sources[name] = imported.key
    table.sort(key=lambda e: (e.name == "fiducials", e.value))  # markers painted last
    imports = {**segmentation.imports, imported.key: imported.record, "sources": sources}
    return replace(
        segmentation,
        table=check_table(tuple(table)),
        regions=regions,
        surface_levels=levels,
        tumour=None if TUMOUR in imported.regions else segmentation.tumour,
        node=None if NODE in imported.regions else segmentation.node,
        imports=imports,
        attachments={**segmentation.attachments, **imported.attachments},
    )


def with_landmarks(segmentation: Segmentation, landmarks: PointList) -> Segmentation:
    """``segmentation`` whose registration fiducials are ``landmarks`` (LPS mm, labels kept).

    Refuses points outside the image (a wrong coordinateSystem or another patient's file);
    reports points far from the skin (a pointer can only touch the skin surface).
    """
    geometry = segmentation.geometry
    names = list(landmarks.names)
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{landmarks.path}: duplicate landmark labels {duplicates}; rename them.")
    outside = [n for n, inside in zip(names, geometry.contains_lps(landmarks.points_lps_mm),
                                      strict=True) if not inside]  # fmt: skip
    if outside:
        raise InputError(
            f"{landmarks.path}: landmark(s) {', '.join(outside)} lie outside the image (file "
            f"coordinateSystem {landmarks.file_coordinate_system}); check the file belongs to "
            "this scan and states its coordinate system (LPS or RAS)."
        )
    distances = _distance_to_skin(segmentation, landmarks.points_lps_mm)
    warnings = [
        f"landmark {n!r} lies {d:.0f} mm from the skin surface; a pointer touches the skin: "
        "check its position (and the file's coordinateSystem)"
        for n, d in zip(names, distances, strict=True)
        if d > LANDMARK_SKIN_WARNING_MM
    ]
    record = {
        "file": str(landmarks.path),
        "file_coordinate_system": landmarks.file_coordinate_system,
        "names": names,
        "distance_to_skin_mm": [None if np.isnan(d) else round(float(d), 2) for d in distances],
        "markers_detected": segmentation.fiducials.count if segmentation.fiducials else 0,
        "warnings": warnings,
    }
    if segmentation.fiducials is not None and segmentation.fiducials.count:
        warnings.append(
            f"{segmentation.fiducials.count} skin marker(s) were also found; the plan's "
            "registration fiducials are the landmarks of the file"
        )
    # the landmarks are the registration points: "no markers found" is no longer a concern
    kept = tuple(w for w in segmentation.warnings if w != "no fiducial markers found")
    return replace(
        segmentation,
        landmarks=landmarks,
        imports={**segmentation.imports, "landmarks": record},
        warnings=(*kept, *warnings),
    )


def _distance_to_skin(segmentation: Segmentation, points_lps_mm: np.ndarray) -> np.ndarray:
    """Distance (mm) of each point to the body's surface voxels (NaN without a body label)."""
    from scipy.spatial import cKDTree

    if "skin" not in segmentation.regions or not segmentation.regions["skin"].voxel_count:
        return np.full(len(points_lps_mm), np.nan)
    region = segmentation.regions["skin"]
    padded = np.pad(region.mask, 1)
    core = (slice(1, -1),) * 3
    interior = padded[core].copy()
    for axis in range(3):
        for ends in (slice(None, -2), slice(2, None)):
            where = list(core)
            where[axis] = ends
            interior &= padded[tuple(where)]
    surface = np.argwhere(region.mask & ~interior) + np.asarray(region.offset_kji)
    tree = cKDTree(segmentation.geometry.kji_to_lps(surface))
    distances, _ = tree.query(points_lps_mm)
    return np.asarray(distances, dtype=np.float64)
