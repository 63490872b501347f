"""Saving a reviewed plan: the folder rewritten atomically, the previous plan kept, an edit log.

:func:`save_review` writes the whole new plan into a hidden temporary sibling folder (a copy of
the old plan with the changed files rewritten: ``labels.seg.nrrd`` and ``labels.nii.gz`` by
the plan writer's own functions, the changed labels' meshes, ``fiducials.mrk.json`` from the
landmarks, ``plan.json``), then renames the old folder to ``PLAN.previous-<UTC time>`` and the
new one to ``PLAN``: a reader sees the old plan or the new one, never half of one, and nothing
is lost (an interruption between the two renames leaves both folders beside each other).

``plan.json`` gains ``edits``: every edit of every review session, oldest first, each with
who (the user), what, when (UTC) and its details (label, voxels changed, new volume, positions
in LPS mm...), and a ``saved`` entry naming the kept previous folder.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from navigation.planning.label_files import write_label_nifti, write_seg_nrrd
from navigation.planning.labels import TUMOUR
from navigation.planning.markups import write_markups_fiducials
from navigation.planning.meshing import save_mesh
from navigation.planning.plan import load_plan
from navigation.planning.plan_writer import FIDUCIALS_FILE, NIFTI, SEG_NRRD
from navigation.planning.segmentation import (
    MIN_REGISTRATION_POINTS,
    Segmentation,
    registration_point_warning,
)
from navigation.review.landmarks import tumour_centroid
from navigation.review.model import ReviewModel
from registration.core.atomic_files import write_json_atomic


def save_review(model: ReviewModel) -> Path:
    """Write the reviewed plan over its folder (see the module docstring); returns the folder
    that keeps the previous plan. The model then reads the saved plan and starts a new log."""
    root = model.plan.root
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    previous = root.with_name(f"{root.name}.previous-{stamp}")
    counter = 1
    while previous.exists():
        counter += 1
        previous = root.with_name(f"{root.name}.previous-{stamp}-{counter}")
    model.log(
        "saved",
        previous=previous.name,
        changed_labels=sorted(model.changed_labels),
        landmarks=[m.name for m in model.landmarks],
    )
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.review-", dir=root.parent))
    try:
        shutil.copytree(root, tmp, dirs_exist_ok=True)
        _write(model, tmp)
        os.replace(root, previous)
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    model.plan = load_plan(root)
    model.edits.clear()
    model.changed_labels.clear()
    model.say(f"saved {root.name}; the previous plan is kept as {previous.name}")
    return previous


def _write(model: ReviewModel, folder: Path) -> None:
    raw: dict[str, Any] = dict(model.plan.raw)
    segmentation = Segmentation(
        geometry=model.geometry,
        table=tuple(model.table),
        regions=dict(model.regions),
        modality=str(raw.get("report", {}).get("modality", model.modality)),
    )
    write_seg_nrrd(folder / SEG_NRRD, segmentation)
    write_label_nifti(folder / NIFTI, segmentation)
    rows = {row["name"]: dict(row) for row in raw.get("labels", [])}
    labels = []
    for entry in model.table:
        row = rows.get(entry.name, {"name": entry.name, "mesh": None})
        row.update(
            value=entry.value, color=list(entry.color), volume_ml=model.volume_ml(entry.name)
        )
        if entry.name in model.changed_labels:
            row["mesh"] = _write_mesh(model, folder, entry.name, row.get("mesh"))
        labels.append(row)
    raw["labels"] = labels
    files = dict(raw.get("files", {}))
    names = [m.name for m in model.landmarks]
    points = np.array([m.position_lps_mm for m in model.landmarks]).reshape(-1, 3)
    if names:
        write_markups_fiducials(folder / FIDUCIALS_FILE, names, points)
        files["fiducials"] = FIDUCIALS_FILE
    else:
        (folder / FIDUCIALS_FILE).unlink(missing_ok=True)
        files.pop("fiducials", None)
    raw["files"] = files
    raw["fiducials"] = [
        {"name": n, "position_lps_mm": p.tolist()} for n, p in zip(names, points, strict=True)
    ]
    _tumour_blocks(model, raw)
    _report(model, raw, len(names))
    raw["edits"] = [*raw.get("edits", []), *model.edits]
    write_json_atomic(folder / "plan.json", raw)


def _write_mesh(model: ReviewModel, folder: Path, name: str, old: str | None) -> str | None:
    stem = Path(old).stem if old else name
    for suffix in (".vtp", ".stl"):
        (folder / "meshes" / f"{stem}{suffix}").unlink(missing_ok=True)
    mesh = model.meshes.get(name)
    if mesh is None or mesh.n_points == 0:
        return None
    (folder / "meshes").mkdir(exist_ok=True)
    save_mesh(mesh, folder / "meshes" / f"{stem}.vtp")
    if old is None or (model.plan.root / "meshes" / f"{stem}.stl").exists():
        save_mesh(mesh, folder / "meshes" / f"{stem}.stl")
    return f"meshes/{stem}.vtp"


def _tumour_blocks(model: ReviewModel, raw: dict[str, Any]) -> None:
    """plan.json ``tumour`` and the tumour centroid target, after the review's edits."""
    if TUMOUR not in model.changed_labels:
        return
    centroid = tumour_centroid(model)
    targets = [t for t in raw.get("targets", []) if t.get("name") != "tumour centroid"]
    if centroid is None:
        raw["tumour"] = None
    else:
        grown = [e for e in model.edits if e["what"] == "tumour grown"]
        seed = model.tumour_seed_lps_mm
        raw["tumour"] = {
            "label": TUMOUR,
            "centroid_lps_mm": centroid.tolist(),
            "volume_ml": model.volume_ml(TUMOUR),
            "seed_lps_mm": None if seed is None or not grown else seed.tolist(),
            "source": "review",
        }
        targets.insert(0, {"name": "tumour centroid", "position_lps_mm": centroid.tolist()})
    raw["targets"] = targets


def _report(model: ReviewModel, raw: dict[str, Any], registration_points: int) -> None:
    report = dict(raw.get("report", {}))
    if model.preset is not None:
        report["thresholds"] = {
            **model.preset.thresholds(),
            "marker": report.get("thresholds", {}).get("marker"),
        }
    grown = [e for e in model.edits if e["what"] == "tumour grown"]
    if grown:
        last = grown[-1]
        report[TUMOUR] = {
            **report.get(TUMOUR, {}),
            "window": last["window"],
            "window_given": last["window_given"],
            "touches_search_box": last["touches_box"],
            "box_lps_mm": last["box_lps_mm"],
        }
        if model.tumour_preview is None and model.levels.get(TUMOUR) is not None:
            level = model.levels[TUMOUR]
            assert level is not None
            report[TUMOUR]["smoothing_mm"] = level.smoothing_mm
    kind = registration_point_kind(model, raw)
    report["registration_points"] = {
        "count": registration_points,
        "kind": kind,
        "minimum": MIN_REGISTRATION_POINTS,
    }
    report["warnings"] = current_warnings(model, raw, registration_points)
    raw["report"] = report


def registration_point_kind(model: ReviewModel, raw: dict[str, Any]) -> str:
    """What the plan's registration points are: "landmarks" once any were edited here or in an
    earlier review, else what the plan said (the markers igcs plan found)."""
    report = raw.get("report", {})
    kind = str(report.get("registration_points", {}).get("kind", "fiducial markers"))
    edits = raw.get("edits", []) + model.edits
    return "landmarks" if any(e["what"].startswith("landmark") for e in edits) else kind


def current_warnings(
    model: ReviewModel, raw: dict[str, Any], registration_points: int
) -> list[str]:
    """The plan's warnings with the too-few-registration-points one for ``registration_points``
    (the review's landmarks now), not for the count the plan was written with."""
    warnings = [
        w
        for w in raw.get("report", {}).get("warnings", [])
        if "paired-point registration needs" not in w
    ]
    warning = registration_point_warning(registration_points, registration_point_kind(model, raw))
    return warnings + ([warning] if warning else [])
