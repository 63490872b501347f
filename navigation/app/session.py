"""The navigation session: the one source of truth of the live state.

:class:`NavigationSession` owns the plan scene, the :class:`~navigation.tracking.pose_store.
PoseStore` fed by an :class:`~navigation.tracking.igtl_transport.IgtlClient`, the registration
workflow and the registration in force, the pointer tip calibration, the latest camera frame,
the fluorescence map, the display options, the session recording and the counters.

Threads: the transport thread calls :meth:`NavigationSession.on_message` which only ingests
(pose store, recorder, tip STRING, camera frame, the fiducial collector's window and the
pointer history); the render loop calls :meth:`NavigationSession.frame` for the newest state;
the UI (or the headless runner) calls the actions (collect, register, accept...). One lock
guards the session's own state; the pose store has its own.

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
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from navigation.app.config import NavigationConfig
from navigation.app.frame_builder import FrameState, LiveState, build_frame
from navigation.app.link_status import LinkStatus, link_status
from navigation.app.registration_state import LandmarkCheck, RegistrationOverride
from navigation.app.registration_workflow import (
    RegistrationRefused,
    RegistrationResult,
    RegistrationWorkflow,
)
from navigation.planning.plan_scene import PlanScene
from navigation.tracking.fiducial_collection import (
    CollectedFiducial,
    FiducialCollectionError,
    FiducialCollector,
)
from navigation.tracking.igtl_transport import IgtlClient
from navigation.tracking.link_settings import DEFAULT_LINK_TIMEOUT_S, LinkSettings
from navigation.tracking.messages import IgtlMessage, ImageBody, StringBody
from navigation.tracking.pose_store import PoseStore, PoseStoreConfig, ToolPose, ToolStateEvent
from navigation.tracking.recorder_thread import BackgroundRecorder
from navigation.tracking.recording import SessionWriter
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.atomic_files import write_json_atomic
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import check_rigid
from registration.pose_interpolation import PoseTrack
from rendering.slice_views import slice_point
from rendering.view_state import DisplayOptions, FluorescenceOverlay

log = logging.getLogger(__name__)


class BackgroundWork:
    """Runs each submitted call on its own daemon thread; :meth:`wait` for all of them."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pending = 0
        self._condition = threading.Condition()

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        with self._condition:
            self._pending += 1

        def run() -> None:
            try:
                function(*args)
            except Exception:  # never lose the session to a failed background computation
                log.exception("%s failed", self._name)
            finally:
                with self._condition:
                    self._pending -= 1
                    self._condition.notify_all()

        threading.Thread(target=run, name=self._name, daemon=True).start()

    def wait(self, timeout_s: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout_s)


#: How often the pose store's watchdog looks for tools gone STALE (s).
STORE_WATCHDOG_PERIOD_S = 0.02
#: Seconds of camera marker poses kept to pair with camera frames.
CAMERA_HISTORY_S = 5.0
#: Schema of the accepted-registration file written beside a recording.
REGISTRATION_SCHEMA = "igcs-navigation-registration"


@dataclass(frozen=True)
class CameraFrame:
    """The latest NIR camera frame: (rows, cols) pixels, sender and arrival times (s)."""

    pixels: np.ndarray
    timestamp_s: float
    arrival_s: float
    index: int


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


@dataclass
class _PoseHistory:
    """Recent OK ``reference_from_pointer`` samples (for automatic registration)."""

    max_age_s: float
    times: deque[float] = field(default_factory=deque)
    poses: deque[Float64Array] = field(default_factory=deque)

    def add(self, time_s: float, pose: Float64Array) -> None:
        if self.times and time_s <= self.times[-1]:
            return
        self.times.append(time_s)
        self.poses.append(pose)
        while self.times and self.times[0] < time_s - self.max_age_s:
            self.times.popleft()
            self.poses.popleft()


class NavigationSession:
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
        self._tip: Float64Array | None = None
        self._tip_source = ""
        self._collector: FiducialCollector | None = None
        if self.config.pointer_tip_mm is not None:
            self._set_tip(np.asarray(self.config.pointer_tip_mm), "configuration")
        self._history = _PoseHistory(self.config.history_s)
        self._fresh = threading.Condition()
        self._pointer_arrival_s = math.nan
        self._state_epoch = 0
        self._camera_history = _PoseHistory(CAMERA_HISTORY_S)
        self._sweep: list[Float64Array] | None = None
        self._frame: CameraFrame | None = None
        self._camera_frames = 0
        self._messages: Counter[str] = Counter()
        self._state_changes: dict[str, Counter[str]] = {}
        self._display = DisplayOptions()
        self._fluorescence: FluorescenceOverlay | None = None
        self._slice_hold: Float64Array | None = None
        self._tracker_from_reference_at_accept: Float64Array | None = None
        self._client: IgtlClient | None = None
        self._link_settings: LinkSettings | None = None
        self._closed = False
        self._pointer_name = self.config.transform_name(self.config.pointer)
        self._reference_name = self.config.transform_name(self.config.reference)
        self._camera_name = self.config.transform_name(self.config.camera)
        self._tools_by_name = {
            self._pointer_name: self.config.pointer,
            self._reference_name: self.config.reference,
            self._camera_name: self.config.camera,
        }
        self._last_good_s: dict[str, float] = {}
        self._bookmarks = 0
        self._unsubscribe = self.store.subscribe(self._on_state_event)
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

    # ------------------------------------------------------------------ transport side
    def connect(self, host: str, port: int, **client_options: Any) -> IgtlClient:
        """Start an :class:`IgtlClient` feeding this session (reconnecting, with the default
        link timeout unless ``silence_timeout_s`` is given) and the store's watchdog (STALE
        events while nobody renders). Returns the started client."""
        if self._client is not None:
            raise RuntimeError("the session is already connected to a tracker")
        client_options.setdefault("silence_timeout_s", DEFAULT_LINK_TIMEOUT_S)
        client = IgtlClient(
            host,
            port,
            on_message=self.on_message,
            on_connection=self.on_connection,
            **client_options,
        )
        return self._start_client(client)

    def connect_link(self, settings: LinkSettings) -> IgtlClient:
        """Connect with ``settings`` (address, liveness, STT_ request); see :meth:`connect`."""
        if self._client is not None:
            raise RuntimeError("the session is already connected to a tracker")
        self._link_settings = settings
        self.record_event("link_settings", settings.to_dict())
        client = settings.client(on_message=self.on_message, on_connection=self.on_connection)
        return self._start_client(client)

    def reconnect(self, settings: LinkSettings) -> IgtlClient:
        """Drop the current link (tools DISCONNECTED) and connect with new ``settings``."""
        client = self._client
        if client is not None:
            client.stop()
            self._client = None
        return self.connect_link(settings)

    def _start_client(self, client: IgtlClient) -> IgtlClient:
        self._client = client
        self.store.start_watchdog(STORE_WATCHDOG_PERIOD_S)
        return client.start()

    @property
    def link_settings(self) -> LinkSettings | None:
        return self._link_settings

    def link_status(self) -> LinkStatus:
        """The tracker link and the recording, now (thread-safe)."""
        return link_status(self._client, self.recorder, self._link_settings)

    def on_connection(self, connected: bool, peer: str = "") -> None:
        """Transport callback: link up or down (with the reason it went down)."""
        client = self._client
        reason = "" if connected or client is None else client.disconnect_reason
        if connected:
            self.store.set_connected(True)
        else:
            lost = f"link to {peer or 'the tracker'} lost"
            self.store.set_connected(False, f"{lost}: {reason}" if reason else lost)
        self.record_event("connection", {"connected": connected, "peer": peer, "reason": reason})

    def on_message(self, message: IgtlMessage) -> None:
        """Transport callback (reader thread): ingest one message. Never raises."""
        try:
            self._ingest(message)
        except Exception:  # a bad message must never stop tracking
            log.exception("message %s %r could not be ingested", message.type, message.device_name)

    def _ingest(self, message: IgtlMessage) -> None:
        if self.recorder is not None:
            try:
                self.recorder.write(message)
            except (InputError, ValueError) as error:
                log.warning("message not recorded: %s", error)
        updated = self.store.ingest(message)
        with self._lock:
            self._messages[message.type] += 1
            if message.type == "STRING" and message.device_name == (
                self.config.tip_calibration_device
            ):
                self._take_tip_string(message)
            elif message.type == "IMAGE" and message.device_name == (
                self.config.camera_image_device
            ):
                self._take_frame(message)
            tool = self._tools_by_name.get(message.device_name)
            if updated and tool is not None and self.store.pose(message.device_name).ok:
                self._last_good_s[tool] = message.arrival_s
            if updated and message.device_name == self._pointer_name:
                self._take_pointer_sample()
            elif updated and message.device_name == self._camera_name:
                camera = self.store.transform(self.config.reference, self.config.camera)
                if camera.ok and camera.matrix is not None:
                    self._camera_history.add(message.arrival_s, camera.matrix)

    def _take_tip_string(self, message: IgtlMessage) -> None:
        body = message.body
        if not isinstance(body, StringBody):
            return
        try:
            values = np.array([float(v) for v in body.text.split()], dtype=np.float64)
            pointer_from_tip = check_rigid(values.reshape(4, 4), "PointerTipToPointer")
        except (ValueError, InputError) as error:
            log.warning("ignoring tip calibration STRING %r: %s", body.text[:80], error)
            return
        tip = pointer_from_tip[:3, 3]
        if self._tip is not None and self._tip_source == "configuration":
            if np.linalg.norm(tip - self._tip) > 0.5:
                log.warning(
                    "the tracker's tip calibration %s differs from --pointer-tip %s; using "
                    "--pointer-tip",
                    np.round(tip, 2).tolist(),
                    np.round(self._tip, 2).tolist(),
                )
            return
        if self._tip is None or not np.array_equal(tip, self._tip):
            self._set_tip(tip, message.device_name)

    def _set_tip(self, tip: Float64Array, source: str) -> None:
        self._tip = np.array(tip, dtype=np.float64)
        self._tip.setflags(write=False)
        self._tip_source = source
        self._collector = FiducialCollector(
            self._tip,
            window_samples=self.config.collect_window_samples,
            max_spread_mm=self.config.collect_max_spread_mm,
            max_gap_s=max(0.25, self.config.stale_timeout_s),
        )
        self.record_event("tip_calibration", {"tip_in_pointer_mm": self._tip, "source": source})

    def _take_frame(self, message: IgtlMessage) -> None:
        body = message.body
        if not isinstance(body, ImageBody):
            return
        pixels = body.pixels[0] if body.pixels.ndim >= 3 else body.pixels
        self._camera_frames += 1
        self._frame = CameraFrame(
            pixels, message.timestamp_s, message.arrival_s, self._camera_frames
        )

    def _take_pointer_sample(self) -> None:
        # One sample per pointer message (with the newest reference pose): taking one per
        # reference message too would add samples microseconds apart whose jitter reads as
        # speed.
        pose = self.store.transform(self.config.reference, self.config.pointer)
        if self._collector is not None:
            self._collector.add(pose)
        if not pose.ok or pose.matrix is None:
            return
        self._history.add(pose.timestamp_s, pose.matrix)
        with self._fresh:
            self._pointer_arrival_s = pose.arrival_s
            self._fresh.notify_all()
        if self._sweep is not None and self._tip is not None:
            tip = pose.matrix[:3, :3] @ self._tip + pose.matrix[:3, 3]
            if not self._sweep or not np.array_equal(tip, self._sweep[-1]):
                self._sweep.append(tip)

    def _on_state_event(self, event: ToolStateEvent) -> None:
        with self._lock:
            self._state_changes.setdefault(event.name, Counter())[event.state.name] += 1
        with self._fresh:
            self._state_epoch += 1
            self._fresh.notify_all()
        self.record_event(
            "tool_state",
            {
                "tool": event.name,
                "previous": None if event.previous is None else event.previous.name,
                "state": event.state.name,
                "reason": event.reason,
            },
        )

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
        with self._fresh:
            epoch = self._state_epoch
            self._fresh.wait_for(
                lambda: self._pointer_arrival_s > newer_than_s or self._state_epoch != epoch,
                timeout=timeout_s,
            )
            return self._pointer_arrival_s > newer_than_s

    def live_state(self) -> LiveState:
        """An immutable copy of what a frame needs, taken now."""
        names = {
            self.config.pointer: self._pointer_name,
            self.config.reference: self._reference_name,
            self.config.camera: self._camera_name,
        }
        poses = {tool: self.store.pose(name) for tool, name in names.items()}
        pointer_rel = self.store.transform(self.config.reference, self.config.pointer)
        camera_rel = self.store.transform(self.config.reference, self.config.camera)
        with self._lock:
            camera_seen = (
                self._camera_name in self.store.tool_names()
                or self.cameramarker_from_camera is not None
            )
            return LiveState(
                time_s=self.clock(),
                poses=poses,
                reference_from_pointer=pointer_rel,
                reference_from_camera=camera_rel,
                accepted=self.workflow.accepted,
                tip_in_pointer=self._tip,
                cameramarker_from_camera=self.cameramarker_from_camera,
                intrinsics=self.intrinsics,
                fluorescence=self._fluorescence,
                display=self._display,
                camera_seen=camera_seen,
                last_good_s=dict(self._last_good_s),
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

    # ------------------------------------------------------------------ registration
    def collect_fiducial(self, name_or_index: str | int | None = None) -> CollectedFiducial:
        """Average the pointer tip over the still window and store it for a fiducial (default:
        the current one). Raises :class:`FiducialCollectionError` saying why not."""
        with self._lock:
            if self._collector is None:
                error = FiducialCollectionError(
                    "cannot collect: the pointer tip calibration is unknown (--pointer-tip)."
                )
                self.workflow.note(str(error))
                raise error
            try:
                collected = self._collector.collect()
            except FiducialCollectionError as error:
                self.workflow.note(str(error))
                raise
            index = self.workflow.store(collected, name_or_index)
            self._collector.reset()
        self._record_collected(index, collected, "pointer")
        return collected

    def store_fiducial(
        self, collected: CollectedFiducial, name_or_index: str | int, *, source: str
    ) -> None:
        """Store a fiducial collected elsewhere (automatic registration) and record it."""
        with self._lock:
            index = self.workflow.store(collected, name_or_index)
        self._record_collected(index, collected, source)

    def _record_collected(self, index: int, collected: CollectedFiducial, source: str) -> None:
        self.record_event(
            "fiducial_collected",
            {
                "index": index,
                "name": self.workflow.names[index],
                "position_in_reference_mm": collected.position_in_reference,
                "spread_mm": collected.spread_mm,
                "samples": collected.sample_count,
                "source": source,
            },
        )

    def set_excluded(
        self, name_or_index: str | int, excluded: bool, *, reason: str | None = None
    ) -> str | None:
        """Exclude (with a reason shown beside it; default: the check that blames it) or
        include a fiducial; recorded. Returns the reason (None when included)."""
        with self._lock:
            shown = self.workflow.set_excluded(name_or_index, excluded, reason=reason)
            index = self.workflow.index_of(name_or_index)
        self.record_event(
            "fiducial_excluded",
            {
                "index": index,
                "name": self.workflow.names[index],
                "excluded": bool(excluded),
                "reason": shown,
            },
        )
        return shown

    def select_fiducial(self, name_or_index: str | int) -> None:
        with self._lock:
            self.workflow.select(name_or_index)

    def register(self) -> RegistrationResult:
        """Paired-point registration of the collected fiducials (recorded)."""
        with self._lock:
            try:
                result = self.workflow.register()
            except InputError as error:
                self.workflow.note(str(error))
                raise
        self.record_event("registration_computed", result.to_dict())
        return result

    def start_sweep(self) -> None:
        """Start collecting skin sweep points (tip positions in the reference frame)."""
        with self._lock:
            self._sweep = []
            self.workflow.note("sweeping: slide the pointer tip over the face")
        self.record_event("surface_sweep", {"action": "start"})

    def stop_sweep(self) -> Float64Array:
        """Stop the sweep; returns its points (N, 3), reference frame, mm."""
        with self._lock:
            points = np.array(self._sweep or [], dtype=np.float64).reshape(-1, 3)
            self._sweep = None
        self.record_event(
            "surface_sweep",
            {"action": "stop", "points": len(points), "points_in_reference_mm": points.tolist()},
        )
        return points

    def refine(self, points_in_reference: ArrayLike | None = None) -> RegistrationResult:
        """Refine the latest registration with sweep points (default: stop the sweep and use
        its points)."""
        points = self.stop_sweep() if points_in_reference is None else points_in_reference
        with self._lock:
            try:
                result = self.workflow.refine(points)
            except InputError as error:
                failure = self.workflow.state().last_failure or str(error)
                self.workflow.note(failure)
                self.record_event("surface_sweep", {"action": "refused", "reason": failure})
                raise
        self.record_event("registration_computed", result.to_dict())
        self._predictions.submit(self._predict, result)
        return result

    def wait_for_predictions(self, timeout_s: float) -> bool:
        """Wait until every pending TRE prediction is stored; False on timeout."""
        return self._predictions.wait(timeout_s)

    def _predict(self, result: RegistrationResult) -> None:
        """Monte Carlo TRE of a refined registration, outside the lock (seconds of work)."""
        try:
            found = self.workflow.predict_refined(result)
        except InputError as error:
            log.warning("no TRE prediction for the refined registration: %s", error)
            return
        if found is None:
            return
        with self._lock:
            updated = self.workflow.attach_prediction(result, *found)
            in_force = updated is not None and self.workflow.accepted is updated
        if updated is not None:
            self.record_event(
                "registration_prediction",
                {"tre_at_tumour_predicted_mm": found[0], "prediction": found[1]},
            )
        if in_force:  # the file holds the registration in force
            self._write_registration()

    def accept(self, *, override_reason: str | None = None) -> RegistrationResult:
        """Put the latest registration in force (recorded with its matrix, numbers and checks).

        A registration that failed its checks raises :class:`RegistrationRefused` (recorded as
        ``registration_refused``) unless ``override_reason`` is given: the caller obtained the
        explicit confirmation that names the risks; it is then in force as UNVERIFIED and
        recorded as ``registration_override``.
        """
        with self._lock:
            result = self.workflow.result
            override = None
            if result is not None and not result.verified and override_reason is not None:
                override = RegistrationOverride(
                    tuple(r.short for r in result.checks.refusals),
                    override_reason.strip(),
                    self.clock(),
                )
            try:
                result = self.workflow.accept(override)
            except RegistrationRefused as error:
                refused = self.workflow.result
                self.record_event(
                    "registration_refused",
                    {
                        "message": str(error),
                        "checks": None if refused is None else refused.checks.to_dict(),
                    },
                )
                raise
            reference = self.store.pose(self._reference_name)
            self._tracker_from_reference_at_accept = reference.matrix
        record = {
            **result.to_dict(),
            "override": None if override is None else override.to_dict(),
        }
        if override is not None:
            self.record_event(
                "registration_override", {**override.to_dict(), "fre_mm": result.fre_mm}
            )
        self.record_event("registration_accepted", record)
        self._write_registration()
        return result

    def _write_registration(self) -> None:
        """The registration in force to ``registration_path`` (atomically), when set; read and
        written under one lock so the last writer writes the latest state (acceptance and a
        Monte Carlo prediction landing can race)."""
        if self.registration_path is None:
            return
        with self._registration_file_lock:
            with self._lock:
                result, override = self.workflow.accepted, self.workflow.override
            if result is None:
                return
            record = {
                **result.to_dict(),
                "override": None if override is None else override.to_dict(),
            }
            write_json_atomic(
                self.registration_path,
                {
                    "schema": REGISTRATION_SCHEMA,
                    "schema_version": 2,
                    "plan": str(self.scene.plan.root),
                    "units": "mm",
                    "frames": "image_from_reference: patient reference frame to image LPS",
                    **record,
                },
            )

    def pointer_history(self, since_s: float = -math.inf) -> tuple[Float64Array, Float64Array]:
        """((N,) times s, (N, 4, 4) reference_from_pointer) of the OK samples since a time."""
        with self._lock:
            times = np.array(self._history.times, dtype=np.float64)
            keep = times >= since_s
            poses = np.array(self._history.poses, dtype=np.float64).reshape(-1, 4, 4)
            return times[keep], poses[keep]

    def camera_track(self, around_s: float) -> PoseTrack | None:
        """``reference_from_cameramarker`` samples (OK only) within 0.5 s of ``around_s``,
        timed by local arrival, as a :class:`~registration.pose_interpolation.PoseTrack`
        (None when there are none)."""
        with self._lock:
            times = np.array(self._camera_history.times, dtype=np.float64)
            keep = np.abs(times - around_s) <= 0.5
            if not keep.any():
                return None
            poses = np.array(self._camera_history.poses, dtype=np.float64)[keep]
        return PoseTrack(times[keep], poses)

    @property
    def tip_in_pointer(self) -> Float64Array | None:
        with self._lock:
            return self._tip

    def landmark_check(self) -> LandmarkCheck:
        """Distance of the tip (image, under the registration in force) from the nearest
        planned fiducial: touch a known point to see whether the registration holds
        (recorded; the panel shows the latest)."""
        with self._lock:
            accepted = self.workflow.accepted
            tip = self._tip
        if accepted is None or tip is None:
            raise InputError("no registration in force (or no tip calibration) to check.")
        pose = self.store.transform(self.config.reference, self.config.pointer)
        if not pose.ok or pose.matrix is None:
            raise InputError(f"the pointer is {pose.state.name}: {pose.reason}")
        image_from_pointer = accepted.image_from_reference @ pose.matrix
        tip_lps = image_from_pointer[:3, :3] @ tip + image_from_pointer[:3, 3]
        fiducials = self.scene.plan.fiducials_lps_mm
        distances = np.linalg.norm(fiducials - tip_lps, axis=1)
        nearest = int(np.argmin(distances))
        check = LandmarkCheck(
            self.scene.plan.fiducial_names[nearest],
            float(distances[nearest]),
            tip_lps,
            self.clock(),
        )
        with self._lock:
            self.workflow.record_landmark(check)
        self.record_event(
            "landmark_check",
            {
                "fiducial": check.fiducial,
                "distance_mm": check.distance_mm,
                "tip_lps_mm": tip_lps,
                "within_tolerance": check.within_tolerance,
                "registration_verified": accepted.verified,
            },
        )
        return check

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
            tip = self._tip
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
            return self._frame

    # ------------------------------------------------------------------ status
    def status(self) -> SessionStatus:
        """Counters and states (thread-safe)."""
        poses = self.store.poses()
        motion = None
        with self._lock:
            reference = poses.get(self._reference_name)
            at_accept = self._tracker_from_reference_at_accept
            if at_accept is not None and reference is not None and reference.matrix is not None:
                motion = float(np.linalg.norm(reference.matrix[:3, 3] - at_accept[:3, 3]))
            collector = self._collector
            return SessionStatus(
                connected=self.store.connected,
                tool_states={name: pose.state.name for name, pose in poses.items()},
                state_changes={k: dict(v) for k, v in self._state_changes.items()},
                messages=dict(self._messages),
                camera_frames=self._camera_frames,
                tip_known=self._tip is not None,
                collector_samples=0 if collector is None else collector.sample_count,
                collector_spread_mm=math.nan if collector is None else collector.spread_mm,
                sweeping=self._sweep is not None,
                sweep_points=0 if self._sweep is None else len(self._sweep),
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
