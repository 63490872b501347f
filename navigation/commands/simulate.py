"""``igcs simulate --plan PLAN [--port 18944] [--seed N] [--truth OUT.json] [--duration S]
[--speed X]``: a tracking scenario served over OpenIGTLink, PLUS-style.

Builds the scenario of :mod:`navigation.simulation.simulator` for the plan (patient reference,
pointer visiting the planned fiducials, skin sweep, tracked NIR camera with frames, dropouts),
writes its ground truth to ``--truth`` when given, starts an OpenIGTLink server (loopback by
default), waits for the first client unless ``--no-wait``, and streams the timeline in real
time scaled by ``--speed``. Header timestamps are the wall-clock time of sending.

Camera frames (``--camera-fps``, ``--image-size``; the intrinsics in the truth JSON match the
size): the synthetic NIR camera looking at the plan's exposed surgical field, with the
phantom's true tracer patch when the plan was made from an igcs phantom (its ``truth.json`` is
found next to the plan's DICOM source, or given with ``--phantom-truth``), else glowing where
the plan's own tumour is (see :mod:`navigation.simulation.simulator_io`). The scene is built and
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
    parser.add_argument(
        "--patient",
        action="store_true",
        help="a patient, not the phantom: the plan's fiducials are anatomical landmarks touched "
        "on the skin (FLE in its tangent plane; give --fle-mm, e.g. 2.5), strokes over the face "
        "and neck (--sweep-noise-mm along the normal, plus a 0.5 mm RMS smooth skin shift), "
        "the reference on the skull, a "
        "transcervical wound cut into the plan's anatomy and NIR frames of tissue (tracer under "
        "the surface, perfusion texture, glints, ambient light with pulsed subtraction)",
    )
    parser.add_argument(
        "--sweep-noise-mm",
        type=float,
        default=None,
        help="sweep points off the skin along its normal, RMS mm (0; 0.5 with --patient)",
    )
    parser.add_argument(
        "--sweep-s", type=float, default=None, help="seconds of skin sweep (12; 20 with --patient)"
    )
    parser.add_argument(
        "--prerender",
        action="store_true",
        help="render every camera frame before serving (memory: ~160 kB a 320x256 frame), so "
        "the stream keeps its timing on a busy machine; the truth file is written when ready",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from navigation.simulation.simulated_motion import CAMERA_PERIOD_S
    from navigation.simulation.simulator import SimulationConfig
    from navigation.simulation.simulator_io import (
        prerender_frames,
        scenario_from_plan,
        serve_scenario,
        write_truth,
    )
    from registration.combined_tre import SKIN_SHIFT_LENGTH_MM, SKIN_SHIFT_MM

    check_speed(args)
    try:
        width, height = (int(v) for v in args.image_size.lower().split("x"))
    except ValueError:
        raise UserError(f"--image-size must look like 320x256; got {args.image_size!r}") from None
    patient = bool(args.patient)
    noise = args.sweep_noise_mm if args.sweep_noise_mm is not None else (0.5 if patient else 0.0)
    config = SimulationConfig(
        seed=args.seed,
        fle_rms_mm=args.fle_mm,
        jitter_rms_mm=args.jitter_mm,
        camera_fps=args.camera_fps,
        image_size_px=(width, height),
        fle_on_skin=patient,
        sweep_noise_mm=noise,
        skin_shift_mm=SKIN_SHIFT_MM if patient else 0.0,
        skin_shift_length_mm=SKIN_SHIFT_LENGTH_MM,
        sweep_s=args.sweep_s if args.sweep_s is not None else (20.0 if patient else 12.0),
        # A patient is imaged after registration: one more orbit of the camera (20 s).
        imaging_s=CAMERA_PERIOD_S if patient else 1.0,
        # A landmark is touched with care: a longer dwell than on a marker; and the pointer
        # rests for a few seconds first (the app connecting and drawing its first frames).
        dwell_s=3.0 if patient else 2.0,
        rest_s=5.0 if patient else 1.0,
    )
    extra: dict[str, object] = {}
    if patient:
        from navigation.fluorescence.approach import ApproachOptions
        from navigation.simulation.tissue import TissueModel
        from rendering.fluorescence.nir_camera import tissue_sensor

        extra = {
            "approach": ApproachOptions(),
            "tissue": TissueModel(seed=args.seed),
            "sensor": tissue_sensor(),
            "anatomical": True,
        }
    scenario = scenario_from_plan(
        args.plan,
        config,
        duration_s=args.duration,
        phantom_truth=args.phantom_truth if args.phantom_truth else "auto",
        **extra,  # type: ignore[arg-type]
    )
    print("preparing the camera frames ...", file=sys.stderr)
    if args.prerender:
        rendering = tqdm(unit=" frame", file=sys.stderr, desc="rendering")

        def rendered(done: int, total: int) -> None:
            rendering.total = total
            rendering.update(done - rendering.n)

        scenario = prerender_frames(scenario, duration_s=args.duration, on_frame=rendered)
        rendering.close()
    else:
        scenario.frame_source(scenario.image_from_camera_at(0.0), 0.0)  # builds the scene
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
