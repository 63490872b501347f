"""``igcs register``: rigid registration of tracked fiducials to image fiducials.

Reads two point files (Slicer ``.mrk.json``, ``.fcsv`` or ``.csv``; RAS files are converted to
LPS by :func:`navigation.planning.markups.read_point_file`), pairs them by name when the files
share names (else by order, and says which), registers with
:func:`registration.point_registration.register_points`, prints FRE, residuals and, with
``--plan`` and ``--fle``, the predicted TRE at the plan's tumour and targets (Fitzpatrick et al.
1998), and writes ``reg.json``::

    {schema: "igcs-registration", schema_version: 1, image_from_tracker: 4x4 row-major,
     fre_mm, residuals_mm: [N], leave_one_out_mm: [N] (null when N = 3), matched_by,
     fiducials: [{name, image_lps_mm, tracker_mm, residual_mm, leave_one_out_mm}],
     warnings: [...], fle_mm, fle_image_mm, predicted_fre_mm, predicted_tre_mm_at_tumour,
     predicted_tre_at_targets: [{name, position_lps_mm, tre_rms_mm}], inputs: {...}}
"""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from navigation.cli import UserError
from navigation.planning.markups import PointList, read_point_file
from navigation.planning.plan import load_plan
from registration.atomic_files import write_json_atomic
from registration.point_registration import RegistrationWarning, register_points
from registration.tre import expected_fre_rms, predict_tre_rms

REGISTRATION_SCHEMA = "igcs-registration"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image-fiducials",
        required=True,
        type=Path,
        metavar="FILE",
        help="fiducials in the image (.mrk.json, .fcsv or .csv; LPS, RAS files converted)",
    )
    parser.add_argument(
        "--tracker-fiducials",
        required=True,
        type=Path,
        metavar="FILE",
        help="the same fiducials touched with the tracked pointer (tracker frame, mm)",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="REG_JSON",
        help="where to write the registration (JSON)",
    )
    parser.add_argument("--plan", type=Path, help="plan folder: predict TRE at its tumour")
    parser.add_argument(
        "--fle",
        type=float,
        metavar="MM",
        help="RMS 3-D localisation error of the tracked fiducials, mm (needed with --plan; "
        "also enables the swapped/mis-touched fiducial check)",
    )
    parser.add_argument(
        "--fle-image",
        type=float,
        default=0.0,
        metavar="MM",
        help="RMS 3-D localisation error of the image fiducials, mm (default 0)",
    )


def match_fiducials(
    image: PointList, tracker: PointList
) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    """Pair image and tracker points: by name when the files share names, else by order.

    Returns names, image points (N, 3) LPS mm, tracker points (N, 3) mm and "name"/"order"
    plus, for names, a note of the unmatched ones in the returned description.
    """
    common = [n for n in image.names if n in set(tracker.names)]
    if common:
        for points, label in ((image, "image"), (tracker, "tracker")):
            repeated = sorted({n for n in common if points.names.count(n) > 1})
            if repeated:
                raise UserError(
                    f"{points.path}: {label} fiducial names {repeated} appear more than once; "
                    "rename them so each fiducial has a unique name."
                )
        image_index = [image.names.index(n) for n in common]
        tracker_index = [tracker.names.index(n) for n in common]
        unmatched = [n for n in image.names if n not in common] + [
            n for n in tracker.names if n not in common
        ]
        how = f"by name ({len(common)} shared names"
        how += f"; unmatched, not used: {', '.join(unmatched)})" if unmatched else ")"
        return (common, image.points_lps_mm[image_index], tracker.points_lps_mm[tracker_index], how)
    if len(image.names) != len(tracker.names):
        raise UserError(
            f"the files share no fiducial names, so they are paired by order, but "
            f"{image.path} has {len(image.names)} points and {tracker.path} has "
            f"{len(tracker.names)}; name the fiducials identically in both files or give "
            "the same number of points in the same order."
        )
    return (
        list(image.names),
        image.points_lps_mm,
        tracker.points_lps_mm,
        "by order (no shared names)",
    )


def run(args: argparse.Namespace) -> int:
    for name in ("fle", "fle_image"):
        value = getattr(args, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            raise UserError(f"--{name.replace('_', '-')} must be a non-negative number of mm.")
    if args.plan is not None and args.fle is None:
        raise UserError("--plan needs --fle MM (the tracked fiducials' RMS FLE) to predict TRE.")
    image = read_point_file(args.image_fiducials)
    tracker = read_point_file(args.tracker_fiducials)
    names, image_points, tracker_points, matched_by = match_fiducials(image, tracker)
    fle_total = None if args.fle is None else float(np.hypot(args.fle, args.fle_image))
    if fle_total == 0.0:
        raise UserError("--fle must be > 0 mm (a pointer always has some localisation error).")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistrationWarning)  # printed from the result below
        result = register_points(tracker_points, image_points, fle_rms_mm=fle_total, names=names)

    print(f"Matched {len(names)} fiducials {matched_by}.")
    print(f"FRE (RMS): {result.fre_rms_mm:.3f} mm  (fit quality, not accuracy)")
    print(f"{'fiducial':<20}{'residual mm':>12}{'leave-one-out mm':>18}")
    for name, residual, loo in zip(
        names, result.residuals_mm, result.leave_one_out_mm, strict=True
    ):
        loo_text = "n/a" if np.isnan(loo) else f"{loo:.3f}"
        print(f"{name:<20}{residual:>12.3f}{loo_text:>18}")
    payload: dict[str, Any] = {
        "schema": REGISTRATION_SCHEMA,
        "schema_version": 1,
        "image_from_tracker": result.image_from_tracker.tolist(),
        "fre_mm": result.fre_rms_mm,
        "residuals_mm": result.residuals_mm.tolist(),
        "leave_one_out_mm": [None if np.isnan(v) else float(v) for v in result.leave_one_out_mm],
        "matched_by": matched_by,
        "fiducials": [
            {
                "name": name,
                "image_lps_mm": image_points[i].tolist(),
                "tracker_mm": tracker_points[i].tolist(),
                "residual_mm": float(result.residuals_mm[i]),
                "leave_one_out_mm": None
                if np.isnan(result.leave_one_out_mm[i])
                else float(result.leave_one_out_mm[i]),
            }
            for i, name in enumerate(names)
        ],
        "warnings": list(result.warnings),
        "fle_mm": args.fle,
        "fle_image_mm": args.fle_image,
        "inputs": {
            "image_fiducials": str(args.image_fiducials.resolve()),
            "image_file_coordinate_system": image.file_coordinate_system,
            "tracker_fiducials": str(args.tracker_fiducials.resolve()),
            "tracker_file_coordinate_system": tracker.file_coordinate_system,
        },
    }
    if fle_total is not None:
        payload["predicted_fre_mm"] = expected_fre_rms(len(names), fle_total)
        print(f"Expected FRE for FLE {fle_total:.3f} mm: {payload['predicted_fre_mm']:.3f} mm")
    if args.plan is not None and fle_total is not None:
        plan = load_plan(args.plan)
        payload["plan"] = str(plan.root)
        targets = [(t.name, t.position_lps_mm) for t in plan.targets]
        if plan.tumour_centroid_lps_mm is not None:
            tumour = predict_tre_rms(
                image_points, plan.tumour_centroid_lps_mm, fle_rms_mm=fle_total
            )[0]
            payload["predicted_tre_mm_at_tumour"] = float(tumour)
            print(f"Predicted TRE (RMS) at the tumour centroid: {tumour:.3f} mm")
        else:
            payload["predicted_tre_mm_at_tumour"] = None
            print(f"Plan {plan.root} has no tumour: no TRE at the tumour.")
        if targets:
            values = predict_tre_rms(
                image_points, np.array([p for _, p in targets]), fle_rms_mm=fle_total
            )
            payload["predicted_tre_at_targets"] = [
                {"name": n, "position_lps_mm": p.tolist(), "tre_rms_mm": float(v)}
                for (n, p), v in zip(targets, values, strict=True)
            ]
            tumour_at = plan.tumour_centroid_lps_mm
            for (n, p), v in zip(targets, values, strict=True):
                if tumour_at is None or not np.allclose(p, tumour_at):  # printed above
                    print(f"Predicted TRE (RMS) at {n}: {v:.3f} mm")
    for text in result.warnings:
        print(f"WARNING: {text}")
    write_json_atomic(args.out, payload)
    print(f"Wrote {args.out}")
    return 0
