"""The navigation session: the one source of truth of the live state.

:class:`NavigationSession` owns the plan scene, the :class:`~navigation.tracking.pose_store.
PoseStore` fed by an :class:`~navigation.tracking.igtl_transport.IgtlClient`, the registration
workflow and the registration in force, the fluorescence map, the display options, the
session recording and the counters. Its parts, each in a module of its own: the message ingest
(:mod:`.message_ingest`: the tip calibration, :mod:`.tip_calibration`; camera frames and
camera marker poses, :mod:`.camera_feed`; pose histories, :mod:`.pose_history`; the skin
sweep, :mod:`.skin_sweep`) and the registration actions (:mod:`.session_registration`).

Threads: the transport thread calls :meth:`NavigationSession.on_message` which only ingests
(pose store, recorder, tip STRING, camera frame, the fiducial collector's window and the
pointer history); the render loop calls :meth:`NavigationSession.frame` for the newest state;
the UI (or the headless runner) calls the actions (collect, register, accept...). One lock
guards the session's own state and its parts'; the pose store has its own.

Recording (:class:`~navigation.tracking.recording.SessionWriter`, written from its own thread
by a :class:`~navigation.tracking.recorder_thread.BackgroundRecorder` in the app, so the
transport thread only queues the bytes as received): every message received, and events:
``session_start`` (plan, configuration), ``connection``, ``tool_state``, ``tip_calibration``,
``fiducial_collected``, ``fiducial_excluded``, ``registration_computed``, ``surface_sweep``
(its stop with the swept points), ``registration_prediction`` (a refined registration's TRE
prediction, when ready), ``registration_accepted`` (with the matrix, its numbers and checks:
the registration in force is saved with the session and rewritten when its prediction lands),
``registration_refused`` (an accept the checks refused), ``registration_override`` (the
explicit decision to use a registration that failed its checks, with the risks named),
``landmark_check``, ``warning`` (a warning shown or cleared: tracking lost, margin),
``snapshot``, ``bookmark``, ``fluorescence_reset``, ``render_stall``, ``link_settings``,
``session_end``.

The link (:meth:`NavigationSession.connect_link`, :class:`~navigation.tracking.link_settings.
LinkSettings`): a lost link - including one silent, or sending nothing valid, for the link
timeout (0.5 s by default) - makes every tool DISCONNECTED with the reason, and the client
reconnects; :meth:`NavigationSession.link_status` says what happened.

Patient motion during or after registration: poses are taken relative to the patient reference, so
moving the patient together with its reference is compensated, not an error. What a reference
frame cannot reveal is the reference slipping on the patient; the session offers a landmark
check (:meth:`NavigationSession.landmark_check`: the tip's distance from the nearest planned
fiducial) and reports how far the reference moved in the tracker since acceptance
(:attr:`SessionStatus.reference_motion_mm`; meaningful only with a fixed tracker).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from navigation.app.background_work import BackgroundWork
from navigation.app.camera_feed import CameraFrame
from navigation.app.config import NavigationConfig
from navigation.app.frame_builder import FrameState, LiveState, build_frame
from navigation.app.message_ingest import MessageIngest
from navigation.app.registration_workflow import RegistrationWorkflow
from navigation.app.session_link import TrackerLink
from navigation.app.session_registration import SessionRegistration
from navigation.planning.plan_scene import PlanScene
from navigation.tracking.igtl_transport import IgtlClient
from navigation.tracking.link_settings import LinkSettings
from navigation.tracking.messages import IgtlMessage
from navigation.tracking.pose_store import PoseStore, PoseStoreConfig, ToolPose
from navigation.tracking.recorder_thread import BackgroundRecorder
from navigation.tracking.recording import SessionWriter
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import check_rigid
from registration.pose_interpolation import PoseTrack
from rendering.slice_views import slice_point
from rendering.view_state import DisplayOptions, FluorescenceOverlay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionStatus:
    """Counters and states for the panels, logs and the headless summary.

    connected : the transport is up. tool_states : PLUS name -> state name.
    state_changes : PLUS name -> {state name: times entered}. messages : type -> count.
    camera_frames : IMAGE frames from the camera. tip_known : a tip calibration is in use.
    reference_motion_mm : translation of the reference in the tracker since acceptance (None
    before acceptance or while not OK). sweeping / sweep_points : the skin sweep.
    """

    connected: bool
    tool_states: dict[str, str]
    state_changes: dict[str, dict[str, int]]
    messages: dict[str, int]
    camera_frames: int
    tip_known: bool
    collector_samples: int
    collector_spread_mm: float
    sweeping: bool
    sweep_points: int
    reference_motion_mm: float | None


class NavigationSession(TrackerLink, SessionRegistration):
    """The live state of one navigated procedure (see the module docstring).

    Parameters
    ----------
    scene : the plan as the views show it.
    config : tool names and thresholds.
    intrinsics : the NIR camera's intrinsics (frustum, AR view, fluorescence), or None.
    cameramarker_from_camera : hand-eye calibration (4, 4), or None.
    recorder : where to record the session (a :class:`BackgroundRecorder` keeps the disk off
        the transport thread), or None.
    registration_path : where to write the accepted registration as JSON (atomically, at
        every accept), or None.
    clock : monotonic clock (s) shared with the pose store.
    """

    def __init__(
        self,
        scene: PlanScene,
        config: NavigationConfig | None = None,
        *,
        intrinsics: CameraIntrinsics | None = None,
        cameramarker_from_camera: ArrayLike | None = None,
        recorder: SessionWriter | BackgroundRecorder | None = None,
        registration_path: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scene = scene
        self.registration_path = None if registration_path is None else Path(registration_path)
        self._registration_file_lock = threading.Lock()
        self.config = config or NavigationConfig()
        self.intrinsics = intrinsics
        self.cameramarker_from_camera = (
            None
            if cameramarker_from_camera is None
            else check_rigid(cameramarker_from_camera, "cameramarker_from_camera")
        )
        self.recorder = recorder
        self.clock = clock
        self.store = PoseStore(
            PoseStoreConfig(stale_timeout_s=self.config.stale_timeout_s),
            clock=clock,
            connected=False,
        )
        plan = scene.plan
        self.workflow = RegistrationWorkflow(
            plan.fiducial_names,
            plan.fiducials_lps_mm,
            fle_rms_mm=self.config.fle_rms_mm,
            tumour_lps_mm=scene.tumour_target_lps_mm,
            skin=scene.skin,
        )
        self._lock = threading.RLock()
        self._predictions = BackgroundWork("tre-prediction")
        self._ingest = MessageIngest(
            self.config, self.store, recorder, self._lock, self.record_event
        )
        self._display = DisplayOptions()
        self._fluorescence: FluorescenceOverlay | None = None
        self._slice_hold: Float64Array | None = None
        self._tracker_from_reference_at_accept: Float64Array | None = None
        self._client: IgtlClient | None = None
        self._link_settings: LinkSettings | None = None
        self._closed = False
        self._bookmarks = 0
        self._unsubscribe = self.store.subscribe(self._ingest.on_state_event)
        self.record_event(
            "session_start",
            {
                "plan": str(plan.root),
                "config": {k: getattr(self.config, k) for k in self.config.__dataclass_fields__},
                "fiducials": list(plan.fiducial_names),
                "intrinsics": None if intrinsics is None else intrinsics.to_dict(),
                "cameramarker_from_camera": self.cameramarker_from_camera,
            },
        )

    def on_message(self, message: IgtlMessage) -> None:
        """Transport callback (reader thread): ingest one message
        (:meth:`MessageIngest.on_message`). Never raises."""
        self._ingest.on_message(message)

    # ------------------------------------------------------------------ render side
    def frame(self, *, frame_index: int, render_fps: float | None = None) -> FrameState:
        """The newest state as one frame's snapshot (called by the render loop). A tip that
        drives the slices (pointer OK, tip in the scan) becomes where they are held later."""
        self.store.update_states()
        frame = build_frame(
            self.live_state(), self.scene, self.config, frame_index=frame_index,
            render_fps=render_fps,
        )  # fmt: skip
        point, frozen = slice_point(frame.snapshot, self.scene.volumes.geometry)
        if frozen is None:
            with self._lock:
                self._slice_hold = point
        return frame

    def wait_for_pointer_sample(self, newer_than_s: float, timeout_s: float) -> bool:
        """Block until an OK pointer sample that arrived after ``newer_than_s`` (local
        monotonic s) is in, at most ``timeout_s``; True if one is. The render loop uses it to
        take its snapshot right after a tracker sample instead of up to a sample period later.
        A tool changing state (e.g. going STALE) ends the wait at once."""
        return self._ingest.wait_for_pointer_sample(newer_than_s, timeout_s)

    def live_state(self) -> LiveState:
        """An immutable copy of what a frame needs, taken now."""
        names = {
            self.config.pointer: self._ingest.pointer_name,
            self.config.reference: self._ingest.reference_name,
            self.config.camera: self._ingest.camera_name,
        }
        poses = {tool: self.store.pose(name) for tool, name in names.items()}
        pointer_rel = self.store.transform(self.config.reference, self.config.pointer)
        camera_rel = self.store.transform(self.config.reference, self.config.camera)
        with self._lock:
            camera_seen = (
                self._ingest.camera_name in self.store.tool_names()
                or self.cameramarker_from_camera is not None
            )
            return LiveState(
                time_s=self.clock(),
                poses=poses,
                reference_from_pointer=pointer_rel,
                reference_from_camera=camera_rel,
                accepted=self.workflow.accepted,
                tip_in_pointer=self._ingest.tips.tip,
                cameramarker_from_camera=self.cameramarker_from_camera,
                intrinsics=self.intrinsics,
                fluorescence=self._fluorescence,
                display=self._display,
                camera_seen=camera_seen,
                last_good_s=dict(self._ingest.last_good_s),
                slice_hold_lps_mm=self._slice_hold,
            )

    # ------------------------------------------------------------------ display
    @property
    def display(self) -> DisplayOptions:
        with self._lock:
            return self._display

    def set_display(self, **changes: Any) -> DisplayOptions:
        """Change display options (skin_opacity, follow_tool, ...); returns the new ones."""
        with self._lock:
            self._display = replace(self._display, **changes)
            return self._display

    def pointer_history(self, since_s: float = -math.inf) -> tuple[Float64Array, Float64Array]:
        """((N,) times s, (N, 4, 4) reference_from_pointer) of the OK samples since a time."""
        with self._lock:
            return self._ingest.pointer_history.since(since_s)

    def camera_track(self, around_s: float) -> PoseTrack | None:
        """``reference_from_cameramarker`` samples (OK only) within 0.5 s of ``around_s``,
        timed by local arrival, as a :class:`~registration.pose_interpolation.PoseTrack`
        (None when there are none)."""
        with self._lock:
            return self._ingest.camera.track(around_s)

    @property
    def tip_in_pointer(self) -> Float64Array | None:
        with self._lock:
            return self._ingest.tips.tip

    # ------------------------------------------------------------------ notes
    @property
    def session_folder(self) -> Path:
        """Where the session's pictures go: beside the recording, a folder of its name
        (``sessions/igcs-<date>-<time>/``); without a recording ``igcs-session`` in the
        current folder."""
        if self.recorder is not None:
            return self.recorder.path.with_suffix("")
        return Path.cwd() / "igcs-session"

    def bookmark(self, shown: dict[str, Any] | None = None, note: str = "") -> dict[str, Any]:
        """Record a note at the pointer's pose now (``bookmark`` event): the pointer relative
        to the reference, the tip in the image under the registration in force, what the
        screen shows (``shown``); returns the recorded data."""
        pose = self.store.transform(self.config.reference, self.config.pointer)
        with self._lock:
            accepted = self.workflow.accepted
            tip = self._ingest.tips.tip
            self._bookmarks += 1
            index = self._bookmarks
        tip_lps = None
        if accepted is not None and tip is not None and pose.ok and pose.matrix is not None:
            image_from_pointer = accepted.image_from_reference @ pose.matrix
            tip_lps = image_from_pointer[:3, :3] @ tip + image_from_pointer[:3, 3]
        data = {
            "index": index,
            "time_s": self.clock(),
            "note": note or f"bookmark {index}",
            "pointer_state": pose.state.name,
            "reference_from_pointer": pose.matrix,
            "tip_lps_mm": None if tip_lps is None else [float(v) for v in tip_lps],
            "registration_verified": None if accepted is None else accepted.verified,
            "shown": shown or {},
        }
        self.record_event("bookmark", data)
        return data

    # ------------------------------------------------------------------ fluorescence
    def set_fluorescence(self, fluorescence: FluorescenceOverlay | None) -> None:
        """Publish the fused map drawn on the model (set by the fluorescence worker)."""
        with self._lock:
            self._fluorescence = fluorescence

    def reset_fluorescence(self) -> None:
        """Forget the fused map (recorded)."""
        with self._lock:
            self._fluorescence = None
        self.record_event("fluorescence_reset", {})

    @property
    def latest_frame(self) -> CameraFrame | None:
        with self._lock:
            return self._ingest.camera.latest

    # ------------------------------------------------------------------ status
    def status(self) -> SessionStatus:
        """Counters and states (thread-safe)."""
        poses = self.store.poses()
        motion = None
        with self._lock:
            ingest = self._ingest
            reference = poses.get(ingest.reference_name)
            at_accept = self._tracker_from_reference_at_accept
            if at_accept is not None and reference is not None and reference.matrix is not None:
                motion = float(np.linalg.norm(reference.matrix[:3, 3] - at_accept[:3, 3]))
            collector = ingest.tips.collector
            return SessionStatus(
                connected=self.store.connected,
                tool_states={name: pose.state.name for name, pose in poses.items()},
                state_changes={k: dict(v) for k, v in ingest.state_changes.items()},
                messages=dict(ingest.messages),
                camera_frames=ingest.camera.count,
                tip_known=ingest.tips.tip is not None,
                collector_samples=0 if collector is None else collector.sample_count,
                collector_spread_mm=math.nan if collector is None else collector.spread_mm,
                sweeping=ingest.sweep.active,
                sweep_points=ingest.sweep.count,
                reference_motion_mm=motion,
            )

    def reference_from_pointer(self) -> ToolPose:
        """The pointer relative to the patient reference, now."""
        return self.store.transform(self.config.reference, self.config.pointer)

    # ------------------------------------------------------------------ recording
    def record_event(self, kind: str, data: dict[str, Any]) -> None:
        """Append an app event to the session recording (no-op without a recorder)."""
        if self.recorder is None:
            return
        try:
            self.recorder.write_event(kind, data)
        except (InputError, ValueError) as error:  # closed, or not JSON-able
            log.warning("event %s not recorded: %s", kind, error)

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Stop the client and the watchdog, record ``session_end`` and close the recording.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            self._client.stop()
        self.store.stop_watchdog()
        self._unsubscribe()
        self.record_event("session_end", summary or {})
        if self.recorder is not None:
            self.recorder.close()

    def __enter__(self) -> NavigationSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
