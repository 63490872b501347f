"""Starting the navigation app: from a loaded plan, a configuration and the camera's calibration
to a running session, its live fluorescence mapper and the link to the tracker; then the
headless run and its printed summary.

``igcs navigate`` (:mod:`navigation.commands.navigate`) parses and checks its options and calls
these. What it knows of simulations it passes in: the simulator's truth standing in for the
camera's calibration (``stand_in``, a :class:`~navigation.fluorescence.mapping_inputs.
SimulationTruth`: its sensor's radiometry and field geometry) and the evaluator that scores the
map (the evaluation hook, :mod:`navigation.fluorescence.evaluation`); nothing here loads the
simulator.

Every session is recorded (:func:`open_session`): the messages from a thread of their own
(:func:`open_recorder`), the accepted registration beside the recording
(``SESSION.registration.json``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from navigation.app.config import NavigationConfig
from navigation.app.fluorescence import FluorescenceMapper, FluorescenceSettings
from navigation.app.headless import HeadlessOptions, run_headless
from navigation.app.render_loop import FrameRecord
from navigation.app.session import NavigationSession
from navigation.fluorescence.evaluation import FieldEvaluator
from navigation.fluorescence.mapping_inputs import (
    SimulationTruth,
    highlight_detector,
    resolve_inputs,
)
from navigation.planning.plan_scene import PlanScene
from navigation.tracking.link_settings import LinkSettings
from navigation.tracking.recorder_thread import BackgroundRecorder
from navigation.tracking.recording import SessionWriter
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import InputError

log = logging.getLogger(__name__)


def default_recording_path() -> Path:
    """``sessions/igcs-<date>-<time>.igcsrec`` in the current folder (the folder made)."""
    path = Path("sessions") / time.strftime("igcs-%Y%m%d-%H%M%S.igcsrec")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def open_recorder(path: Path) -> BackgroundRecorder:
    """The session recording as the app writes it: from a thread of its own, so the thread
    reading the tracker never waits for the disk (see :mod:`~navigation.tracking.
    recorder_thread`)."""
    return BackgroundRecorder(SessionWriter(path))


def open_session(
    scene: PlanScene,
    config: NavigationConfig,
    *,
    intrinsics: CameraIntrinsics | None,
    cameramarker_from_camera: np.ndarray | None,
    record: Path | None,
) -> NavigationSession:
    """The live session, recorded to ``record`` (refused when it exists) with the accepted
    registration beside it, or not recorded (``record`` None)."""
    if record is not None and record.exists():
        raise InputError(f"session {record} already exists; choose another --record name")
    recorder = open_recorder(record) if record else None
    registration_path = record.with_name(record.name + ".registration.json") if record else None
    return NavigationSession(
        scene,
        config,
        intrinsics=intrinsics,
        cameramarker_from_camera=cameramarker_from_camera,
        recorder=recorder,
        registration_path=registration_path,
    )


@dataclass(frozen=True)
class CameraFiles:
    """Where the NIR camera's calibration came from and what the radiometric options say.

    intrinsics, hand_eye : the files given (None: none, or a simulator's stand-in).
    dark_level, flat_field, saturation : the radiometric calibration's explicit parts.
    highlight_mask : mask highlights and saturation whatever the sensor.
    """

    intrinsics: Path | None = None
    hand_eye: Path | None = None
    dark_level: float | None = None
    flat_field: Path | None = None
    saturation: float | None = None
    highlight_mask: bool = False


def start_fluorescence(
    session: NavigationSession,
    camera: CameraFiles,
    *,
    stand_in: SimulationTruth | None = None,
    evaluator: FieldEvaluator | None = None,
) -> FluorescenceMapper | None:
    """The live mapper (started), or None without a camera calibration or a tumour.

    stand_in : the simulator's truth standing in for the camera's calibration (its sensor's
        radiometry and field geometry), or None on the real camera path (files and flags only).
    evaluator : what scores the map (None: not scored).
    """
    if session.intrinsics is None or session.cameramarker_from_camera is None:
        return None
    plan = session.scene.plan
    if plan.tumour_centroid_lps_mm is None:
        log.warning("the plan has no tumour: no fluorescence field to map onto")
        return None
    # The radiometric calibration as igcs fluorescence resolves it (explicit, else simulator).
    inputs = resolve_inputs(
        recorded={
            "intrinsics": session.intrinsics,
            "cameramarker_from_camera": session.cameramarker_from_camera,
            "image_from_reference": np.eye(4),  # unused here: the app registers itself
        },
        truth=stand_in,
        dark_level=camera.dark_level,
        flat_field_path=camera.flat_field,
        saturation_level=camera.saturation,
    )
    described = "" if stand_in is None else f"simulator ground truth {stand_in.path}"
    sources = {
        "intrinsics": str(camera.intrinsics or described),
        "hand_eye": str(camera.hand_eye or described),
        "radiometry": inputs.sources["radiometry"],
    }
    log.info("fluorescence camera: %s", sources)
    settings = FluorescenceSettings(
        radiometry=inputs.radiometry,
        geometry=stand_in.geometry() if stand_in else None,
        evaluator=evaluator,
        highlights=highlight_detector(
            inputs.radiometry,
            sensor=stand_in.sensor() if stand_in else None,
            requested=camera.highlight_mask,
        ),
        sources=sources,
    )
    return FluorescenceMapper(session, settings).start()


def tracker_connector(
    session: NavigationSession, settings: LinkSettings, timeout_s: float, loading_began_s: float
) -> Callable[[], None]:
    """Connects the session to the tracker when called (the window and the headless runner
    call it once their views are built); warns, and keeps trying, when no tracker answers
    within ``timeout_s``."""

    def connect() -> None:
        log.info(
            "connecting to the tracker %.1f s after loading began (plan, views, first frame)",
            time.monotonic() - loading_began_s,
        )
        client = session.connect_link(settings)
        if not client.wait_connected(timeout_s):
            log.warning(
                "no message from a tracker at %s after %.0f s; still trying (tools show "
                "DISCONNECTED)",
                settings.address,
                timeout_s,
            )

    return connect


def run_headless_navigation(
    session: NavigationSession,
    options: HeadlessOptions,
    *,
    mapper: FluorescenceMapper | None,
    true_image_from_reference: np.ndarray | None,
    connect: Callable[[], None],
) -> dict[str, Any]:
    """Run the session offscreen for ``options.duration_s`` with a progress bar (seconds on
    stderr); print and return the summary (:func:`print_headless_summary`)."""
    from tqdm import tqdm

    total = round(options.duration_s)
    progress = tqdm(total=total, unit=" s", file=sys.stderr, desc="navigating")
    first: list[float] = []

    def advance(record: FrameRecord) -> None:
        if not first:
            first.append(record.start_s)
        elapsed = min(total, int(record.presented_s - first[0]))
        if elapsed > progress.n:
            progress.update(elapsed - progress.n)

    try:
        result = run_headless(
            session,
            options,
            on_frame=advance,
            fluorescence=mapper,
            true_image_from_reference=true_image_from_reference,
            ready=connect,
        )
    finally:
        progress.close()
    print(f"summary: {result.summary_path}", file=sys.stderr)
    print_headless_summary(result.summary)
    return result.summary


def print_headless_summary(summary: dict[str, Any]) -> None:
    """The headless run's headline numbers on stderr: registration (FRE, predicted and, with
    a simulator's truth, true TRE at the tumour), fluorescence, render rate, link."""
    if summary["fre_mm"] is not None:
        tre = summary["tre_at_tumour_predicted_mm"]
        unverified = summary["registration_state"] == "unverified"
        print(
            ("UNVERIFIED registration" if unverified else "registration")
            + f": FRE {summary['fre_mm']:.2f} mm"
            + (
                f", predicted TRE at tumour {summary['predicted_tre']}"
                if tre is None
                else f", predicted TRE at tumour {tre:.2f} mm"
            ),
            file=sys.stderr,
        )
    else:
        how = (summary.get("auto_registration") or {}).get("message", "")
        print(f"registration: none accepted {how}".rstrip(), file=sys.stderr)
    if summary["tre_at_tumour_true_mm"] is not None:
        print(
            f"true TRE at the tumour (simulator truth): {summary['tre_at_tumour_true_mm']:.2f} mm",
            file=sys.stderr,
        )
    if summary["fluorescence"] is not None:
        f = summary["fluorescence"]
        print(
            f"fluorescence: {f['frames_mapped']} frames, TBR {f['tbr']}, Dice {f['dice']}, "
            f"boundary {f['boundary_error_mm']} mm",
            file=sys.stderr,
        )
    render = summary["render"]
    latency = render["latency_ms_p95"]
    print(
        f"render: {render['frames']} frames, {render['render_fps'] or 0:.1f} fps"
        + ("" if latency is None else f", latency p95 {latency:.0f} ms"),
        file=sys.stderr,
    )
    link = summary["link"]
    print(
        f"link: {link['messages']} messages, lost {link['disconnects']}x "
        f"({link['timeouts']} timeouts), {link['bad_crc'] + link['malformed']} bad, "
        f"{link['resyncs']} resyncs"
        + (
            ""
            if summary["recorder_dropped"] is None
            else f"; recorder dropped {summary['recorder_dropped']} messages"
        ),
        file=sys.stderr,
    )
