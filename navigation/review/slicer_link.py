"""Free-hand editing in 3D Slicer and back: the review's round trip through a ``.seg.nrrd``.

:func:`open_in_slicer` writes the labels as they stand in the review (the plan writer's own
``.seg.nrrd``: layered, SNOMED terminology) beside a copy of the scan into ``PLAN.slicer-edit/``
and starts 3D Slicer on them in its Segment Editor, when Slicer is installed (``Slicer`` on the
PATH, the ``SLICER_EXECUTABLE`` environment variable, or the usual install folders); otherwise
it says how to do the same by hand. After the planner saves the segmentation in Slicer (same
file), :func:`reimport_from_slicer` reads it back through ``igcs plan --segmentation``'s import
(:func:`navigation.planning.segmentation_import.segmentation_structures`: any grid Slicer saved,
names and SNOMED codes mapped to our labels) and replaces each label whose voxels changed.
A segment deleted in Slicer is not deleted here (empty it in Slicer, or use the review's tools).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from navigation.imaging.volume import Volume
from navigation.planning.label_files import write_seg_nrrd
from navigation.planning.plan_sources import add_structures
from navigation.planning.segmentation import Segmentation
from navigation.planning.segmentation_import import segmentation_structures
from navigation.review import label_edits
from navigation.review.model import ReviewModel
from registration.core.checks import InputError

SLICER_ENV = "SLICER_EXECUTABLE"
EDIT_SEGMENTATION = "labels.seg.nrrd"
SLICER_DOWNLOAD = "https://download.slicer.org"


def find_slicer() -> Path | None:
    """The 3D Slicer executable, or None (see the module docstring for where it is looked for)."""
    given = os.environ.get(SLICER_ENV)
    if given:
        return Path(given) if Path(given).is_file() else None
    found = shutil.which("Slicer")
    if found:
        return Path(found)
    home = Path.home()
    patterns = [
        (Path("/Applications"), "Slicer*.app/Contents/MacOS/Slicer"),
        (home, "Slicer*/Slicer"),
        (Path("/opt"), "Slicer*/Slicer"),
        (Path(os.environ.get("LOCALAPPDATA", home)), "slicer.org/Slicer*/Slicer.exe"),
    ]
    for folder, pattern in patterns:
        hits = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if hits:
            return hits[-1]
    return None


def edit_folder(model: ReviewModel) -> Path:
    """``PLAN.slicer-edit/`` beside the plan folder."""
    root = model.plan.root
    return root.with_name(f"{root.name}.slicer-edit")


def prepare_edit(model: ReviewModel) -> Path:
    """Write the review's labels and the scan for Slicer; returns the folder."""
    folder = edit_folder(model)
    folder.mkdir(exist_ok=True)
    segmentation = Segmentation(
        model.geometry, tuple(model.table), dict(model.regions), model.modality
    )
    write_seg_nrrd(folder / EDIT_SEGMENTATION, segmentation)
    image = model.plan.image_path
    if image is not None and image.is_file():
        shutil.copyfile(image, folder / image.name)
    return folder


def slicer_command(slicer: Path, folder: Path) -> list[str]:
    """Slicer's command line: load the scan and the segmentation, open the Segment Editor."""
    lines = []
    for image in sorted(folder.glob("image.*")):
        lines.append(f"slicer.util.loadVolume({str(image)!r})")
    lines.append(f"slicer.util.loadSegmentation({str(folder / EDIT_SEGMENTATION)!r})")
    lines.append("slicer.util.selectModule('SegmentEditor')")
    return [str(slicer), "--python-code", "; ".join(lines)]


def open_in_slicer(model: ReviewModel) -> str:
    """Start Slicer on the review's labels (or say how); returns the message for the planner."""
    folder = prepare_edit(model)
    segmentation = folder / EDIT_SEGMENTATION
    slicer = find_slicer()
    if slicer is None:
        message = (
            f"3D Slicer was not found (install it from {SLICER_DOWNLOAD}, or set {SLICER_ENV} "
            f"to its executable). By hand: open {folder}/image.nii.gz and {segmentation} in "
            f"Slicer, edit in the Segment Editor, save the segmentation over {segmentation}, "
            "then press Re-import."
        )
    else:
        subprocess.Popen(  # the planner's own Slicer, our own arguments, no shell
            slicer_command(slicer, folder),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=sys.platform != "win32",
        )
        message = (
            f"3D Slicer started ({slicer}) on {segmentation}: edit, save the segmentation "
            "(same file), then press Re-import."
        )
    model.log(
        "opened in 3D Slicer", folder=str(folder), slicer=None if slicer is None else str(slicer)
    )
    model.say(message)
    return message


def reimport_from_slicer(model: ReviewModel, path: str | Path | None = None) -> list[str]:
    """Read the segmentation Slicer saved (default ``PLAN.slicer-edit/labels.seg.nrrd``) and
    replace the labels whose voxels changed; returns their names."""
    file = Path(path) if path is not None else edit_folder(model) / EDIT_SEGMENTATION
    if not file.is_file():
        raise InputError(f"{file} does not exist; press 'Edit in 3D Slicer' first.")
    grid_image = (
        model.image if model.image is not None else np.zeros(model.geometry.shape_kji, np.uint8)
    )
    imported = segmentation_structures(file, Volume(grid_image, model.geometry, model.modality))
    current = Segmentation(model.geometry, tuple(model.table), dict(model.regions), model.modality)
    merged = add_structures(current, replace(imported, attachments={}))
    changed = []
    for name, region in imported.regions.items():
        before = model.regions.get(name)
        shape = model.geometry.shape_kji
        if before is not None and label_edits.changed_voxels(before, region, shape) == 0:
            continue
        entry = next(e for e in merged.table if e.name == name)
        if before is not None:
            entry = model.entry(name)
        model.set_region(
            entry,
            region,
            None,
            "re-imported from 3D Slicer",
            file=str(file),
            source=next(r["source"] for r in imported.record["imported"] if r["name"] == name),
        )
        changed.append(name)
    model.say(
        f"re-imported {file.name}: {', '.join(changed)} changed"
        if changed
        else f"re-imported {file.name}: no label changed"
    )
    return changed
