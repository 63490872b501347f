"""``igcs navigate --plan PLAN --igtl HOST:PORT [...]``: the surgeon's navigation window.

Loads the plan's meshes and label map, connects to the tracker (an OpenIGTLink server: PLUS,
or ``igcs simulate``), and opens the Qt window (:mod:`navigation.app.window`; F11 full
screen, keyboard shortcuts listed in the window). With ``--headless --screenshot DIR
--duration S`` the same session and views run offscreen without Qt and write PNGs and
``summary.json`` (:mod:`navigation.app.headless`); ``--auto-register`` then collects the
pointer's dwells in plan order (:mod:`navigation.app.auto_register`). The app is started by
:mod:`navigation.app.launch`; this command checks the options and wires in what it knows of
simulations (the simulator's truth as a camera stand-in, the evaluator that scores the map,
:mod:`navigation.simulation.evaluation`).

Every session is recorded: every message (the bytes as received, written by a thread of its
own so tracking never waits for the disk; what it cannot keep up with is counted and shown)
and app event goes to ``--record SESSION``, by default ``sessions/igcs-<date>-<time>.igcsrec``
in the current folder (``igcs replay`` re-serves it), and the accepted registration to
``SESSION.registration.json``. ``--no-record`` turns it off.

The tracker link (:mod:`navigation.tracking.link_settings`): ``--link-timeout`` (0.5 s) without
bytes or valid messages shows every tool DISCONNECTED and reconnects; ``--start-tracking``
sends STT_TDATA/STT_QTDATA (``--tracking-resolution`` ms) for servers that wait for it.

The camera path: with the NIR camera's intrinsics (``--camera-intrinsics cam.json``, from
``igcs camera-calibration``) and hand-eye calibration (``--hand-eye he.json``, from ``igcs
hand-eye``), and its radiometric calibration (``--dark-level``, ``--flat-field``), the camera
frames are mapped live onto the plan's exposed surgical field (:mod:`navigation.app.fluorescence`)
and the AR view draws the model over them. A simulator's ``--simulation-truth`` is for scoring
(the true TRE at the tumour); only when no camera calibration is given does it stand in for
one (the simulator's camera and sensor, said so in the log: simulations only). When the plan was
made from an igcs phantom its truth is found and the map is scored against the true patch
(Dice, boundary).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from navigation.cli import UserError
from navigation.commands.link_options import add_link_arguments, link_settings
from registration.optional_dependencies import require_extra

if TYPE_CHECKING:
    from navigation.app.fluorescence import FluorescenceMapper
    from navigation.app.session import NavigationSession

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", required=True, type=Path, help="plan folder (igcs plan)")
    parser.add_argument(
        "--igtl", required=True, metavar="HOST:PORT", help="OpenIGTLink server (PLUS, simulator)"
    )
    parser.add_argument("--camera-intrinsics", type=Path, metavar="JSON", help="NIR camera")
    parser.add_argument("--hand-eye", type=Path, metavar="JSON", help="camera marker to camera")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="SESSION",
        help="record the session to this file (default sessions/igcs-<date>-<time>.igcsrec)",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not record the session (not recommended)"
    )
    parser.add_argument(
        "--fle", type=float, default=1.0, metavar="MM", help="FLE for TRE predictions (1.0)"
    )
    parser.add_argument(
        "--pointer-tip",
        metavar="X,Y,Z",
        help="tip in the pointer frame, mm (default: the tracker's PointerTipToPointer STRING)",
    )
    parser.add_argument(
        "--margin", type=float, default=5.0, metavar="MM", help="margin warning distance (5)"
    )
    parser.add_argument(
        "--tool-names",
        default="Pointer,Reference,Camera,Tracker",
        metavar="P,R,C,T",
        help="pointer, reference, camera and tracker frame names (PLUS: PointerToTracker...)",
    )
    parser.add_argument("--fps", type=float, default=12.0, help="render rate target (12)")
    parser.add_argument(
        "--stale-ms", type=float, default=150.0, help="a tool not updated for longer is STALE"
    )
    parser.add_argument(
        "--window-size",
        metavar="WxH",
        help="window size (default: the screen's available area; headless: 1280x1024)",
    )
    parser.add_argument(
        "--margin-sound", action="store_true", help="beep when the margin warning starts"
    )
    parser.add_argument(
        "--triangle-budget", type=int, default=None, help="triangles drawn (level of detail)"
    )
    parser.add_argument("--fullscreen", action="store_true", help="open full screen (F11)")
    headless = parser.add_argument_group("headless (no window; offscreen views)")
    headless.add_argument("--headless", action="store_true", help="run offscreen, no Qt")
    headless.add_argument("--screenshot", type=Path, metavar="DIR", help="PNGs + summary.json")
    headless.add_argument("--duration", type=float, metavar="S", help="seconds to run")
    headless.add_argument(
        "--screenshot-every", type=float, default=5.0, metavar="S", help="a PNG every S s (5)"
    )
    headless.add_argument(
        "--auto-register",
        action="store_true",
        help="collect the pointer's dwells as the plan's fiducials IN PLAN ORDER, register and "
        "accept (for simulators and scripted phantom runs only)",
    )
    headless.add_argument(
        "--auto-sweep",
        type=float,
        metavar="S",
        help="with --auto-register: then sweep the skin for S s and refine (surface ICP)",
    )
    parser.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="S", help="wait for the tracker"
    )
    add_link_arguments(parser)
    fluorescence = parser.add_argument_group("fluorescence (needs the intrinsics and hand-eye)")
    fluorescence.add_argument(
        "--dark-level", type=float, metavar="DN", help="NIR camera dark level, raw counts"
    )
    fluorescence.add_argument("--flat-field", type=Path, help="flat field, (H, W) float .npy")
    fluorescence.add_argument(
        "--saturation", type=float, metavar="DN", help="NIR camera saturation level (4095)"
    )
    fluorescence.add_argument(
        "--no-fluorescence", action="store_true", help="do not map the camera frames"
    )
    fluorescence.add_argument(
        "--highlight-mask",
        action="store_true",
        help="mask specular highlights and saturated pixels in each frame (on by default for "
        "a simulator whose camera renders highlights)",
    )
    parser.add_argument(
        "--simulation-truth",
        type=Path,
        metavar="TRUTH.json",
        help="igcs simulate --truth output, for scoring: the summary's true TRE at the tumour; "
        "stands in for the camera calibration only when none is given (simulations only)",
    )


def _window_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--window-size must look like 1280x1024; got {text!r}") from None
    if width < 320 or height < 240:
        raise UserError(f"--window-size must be at least 320x240; got {text!r}")
    return width, height


def _tip(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        x, y, z = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--pointer-tip must be X,Y,Z in mm; got {text!r}") from None
    return x, y, z


def run(args: argparse.Namespace) -> int:
    from navigation.app.config import NavigationConfig
    from navigation.app.launch import (
        CameraFiles,
        default_recording_path,
        open_session,
        start_fluorescence,
        tracker_connector,
    )
    from navigation.fluorescence.mapping_inputs import load_simulation_truth
    from navigation.planning.plan_scene import load_plan_scene
    from navigation.simulation.evaluation import navigation_evaluator
    from registration.camera_intrinsics import CameraIntrinsics
    from registration.hand_eye import HandEye

    settings = link_settings(args, args.igtl, "--igtl")
    size = None if args.window_size is None else _window_size(args.window_size)
    if args.headless and (args.screenshot is None or args.duration is None):
        raise UserError("--headless needs --screenshot DIR and --duration S")
    if not args.headless and (args.auto_register or args.screenshot is not None):
        raise UserError("--auto-register and --screenshot are for --headless runs")
    if args.auto_sweep is not None and not args.auto_register:
        raise UserError("--auto-sweep needs --auto-register")
    names = [n.strip() for n in args.tool_names.split(",")]
    if len(names) != 4:
        raise UserError(f"--tool-names needs 4 names (P,R,C,T); got {args.tool_names!r}")
    config = NavigationConfig(
        pointer=names[0],
        reference=names[1],
        camera=names[2],
        tracker=names[3],
        fle_rms_mm=args.fle,
        margin_warning_mm=args.margin,
        pointer_tip_mm=_tip(args.pointer_tip),
        stale_timeout_s=args.stale_ms / 1000.0,
    )
    simulation = load_simulation_truth(args.simulation_truth) if args.simulation_truth else None
    if bool(args.camera_intrinsics) != bool(args.hand_eye):
        raise UserError(
            "the camera path needs both --camera-intrinsics (igcs camera-calibration) and "
            "--hand-eye (igcs hand-eye)"
        )
    intrinsics = CameraIntrinsics.load(args.camera_intrinsics) if args.camera_intrinsics else None
    hand_eye = HandEye.load(args.hand_eye).cameramarker_from_camera if args.hand_eye else None
    camera_stand_in = simulation if intrinsics is None else None
    if camera_stand_in is not None:
        log.warning(
            "no camera calibration given: using the simulator's camera, hand-eye and sensor from "
            "%s (simulations only; a real camera needs --camera-intrinsics and --hand-eye)",
            camera_stand_in.path,
        )
        intrinsics, hand_eye = camera_stand_in.intrinsics, camera_stand_in.cameramarker_from_camera
    print(f"loading plan {args.plan} ...", file=sys.stderr)
    loading_began = time.monotonic()
    scene = load_plan_scene(args.plan)
    if args.no_record:
        args.record = None
    elif args.record is None:
        args.record = default_recording_path()
        print(f"recording the session to {args.record}", file=sys.stderr)
    session = open_session(
        scene, config, intrinsics=intrinsics, cameramarker_from_camera=hand_eye, record=args.record
    )
    mapper: FluorescenceMapper | None = None
    try:
        if not args.no_fluorescence and session.intrinsics is not None:
            camera = CameraFiles(
                args.camera_intrinsics, args.hand_eye, args.dark_level, args.flat_field,
                args.saturation, args.highlight_mask,
            )  # fmt: skip
            evaluator = navigation_evaluator(scene.plan, camera_stand_in)
            mapper = start_fluorescence(
                session, camera, stand_in=camera_stand_in, evaluator=evaluator
            )
        connect = tracker_connector(session, settings, args.connect_timeout, loading_began)
        if args.headless:  # connects once its views are built (see run_headless's ``ready``)
            truth = None if simulation is None else simulation.image_from_reference
            return _run_headless(args, session, size or (1280, 1024), mapper, truth, connect)
        connect()
        require_extra("gui", alternative="or run igcs navigate --headless")
        from navigation.app.window import WindowOptions, run_window

        options = WindowOptions(
            target_fps=args.fps,
            view_size=size,
            fullscreen=args.fullscreen,
            margin_sound=args.margin_sound,
        )
        if args.triangle_budget:
            options = dataclasses.replace(options, triangle_budget=args.triangle_budget)
        return run_window(session, options, fluorescence=mapper)
    finally:
        if mapper is not None:
            mapper.stop()
        session.close()


def _run_headless(
    args: argparse.Namespace,
    session: NavigationSession,
    size: tuple[int, int],
    mapper: FluorescenceMapper | None,
    true_image_from_reference: np.ndarray | None,
    connect: Callable[[], None],
) -> int:
    from navigation.app.auto_register import AutoRegistrationConfig
    from navigation.app.headless import HeadlessOptions
    from navigation.app.launch import run_headless_navigation
    from registration.tre import expected_fre_rms

    auto = None
    if args.auto_register:
        # Anatomical landmarks (FLE of a few mm) give FREs of a few mm: the dwell run's FRE
        # gate and the sweep's distance gate scale with the stated FLE.
        count = len(session.workflow.names)
        auto = AutoRegistrationConfig(
            sweep_s=args.auto_sweep,
            max_fre_mm=max(2.0, 2.5 * expected_fre_rms(count, args.fle)),
            sweep_max_distance_mm=max(3.0, 2.0 * args.fle),
        )
    options = HeadlessOptions(
        duration_s=args.duration,
        output_dir=args.screenshot,
        screenshot_every_s=args.screenshot_every,
        target_fps=args.fps,
        window_size=size,
        auto_register=auto,
    )
    if args.triangle_budget:
        options = dataclasses.replace(options, triangle_budget=args.triangle_budget)
    run_headless_navigation(
        session,
        options,
        mapper=mapper,
        true_image_from_reference=true_image_from_reference,
        connect=connect,
    )
    return 0
