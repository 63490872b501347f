"""The review's structure edits: the tumour from a clicked seed or box, label corrections, and
one tissue re-segmented with a changed threshold, each re-meshed at once.

- Tumour: :func:`preview_tumour` grows it (:func:`navigation.planning.region_growing.grow_region`:
  the window found from the lesion, or the planner's; held in the box when there is one) and
  shows it in the tumour's place; :func:`accept_tumour` makes it the plan's tumour,
  :func:`discard_tumour` goes back.
- Corrections (:data:`OPERATIONS`, :mod:`navigation.review.label_edits`) on any label.
- Thresholds: :func:`resegment` re-runs the body, bone or airway step of ``igcs plan``
  (:mod:`navigation.planning.tissue_thresholds`) with a changed :class:`CtPreset`.

Every change is logged in the model's edit log with the voxels it changed and the label's new
volume; the mesh of a changed label is remade from its voxels and, where the label still is a
threshold of the scan, from the scan itself (sub-voxel, as ``igcs plan`` meshes).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from navigation.planning.labels import AIRWAY, BONE, FIDUCIALS, SKIN, TUMOUR, canonical_entry
from navigation.planning.meshing import mesh_region
from navigation.planning.region_growing import GrownRegion, grow_region
from navigation.planning.regions import RegionMask, SurfaceLevel
from navigation.planning.segmentation import grown_level, leak_warning
from navigation.planning.tissue_thresholds import (
    CtPreset,
    airway_region,
    body_region,
    bone_region,
    near,
)
from navigation.review import label_edits
from navigation.review.model import ReviewModel
from registration.core.checks import InputError

#: Label corrections by name (the window's buttons); parameters in the docstrings of
#: :mod:`navigation.review.label_edits`.
OPERATIONS = ("keep largest", "remove small", "remove island", "threshold", "margin", "clip box")
#: Tissues :func:`resegment` re-runs with a changed threshold.
RESEGMENTABLE = (SKIN, BONE, AIRWAY)


def preview_tumour(
    model: ReviewModel,
    *,
    seed_lps_mm: ArrayLike | None = None,
    box_lps_mm: ArrayLike | None = None,
    window: tuple[float, float] | None = None,
) -> GrownRegion:
    """Grow the tumour from ``seed_lps_mm`` (default: the model's seed, else the box centre),
    held in ``box_lps_mm`` (default the model's box) with ``window`` (default: found), mesh it
    and show it; returns the grown region. A clicked seed outside the model's box grows without
    it (the box is dropped, and said so)."""
    volume = model.volume()
    box = model.box_lps_mm if box_lps_mm is None else np.asarray(box_lps_mm, float)
    seed = model.tumour_seed_lps_mm if seed_lps_mm is None else np.asarray(seed_lps_mm, float)
    dropped = ""
    if seed is not None and seed_lps_mm is not None and box_lps_mm is None and box is not None:
        if not _in_box(seed, box):
            box, dropped = None, "; the box (the seed lies outside it) was dropped"
            model.box_lps_mm = None
    if seed is None or (box is not None and not _in_box(seed, box)):
        if box is None:
            raise InputError("click a seed inside the tumour first (or draw a box around it).")
        seed = np.asarray(box, float).reshape(2, 3).mean(axis=0)
    grown = grow_region(volume.array, volume.geometry, seed, box_lps_mm=box, window=window)
    model.tumour_seed_lps_mm, model.box_lps_mm = grown.seed_lps_mm, box
    model.tumour_window = (grown.lower, grown.upper)
    model.tumour_preview = grown
    model.preview_mesh = mesh_region(
        grown.region, volume.geometry, image=volume.array, level=grown_level(grown)
    )
    note = f" - {leak_warning(grown)}" if grown.touches_search_box else ""
    model.say(
        f"tumour preview {grown.volume_ml:.2f} ml, window {grown.lower:.0f}..{grown.upper:.0f}"
        f"{note}{dropped}; Accept to keep it"
    )
    model.notify("tumour", "labels", "meshes")
    return grown


def accept_tumour(model: ReviewModel) -> None:
    """Make the previewed tumour the plan's tumour (logged)."""
    grown = model.tumour_preview
    if grown is None:
        raise InputError("there is no tumour preview to accept; click a seed or draw a box.")
    entry = next((e for e in model.table if e.name == TUMOUR), canonical_entry(TUMOUR))
    model.tumour_preview = None
    mesh = model.preview_mesh
    model.preview_mesh = None
    model.regions[TUMOUR] = grown.region
    model.levels[TUMOUR] = grown_level(grown)
    if all(e.name != TUMOUR for e in model.table):
        model.table.append(entry)
    model.meshes[TUMOUR] = mesh
    model.changed_labels.add(TUMOUR)
    model.log(
        "tumour grown",
        label=TUMOUR,
        volume_ml=round(grown.volume_ml, 3),
        seed_lps_mm=[round(float(v), 3) for v in grown.seed_lps_mm],
        box_lps_mm=None if grown.box_lps_mm is None else grown.box_lps_mm.tolist(),
        window=[grown.lower, grown.upper],
        window_given=grown.window_given,
        touches_box=grown.touches_search_box,
    )
    model.say(f"tumour accepted: {grown.volume_ml:.2f} ml")
    model.notify("tumour", "labels", "meshes")


def discard_tumour(model: ReviewModel) -> None:
    model.tumour_preview = None
    model.preview_mesh = None
    model.say("tumour preview discarded")
    model.notify("tumour", "labels", "meshes")


def edit_label(model: ReviewModel, name: str, operation: str, **options: Any) -> int:
    """Apply a correction (:data:`OPERATIONS`) to label ``name``; returns the voxels changed.

    Options: ``min_volume_ml`` (remove small), ``point_lps_mm`` (remove island: a point in it),
    ``low``/``high`` (threshold), ``margin_mm`` (margin: > 0 grows), ``box_lps_mm`` (clip box,
    default the model's box).
    """
    entry = model.entry(name)
    region = model.regions[name]
    geometry = model.geometry
    level = model.levels.get(name)
    if operation == "keep largest":
        edited = label_edits.keep_largest_island(region)
    elif operation == "remove small":
        edited = label_edits.remove_small_islands(region, geometry, options["min_volume_ml"])
    elif operation == "remove island":
        kji = np.rint(geometry.lps_to_ijk(np.asarray(options["point_lps_mm"], float)))[::-1]
        edited = label_edits.remove_island_at(region, kji.astype(int))
    elif operation == "threshold":
        image = model.volume().array
        edited = label_edits.threshold_range(region, image, options["low"], options["high"])
        level = None  # the label is no longer one threshold of the scan
    elif operation == "margin":
        edited = label_edits.grow_shrink(region, geometry, options["margin_mm"])
        level = None
    elif operation == "clip box":
        box = options.get("box_lps_mm", model.box_lps_mm)
        if box is None:
            raise InputError("draw a box first (Box tool: click two opposite corners).")
        edited = label_edits.clip_to_box(region, geometry, box)
        options = {**options, "box_lps_mm": np.asarray(box, dtype=np.float64)}  # for the log
        level = (
            None if level is None else dataclasses.replace(level, clip_box_lps_mm=np.asarray(box))
        )
    else:
        raise InputError(f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}.")
    changed = label_edits.changed_voxels(region, edited, geometry.shape_kji)
    if changed == 0:
        model.say(f"{operation} left {name} unchanged")
        return 0
    details = {k: _jsonable(v) for k, v in options.items()}
    seconds = model.set_region(
        entry, edited, level, f"label {operation}", voxels_changed=changed, **details
    )
    model.say(
        f"{name}: {operation} changed {changed} voxels, now {model.volume_ml(name):.2f} ml "
        f"(re-meshed in {seconds:.1f} s)"
    )
    return changed


def resegment(model: ReviewModel, name: str, preset: CtPreset) -> float:
    """Re-run the threshold step of ``name`` (skin, bone or airway) with ``preset`` and re-mesh
    it; returns the seconds taken. The other labels stay as they are."""
    if name not in RESEGMENTABLE:
        raise InputError(f"only {', '.join(RESEGMENTABLE)} are thresholds of the scan.")
    if model.modality.upper() != "CT":
        raise InputError("the HU thresholds apply to a CT; this plan's scan is not one.")
    start = time.perf_counter()
    array = model.volume().array
    geometry = model.geometry
    details: dict[str, Any] = {}
    if name == SKIN:
        found = body_region(array, geometry, preset.body_hu)
        region, level = found.region, SurfaceLevel(preset.body_hu)
        details["removed_from_body_ml"] = round(found.removed_ml, 2)
    else:
        if SKIN not in model.regions:
            raise InputError("bone and airway are found inside the body: the plan has no skin.")
        body = model.regions[SKIN]
        if name == BONE:
            markers = model.regions.get(FIDUCIALS, RegionMask((0, 0, 0), np.zeros((0, 0, 0), bool)))
            full = markers.to_full(geometry.shape_kji)
            region = bone_region(array, geometry, body, preset, exclude=near(full, (markers,)))
            level = SurfaceLevel(preset.bone_hu)
        else:
            region = airway_region(array, geometry, body, preset)
            level = SurfaceLevel(preset.air_hu, bright=False)
    entry = next((e for e in model.table if e.name == name), canonical_entry(name))
    before = model.regions.get(name)
    changed = (
        region.voxel_count
        if before is None
        else label_edits.changed_voxels(before, region, geometry.shape_kji)
    )
    model.preset = preset
    model.set_region(
        entry,
        region,
        level,
        "threshold re-segmentation",
        thresholds=preset.thresholds(),
        voxels_changed=changed,
        **details,
    )
    seconds = time.perf_counter() - start
    model.say(
        f"{name} re-segmented and re-meshed in {seconds:.1f} s: {model.volume_ml(name):.1f} ml"
    )
    return seconds


def _in_box(point: np.ndarray, box: ArrayLike) -> bool:
    corners = np.asarray(box, dtype=float).reshape(2, 3)
    return bool(np.all((point >= corners.min(axis=0)) & (point <= corners.max(axis=0))))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.round(value, 3).tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
