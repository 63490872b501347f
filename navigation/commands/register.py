"""``igcs register``: rigid registration of tracked fiducials to image fiducials.

Reads two point files (Slicer ``.mrk.json``, ``.fcsv`` or ``.csv``; RAS files are converted to
LPS by :func:`navigation.planning.markups.read_point_file`), pairs them by name when the files
share names (else by order, and says which), registers with
:func:`registration.point_registration.register_points`, prints FRE, residuals and, with
``--plan`` and ``--fle``, the predicted TRE at the plan's tumour and targets (Fitzpatrick et al.
1998).

The registration is checked (:mod:`registration.acceptance`: FRE above the alarm for the FLE,
a leave-one-out outlier, a mirrored layout; the FLE is ``--fle``, else 1 mm). A refused
registration writes nothing and exits with status 1, unless ``--accept-anyway``: then it is
written as UNVERIFIED (``verified: false``) and no predicted TRE is given ("not valid").
``--exclude NAME`` leaves a fiducial out (its residual under the registration is still listed).

Writes ``reg.json`` and the same transform as an ITK file Slicer loads
(:func:`navigation.planning.slicer_transforms.write_slicer_transform`; default
``<reg>_TrackerToImage_LPS.h5`` beside it, ``--slicer-transform FILE.h5|.tfm``)::

    {schema: "igcs-registration", schema_version: 2, image_from_tracker: 4x4 row-major,
     verified, accepted_anyway, checks: {passed, refusals, cautions, fre_alarm_mm, ...},
     fre_mm, residuals_mm: [N], leave_one_out_mm: [N] (null when N = 3), matched_by,
     fiducials: [{name, image_lps_mm, tracker_mm, residual_mm, leave_one_out_mm, excluded}],
     warnings: [...], fle_mm, fle_image_mm, fle_checked_mm, predicted_fre_mm,
     predicted_tre_mm_at_tumour (null unless verified), predicted_tre: "valid" | "not valid ...",
     predicted_tre_at_targets: [{name, position_lps_mm, tre_rms_mm}],
     slicer_transform: {path, holds, convention}, inputs: {...}}
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
from navigation.planning.slicer_transforms import TRANSFORM_SUFFIXES, write_slicer_transform
from registration.acceptance import RegistrationChecks, check_point_registration
from registration.core.atomic_files import write_json_atomic
from registration.core.transforms import apply_transform
from registration.point_registration import (
    PointRegistration,
    RegistrationWarning,
    register_points,
)
from registration.tre import expected_fre_rms, predict_tre_rms

REGISTRATION_SCHEMA = "igcs-registration"
#: FLE (RMS 3-D, mm) the checks assume when --fle is not given: the worked head-and-neck
#: example (Fitzpatrick, West & Maurer 1998 applied to 6 facial fiducials) and the navigation
#: app's default.
DEFAULT_CHECK_FLE_MM = 1.0
#: Exit status of a refused registration (2 is bad input).
REFUSED_STATUS = 1


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
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="leave this fiducial out (repeatable); its residual is still reported",
    )
    parser.add_argument(
        "--accept-anyway",
        action="store_true",
        help="write a registration that failed its checks (FRE above the alarm, a "
        "leave-one-out outlier, a mirrored layout) as UNVERIFIED instead of exiting with "
        f"status {REFUSED_STATUS}; it then has no predicted TRE",
    )
    parser.add_argument(
        "--slicer-transform",
        type=Path,
        metavar="FILE",
        help="the transform also as an ITK file 3D Slicer loads (.h5 or .tfm; default "
        "<REG_JSON stem>_TrackerToImage_LPS.h5). ITK files are LPS (Slicer converts to RAS on "
        "load) and hold ITK's resampling direction, tracker_from_image: in Slicer the node "
        "maps tracker-frame data into the image",
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
    transform_path = args.slicer_transform or args.out.with_name(
        f"{args.out.stem}_TrackerToImage_LPS.h5"
    )
    if transform_path.suffix.lower() not in TRANSFORM_SUFFIXES:
        raise UserError(f"--slicer-transform must end in .h5 or .tfm; got {transform_path}.")
    image = read_point_file(args.image_fiducials)
    tracker = read_point_file(args.tracker_fiducials)
    names, image_points, tracker_points, matched_by = match_fiducials(image, tracker)
    unknown = [n for n in args.exclude if n not in names]
    if unknown:
        raise UserError(
            f"--exclude {', '.join(unknown)}: not among the matched fiducials ({', '.join(names)})."
        )
    used = [i for i, n in enumerate(names) if n not in args.exclude]
    fle_total = None if args.fle is None else float(np.hypot(args.fle, args.fle_image))
    if fle_total == 0.0:
        raise UserError("--fle must be > 0 mm (a pointer always has some localisation error).")
    fle_checked = DEFAULT_CHECK_FLE_MM if fle_total is None else fle_total
    used_names = [names[i] for i in used]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistrationWarning)  # printed from the result below
        result = register_points(
            tracker_points[used], image_points[used], fle_rms_mm=fle_checked, names=used_names
        )
    checks = check_point_registration(
        result, image_points[used], fle_rms_mm=fle_checked, names=used_names
    )
    residuals = np.linalg.norm(
        apply_transform(result.image_from_tracker, tracker_points) - image_points, axis=1
    )
    loo = np.full(len(names), np.nan)
    loo[used] = result.leave_one_out_mm

    print(f"Matched {len(names)} fiducials {matched_by}.")
    print(f"FRE (RMS): {result.fre_rms_mm:.3f} mm  (fit quality, not accuracy)")
    print(f"{'fiducial':<20}{'residual mm':>12}{'leave-one-out mm':>18}")
    for i, name in enumerate(names):
        loo_text = "n/a" if np.isnan(loo[i]) else f"{loo[i]:.3f}"
        note = "  (excluded)" if name in args.exclude else ""
        print(f"{name:<20}{residuals[i]:>12.3f}{loo_text:>18}{note}")
    for text in result.warnings:
        print(f"WARNING: {text}")
    how = "--fle" if fle_total is not None else "default; give --fle"
    print(
        f"Checks (FLE {fle_checked:.2f} mm, {how}; FRE alarm {checks.fre_alarm_mm:.3f} mm): "
        + ("passed" if checks.passed else "FAILED")
    )
    for refusal in checks.refusals:
        print(f"REFUSED: {refusal.message}")
    if not checks.passed and not args.accept_anyway:
        print(
            "Registration refused: nothing written. Re-touch the suspect fiducials, leave one "
            "out with --exclude NAME, or write it as UNVERIFIED with --accept-anyway."
        )
        return REFUSED_STATUS
    payload = _payload(args, (image, tracker), matched_by, result, checks)
    payload["fiducials"] = [
        {
            "name": name,
            "image_lps_mm": image_points[i].tolist(),
            "tracker_mm": tracker_points[i].tolist(),
            "residual_mm": float(residuals[i]),
            "leave_one_out_mm": None if np.isnan(loo[i]) else float(loo[i]),
            "excluded": name in args.exclude,
        }
        for i, name in enumerate(names)
    ]
    payload["residuals_mm"] = residuals.tolist()
    payload["leave_one_out_mm"] = [None if np.isnan(v) else float(v) for v in loo]
    payload["fle_checked_mm"] = fle_checked
    if fle_total is not None:
        payload["predicted_fre_mm"] = expected_fre_rms(len(used), fle_total)
        print(f"Expected FRE for FLE {fle_total:.3f} mm: {payload['predicted_fre_mm']:.3f} mm")
    if args.plan is not None and fle_total is not None:
        _predict_tre(args.plan, image_points[used], fle_total, checks, payload)
    if not checks.passed:
        print("UNVERIFIED registration written (--accept-anyway): no predicted TRE.")
    write_slicer_transform(
        transform_path,
        result.image_from_tracker,
        description=f"igcs register {'UNVERIFIED' if not checks.passed else 'verified'}",
    )
    payload["slicer_transform"] = {
        "path": str(transform_path.resolve()),
        "holds": "tracker_from_image (ITK resampling direction), LPS mm",
        "convention": "ITK transform file, LPS; Slicer converts to RAS on load and shows it as "
        "the node TrackerToImage (image_from_tracker)",
    }
    write_json_atomic(args.out, payload)
    print(f"Wrote {args.out} and {transform_path} (ITK, LPS; Slicer: TrackerToImage)")
    return 0


def _payload(
    args: argparse.Namespace,
    files: tuple[PointList, PointList],
    matched_by: str,
    result: PointRegistration,
    checks: RegistrationChecks,
) -> dict[str, Any]:
    image, tracker = files
    return {
        "schema": REGISTRATION_SCHEMA,
        "schema_version": 2,
        "image_from_tracker": result.image_from_tracker.tolist(),
        "verified": checks.passed,
        "accepted_anyway": bool(args.accept_anyway and not checks.passed),
        "checks": checks.to_dict(),
        "fre_mm": result.fre_rms_mm,
        "matched_by": matched_by,
        "excluded": list(args.exclude),
        "warnings": list(result.warnings),
        "fle_mm": args.fle,
        "fle_image_mm": args.fle_image,
        "predicted_tre": "valid" if checks.passed else f"not valid ({checks.summary})",
        "inputs": {
            "image_fiducials": str(args.image_fiducials.resolve()),
            "image_file_coordinate_system": image.file_coordinate_system,
            "tracker_fiducials": str(args.tracker_fiducials.resolve()),
            "tracker_file_coordinate_system": tracker.file_coordinate_system,
        },
    }


def _predict_tre(
    plan_path: Path,
    image_points: np.ndarray,
    fle_total: float,
    checks: RegistrationChecks,
    payload: dict[str, Any],
) -> None:
    """Predicted TRE at the plan's tumour and targets, only for a verified registration."""
    plan = load_plan(plan_path)
    payload["plan"] = str(plan.root)
    if not checks.passed:
        payload["predicted_tre_mm_at_tumour"] = None
        print(f"Predicted TRE: not valid ({checks.summary}).")
        return
    targets = [(t.name, t.position_lps_mm) for t in plan.targets]
    if plan.tumour_centroid_lps_mm is not None:
        tumour = predict_tre_rms(image_points, plan.tumour_centroid_lps_mm, fle_rms_mm=fle_total)[0]
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
