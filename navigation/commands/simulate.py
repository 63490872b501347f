"""``igcs simulate --plan PLAN [--port 18944] [--seed N] [--truth OUT.json] [--duration S]
[--speed X]``: a tracking scenario served over OpenIGTLink, PLUS-style.

Builds the scenario of :mod:`navigation.tracking.simulator` for the plan (patient reference,
pointer visiting the planned fiducials, skin sweep, tracked NIR camera with frames, dropouts),
writes its ground truth to ``--truth`` when given, starts an OpenIGTLink server (loopback by
default), waits for the first client unless ``--no-wait``, and streams the timeline in real
time scaled by ``--speed``. Header timestamps are the wall-clock time of sending.

Camera frames (``--camera-fps``, ``--image-size``; the intrinsics in the truth JSON match the
size): the synthetic NIR camera looking at the plan's exposed surgical field, with the
phantom's true tracer patch when the plan was made from an igcs phantom (its ``truth.json`` is
found next to the plan's DICOM source, or given with ``--phantom-truth``), else glowing where
the plan's own tumour is (see :mod:`navigation.tracking.simulator_io`). The scene is built and
the first frame rendered before streaming starts, so the stream keeps its timing. Frames are
rendered in software, inline: about 11 ms at 320x256, 40 ms at 640x512 and 230 ms at 1280x1024
on a 2-core machine (``benchmarks/bench_fluorescence_session.py``), so the full sensor cannot
keep 10 fps in real time; use a smaller ``--image-size`` or a lower ``--speed``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from navigation.cli import UserError
from navigation.commands.server_options import (
    add_server_arguments,
    check_speed,
    open_server,
    wait_for_client,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", required=True, metavar="PLAN", help="plan folder (igcs plan)")
    add_server_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    parser.add_argument("--truth", metavar="OUT.json", help="write the ground truth here")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds to stream (default: the story)"
    )
    parser.add_argument(
        "--fle-mm", type=float, default=0.3, help="fiducial localisation error, RMS mm (0.3)"
    )
    parser.add_argument(
        "--jitter-mm", type=float, default=0.15, help="tracker jitter, RMS mm per sample (0.15)"
    )
    parser.add_argument("--camera-fps", type=float, default=10.0, help="camera frame rate (10)")
    parser.add_argument(
        "--image-size",
        default="320x256",
        metavar="WxH",
        help="camera frame size in pixels (default 320x256)",
    )
    parser.add_argument(
        "--phantom-truth",
        type=Path,
        metavar="TRUTH.json",
        help="the phantom's truth.json for the camera frames (default: found next to the "
        "plan's DICOM source; without it the frames show the plan's own tumour)",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from navigation.tracking.simulator import SimulationConfig
    from navigation.tracking.simulator_io import scenario_from_plan, serve_scenario, write_truth

    check_speed(args)
    try:
        width, height = (int(v) for v in args.image_size.lower().split("x"))
    except ValueError:
        raise UserError(f"--image-size must look like 320x256; got {args.image_size!r}") from None
    config = SimulationConfig(
        seed=args.seed,
        fle_rms_mm=args.fle_mm,
        jitter_rms_mm=args.jitter_mm,
        camera_fps=args.camera_fps,
        image_size_px=(width, height),
    )
    scenario = scenario_from_plan(
        args.plan,
        config,
        duration_s=args.duration,
        phantom_truth=args.phantom_truth if args.phantom_truth else "auto",
    )
    print("preparing the camera frames ...", file=sys.stderr)
    scenario.frame_source(scenario.image_from_camera_at(0.0), 0.0)  # builds the scene once
    if args.truth:
        write_truth(args.truth, scenario)
        print(f"ground truth written to {args.truth}", file=sys.stderr)
    server = open_server(args)
    stop = threading.Event()
    progress = tqdm(
        total=round(scenario.duration_s, 1), unit=" s", file=sys.stderr, desc="simulating"
    )
    shown = [0.0]

    def advance(t_s: float) -> None:
        if t_s - shown[0] >= 0.1:
            progress.update(round(t_s - shown[0], 1))
            shown[0] = round(t_s, 1)

    try:
        wait_for_client(server, args)
        sent = serve_scenario(
            scenario, server.send, speed=args.speed, stop=stop, on_progress=advance
        )
    finally:
        stop.set()
        progress.close()
        server.stop()
    print(f"sent {sent} messages over {scenario.duration_s:.1f} s of scenario", file=sys.stderr)
    return 0
