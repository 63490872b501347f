"""Build one frame's :class:`~rendering.view_state.ViewSnapshot` from the live state.

Pure: :func:`build_frame` maps a :class:`LiveState` (an immutable copy of the session's state
taken under its lock: tool poses, the registration in force, the tip calibration, the fused
fluorescence values, the display options) to a :class:`FrameState`. Every rule about what may
be drawn lives here:

- The pointer is placed in the image as ``image_from_reference @ reference_from_pointer``
  (the pose store's relative pose, OK only when both tools are OK and their samples close in
  time) and only when a registration is accepted and the tip calibration is known; otherwise
  the snapshot carries a ``placement_note`` and nothing tracked is drawn.
- Its badge shows that relative state (the worse of pointer and reference): a pointer that
  cannot be placed relative to the patient is not navigable, whichever tool is the cause (the
  reference's own badge says which).
- Guidance (signed distance to the tumour surface and its closest point, predicted TRE at the
  tip, margin warning, the target) only for a placed, OK pointer; never an old pose: the store
  gives no matrix unless OK. The predicted TRE only under a verified registration
  (:attr:`~navigation.app.registration_state.RegistrationResult.verified`); under one in use
  through the override the snapshot's ``registration`` says UNVERIFIED, the TRE is None and
  marked not valid, and the views draw the pointer as untrusted.
- Tracking alarms: the pointer (relative to the reference) and the reference, when not OK,
  with the time since their last good pose (the views draw the red border).
- The slices stay where the tip last drove them (``slice_hold_lps_mm``, kept by the session)
  while the tip cannot drive them.
- The NIR camera frustum needs the camera OK relative to the reference, the hand-eye
  calibration and the intrinsics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from navigation.app.config import NavigationConfig
from navigation.app.registration_workflow import RegistrationResult
from navigation.planning.plan_scene import PlanScene
from navigation.tracking.pose_store import ToolPose
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array
from rendering.guidance import tip_guidance
from rendering.view_state import (
    DisplayOptions,
    FluorescenceOverlay,
    Guidance,
    RegistrationStatus,
    TrackingAlarm,
    ViewSnapshot,
)

NOT_REGISTERED = "not registered (collect the fiducials, register, accept)"
NO_TIP = "no pointer tip calibration (--pointer-tip, or the tracker's PointerTipToPointer)"


@dataclass(frozen=True)
class LiveState:
    """An immutable copy of what one frame needs, taken at ``time_s``.

    poses : tool name -> its own pose (``{tool}To{tracker}``) for pointer, reference, camera.
    reference_from_pointer, reference_from_camera : relative poses from the pose store.
    accepted : the registration in force, or None. tip_in_pointer : (3,) mm or None.
    cameramarker_from_camera : hand-eye (4, 4) or None. intrinsics : or None.
    fluorescence : the fused map to draw, or None. camera_seen : the camera has ever been
    received or is calibrated (its badge is shown then). last_good_s : tool -> local arrival
    time (s) of its last OK sample (absent: never OK). slice_hold_lps_mm : (3,) where the
    tip last drove the slices, or None.
    """

    time_s: float
    poses: Mapping[str, ToolPose]
    reference_from_pointer: ToolPose
    reference_from_camera: ToolPose
    accepted: RegistrationResult | None
    tip_in_pointer: Float64Array | None
    cameramarker_from_camera: Float64Array | None
    intrinsics: CameraIntrinsics | None
    fluorescence: FluorescenceOverlay | None
    display: DisplayOptions
    camera_seen: bool
    last_good_s: Mapping[str, float] = field(default_factory=dict)
    slice_hold_lps_mm: Float64Array | None = None


@dataclass(frozen=True)
class FrameState:
    """A frame to draw and what the render loop measures against it.

    snapshot : the views' input. newest_arrival_s : local arrival time of the newest tool pose
    drawn (NaN when no tracked tool is drawn): latency = presentation time minus this.
    tip_lps_mm : (3,) the tip drawn, or None.
    """

    snapshot: ViewSnapshot
    newest_arrival_s: float
    tip_lps_mm: Float64Array | None


def build_frame(
    live: LiveState,
    scene: PlanScene,
    config: NavigationConfig,
    *,
    frame_index: int,
    render_fps: float | None = None,
) -> FrameState:
    """The snapshot of one frame (see the module docstring for the rules)."""
    pointer_rel = live.reference_from_pointer
    states = {config.pointer: pointer_rel.state.name}
    states[config.reference] = live.poses[config.reference].state.name
    if live.camera_seen:
        states[config.camera] = live.reference_from_camera.state.name

    note = None
    if live.accepted is None:
        note = NOT_REGISTERED
    elif live.tip_in_pointer is None:
        note = NO_TIP

    arrivals: list[float] = []
    image_from_pointer = tip = guidance = None
    if note is None and pointer_rel.ok and pointer_rel.matrix is not None:
        assert live.accepted is not None and live.tip_in_pointer is not None
        image_from_pointer = live.accepted.image_from_reference @ pointer_rel.matrix
        tip = image_from_pointer[:3, :3] @ live.tip_in_pointer + image_from_pointer[:3, 3]
        guidance = _guidance(tip, live.accepted, scene, config, live.display.target)
        arrivals += [
            live.poses[config.pointer].arrival_s,
            live.poses[config.reference].arrival_s,
        ]
    image_from_camera = None
    camera_rel = live.reference_from_camera
    if (
        note is None
        and camera_rel.ok
        and camera_rel.matrix is not None
        and live.cameramarker_from_camera is not None
        and live.intrinsics is not None
    ):
        assert live.accepted is not None
        image_from_camera = (
            live.accepted.image_from_reference @ camera_rel.matrix @ live.cameramarker_from_camera
        )
        arrivals += [live.poses[config.camera].arrival_s, live.poses[config.reference].arrival_s]
    snapshot = ViewSnapshot(
        frame_index=frame_index,
        timestamp_s=live.time_s,
        tool_states=states,
        pointer_name=config.pointer,
        image_from_pointer=image_from_pointer,
        pointer_tip_lps_mm=tip,
        camera_name=config.camera,
        image_from_camera=image_from_camera,
        camera_intrinsics=live.intrinsics,
        fluorescence=live.fluorescence,
        guidance=guidance,
        focus_lps_mm=scene.focus_lps_mm,
        slice_hold_lps_mm=live.slice_hold_lps_mm,
        render_fps=render_fps,
        display=live.display,
        placement_note=note,
        registration=registration_status(live.accepted),
        tracking_alarms=tracking_alarms(live, config),
    )
    finite = [a for a in arrivals if math.isfinite(a)]
    return FrameState(snapshot, max(finite) if finite else math.nan, tip)


def _guidance(
    tip: Float64Array,
    accepted: RegistrationResult,
    scene: PlanScene,
    config: NavigationConfig,
    target: str | None,
) -> Guidance | None:
    if scene.tumour is None:
        return None
    values = accepted.tre_at(tip)  # None unless the registration is verified
    tre = None if values is None else float(values[0])
    guidance = tip_guidance(
        tip,
        scene.tumour,
        tre_at_tip_mm=tre,
        warning_distance_mm=config.margin_warning_mm,
        tre_valid=accepted.verified,
    )
    planned = {t.name: t.position_lps_mm for t in scene.plan.targets}
    if target is not None and target in planned:
        return replace(guidance, target_name=target, target_lps_mm=planned[target])
    return guidance


def registration_status(accepted: RegistrationResult | None) -> RegistrationStatus | None:
    """What the views say about the registration in force (None when there is none)."""
    if accepted is None:
        return None
    if accepted.verified:
        return RegistrationStatus(True, f"registered: {accepted.describe()}")
    return RegistrationStatus(
        False, f"UNVERIFIED REGISTRATION (override): {accepted.checks.summary}"
    )


def tracking_alarms(live: LiveState, config: NavigationConfig) -> tuple[TrackingAlarm, ...]:
    """The pointer (relative to the reference: its own state, else the pair's) and the
    reference when not OK, with the seconds since their last good pose."""
    alarms = []
    for tool in (config.pointer, config.reference):
        state = live.poses[tool].state.name
        if tool == config.pointer and state == "OK":
            state = live.reference_from_pointer.state.name
        if state == "OK":
            continue
        last = live.last_good_s.get(tool)
        since = None if last is None else max(0.0, live.time_s - last)
        alarms.append(TrackingAlarm(tool, state, since))
    return tuple(alarms)


def tip_in_image(
    accepted: RegistrationResult, reference_from_pointer: Float64Array, tip_in_pointer: Float64Array
) -> Float64Array:
    """(3,) the tip in image LPS mm for a reference_from_pointer pose."""
    pose = accepted.image_from_reference @ reference_from_pointer
    return np.asarray(pose[:3, :3] @ tip_in_pointer + pose[:3, 3], dtype=np.float64)
