"""``igcs navigate --headless``: the same session and views, offscreen, for a fixed time.

:func:`run_headless` renders the session's newest state into an offscreen
:class:`~rendering.layout.NavigationLayout` (VTK's EGL window) at the target rate for
``duration_s`` seconds, optionally drives the registration automatically
(:mod:`navigation.app.auto_register`), writes a PNG every ``screenshot_every_s`` seconds and
of the last frame, and ``summary.json`` (:mod:`navigation.app.summary`). No Qt is imported.

The session must be fed already (connected to a tracker, or fed by the caller); the caller
closes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import vtk

from navigation.app.ar_frame import ARPresenter
from navigation.app.auto_register import AutoRegistrar, AutoRegistrationConfig
from navigation.app.fluorescence import FluorescenceMapper
from navigation.app.render_loop import FrameRecord, RenderLoop
from navigation.app.session import NavigationSession
from navigation.app.summary import GuidanceTally, session_summary
from registration.core.atomic_files import write_json_atomic
from registration.core.checks import Float64Array, InputError, check_positive
from rendering.offscreen import configure_offscreen
from rendering.pictures import grab_rgb, write_png
from rendering.scene3d import DEFAULT_TRIANGLE_BUDGET, SurfaceModel

log = logging.getLogger(__name__)

#: How long the summary waits for a pending TRE prediction (Monte Carlo, seconds).
PREDICTION_WAIT_S = 120.0

SUMMARY_FILE = "summary.json"
LAST_PICTURE = "last.png"
AR_PICTURE = "ar_last.png"


@dataclass(frozen=True)
class HeadlessOptions:
    """What a headless run does.

    duration_s : how long to render (s). output_dir : where PNGs and summary.json go.
    screenshot_every_s : one PNG this often (plus the last frame); None: only the last.
    target_fps : render cadence. window_size : (width, height) pixels.
    triangle_budget : triangles drawn for the models. preset : 3-D camera preset; None: facing
        the fluorescence field when mapping, else anterior.
    auto_register : drive the registration from the pointer's dwells (plan order), or None.
    """

    duration_s: float
    output_dir: Path
    screenshot_every_s: float | None = 5.0
    target_fps: float = 12.0
    window_size: tuple[int, int] = (1280, 1024)
    triangle_budget: int = DEFAULT_TRIANGLE_BUDGET
    preset: str | None = None
    auto_register: AutoRegistrationConfig | None = None

    def __post_init__(self) -> None:
        check_positive(self.duration_s, "duration_s")
        check_positive(self.target_fps, "target_fps")
        if self.screenshot_every_s is not None:
            check_positive(self.screenshot_every_s, "screenshot_every_s")
        object.__setattr__(self, "output_dir", Path(self.output_dir))


@dataclass(frozen=True)
class HeadlessResult:
    """The summary written, its path and the pictures (paths, in order)."""

    summary: dict[str, Any]
    summary_path: Path
    screenshots: tuple[Path, ...]


def run_headless(
    session: NavigationSession,
    options: HeadlessOptions,
    *,
    stop: threading.Event | None = None,
    on_frame: Callable[[FrameRecord], None] | None = None,
    fluorescence: FluorescenceMapper | None = None,
    true_image_from_reference: Float64Array | None = None,
    ready: Callable[[], None] | None = None,
) -> HeadlessResult:
    """Render ``session`` offscreen for ``options.duration_s`` s; write PNGs and summary.json.

    stop : set it to end early. on_frame : called after every frame (progress bars, tests).
    ready : called once the views are built and a first frame drawn, before the timed run
        (connect the tracker there: the first frame of a large plan takes seconds, during
        which a stream already flowing would pile up and arrive late).
    fluorescence : the running mapper: its field is drawn in 3-D and its metrics go into the
        summary; or None. With camera intrinsics, the AR view of the last placeable camera
        frame is written at the frame's native size as ``ar_last.png``.
    true_image_from_reference : a simulator's true registration: the summary then has the true
        TRE at the tumour.
    """
    configure_offscreen()
    from rendering.layout import NavigationLayout

    out = options.output_dir
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder; choose another --screenshot path.")
    out.mkdir(parents=True, exist_ok=True)
    scene = session.scene
    models = list(scene.models)
    if fluorescence is not None:
        models.append(fluorescence.display_model)
    layout = NavigationLayout(
        models,
        scene.volumes,
        window_size=options.window_size,
        triangle_budget=options.triangle_budget,
        preset=options.preset
        or ("anterior" if fluorescence is None else fluorescence.facing_preset),
    )
    loop = RenderLoop(session, layout, target_fps=options.target_fps, clock=session.clock)
    auto = (
        AutoRegistrar(session, options.auto_register) if options.auto_register is not None else None
    )
    tally = GuidanceTally()
    pictures: list[Path] = []
    next_shot = [session.clock() + (options.screenshot_every_s or float("inf"))]

    def frame_done(record: FrameRecord) -> None:
        if loop.last_frame is not None:
            tally.add(loop.last_frame)
        if auto is not None:
            auto.step()
        if options.screenshot_every_s is not None and record.presented_s >= next_shot[0]:
            path = out / f"frame_{record.index:06d}.png"
            write_png(path, layout.screenshot())
            pictures.append(path)
            next_shot[0] += options.screenshot_every_s
        if on_frame is not None:
            on_frame(record)

    if ready is not None:
        layout.render(session.frame(frame_index=0).snapshot)  # build the pipelines once
        ready()
    started = time.monotonic()
    try:
        loop.start_watchdog()
        stats = loop.run_for(options.duration_s, on_frame=frame_done, stop=stop)
        last = out / LAST_PICTURE
        write_png(last, layout.screenshot())
        pictures.append(last)
        ar_rgb = _ar_picture(session, models)
        if ar_rgb is not None:
            ar = out / AR_PICTURE
            write_png(ar, ar_rgb)
            pictures.append(ar)
    finally:
        loop.close()
        layout.close()
    if not session.wait_for_predictions(PREDICTION_WAIT_S):
        log.warning("the TRE prediction did not finish within %.0f s", PREDICTION_WAIT_S)
    summary = session_summary(
        session,
        render=stats,
        guidance=tally,
        duration_s=time.monotonic() - started,
        auto_registration=None if auto is None else {"phase": auto.phase, "message": auto.message},
        fluorescence=None if fluorescence is None else fluorescence.metrics(),
        screenshots=[p.name for p in pictures],
        true_image_from_reference=true_image_from_reference,
    )
    summary["warnings_started"] = loop.warnings.counts()
    summary_path = out / SUMMARY_FILE
    write_json_atomic(summary_path, summary)
    log.info("headless navigation: %d frames, summary in %s", stats.frames, summary_path)
    return HeadlessResult(summary, summary_path, tuple(pictures))


def _ar_picture(session: NavigationSession, models: list[SurfaceModel]) -> np.ndarray | None:
    """The AR view of the newest placeable camera frame, offscreen at the frame's native size
    ((H, W, 3) uint8), or None without intrinsics or a placeable frame."""
    if session.intrinsics is None or session.latest_frame is None:
        return None
    width, height = session.intrinsics.image_size_px
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(width, height)
    window.SetMultiSamples(0)
    renderer = vtk.vtkRenderer()
    window.AddRenderer(renderer)
    try:
        presenter = ARPresenter(session, renderer, models)
        deadline = session.clock() + 1.0  # the marker pose after the last frame is on its way
        while not presenter.refresh() and session.clock() < deadline:
            time.sleep(0.02)
        if not presenter.shown_index:
            presenter.refresh(wait=False)
        if not presenter.shown_index:
            log.info("no AR picture: %s", presenter.note)
            return None
        window.Render()
        return grab_rgb(window)
    finally:
        window.Finalize()
