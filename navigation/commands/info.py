"""``igcs info INPUT``: what a DICOM folder or image file holds and how IGCS would load it.

Prints the series found, the chosen one, its geometry (size, spacing, origin, direction and
extent in LPS mm), its intensity range and every warning. A thin command over
:func:`navigation.imaging.loading.load_volume`.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from navigation.commands.image_options import add_loading_arguments
from navigation.imaging.loading import LoadedVolume, load_volume
from navigation.planning.plannable import plannable_problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="DICOM folder or file, NIfTI, NRRD, MHA/MHD")
    add_loading_arguments(parser)


def run(args: argparse.Namespace) -> int:
    # The report below lists every warning; do not repeat them through the loader's logger.
    logging.getLogger("navigation.imaging.loading").setLevel(logging.ERROR)
    loaded = load_volume(
        args.input,
        series_uid=args.series,
        allow_resampling=not args.no_resample,
        modality=args.modality,
    )
    print(format_info(loaded))
    return 0


def format_info(loaded: LoadedVolume) -> str:
    """The text ``igcs info`` prints."""
    report, volume = loaded.report, loaded.volume
    geometry = volume.geometry
    lines = [f"input: {report.source} ({report.kind})", f"chosen: {report.chosen}"]
    if report.others:
        lines.append(f"also found ({len(report.others)}):")
        lines += [f"  - {other}" for other in report.others]
    metadata = volume.metadata
    if report.kind == "dicom":
        lines.append(
            f"patient: id {metadata.get('patient_id')!r}, position "
            f"{metadata.get('patient_position') or '(not stated)'} (reported only; the geometry "
            "comes from ImagePositionPatient/ImageOrientationPatient)"
        )
        lines.append(f"series uid: {metadata.get('series_instance_uid')}")
        lines.append(f"frame of reference uid: {metadata.get('frame_of_reference_uid')}")
    i, j, k = geometry.size_ijk
    extent = geometry.extent_lps_mm
    direction = geometry.direction
    lines += [
        "geometry (patient LPS, mm):",
        f"  size (i, j, k): {i} x {j} x {k} voxels, {len(report.files)} file(s)",
        f"  spacing: {_vector(geometry.spacing_mm)}",
        f"  origin (centre of voxel 0,0,0): {_vector(geometry.origin_lps_mm)}",
        f"  direction of i: {_vector(direction[:, 0])}",
        f"  direction of j: {_vector(direction[:, 1])}",
        f"  direction of k: {_vector(direction[:, 2])}",
        f"  extent x (L): {extent[0, 0]:.2f} .. {extent[1, 0]:.2f}",
        f"  extent y (P): {extent[0, 1]:.2f} .. {extent[1, 1]:.2f}",
        f"  extent z (S): {extent[0, 2]:.2f} .. {extent[1, 2]:.2f}",
    ]
    unit = " HU" if volume.modality == "CT" else ""
    array = volume.array
    lines.append(
        f"intensity: {float(np.min(array)):g} .. {float(np.max(array)):g}{unit} "
        f"({array.dtype}, modality {volume.modality})"
    )
    if metadata.get("modality_reason") and volume.modality not in ("CT", "MR"):
        lines.append(f"modality: unknown: {metadata['modality_reason']}")
    lines.append(f"resampled: {'yes' if report.resampled else 'no'}")
    problem = plannable_problem(volume)
    lines.append(f"plannable: {'yes' if problem is None else 'NO, ' + problem}")
    lines.append(f"warnings ({len(report.warnings)}):")
    lines += [f"  ! {warning}" for warning in report.warnings] or ["  none"]
    return "\n".join(lines)


def _vector(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{float(v) + 0.0:.4f}" for v in values) + ")"
