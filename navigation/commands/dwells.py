"""``igcs dwells RECORDING --tool StylusTipToReference --config DEVICE_SET.xml --out
dwells.mrk.json``: the points where a tracked pointer rested, as registration input.

RECORDING is a PLUS sequence metafile (``.igs.mha`` / ``.seq.mha``). ``--tool`` names the
transform whose origin is the point, in PLUS's ``<From>To<To>`` form: ``StylusTipToReference``
is the stylus tip in the patient reference frame, chained (as PLUS does) from the recording's
``StylusToTracker`` and ``ReferenceToTracker`` and the device set's ``StylusTipToStylus``
calibration. Frames where a transform of the chain is not OK are left out.

A dwell is a run of samples moving at most ``--max-speed`` mm/s for at least ``--min-dwell``
seconds; its point is the mean position and its spread the RMS distance from it. The table
numbers the dwells in time order; ``--keep 2-9`` keeps some (e.g. to leave out rest poses) and
``--names '#1,#2,...'`` names the kept ones in order (default D<number>). The points are
written as a Slicer markups file (``.mrk.json``, positions in the ``--tool``'s To frame, mm,
stored as LPS so no conversion is applied) for ``igcs register --tracker-fiducials``.
``--landmarks-out FILE`` writes the device set's phantom landmarks (``<PhantomDefinition>``,
phantom frame, mm) the same way, for ``--image-fiducials``.

Gate: every kept dwell's spread at most ``--max-spread`` mm and, with ``--expect N``, exactly
N kept. Exit status 0 when it passes, 1 when not (files are written either way), 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from navigation.cli import UserError
from navigation.commands.report_options import add_report_argument, require_positive
from navigation.planning.markups import write_markups_fiducials
from navigation.tracking.dwell_report import dwell_figures, dwells_payload, write_dwell_report
from navigation.tracking.dwells import (
    DEFAULT_MAX_SPEED_MM_S,
    DEFAULT_MAX_SPREAD_MM,
    DEFAULT_MIN_DURATION_S,
    parse_selection,
    recorded_dwells,
)
from navigation.tracking.plus_config import read_plus_device_set
from navigation.tracking.plus_sequence import read_plus_sequence
from navigation.tracking.plus_transforms import sequence_transform, split_transform_name
from registration.core.atomic_files import write_json_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("recording", type=Path, help="PLUS sequence metafile (.igs.mha)")
    parser.add_argument(
        "--tool", required=True, help="PLUS transform whose origin is the point, e.g. "
        "StylusTipToReference",
    )  # fmt: skip
    parser.add_argument(
        "--config", type=Path, metavar="DEVICE_SET.xml", help="PLUS device set with calibrations"
    )
    parser.add_argument("--out", type=Path, required=True, help="markups file to write (.mrk.json)")
    parser.add_argument("--keep", metavar="LIST", help="dwell numbers to keep, e.g. 2-9")
    parser.add_argument("--names", metavar="N1,N2,...", help="names of the kept dwells, in order")
    parser.add_argument(
        "--max-speed",
        type=float,
        default=DEFAULT_MAX_SPEED_MM_S,
        metavar="MM_S",
        help=f"still means at most this speed (default {DEFAULT_MAX_SPEED_MM_S:g} mm/s)",
    )
    parser.add_argument(
        "--min-dwell",
        type=float,
        default=DEFAULT_MIN_DURATION_S,
        metavar="S",
        help=f"shortest dwell (default {DEFAULT_MIN_DURATION_S:g} s)",
    )
    parser.add_argument(
        "--max-spread",
        type=float,
        default=DEFAULT_MAX_SPREAD_MM,
        metavar="MM",
        help=f"gate: largest RMS spread of a kept dwell (default {DEFAULT_MAX_SPREAD_MM:g} mm)",
    )
    parser.add_argument("--expect", type=int, metavar="N", help="gate: exactly N kept dwells")
    parser.add_argument(
        "--landmarks-out", type=Path, metavar="FILE", help="write the device set's landmarks here"
    )
    add_report_argument(parser, "dwells.json and the plots")


def run(args: argparse.Namespace) -> int:
    require_positive(max_speed=args.max_speed, min_dwell=args.min_dwell, max_spread=args.max_spread)
    if args.expect is not None and args.expect < 1:
        raise UserError(f"--expect must be at least 1; got {args.expect}.")
    _, frame = split_transform_name(args.tool)
    device_set = read_plus_device_set(args.config) if args.config is not None else None
    if args.landmarks_out is not None and (device_set is None or not device_set.landmark_names):
        raise UserError("--landmarks-out needs --config with a <PhantomDefinition> <Landmarks>.")
    sequence = read_plus_sequence(args.recording)
    poses = sequence_transform(sequence, args.tool, device_set.transforms if device_set else None)
    positions = poses[:, :3, 3]
    times = sequence.timestamps_s
    invalid = int(np.isnan(positions).any(axis=1).sum())
    dwells = recorded_dwells(
        times, positions, max_speed_mm_s=args.max_speed, min_duration_s=args.min_dwell
    )
    if not dwells:
        raise UserError(
            f"no dwells in {args.recording}: the {args.tool} origin never stayed below "
            f"{args.max_speed:g} mm/s for {args.min_dwell:g} s."
        )
    numbers = parse_selection(args.keep, len(dwells)) if args.keep else [d.number for d in dwells]
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    if names is not None and len(names) != len(numbers):
        raise UserError(f"--names gives {len(names)} names for {len(numbers)} kept dwells.")
    kept = dict(zip(numbers, names or [f"D{n}" for n in numbers], strict=True))
    print(
        f"{args.tool} in {args.recording.name}: {len(times)} samples"
        + (f" ({invalid} not valid)" if invalid else "")
        + f", {len(dwells)} dwells (speed <= {args.max_speed:g} mm/s for >= {args.min_dwell:g} s)"
    )
    print(f"{'dwell':>5} {'name':>6} {'start s':>8} {'dur s':>6} {'n':>4}   position in "
          f"{frame} (mm)            spread  max dev")  # fmt: skip
    for d in dwells:
        x, y, z = d.position_mm
        print(
            f"{d.number:>5} {kept.get(d.number, '-'):>6} {d.start_s:8.2f} {d.duration_s:6.2f} "
            f"{d.sample_count:>4}  {x:9.3f} {y:9.3f} {z:9.3f}   {d.spread_mm:6.3f} "
            f"{d.max_deviation_mm:8.3f}"
        )
    chosen = [d for d in dwells if d.number in kept]
    worst = max(d.spread_mm for d in chosen)
    passed = worst <= args.max_spread and (args.expect is None or len(chosen) == args.expect)
    gate = {
        "expected_count": args.expect,
        "kept_count": len(chosen),
        "max_spread_mm": args.max_spread,
        "worst_spread_mm": worst,
        "passed": passed,
    }
    write_markups_fiducials(
        args.out,
        [kept[d.number] for d in chosen],
        np.array([d.position_mm for d in chosen]),
        list_name=f"{args.tool} dwells",
        descriptions=[
            f"dwell {d.number}: {d.start_s:.2f}-{d.end_s:.2f} s, {d.sample_count} samples, "
            f"spread {d.spread_mm:.3f} mm; {frame} frame"
            for d in chosen
        ],
    )
    print(f"Wrote {len(chosen)} points to {args.out} ({frame} frame, mm)")
    if args.landmarks_out is not None and device_set is not None:
        write_markups_fiducials(
            args.landmarks_out,
            list(device_set.landmark_names),
            device_set.landmarks_in_phantom,
            list_name="Phantom landmarks",
            descriptions=["phantom frame" for _ in device_set.landmark_names],
            color=(0.2, 0.6, 1.0),
        )
        print(f"Wrote {len(device_set.landmark_names)} phantom landmarks to {args.landmarks_out}")
    if args.report is not None:
        payload = dwells_payload(
            dwells,
            kept,
            recording=str(args.recording),
            tool=args.tool,
            frame=frame,
            settings={
                "max_speed_mm_s": args.max_speed,
                "min_duration_s": args.min_dwell,
                "max_spread_mm": args.max_spread,
            },
            gate=gate,
            markups=str(args.out),
        )
        figures = dwell_figures(times, positions, dwells, kept, args.max_speed)
        files = write_dwell_report(args.report, payload, figures)
        write_json_atomic(args.report / "dwells.json", payload)
        print(f"Report: {files['report']}")
    problems = []
    if worst > args.max_spread:
        bad = [str(d.number) for d in chosen if d.spread_mm > args.max_spread]
        problems.append(f"dwell(s) {', '.join(bad)} spread more than {args.max_spread:g} mm")
    if args.expect is not None and len(chosen) != args.expect:
        problems.append(f"{len(chosen)} dwells kept, {args.expect} expected")
    if problems:
        print("FAIL: " + "; ".join(problems))
    else:
        print(f"PASS: {len(chosen)} dwells, largest spread {worst:.3f} mm")
    return 0 if passed else 1
