"""A deterministic tracking scenario: what PLUS would stream during a navigated procedure.

Pure: no sockets, no files. :func:`build_scenario` takes the plan's geometry (fiducials, skin
vertices and normals, tumour vertices, all image LPS mm) and a :class:`SimulationConfig`, and
returns a :class:`Scenario` whose :meth:`Scenario.timeline` yields ``(t_s, IgtlMessage)`` in
time order, identical for the same seed, and whose :class:`ScenarioTruth` holds what really
happened. ``navigation.simulation.simulator_io`` loads a plan folder and serves it.

The story (t from 0 s; PLUS names on the wire):

- ``ReferenceToTracker`` (``tracker_from_reference``): the patient's reference, rigid with
  the patient, which lies at a random pose about a metre in front of the tracker.
- ``PointerToTracker`` (``tracker_from_pointer``): the pointer rests, visits each planned
  fiducial in order (travel ``travel_s``, lifting off the skin, then dwells still for
  ``dwell_s`` with its tip on the fiducial plus a fiducial localisation error drawn once per
  visit, ``fle_rms_mm`` RMS, isotropic, or in the skin's tangent plane with ``fle_on_skin``:
  an anatomical landmark is touched on the skin, mislocated along it), sweeps over skin
  vertices (or a given path, e.g. strokes over the face and neck) for surface registration,
  each sweep point off the skin along its normal by ``sweep_noise_mm`` RMS (the pointer
  pressing the skin, independent) plus a smooth shift of the skin (``skin_shift_mm`` RMS,
  correlated over ``skin_shift_length_mm``: soft tissue settled differently between scan and
  surgery, segmentation error), and returns to rest. The tip is at
  :data:`POINTER_TIP_IN_POINTER_MM` in the pointer frame; a STRING ``PointerTipToPointer``
  (16 numbers, row-major ``pointer_from_tip``) is sent at t = 0 and every second.
- ``CameraToTracker`` (``tracker_from_cameramarker``: the marker body on the NIR camera) and
  IMAGE ``Camera`` frames (uint16, 12-bit) at ``camera_fps``: the camera orbits its target (the
  tumour, or the exposed surgical field) at ``camera_distance_mm`` in a 20 degree cone about
  the exposed direction (or the field's approach direction when given), always looking at the
  target; the optical frame is ``cameramarker_from_camera`` (hand-eye) away.
- Every tracker sample carries jitter: ``jitter_rms_mm`` RMS (3-D) of translation and
  ``jitter_rotation_deg`` RMS of rotation, independent per sample and tool.
- Dropouts: ``out_of_view_count`` periods where a tool is reported out of view (identity
  matrix with metadata ``TransformStatus = INVALID`` as PLUS sends to header-v2 clients, or,
  every second one, a header-v1 identity, PLUS's placeholder without status), and
  ``stall_count`` periods where a tool sends nothing. Pointer and reference dropouts fall in
  travel segments, never in a dwell.

Header timestamps are ``sender_epoch_s + t`` (a sender on UNIX time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation

from navigation.simulation.simulated_frames import TumourBlobFrames
from navigation.simulation.simulated_motion import (
    CameraOrbit,
    Segment,
    Still,
    Sweep,
    Travel,
    frame_from_z,
    pointer_pose,
    sweep_path,
    touch_rotation,
    unit,
)
from navigation.tracking.device_names import (
    CAMERA,
    CAMERA_IMAGE_DEVICE,
    POINTER,
    REFERENCE,
    TIP_CALIBRATION_DEVICE,
)
from navigation.tracking.messages import IgtlMessage, ImageBody, StringBody, TransformBody
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError, check_points, check_positive
from registration.core.transforms import check_rigid, invert_rigid, make_rigid, random_rigid
from registration.random_fields import smooth_noise

#: The simulated pointer's tip in its marker frame (mm): 160 mm along -z of the markers.
POINTER_TIP_IN_POINTER_MM: tuple[float, float, float] = (0.0, 0.0, -160.0)

FrameSource = Callable[[Float64Array, float], np.ndarray]

_OK = MappingProxyType({"TransformStatus": "OK"})
_INVALID = MappingProxyType({"TransformStatus": "INVALID"})
_NONE: MappingProxyType[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of a scenario (times in s, lengths in mm, angles in degrees)."""

    seed: int = 0
    tracker_rate_hz: float = 30.0
    camera_fps: float = 10.0
    image_size_px: tuple[int, int] = (320, 256)
    fle_rms_mm: float = 0.3
    jitter_rms_mm: float = 0.15
    jitter_rotation_deg: float = 0.01
    rest_s: float = 1.0
    travel_s: float = 1.5
    dwell_s: float = 2.0
    sweep_s: float = 12.0
    sweep_point_count: int = 60
    camera_distance_mm: float = 300.0
    out_of_view_count: int = 2
    stall_count: int = 1
    dropout_s: float = 0.6
    sender_epoch_s: float = 1.7e9
    fle_on_skin: bool = False
    sweep_noise_mm: float = 0.0
    skin_shift_mm: float = 0.0
    skin_shift_length_mm: float = 25.0
    imaging_s: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "tracker_rate_hz",
            "camera_fps",
            "rest_s",
            "travel_s",
            "dwell_s",
            "sweep_s",
            "camera_distance_mm",
            "dropout_s",
            "sender_epoch_s",
            "imaging_s",
        ):
            check_positive(getattr(self, name), name)
        for name in (
            "fle_rms_mm",
            "jitter_rms_mm",
            "jitter_rotation_deg",
            "sweep_noise_mm",
            "skin_shift_mm",
        ):
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                raise InputError(f"{name} must be >= 0; got {getattr(self, name)}.")
        if self.dropout_s > self.travel_s - 0.2:
            raise InputError(
                f"dropout_s ({self.dropout_s} s) must be at least 0.2 s shorter than travel_s "
                f"({self.travel_s} s): pointer and reference dropouts happen while travelling."
            )
        if min(self.out_of_view_count, self.stall_count, self.sweep_point_count) < 0:
            raise InputError("dropout and sweep counts must be >= 0.")


@dataclass(frozen=True)
class Dropout:
    """A period where ``tool`` (PLUS name) is out of view or stalled (sends nothing)."""

    tool: str
    kind: str  # "out_of_view" or "stall"
    start_s: float
    end_s: float
    with_status: bool = True  # out_of_view: metadata INVALID (True) or bare v1 identity

    def covers(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s


@dataclass(frozen=True)
class ScenarioTruth:
    """What really happened (all image coordinates LPS mm; times scenario seconds)."""

    config: SimulationConfig
    image_from_reference: Float64Array
    tracker_from_reference: Float64Array
    pointer_from_tip: Float64Array
    cameramarker_from_camera: Float64Array
    intrinsics: CameraIntrinsics
    fiducial_names: tuple[str, ...]
    fiducials_planned_in_image: Float64Array  # (N, 3)
    fiducials_touched_in_image: Float64Array  # (N, 3), planned + FLE
    dwell_intervals_s: Float64Array  # (N, 2)
    sweep_interval_s: Float64Array  # (2,)
    sweep_path_in_image: Float64Array  # (M, 3), the points traced (with their noise), in order
    dropouts: tuple[Dropout, ...]
    tick_times_s: Float64Array  # (T,)
    tracker_from_pointer: Float64Array  # (T, 4, 4) noise-free
    tracker_from_cameramarker: Float64Array  # (T, 4, 4) noise-free
    fluorescence: Mapping[str, Any] | None = None  # what the camera frames show (JSON-ready)

    @property
    def reference_from_image(self) -> Float64Array:
        return invert_rigid(self.image_from_reference)

    @property
    def tracker_from_image(self) -> Float64Array:
        return self.tracker_from_reference @ self.reference_from_image

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ground truth (schema ``igcs-simulation-truth`` version 1)."""
        return {
            "schema": "igcs-simulation-truth",
            "schema_version": 1,
            "units": "mm, s",
            "coordinate_system": "image frame is the plan's LPS; tool frames as named",
            "config": asdict(self.config),
            "image_from_reference": self.image_from_reference.tolist(),
            "reference_from_image": self.reference_from_image.tolist(),
            "tracker_from_reference": self.tracker_from_reference.tolist(),
            "pointer_from_tip": self.pointer_from_tip.tolist(),
            "tip_in_pointer_mm": self.pointer_from_tip[:3, 3].tolist(),
            "cameramarker_from_camera": self.cameramarker_from_camera.tolist(),
            "camera_intrinsics": self.intrinsics.to_dict(),
            "camera_image_device": CAMERA_IMAGE_DEVICE,
            "fiducials": [
                {
                    "name": name,
                    "planned_lps_mm": planned.tolist(),
                    "touched_lps_mm": touched.tolist(),
                    "dwell_s": interval.tolist(),
                }
                for name, planned, touched, interval in zip(
                    self.fiducial_names,
                    self.fiducials_planned_in_image,
                    self.fiducials_touched_in_image,
                    self.dwell_intervals_s,
                    strict=True,
                )
            ],
            "sweep": {
                "interval_s": self.sweep_interval_s.tolist(),
                "path_lps_mm": self.sweep_path_in_image.tolist(),
            },
            "dropouts": [asdict(d) for d in self.dropouts],
            "poses": {
                "t_s": self.tick_times_s.tolist(),
                "tracker_from_pointer": self.tracker_from_pointer.reshape(-1, 16).tolist(),
                "tracker_from_cameramarker": self.tracker_from_cameramarker.reshape(
                    -1, 16
                ).tolist(),
            },
            "fluorescence": None if self.fluorescence is None else dict(self.fluorescence),
        }


@dataclass(frozen=True)
class Scenario:
    """A built scenario.

    truth : what happened. duration_s : timeline length; scripted_s : the story's length.
    frame_source : default camera frames. measured_poses : per tool name, (T, 4, 4) poses as
    sent (with jitter; dropouts are applied when the timeline is generated).
    image_from_camera_at : the camera's true ``image_from_camera`` at any scenario time.
    """

    truth: ScenarioTruth
    duration_s: float
    scripted_s: float
    frame_source: FrameSource
    measured_poses: dict[str, Float64Array] = field(repr=False)
    image_from_camera_at: Callable[[float], Float64Array] = field(repr=False)

    def timeline(
        self, *, frame_for: FrameSource | None = None, duration_s: float | None = None
    ) -> Iterator[tuple[float, IgtlMessage]]:
        """``(t_s, message)`` in time order; identical for the same scenario.

        frame_for : camera frame source ``(image_from_camera, timestamp_s) -> (rows, cols)``
            array (default :attr:`frame_source`). duration_s : stop earlier than the scenario.
        """
        truth = self.truth
        config = truth.config
        source = frame_for or self.frame_source
        end = self.duration_s if duration_s is None else min(duration_s, self.duration_s)
        tip_text = " ".join(f"{v:.17g}" for v in truth.pointer_from_tip.ravel())
        frame_times = np.arange(0.0, end, 1.0 / config.camera_fps)
        frame_index = 0
        next_string = 0.0
        for tick, t in enumerate(truth.tick_times_s):
            if t >= end:
                break
            while frame_index < len(frame_times) and frame_times[frame_index] < t:
                yield self._frame(float(frame_times[frame_index]), source)
                frame_index += 1
            if t >= next_string:
                yield t, self._message("STRING", TIP_CALIBRATION_DEVICE, StringBody(tip_text), t)
                next_string += 1.0
            for tool in (REFERENCE, POINTER, CAMERA):
                message = self._tool_message(tool, tick, float(t))
                if message is not None:
                    yield float(t), message
        for frame_t in frame_times[frame_index:]:
            yield self._frame(float(frame_t), source)

    def _frame(self, t: float, source: FrameSource) -> tuple[float, IgtlMessage]:
        image_from_camera = self.image_from_camera_at(float(t))
        pixels = np.asarray(source(image_from_camera, float(t)))
        body = ImageBody(pixels=pixels[np.newaxis], world_from_ijk=np.eye(4))
        return float(t), self._message("IMAGE", CAMERA_IMAGE_DEVICE, body, float(t))

    def _tool_message(self, tool: str, tick: int, t: float) -> IgtlMessage | None:
        for dropout in self.truth.dropouts:
            if dropout.tool == tool and dropout.covers(t):
                if dropout.kind == "stall":
                    return None
                body = TransformBody(np.eye(4))
                if dropout.with_status:
                    return self._message("TRANSFORM", tool, body, t, _INVALID)
                return self._message("TRANSFORM", tool, body, t, _NONE, header_version=1)
        return self._message(
            "TRANSFORM", tool, TransformBody(self.measured_poses[tool][tick]), t, _OK
        )

    def _message(
        self,
        kind: str,
        name: str,
        body: Any,
        t: float,
        metadata: MappingProxyType[str, str] = _NONE,
        *,
        header_version: int = 2,
    ) -> IgtlMessage:
        return IgtlMessage(
            type=kind,
            device_name=name,
            body=body,
            timestamp_s=self.truth.config.sender_epoch_s + t,
            header_version=header_version,
            metadata=metadata,
        )


def build_scenario(
    fiducials_in_image: ArrayLike,
    skin_vertices_in_image: ArrayLike,
    *,
    skin_normals_in_image: ArrayLike | None = None,
    tumour_vertices_in_image: ArrayLike | None = None,
    fiducial_names: tuple[str, ...] | None = None,
    config: SimulationConfig | None = None,
    duration_s: float | None = None,
    camera_target_in_image: ArrayLike | None = None,
    camera_axis_in_image: ArrayLike | None = None,
    sweep_path_in_image: ArrayLike | None = None,
    sweep_normals_in_image: ArrayLike | None = None,
    image_from_reference: ArrayLike | None = None,
) -> Scenario:
    """Build the scenario for a plan's geometry (see the module docstring).

    fiducials_in_image : (N, 3) planned fiducials, image LPS mm, N >= 3, visited in order.
    skin_vertices_in_image : (M, 3) skin mesh vertices, image LPS mm (the sweep's points).
    skin_normals_in_image : (M, 3) outward unit normals (default: away from the centroid).
    tumour_vertices_in_image : (K, 3) tumour mesh vertices (camera target and default frames);
        without them the camera looks at the fiducials' centroid and sees a dark field.
    duration_s : total length; default the scripted story plus ``config.imaging_s`` (1 s);
        longer keeps the pointer at rest while the camera keeps imaging the field.
    camera_target_in_image : (3,) the point the camera looks at (default: the tumour vertices'
        mean, else the fiducials' centroid).
    camera_axis_in_image : (3,) the axis of the camera's cone, pointing from the target towards
        the camera (default: the exposed direction, the mean skin normal at the fiducials).
    sweep_path_in_image, sweep_normals_in_image : (M, 3) the sweep's points in order and their
        outward unit normals (default: skin vertices on the exposed side, nearest-neighbour
        order).
    image_from_reference : (4, 4) where the patient reference is (default: a random pose
        150 mm from the fiducials' centroid).
    """
    cfg = config or SimulationConfig()
    fiducials = check_points(fiducials_in_image, "fiducials_in_image", min_count=3)
    skin = check_points(skin_vertices_in_image, "skin_vertices_in_image", min_count=3)
    normals = _normals(skin, skin_normals_in_image)
    tumour = (
        check_points(tumour_vertices_in_image, "tumour_vertices_in_image")
        if tumour_vertices_in_image is not None and len(np.asarray(tumour_vertices_in_image))
        else np.zeros((0, 3))
    )
    names = fiducial_names or tuple(f"F{i + 1}" for i in range(len(fiducials)))
    if len(names) != len(fiducials):
        raise InputError(f"{len(names)} fiducial names for {len(fiducials)} fiducials.")
    streams = np.random.SeedSequence(cfg.seed).spawn(6)
    geometry_rng, fle_rng, jitter_rng, dropout_rng, sweep_rng, frame_rng = (
        np.random.default_rng(s) for s in streams
    )

    # Where things are.
    centroid = fiducials.mean(axis=0)
    fiducial_normals = normals[_nearest(skin, fiducials)]
    exposed = unit(fiducial_normals.mean(axis=0), fallback=np.array([0.0, -1.0, 0.0]))
    target = tumour.mean(axis=0) if len(tumour) else centroid
    if camera_target_in_image is not None:
        target = check_points(camera_target_in_image, "camera_target_in_image")[0]
    camera_axis = exposed
    if camera_axis_in_image is not None:
        camera_axis = unit(check_points(camera_axis_in_image, "camera_axis_in_image")[0])
    tracker_from_image = random_rigid(geometry_rng, max_translation_mm=0.0)
    placed = np.array(
        [
            geometry_rng.uniform(-150, 150),
            geometry_rng.uniform(-150, 150),
            geometry_rng.uniform(-1300, -1000),
        ]
    )
    tracker_from_image[:3, 3] = placed - tracker_from_image[:3, :3] @ centroid
    if image_from_reference is None:
        image_from_reference = random_rigid(geometry_rng, max_translation_mm=0.0)
        image_from_reference[:3, 3] = centroid + 150.0 * unit(geometry_rng.normal(size=3))
    else:
        image_from_reference = np.array(check_rigid(image_from_reference, "image_from_reference"))
    tracker_from_reference = tracker_from_image @ image_from_reference
    cameramarker_from_camera = random_rigid(
        geometry_rng, max_angle_deg=20.0, max_translation_mm=0.0
    )
    cameramarker_from_camera[:3, 3] = [
        geometry_rng.uniform(-30, 30),
        geometry_rng.uniform(40, 70),
        geometry_rng.uniform(-60, -30),
    ]
    pointer_from_tip = make_rigid(translation_mm=POINTER_TIP_IN_POINTER_MM)
    tip_in_pointer = pointer_from_tip[:3, 3]

    # The pointer's story as keyframed segments.
    if cfg.fle_on_skin:  # 2-D, in the tangent plane: sigma fle / sqrt(2) per tangent axis
        fle = fle_rng.normal(0.0, cfg.fle_rms_mm / math.sqrt(2.0), fiducials.shape)
        fle -= np.sum(fle * fiducial_normals, axis=1, keepdims=True) * fiducial_normals
    else:
        fle = fle_rng.normal(0.0, cfg.fle_rms_mm / math.sqrt(3.0), fiducials.shape)
    touched = fiducials + fle
    touch_rotations = [touch_rotation(n, geometry_rng) for n in fiducial_normals]
    extent = float(np.linalg.norm(skin - centroid, axis=1).max())
    rest_tip = centroid + exposed * (extent + 120.0)
    rest_rotation = frame_from_z(exposed)
    if sweep_path_in_image is None:
        path_indices = sweep_path(
            skin, normals, exposed, touched[-1], cfg.sweep_point_count, sweep_rng
        )
        sweep_points, sweep_normals = skin[path_indices], normals[path_indices]
    else:
        sweep_points = check_points(sweep_path_in_image, "sweep_path_in_image")
        sweep_normals = _normals(sweep_points, sweep_normals_in_image)
    if cfg.sweep_noise_mm > 0 or cfg.skin_shift_mm > 0:
        offsets = sweep_rng.normal(0.0, cfg.sweep_noise_mm, len(sweep_points))
        if cfg.skin_shift_mm > 0:
            offsets += cfg.skin_shift_mm * smooth_noise(
                sweep_points, cfg.skin_shift_length_mm, sweep_rng
            )
        sweep_points = sweep_points + offsets[:, np.newaxis] * sweep_normals
    sweep_rotations = [frame_from_z(n) for n in sweep_normals]
    rest = (rest_tip, rest_rotation)
    segments: list[Segment] = [Still(0.0, cfg.rest_s, rest_tip, rest_rotation)]
    t = cfg.rest_s
    previous = rest
    dwell_intervals = []
    travels: list[Segment] = []

    def travel_to(pose: tuple[Float64Array, Float64Array]) -> None:
        nonlocal t, previous
        travels.append(Travel(t, t + cfg.travel_s, previous, pose))
        segments.append(travels[-1])
        t += cfg.travel_s
        previous = pose

    for tip, rotation in zip(touched, touch_rotations, strict=True):
        travel_to((tip, rotation))
        segments.append(Still(t, t + cfg.dwell_s, tip, rotation))
        dwell_intervals.append([t, t + cfg.dwell_s])
        t += cfg.dwell_s
    sweep_interval = np.array([t, t])
    if len(sweep_points) >= 2:
        travel_to((sweep_points[0], sweep_rotations[0]))
        sweep_interval = np.array([t, t + cfg.sweep_s])
        segments.append(Sweep(t, t + cfg.sweep_s, sweep_points, sweep_rotations))
        t += cfg.sweep_s
        previous = (sweep_points[-1], sweep_rotations[-1])
    travel_to(rest)
    segments.append(Still(t, t + cfg.rest_s, rest_tip, rest_rotation))
    scripted = t + cfg.rest_s
    duration = (
        scripted + cfg.imaging_s if duration_s is None else check_positive(duration_s, "duration_s")
    )

    # True poses at every tracker tick.
    ticks = np.arange(0.0, duration, 1.0 / cfg.tracker_rate_hz)
    image_from_pointer = np.array(
        [pointer_pose(segments, float(tt), tip_in_pointer) for tt in ticks]
    )
    tracker_from_pointer = tracker_from_image @ image_from_pointer
    marker_from_camera_inverse = invert_rigid(cameramarker_from_camera)
    orbit = CameraOrbit(target, camera_axis, cfg.camera_distance_mm)
    tracker_from_marker = tracker_from_image @ orbit.poses(ticks) @ marker_from_camera_inverse
    measured = {
        REFERENCE: _jitter(
            np.broadcast_to(tracker_from_reference, (len(ticks), 4, 4)), cfg, jitter_rng
        ),
        POINTER: _jitter(tracker_from_pointer, cfg, jitter_rng),
        CAMERA: _jitter(tracker_from_marker, cfg, jitter_rng),
    }
    dropouts = _dropouts(cfg, travels, scripted, dropout_rng)

    width, height = cfg.image_size_px
    focal = 1.2 * width
    intrinsics = CameraIntrinsics(
        camera_matrix=np.array(
            [[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]]
        ),
        distortion=np.zeros(5),
        image_size_px=(width, height),
    )
    frames = TumourBlobFrames(tumour, intrinsics, seed=int(frame_rng.integers(2**31)))
    truth = ScenarioTruth(
        config=cfg,
        image_from_reference=image_from_reference,
        tracker_from_reference=tracker_from_reference,
        pointer_from_tip=pointer_from_tip,
        cameramarker_from_camera=cameramarker_from_camera,
        intrinsics=intrinsics,
        fiducial_names=tuple(names),
        fiducials_planned_in_image=fiducials,
        fiducials_touched_in_image=touched,
        dwell_intervals_s=np.array(dwell_intervals),
        sweep_interval_s=sweep_interval,
        sweep_path_in_image=sweep_points,
        dropouts=dropouts,
        tick_times_s=ticks,
        tracker_from_pointer=tracker_from_pointer,
        tracker_from_cameramarker=tracker_from_marker,
    )
    for array in measured.values():
        array.setflags(write=False)
    return Scenario(truth, duration, scripted, frames, measured, orbit.image_from_camera)


# --------------------------------------------------------------------------- internals
def _jitter(poses: np.ndarray, cfg: SimulationConfig, rng: np.random.Generator) -> Float64Array:
    count = len(poses)
    translation = rng.normal(0.0, cfg.jitter_rms_mm / math.sqrt(3.0), (count, 3))
    rotvec = rng.normal(0.0, math.radians(cfg.jitter_rotation_deg) / math.sqrt(3.0), (count, 3))
    noisy = np.array(poses, dtype=np.float64, copy=True)
    noisy[:, :3, :3] = Rotation.from_rotvec(rotvec).as_matrix() @ noisy[:, :3, :3]
    noisy[:, :3, 3] += translation
    return noisy


def _dropouts(
    cfg: SimulationConfig, travels: list[Segment], scripted_s: float, rng: np.random.Generator
) -> tuple[Dropout, ...]:
    wanted: list[tuple[str, str, bool]] = []
    for k in range(cfg.out_of_view_count):
        wanted.append(((POINTER, CAMERA)[k % 2], "out_of_view", k % 4 < 2))
    for k in range(cfg.stall_count):
        wanted.append(((REFERENCE, POINTER)[k % 2], "stall", True))
    in_travel = [w for w in wanted if w[0] != CAMERA]
    if len(in_travel) > len(travels):
        raise InputError(
            f"{len(in_travel)} pointer/reference dropouts need as many travel segments; the "
            f"scenario has {len(travels)}. Lower out_of_view_count/stall_count."
        )
    order = rng.permutation(len(travels))
    dropouts = []
    used = 0
    for tool, kind, with_status in wanted:
        if tool == CAMERA:
            start = float(rng.uniform(cfg.rest_s, max(cfg.rest_s, scripted_s - cfg.dropout_s)))
        else:
            segment = travels[int(order[used])]
            used += 1
            start = segment.start_s + float(
                rng.uniform(0.1, segment.end_s - segment.start_s - cfg.dropout_s - 0.1)
            )
        dropouts.append(Dropout(tool, kind, start, start + cfg.dropout_s, with_status))
    return tuple(sorted(dropouts, key=lambda d: d.start_s))


def _normals(skin: Float64Array, normals: ArrayLike | None) -> Float64Array:
    if normals is None:
        return np.array([unit(v) for v in skin - skin.mean(axis=0)])
    array = check_points(normals, "skin_normals_in_image")
    if array.shape != skin.shape:
        raise InputError(f"skin_normals_in_image has shape {array.shape}; expected {skin.shape}.")
    lengths = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(lengths > 0, lengths, 1.0)


def _nearest(points: Float64Array, queries: Float64Array) -> np.ndarray:
    return np.array([int(np.argmin(np.linalg.norm(points - q, axis=1))) for q in queries])
