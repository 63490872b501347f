"""``igcs plan``'s options for tumour, node and landmark sources, and the lines it prints about
them (the arguments are parsed here so the command module stays a thin wrapper)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from navigation.planning.plan_sources import PlanSources
from navigation.planning.tissue_thresholds import CtPreset
from registration.core.checks import InputError

SOURCES_HELP = """\
The tumour, nodes and registration landmarks may come from other sources than the CT (one
source per structure). --pet: the FDG-avid primary of a PET of the same PET/CT session (same
FrameOfReferenceUID), at --pet-fraction of its SUVmax (SUV body weight from the headers), found
automatically (brain, thorax and symmetric physiological uptake excluded) or near
--tumour-seed. --rtstruct: a radiotherapy structure set; --tumour-roi/--node-roi name its
ROIs, the others become labels under their own names. --segmentation: a 3D Slicer .seg.nrrd
(e.g. an edited labels.seg.nrrd): segments named tumour/GTV/node/skin/bone/airway replace
ours, others are added. --fiducials: Slicer markups (LPS or RAS) of anatomical landmarks,
the plan's registration fiducials (labels kept) for scans without markers."""


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--pet``, ``--rtstruct``, ``--segmentation`` and ``--fiducials`` options."""
    group = parser.add_argument_group("other sources", SOURCES_HELP)
    group.add_argument("--pet", type=Path, metavar="PET_DIR", help="PET folder (same session)")
    group.add_argument(
        "--pet-fraction",
        type=float,
        default=0.41,
        metavar="F",
        help="tumour = connected region at SUV >= F x SUVmax (default 0.41)",
    )
    group.add_argument("--rtstruct", type=Path, metavar="RS.dcm", help="RT structure set")
    group.add_argument("--tumour-roi", metavar="NAME", help="RTSTRUCT ROI of the tumour (GTV)")
    group.add_argument("--node-roi", metavar="NAME", help="RTSTRUCT ROI of a lymph node")
    group.add_argument(
        "--segmentation", type=Path, metavar="FILE.seg.nrrd", help="3D Slicer segmentation"
    )
    group.add_argument(
        "--fiducials", type=Path, metavar="FILE.mrk.json", help="landmarks (Slicer markups)"
    )


THRESHOLDS_HELP = """\
CT segmentation thresholds in Hounsfield units, recorded in plan.json (report.thresholds). Raise
--body-hu to leave a foam head rest or a mask out of the body; lower --bone-hu for thin or
osteoporotic bone; raise --marker-hu above dense dental work. They must rise body < bone <
marker. MR thresholds come from the image itself (these options are refused for MR)."""

_THRESHOLD_OPTIONS = (
    ("--body-hu", "body_hu", "body (skin) above this", -500.0),
    ("--bone-hu", "bone_hu", "bone above this, inside the body", 300.0),
    ("--airway-hu", "air_hu", "airway below this, inside the body", -500.0),
    ("--marker-hu", "marker_hu", "skin marker cores above this", 2000.0),
)


def add_threshold_arguments(parser: argparse.ArgumentParser) -> None:
    """``--body-hu``, ``--bone-hu``, ``--airway-hu`` and ``--marker-hu`` (CT presets)."""
    group = parser.add_argument_group("CT thresholds", THRESHOLDS_HELP)
    for flag, dest, what, default in _THRESHOLD_OPTIONS:
        group.add_argument(
            flag, dest=dest, type=float, metavar="HU", help=f"{what} (default {default:g})"
        )


def preset_from_arguments(args: argparse.Namespace, modality: str) -> CtPreset | None:
    """The CT preset the threshold options give (None: the default preset for the modality);
    refuses them for an MR or a label-map input."""
    given = {dest: vars(args).get(dest) for _flag, dest, _what, _default in _THRESHOLD_OPTIONS}
    flags = [flag for flag, dest, _what, _default in _THRESHOLD_OPTIONS if given[dest] is not None]
    if not flags:
        return None
    if modality.upper() != "CT":
        raise InputError(
            f"{', '.join(flags)} set CT thresholds in HU; INPUT is {modality} (MR thresholds "
            "come from the image, a label map has none). Drop the option."
        )
    return CtPreset(**{dest: value for dest, value in given.items() if value is not None})


def sources_from_arguments(args: argparse.Namespace) -> PlanSources:
    """A :class:`PlanSources` from parsed arguments; refuses what cannot be combined."""
    given = vars(args)  # callers that build their own Namespace may leave these out
    sources = PlanSources(
        pet=given.get("pet"),
        pet_fraction=given.get("pet_fraction", 0.41),
        rtstruct=given.get("rtstruct"),
        tumour_roi=given.get("tumour_roi"),
        node_roi=given.get("node_roi"),
        segmentation=given.get("segmentation"),
        fiducials=given.get("fiducials"),
    )
    if sources.rtstruct is None and (sources.tumour_roi or sources.node_roi):
        raise InputError("--tumour-roi and --node-roi choose contours of --rtstruct; give it.")
    if sources.pet is not None:
        from navigation.planning.pet_options import PetOptions

        PetOptions(fraction=sources.pet_fraction)  # refuses a fraction outside 0.2-0.9 now
    if getattr(args, "labels", False) and sources.any:
        raise InputError(
            "--pet, --rtstruct, --segmentation and --fiducials add to a CT/MR plan; INPUT "
            "given with --labels is already a segmentation. Drop --labels and give the image."
        )
    for name, path in (
        ("--pet", sources.pet),
        ("--rtstruct", sources.rtstruct),
        ("--segmentation", sources.segmentation),
        ("--fiducials", sources.fiducials),
    ):
        if path is not None and not path.exists():
            raise InputError(f"{name} {path} does not exist.")
    return sources


def describe_sources(raw: dict[str, Any]) -> list[str]:
    """Lines for the plan summary: PET statistics, imported structures, landmarks."""
    lines: list[str] = []
    pet = raw.get("pet")
    if pet:
        lines.append(
            f"PET tumour ({pet['found']}): SUVmax {pet['suv_max']:.2f}, SUVmean "
            f"{pet['suv_mean']:.2f}, MTV {pet['mtv_ml']:.1f} ml at SUV >= "
            f"{pet['threshold_suv']:.2f} ({pet['threshold_fraction_of_suv_max']:.0%} of SUVmax)"
        )
        calibration = pet["suv_calibration"]
        for reading in calibration.get("decay_references", []):
            ratio = reading.get("ratio_to_scanner_suv")
            versus = f", {(ratio - 1) * 100:+.2f} % vs the scanner's SUV" if ratio else ""
            used = "used" if reading["used"] else "also"
            lines.append(
                f"  SUV decay to {reading['name']} {reading['time'][11:19]} ({used}): "
                f"{calibration['units_in_file']} x {calibration['bqml_per_unit'] or 1:.6g} Bq/ml "
                f"x {reading['suv_per_bqml']:.6g}{versus}"
            )
        lines += [f"  warning: {w}" for w in pet.get("warnings", [])]
        others = [f for f in pet.get("foci", []) if f["status"] != "chosen"]
        for focus in others[:4]:
            lines.append(
                f"  other focus SUVmax {focus['suv_max']:.2f} at "
                f"{focus['peak_lps_mm']} LPS mm: {focus['reason']}"
            )
    for key, title in (("rtstruct", "RTSTRUCT"), ("segmentation_import", "segmentation")):
        block = raw.get(key)
        if block:
            imported = ", ".join(f"{r['name']} <- {r['source']!r}" for r in block["imported"])
            lines.append(f"{title} {block['file']}: {imported}")
            for row in block.get("skipped", []):
                lines.append(f"  skipped {row['name']!r}: {row['reason']}")
            if block.get("hint"):
                lines.append(f"  note: {block['hint']}")
    landmarks = raw.get("landmarks")
    if landmarks:
        lines.append(
            f"registration landmarks from {landmarks['file']} "
            f"({landmarks['file_coordinate_system']}): {', '.join(landmarks['names'])}"
        )
    return lines
