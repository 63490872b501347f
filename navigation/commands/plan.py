"""``igcs plan``: from a CT/MR (or label maps) on disk to a saved, Slicer-readable plan folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from navigation.commands.image_options import add_loading_arguments
from navigation.commands.plan_making import make_plan_from_path, print_summary
from navigation.planning.plan_options import add_source_arguments, add_threshold_arguments

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


def run(args: argparse.Namespace) -> int:
    if args.cohort or len(args.input) > 1:
        from navigation.commands.plan_cohort import run_cohort

        return run_cohort(args)
    args.input = args.input[0]
    print_summary(make_plan_from_path(args))
    return 0
