"""``igcs plan``: from a CT/MR (or label maps) on disk to a saved, Slicer-readable plan folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from navigation.cli import UserError
from navigation.commands.image_options import add_loading_arguments
from navigation.planning.plan import Plan
from navigation.planning.plan_options import (
    add_source_arguments,
    add_threshold_arguments,
    describe_sources,
    preset_from_arguments,
    sources_from_arguments,
)
from navigation.planning.segmentation import seed_from_text

DESCRIPTION = """\
Make a surgical plan from a head and neck CT or MRI: segment skin, bone and airway (CT
presets in HU), find the skin fiducial markers automatically, grow the tumour (and a lymph
node) from seeds, mesh every label, and write the plan folder PLAN:

  PLAN/plan.json            label table, meshes, fiducials, tumour target, source UIDs and
                            file SHA-256 digests, software version (all positions LPS mm)
  PLAN/labels.seg.nrrd      3D Slicer segmentation (segment names and colours kept)
  PLAN/labels.nii.gz        the same labels as one NIfTI label map
  PLAN/image.nii.gz         the planning image (CT HU / MR) the navigation slices show
  PLAN/meshes/<label>.vtp   one surface per label, LPS mm (also .stl)
  PLAN/fiducials.mrk.json   Slicer markups, coordinateSystem LPS
  PLAN/review/*.png         with --review-pictures: QC pictures (slices with label overlays,
                            meshes); review and correct the plan with `igcs review PLAN`

INPUT is a DICOM folder (the largest axial CT/MR series is chosen unless --series), a DICOM
file, or a NIfTI/NRRD/MHA file; with --labels, a label map file or a folder of label files
(one structure per file). Coordinates are LPS millimetres: +x patient left, +y posterior,
+z superior (as DICOM; Slicer shows RAS, so negate x and y to compare). The folder is written
atomically: an interrupted run leaves no plan behind."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "input",
        type=Path,
        nargs="+",
        metavar="INPUT",
        help="DICOM folder/file or image file; several INPUTs (or --cohort) plan a cohort",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="PLAN",
        help="plan folder (for a cohort: the folder of the patients' plans and cohort.csv)",
    )
    parser.add_argument(
        "--tumour-seed",
        metavar="X,Y,Z",
        help="a point inside the tumour, LPS mm (e.g. truth.json tumour_seed_lps_mm)",
    )
    parser.add_argument(
        "--tumour-box",
        metavar="X0,Y0,Z0,X1,Y1,Z1",
        help="two opposite corners (LPS mm) of a box holding the tumour; grows from the seed, "
        "or from the box centre without one, and stays inside the box",
    )
    parser.add_argument("--node-seed", metavar="X,Y,Z", help="a point inside a lymph node, LPS mm")
    parser.add_argument(
        "--labels", action="store_true", help="INPUT is a label map or a folder of label files"
    )
    parser.add_argument("--expected-fiducials", type=int, metavar="N", help="warn unless N found")
    add_loading_arguments(parser)
    add_threshold_arguments(parser)
    add_source_arguments(parser)
    parser.add_argument(
        "--review-pictures",
        action="store_true",
        help="also write PLAN/review/*.png: label overlays on axial, coronal and sagittal slices "
        "through the tumour, the meshes, and the review window's views (checked before surgery)",
    )
    parser.add_argument("--no-stl", action="store_true", help="write .vtp meshes only")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing PLAN")
    cohort = parser.add_argument_group("cohorts (navigation.commands.plan_cohort)")
    cohort.add_argument(
        "--cohort",
        action="store_true",
        help="each INPUT is a folder of patients (subfolders or image files) or a list file "
        "(one path per line); each patient is planned into PLAN/<patient>",
    )
    cohort.add_argument(
        "--scheduler", metavar="ADDRESS", help="Dask scheduler (tcp://HOST:PORT) for a cohort"
    )
    cohort.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="local Dask worker processes for a cohort (0: one patient after the other here)",
    )


def _box(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 6:
        raise UserError(f"--tumour-box needs six numbers X0,Y0,Z0,X1,Y1,Z1 (LPS mm); got {text!r}.")
    return np.stack(
        [
            seed_from_text(",".join(parts[:3]), "--tumour-box"),
            seed_from_text(",".join(parts[3:]), "--tumour-box"),
        ]
    )


def make_plan_from_path(args: argparse.Namespace) -> Plan:
    """Read INPUT and write the plan (shared by ``igcs plan`` and ``igcs demo``)."""
    from navigation.imaging.loading import load_volume
    from navigation.planning.plan_input import source_from_label_files, source_from_loaded
    from navigation.planning.plan_writer import make_plan

    tumour_seed = seed_from_text(args.tumour_seed, "--tumour-seed") if args.tumour_seed else None
    node_seed = seed_from_text(args.node_seed, "--node-seed") if args.node_seed else None
    box = _box(args.tumour_box)
    sources = sources_from_arguments(args)
    if args.out.exists() and not args.overwrite:
        raise UserError(
            f"{args.out} already exists; choose another PLAN folder or pass --overwrite."
        )
    preset = None
    if args.labels:
        preset_from_arguments(args, "LABEL")  # refuses thresholds for label maps
        from navigation.planning.label_input import read_label_files  # slicerio: only here

        volume, segmentation = read_label_files(args.input)
        source = source_from_label_files(args.input, [Path(f) for f in volume.metadata["files"]])
        print(f"read {len(segmentation.table)} labels from {args.input}")
        for row in segmentation.imports["label_files"]["structures"]:
            if row["name"] != row["source"]:
                print(f"  {row['name']} <- {row['source']!r} ({row['file']})")
    else:
        loaded = load_volume(
            args.input,
            series_uid=args.series,
            allow_resampling=not args.no_resample,
            modality=getattr(args, "modality", None),
        )
        volume, segmentation = loaded.volume, None
        if volume.modality not in ("CT", "MR"):
            reason = volume.metadata.get("modality_reason") or (
                f"{loaded.report.chosen} is not a CT or MR (Modality "
                f"{volume.metadata.get('modality')!r}); planning needs one"
            )
            raise UserError(f"{reason}.")
        preset = preset_from_arguments(args, volume.modality)
        source = source_from_loaded(loaded)
        print(f"read {loaded.report.chosen}")
        for other in loaded.report.others:
            print(f"  also found: {other}")
        for warning in loaded.report.warnings:
            print(f"  warning: {warning}")
        if sources.any:
            from navigation.planning.plan_sources import segment_with_sources

            segmentation = segment_with_sources(
                volume,
                sources,
                tumour_seed_lps_mm=tumour_seed,
                tumour_box_lps_mm=box,
                node_seed_lps_mm=node_seed,
                expected_fiducials=args.expected_fiducials,
                preset=preset,
                on_step=lambda text: print(text, flush=True),
            )
    return make_plan(
        volume,
        args.out,
        tumour_seed_lps_mm=tumour_seed,
        tumour_box_lps_mm=box,
        node_seed_lps_mm=node_seed,
        segmentation=segmentation,
        preset=preset,
        expected_fiducials=args.expected_fiducials,
        source=source,
        write_stl=not args.no_stl,
        overwrite=args.overwrite,
        progress=True,
        review_pictures=getattr(args, "review_pictures", False),
    )


def print_summary(plan: Plan) -> None:
    print(f"plan written to {plan.root}")
    for entry in plan.labels:
        volume = f"{entry.volume_ml:9.2f} ml" if entry.volume_ml is not None else ""
        print(f"  {entry.name:<16} value {entry.value:<3} {volume}  {entry.mesh or '(no mesh)'}")
    kind = "registration landmarks" if "landmarks" in plan.raw else "fiducial markers found"
    print(f"  {kind}: {len(plan.fiducial_names)}")
    for name, point in zip(plan.fiducial_names, plan.fiducials_lps_mm, strict=True):
        side = "midline" if abs(point[0]) < 5 else "left" if point[0] > 0 else "right"
        print(f"    {name}: {np.round(point, 2).tolist()} LPS mm ({side})")
    if plan.tumour_centroid_lps_mm is not None:
        print(
            f"  tumour: {plan.tumour_volume_ml:.2f} ml, centroid "
            f"{np.round(plan.tumour_centroid_lps_mm, 2).tolist()} LPS mm"
        )
    for line in describe_sources(plan.raw):
        print(f"  {line}")
    pictures = [f for key, f in plan.raw.get("files", {}).items() if key.startswith("review_")]
    if pictures:
        print(f"  review pictures: {', '.join(pictures)}")
    for warning in plan.raw.get("report", {}).get("warnings", []):
        print(f"  warning: {warning}")


def run(args: argparse.Namespace) -> int:
    if args.cohort or len(args.input) > 1:
        from navigation.commands.plan_cohort import run_cohort

        return run_cohort(args)
    args.input = args.input[0]
    print_summary(make_plan_from_path(args))
    return 0
