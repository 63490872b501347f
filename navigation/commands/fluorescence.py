"""``igcs fluorescence --plan PLAN --session SESSION --out OUT``: map a recorded session's NIR
frames onto the model, offline.

The model is the plan's exposed surgical field (:mod:`navigation.fluorescence.field`). For each
camera IMAGE frame of the session, the camera marker (and patient reference) pose is
interpolated at the frame's time (:mod:`navigation.fluorescence.session_mapping` says which
times), the camera pose is chained from the registration and the hand-eye calibration, and the
frame is projected and fused. Writes ``OUT/fluorescence.vtp`` (per-vertex fused values, counts,
flags), ``OUT/fluorescence_front.png`` and ``OUT/fluorescence_oblique.png`` and
``OUT/metrics.json`` (:mod:`navigation.fluorescence.report`).

Intrinsics, hand-eye and registration default to what the session recorded; ``--truth`` (the
JSON of ``igcs simulate --truth``) supplies them for simulated sessions, labelled as simulator
ground truth in ``metrics.json``, together with the synthetic sensor's radiometric calibration
and the phantom's true tracer patch: then the metrics include the Dice and mean boundary error of
the mapped positive region against the true patch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--plan", required=True, type=Path, help="plan folder (igcs plan)")
    parser.add_argument("--session", required=True, type=Path, help="session file (igcs record)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--intrinsics", type=Path, help="camera intrinsics JSON")
    parser.add_argument("--hand-eye", type=Path, help="hand-eye JSON (cameramarker_from_camera)")
    parser.add_argument(
        "--registration", type=Path, help="registration JSON (igcs register or the app)"
    )
    parser.add_argument(
        "--registration-frame",
        choices=("reference", "tracker"),
        default="reference",
        help="frame of igcs register's tracked fiducials: the patient reference (default) or "
        "the tracker",
    )
    parser.add_argument(
        "--truth", type=Path, help="simulator truth JSON (igcs simulate --truth): ground truth"
    )
    parser.add_argument("--dark-level", type=float, help="camera dark level, raw counts")
    parser.add_argument("--flat-field", type=Path, help="flat field, (H, W) float .npy")
    parser.add_argument("--saturation-level", type=float, help="raw saturation level")
    parser.add_argument(
        "--highlight-mask",
        action="store_true",
        help="mask specular highlights and saturated pixels in each frame (on by default for "
        "a simulator whose camera renders highlights)",
    )
    parser.add_argument("--camera-device", default="Camera", help="IMAGE device (Camera)")
    parser.add_argument(
        "--camera-tool", default="CameraToTracker", help="camera marker transform name"
    )
    parser.add_argument(
        "--reference-tool", default="ReferenceToTracker", help="patient reference transform name"
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from navigation.fluorescence.offline import OfflineRequest, map_recorded_session
    from navigation.fluorescence.session_mapping import SessionDevices
    from navigation.simulation.evaluation import offline_evaluator

    request = OfflineRequest(
        plan=args.plan,
        session=args.session,
        out=args.out,
        intrinsics=args.intrinsics,
        hand_eye=args.hand_eye,
        registration=args.registration,
        registration_frame=args.registration_frame,
        truth=args.truth,
        dark_level=args.dark_level,
        flat_field=args.flat_field,
        saturation_level=args.saturation_level,
        highlight_mask=args.highlight_mask,
        devices=SessionDevices(args.camera_device, args.camera_tool, args.reference_tool),
    )
    progress = tqdm(desc="mapping frames", unit=" frame", file=sys.stderr)

    def advance(done: int, total: int) -> None:
        progress.total = total
        progress.update(done - progress.n)

    try:
        result = map_recorded_session(
            request,
            evaluator=offline_evaluator,
            on_frame=advance,
            on_stage=lambda text: print(f"{text} ...", file=sys.stderr),
        )
    finally:
        progress.close()
    _print_summary(result.metrics, result.paths)
    return 0


def _print_summary(metrics: dict, paths: dict[str, Path]) -> None:
    frames = metrics["frames"]
    print(
        f"frames: {frames['used']} of {frames['total']} mapped"
        + "".join(f"; {n} skipped: {why}" for why, n in frames["skipped"].items())
    )
    q = metrics.get("quantification")
    if q is None:
        print(f"no quantification: {metrics.get('quantification_reason')}")
    else:
        print(
            f"SBR {_number(q['sbr'])} (target mean {_number(q['target_mean'], 1)}, background "
            f"mean {_number(q['background_mean'], 1)}), CNR {_number(q['cnr'], 1)}"
        )
    truth = metrics.get("truth")
    if truth:
        print(
            f"vs truth ({truth['source']}): Dice {_number(truth['dice'], 3)}, mean boundary "
            f"error {_number(truth['boundary_error_mm'])} mm"
        )
    for name, path in paths.items():
        print(f"{name}: {path}")


def _number(value: float | None, digits: int = 2) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"
