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

from navigation.cli import UserError


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
    parser.add_argument("--camera-device", default="Camera", help="IMAGE device (Camera)")
    parser.add_argument(
        "--camera-tool", default="CameraToTracker", help="camera marker transform name"
    )
    parser.add_argument(
        "--reference-tool", default="ReferenceToTracker", help="patient reference transform name"
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from navigation.fluorescence.field import (
        FieldGeometry,
        build_field,
        find_phantom_truth,
        plan_truth,
    )
    from navigation.fluorescence.mapping_inputs import (
        load_simulation_truth,
        recorded_inputs,
        resolve_inputs,
    )
    from navigation.fluorescence.report import fluorescence_metrics, write_outputs
    from navigation.fluorescence.session_mapping import SessionDevices, map_session
    from navigation.planning.phantom import load_truth
    from navigation.planning.plan import load_plan
    from navigation.tracking.recording import SessionReader

    if not args.session.is_file():
        raise UserError(f"session {args.session} does not exist (igcs record writes one).")
    plan = load_plan(args.plan)
    reader = SessionReader(args.session)
    simulation = load_simulation_truth(args.truth) if args.truth else None
    inputs = resolve_inputs(
        recorded=recorded_inputs(reader.events()),
        intrinsics_path=args.intrinsics,
        hand_eye_path=args.hand_eye,
        registration_path=args.registration,
        registration_frame=args.registration_frame,
        truth=simulation,
        dark_level=args.dark_level,
        flat_field_path=args.flat_field,
        saturation_level=args.saturation_level,
    )
    entry = (simulation.fluorescence or {}) if simulation else {}
    geometry = FieldGeometry.from_dict(entry["field"]) if entry.get("field") else None
    phantom = None
    if simulation is not None:
        recorded_path = entry.get("phantom_truth")
        path = Path(recorded_path) if recorded_path else find_phantom_truth(plan)
        if path is not None and path.exists():
            phantom = load_truth(path)
    print("building the field mesh ...", file=sys.stderr)
    field = build_field(plan, truth=phantom, geometry=geometry)
    if simulation is not None and phantom is None:
        field = plan_truth(field, plan)  # no phantom: the plan's own tumour, labelled so
    progress = tqdm(desc="mapping frames", unit=" frame", file=sys.stderr)

    def advance(done: int, total: int) -> None:
        progress.total = total
        progress.update(done - progress.n)

    try:
        mapping = map_session(
            args.session,
            field.mesh,
            inputs,
            devices=SessionDevices(args.camera_device, args.camera_tool, args.reference_tool),
            on_frame=advance,
        )
    finally:
        progress.close()
    if mapping.frames_used == 0:
        reasons = ", ".join(f"{n} {why}" for why, n in mapping.skipped.items())
        raise UserError(f"no frame could be mapped ({reasons}).")
    metrics = fluorescence_metrics(
        field,
        mapping,
        inputs,
        sensor=simulation.sensor() if simulation else None,
        plan=str(plan.root),
        session=str(args.session.resolve()),
    )
    paths = write_outputs(args.out, field, mapping, metrics)
    _print_summary(metrics, paths)
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
            f"SBR {q['sbr']:.2f} (target mean {q['target_mean']:.1f}, background mean "
            f"{q['background_mean']:.1f}), CNR {q['cnr']:.1f}"
        )
    truth = metrics.get("truth")
    if truth:
        print(
            f"vs truth ({truth['source']}): Dice {truth['dice']:.3f}, mean boundary error "
            f"{truth['boundary_error_mm']:.2f} mm"
        )
    for name, path in paths.items():
        print(f"{name}: {path}")
