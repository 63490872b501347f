"""Write a plan folder (the contract in :mod:`navigation.planning.plan`) from a volume.

:func:`make_plan` runs the stages segment -> labels -> meshes -> fiducials -> plan.json inside
``registration.core.atomic_files.atomic_directory``: everything is written into a hidden temporary
sibling folder that is renamed to ``out`` only when the last file is complete, so an
interrupted or failed run never leaves a folder that :func:`load_plan` accepts.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from tqdm import tqdm

from navigation import __version__
from navigation.imaging.nifti_writer import write_nifti_gz
from navigation.imaging.volume import Volume
from navigation.planning.label_files import write_label_nifti, write_seg_nrrd
from navigation.planning.labels import NODE, TUMOUR
from navigation.planning.markups import write_markups_fiducials
from navigation.planning.meshing import MeshOptions
from navigation.planning.plan import (
    IMAGE_FILE,
    PLAN_SCHEMA,
    PLAN_SCHEMA_VERSION,
    Plan,
    load_plan,
)
from navigation.planning.plan_jobs import FILE_THREADS, MESH_THREADS, MeshJobs, writer_pool
from navigation.planning.plannable import check_plannable
from navigation.planning.segmentation import (
    MIN_REGISTRATION_POINTS,
    CtPreset,
    MrPreset,
    Segmentation,
    registration_point_warning,
    segment_volume,
    segmentation_from_label_map,
)
from registration.core.atomic_files import atomic_directory, write_json_atomic
from registration.core.checks import InputError

STAGES = ("segment", "labels", "meshes", "fiducials", "plan.json")
SEG_NRRD, NIFTI, FIDUCIALS_FILE = "labels.seg.nrrd", "labels.nii.gz", "fiducials.mrk.json"


def _default_source(volume: Volume) -> dict[str, Any]:
    meta = volume.metadata
    return {
        "kind": meta.get("kind", "memory"),
        "path": meta.get("path"),
        "modality": volume.modality,
        "series_instance_uid": meta.get("series_instance_uid"),
        "study_instance_uid": meta.get("study_instance_uid"),
        "frame_of_reference_uid": meta.get("frame_of_reference_uid"),
        "files": list(meta.get("files_sha256", [])),
    }


def _report(segmentation: Segmentation, registration_points: int) -> dict[str, Any]:
    report: dict[str, Any] = {"modality": segmentation.modality, "warnings": []}
    report["warnings"] = list(segmentation.warnings)
    if segmentation.thresholds:
        report["thresholds"] = segmentation.thresholds
    if segmentation.modality == "CT":
        report["removed_from_body"] = {
            "volume_ml": round(segmentation.removed_from_body_ml, 2),
            "objects": [r.to_dict() for r in segmentation.removed_from_body],
        }
    if segmentation.fiducials is not None:
        report["fiducials_found"] = segmentation.fiducials.count
        report["fiducials_rejected"] = list(segmentation.fiducials.rejected)
    what = "landmarks" if segmentation.landmarks is not None else "fiducial markers"
    report["registration_points"] = {
        "count": registration_points,
        "kind": what,
        "minimum": MIN_REGISTRATION_POINTS,
    }
    warning = registration_point_warning(registration_points, what)
    if warning is not None:
        report["warnings"].append(warning)
    for grown in (segmentation.tumour, segmentation.node):
        if grown is not None:
            report[grown.name] = {
                "window": [grown.lower, grown.upper],
                "window_given": grown.window_given,
                "inside_level": grown.inside_level,
                "surround_level": grown.surround_level,
                "touches_search_box": grown.touches_search_box,
                "smoothing_mm": grown.smoothing_mm,
                "box_lps_mm": None if grown.box_lps_mm is None else grown.box_lps_mm.tolist(),
            }
    return report


def make_plan(
    volume: Volume,
    out: str | Path,
    *,
    tumour_seed_lps_mm: ArrayLike | None = None,
    tumour_box_lps_mm: ArrayLike | None = None,
    node_seed_lps_mm: ArrayLike | None = None,
    segmentation: Segmentation | None = None,
    preset: CtPreset | MrPreset | None = None,
    expected_fiducials: int | None = None,
    source: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    mesh_options: MeshOptions | None = None,
    write_stl: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
    review_pictures: Callable[[Path], dict[str, str]] | None = None,
) -> Plan:
    """Segment ``volume``, mesh each label and write the plan folder ``out``; returns it loaded.

    volume : CT (HU) or MR, or a label map (modality "LABEL", planned from its labels).
    tumour_seed_lps_mm, node_seed_lps_mm : (3,) LPS mm seeds for region growing (a seed
        outside the volume raises :class:`InputError`); tumour_box_lps_mm : (2, 3) corners.
    segmentation : a ready segmentation on ``volume``'s grid (skips the segment stage).
    source : the ``source`` block of plan.json (kind, path, modality, UIDs, files with sha256);
        default from ``volume.metadata``; or a function making it (run on the writer pool
        while the segmentation goes on: the SHA-256 of the input files)
    review_pictures : draws the review's QC pictures into the plan folder being written and
        returns them as plan.json ``files`` entries (``igcs plan --review-pictures`` passes
        :func:`navigation.review.pictures.write_review_pictures`: the review sits above
        planning, so the writer is handed it rather than importing it); None: no pictures.
    progress : show tqdm bars on stderr. on_stage(name) : called as each stage of
        :data:`STAGES` starts (progress reporting; an exception there aborts the run, leaving
        no plan folder).
    """
    target = Path(out)
    check_plannable(volume, where=str(volume.metadata.get("source", "the volume")))
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists; choose another output folder or pass --overwrite."
        )
    bar = tqdm(total=len(STAGES), desc="plan", unit="stage", file=sys.stderr, disable=not progress)

    def stage(name: str) -> None:
        bar.set_description(f"plan: {name}")
        if on_stage is not None:
            on_stage(name)

    try:
        if (
            segmentation is not None
            and segmentation.geometry.shape_kji != volume.geometry.shape_kji
        ):
            raise InputError("the segmentation's grid differs from the volume's.")
        with (
            atomic_directory(target, overwrite=overwrite) as tmp,
            writer_pool(FILE_THREADS) as pool,
            writer_pool(MESH_THREADS) as mesh_pool,
        ):
            # the planning image and each label's mesh are written while the segmentation
            # goes on (one label at a time, as each is final)
            image_file = pool.submit(_write_image, tmp / IMAGE_FILE, volume)
            source_block = pool.submit(_made(source))
            meshes = MeshJobs(tmp, volume, mesh_options or MeshOptions(), write_stl, mesh_pool)
            stage("segment")
            if segmentation is None:
                if volume.modality.upper() == "LABEL":
                    segmentation = segmentation_from_label_map(volume)
                else:
                    segmentation = segment_volume(
                        volume,
                        tumour_seed_lps_mm=tumour_seed_lps_mm,
                        tumour_box_lps_mm=tumour_box_lps_mm,
                        node_seed_lps_mm=node_seed_lps_mm,
                        preset=preset,
                        expected_fiducials=expected_fiducials,
                        on_region=meshes.submit,
                    )
            bar.update()
            stage("labels")
            meshes.submit_all(segmentation)
            label_files = pool.submit(_write_label_files, tmp, segmentation)
            bar.update()
            stage("meshes")
            labels = meshes.rows(segmentation, progress)
            label_files.result()
            image = image_file.result()
            bar.update()
            stage("fiducials")
            names, points = _registration_points(segmentation)
            if names and points is not None:
                write_markups_fiducials(tmp / FIDUCIALS_FILE, names, points)
            bar.update()
            stage("plan.json")
            payload = _plan_json(
                volume, segmentation, labels, source_block.result(), names, points, image
            )
            write_json_atomic(tmp / "plan.json", payload)
            if review_pictures is not None:
                bar.set_description("plan: review pictures")
                payload["files"].update(review_pictures(tmp))
                write_json_atomic(tmp / "plan.json", payload)
            bar.update()
    finally:
        bar.close()
    return load_plan(target)


def _made(
    source: dict[str, Any] | Callable[[], dict[str, Any]] | None,
) -> Callable[[], dict[str, Any] | None]:
    """``source`` as a function making the block (the function given, or one returning it)."""
    if callable(source):
        return source
    return lambda: source


def _write_image(path: Path, volume: Volume) -> dict[str, Any] | None:
    """Write the planning image (CT HU, MR units) beside the labels, on the same grid, as
    compressed NIfTI (:func:`navigation.imaging.nifti_writer.write_nifti_gz`), so the slice
    views show the patient's scan without the source files. CT values that are whole numbers
    within int16 are stored as int16 (half the size of float32). Returns the ``image`` block
    of plan.json, or None for a label-map input (no image to keep)."""
    if volume.modality.upper() == "LABEL":
        return None
    array = np.asarray(volume.array)
    if array.dtype.kind == "f" and array.size:
        low, high = float(np.min(array)), float(np.max(array))
        if low >= -32768 and high <= 32767 and np.array_equal(array, np.round(array)):
            array = array.astype(np.int16)
        else:
            array = array.astype(np.float32)
    elif array.dtype.kind in "iub" and array.dtype.itemsize > 2:
        array = array.astype(np.float32)
    sha256 = write_nifti_gz(volume.with_array(array), path)
    return {
        "file": path.name,
        "modality": volume.modality,
        "dtype": str(array.dtype),
        "sha256": sha256,
    }


def _registration_points(segmentation: Segmentation) -> tuple[list[str], Any]:
    """The plan's fiducials: the landmarks of a markups file when given, else the markers."""
    if segmentation.landmarks is not None:
        return list(segmentation.landmarks.names), segmentation.landmarks.points_lps_mm
    fiducials = segmentation.fiducials
    names = list(fiducials.names) if fiducials is not None else []
    return names, fiducials.centroids_lps_mm if fiducials is not None else None


def _write_label_files(folder: Path, segmentation: Segmentation) -> None:
    """The label maps and the attachments (one job beside the meshes)."""
    write_seg_nrrd(folder / SEG_NRRD, segmentation)
    write_label_nifti(folder / NIFTI, segmentation)
    for name, data in segmentation.attachments.items():
        (folder / name).write_bytes(data)


def _structure_blocks(
    segmentation: Segmentation,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """plan.json ``tumour`` and ``targets``: from the grown regions, or from imported tumour
    and node labels (PET, RTSTRUCT, Slicer segmentation)."""
    geometry = segmentation.geometry
    tumour_block: dict[str, Any] | None = None
    targets = []
    for grown, name, title in (
        (segmentation.tumour, TUMOUR, "tumour centroid"),
        (segmentation.node, NODE, "node centroid"),
    ):
        if grown is not None:
            centroid, volume_ml, seed = grown.centroid_lps_mm, grown.volume_ml, grown.seed_lps_mm
            source = "region growing"
        elif name in segmentation.regions and segmentation.regions[name].voxel_count:
            region = segmentation.regions[name]
            centroid, volume_ml = region.centroid_lps_mm(geometry), region.volume_ml(geometry)
            seed, source = None, segmentation.imports.get("sources", {}).get(name, "imported")
        else:
            continue
        targets.append({"name": title, "position_lps_mm": centroid.tolist()})
        if name == TUMOUR:
            tumour_block = {
                "label": TUMOUR,
                "centroid_lps_mm": centroid.tolist(),
                "volume_ml": volume_ml,
                "seed_lps_mm": None if seed is None else seed.tolist(),
                "source": source,
            }
    return tumour_block, targets


def _plan_json(
    volume: Volume,
    segmentation: Segmentation,
    labels: list[dict[str, Any]],
    source: dict[str, Any] | None,
    names: list[str],
    points: Any,
    image: dict[str, Any] | None,
) -> dict[str, Any]:
    tumour, targets = _structure_blocks(segmentation)
    files = {"seg_nrrd": SEG_NRRD, "nifti": NIFTI}
    if image is not None:
        files["image"] = image["file"]
    if names:
        files["fiducials"] = FIDUCIALS_FILE
    files.update({Path(name).stem: name for name in segmentation.attachments})
    payload = {
        "schema": PLAN_SCHEMA,
        "schema_version": PLAN_SCHEMA_VERSION,
        "software_version": __version__,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "coordinate_system": "LPS",
        "units": "mm",
        "source": source if source is not None else _default_source(volume),
        "geometry": segmentation.geometry.to_dict(),
        "labels": labels,
        "files": files,
        "fiducials": [
            {"name": n, "position_lps_mm": p.tolist()}
            for n, p in zip(names, points if points is not None else [], strict=True)
        ],
        "tumour": tumour,
        "targets": targets,
        "image": image,
        "report": _report(segmentation, len(names)),
    }
    for key, block in segmentation.imports.items():
        if key != "sources":
            payload[key] = block
    return payload
