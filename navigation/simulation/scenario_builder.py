"""Building a scenario in steps: where things are, the pointer's story, the tracked poses.

:func:`build_scenario` takes the plan's geometry (fiducials, skin vertices and normals, tumour
vertices, all image LPS mm) and a :class:`~navigation.simulation.simulator.SimulationConfig`,
and returns a :class:`~navigation.simulation.simulator.Scenario`, in three steps:
:func:`place_scene` (the tracker, the patient reference, the camera's hand-eye and target),
:func:`pointer_story` (the keyframed segments the pointer plays) and :func:`tracked_poses`
(true poses at every tracker tick, and the measured ones with jitter). Each step draws from a
random stream of its own, spawned from the seed, in a fixed order: the same seed gives the same
scenario.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
from navigation.simulation.simulator import (
    POINTER_TIP_IN_POINTER_MM,
    Scenario,
    ScenarioTruth,
    SimulationConfig,
    draw_dropouts,
)
from navigation.tracking.device_names import CAMERA, POINTER, REFERENCE
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError, check_points, check_positive
from registration.core.transforms import check_rigid, invert_rigid, make_rigid, random_rigid
from registration.random_fields import smooth_noise


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
    fiducial_normals = normals[_nearest(skin, fiducials)]
    exposed = unit(fiducial_normals.mean(axis=0), fallback=np.array([0.0, -1.0, 0.0]))
    scene = place_scene(
        fiducials, tumour, exposed, geometry_rng,
        camera_target_in_image=camera_target_in_image,
        camera_axis_in_image=camera_axis_in_image,
        image_from_reference=image_from_reference,
    )  # fmt: skip
    touched = _touched_fiducials(fiducials, fiducial_normals, cfg, fle_rng)
    if sweep_path_in_image is None:
        path_indices = sweep_path(
            skin, normals, exposed, touched[-1], cfg.sweep_point_count, sweep_rng
        )
        sweep_points, sweep_normals = skin[path_indices], normals[path_indices]
    else:
        sweep_points = check_points(sweep_path_in_image, "sweep_path_in_image")
        sweep_normals = _normals(sweep_points, sweep_normals_in_image)
    sweep_points = _pressed_sweep(sweep_points, sweep_normals, cfg, sweep_rng)
    rest_tip = scene.centroid + exposed * (
        float(np.linalg.norm(skin - scene.centroid, axis=1).max()) + 120.0
    )
    story = pointer_story(
        touched, [touch_rotation(n, geometry_rng) for n in fiducial_normals],
        sweep_points, sweep_normals, (rest_tip, frame_from_z(exposed)), cfg,
    )  # fmt: skip
    duration = (
        story.scripted_s + cfg.imaging_s
        if duration_s is None
        else check_positive(duration_s, "duration_s")
    )
    ticks = np.arange(0.0, duration, 1.0 / cfg.tracker_rate_hz)
    orbit = CameraOrbit(scene.target, scene.camera_axis, cfg.camera_distance_mm)
    tracker_from_pointer, tracker_from_marker, measured = tracked_poses(
        scene, story.segments, orbit, ticks, cfg, jitter_rng
    )
    dropouts = draw_dropouts(cfg, story.travels, story.scripted_s, dropout_rng)
    intrinsics = _simulated_intrinsics(cfg)
    frames = TumourBlobFrames(tumour, intrinsics, seed=int(frame_rng.integers(2**31)))
    truth = ScenarioTruth(
        config=cfg,
        image_from_reference=scene.image_from_reference,
        tracker_from_reference=scene.tracker_from_reference,
        pointer_from_tip=make_rigid(translation_mm=POINTER_TIP_IN_POINTER_MM),
        cameramarker_from_camera=scene.cameramarker_from_camera,
        intrinsics=intrinsics,
        fiducial_names=tuple(names),
        fiducials_planned_in_image=fiducials,
        fiducials_touched_in_image=touched,
        dwell_intervals_s=np.array(story.dwell_intervals_s),
        sweep_interval_s=story.sweep_interval_s,
        sweep_path_in_image=sweep_points,
        dropouts=dropouts,
        tick_times_s=ticks,
        tracker_from_pointer=tracker_from_pointer,
        tracker_from_cameramarker=tracker_from_marker,
    )
    for array in measured.values():
        array.setflags(write=False)
    return Scenario(truth, duration, story.scripted_s, frames, measured, orbit.image_from_camera)


@dataclass(frozen=True)
class PlacedScene:
    """Where things are: the tracker about a metre from the patient, the patient reference,
    the camera's hand-eye, and what the camera looks at (``target``, from along
    ``camera_axis``). ``centroid`` is the fiducials'."""

    centroid: Float64Array
    target: Float64Array
    camera_axis: Float64Array
    tracker_from_image: Float64Array
    image_from_reference: Float64Array
    tracker_from_reference: Float64Array
    cameramarker_from_camera: Float64Array


def place_scene(
    fiducials: Float64Array,
    tumour: Float64Array,
    exposed: Float64Array,
    rng: np.random.Generator,
    *,
    camera_target_in_image: ArrayLike | None,
    camera_axis_in_image: ArrayLike | None,
    image_from_reference: ArrayLike | None,
) -> PlacedScene:
    """The tracker at a random pose 1.0-1.3 m in front of the fiducials' centroid, the
    reference (given, or random 150 mm from the centroid) and the hand-eye (random, within 20
    degrees, the optics 40-70 mm from the marker), drawn from ``rng`` in that order."""
    centroid = fiducials.mean(axis=0)
    target = tumour.mean(axis=0) if len(tumour) else centroid
    if camera_target_in_image is not None:
        target = check_points(camera_target_in_image, "camera_target_in_image")[0]
    camera_axis = exposed
    if camera_axis_in_image is not None:
        camera_axis = unit(check_points(camera_axis_in_image, "camera_axis_in_image")[0])
    tracker_from_image = random_rigid(rng, max_translation_mm=0.0)
    placed = np.array([rng.uniform(-150, 150), rng.uniform(-150, 150), rng.uniform(-1300, -1000)])
    tracker_from_image[:3, 3] = placed - tracker_from_image[:3, :3] @ centroid
    if image_from_reference is None:
        reference = random_rigid(rng, max_translation_mm=0.0)
        reference[:3, 3] = centroid + 150.0 * unit(rng.normal(size=3))
    else:
        reference = np.array(check_rigid(image_from_reference, "image_from_reference"))
    hand_eye = random_rigid(rng, max_angle_deg=20.0, max_translation_mm=0.0)
    hand_eye[:3, 3] = [rng.uniform(-30, 30), rng.uniform(40, 70), rng.uniform(-60, -30)]
    return PlacedScene(
        centroid, target, camera_axis, tracker_from_image, reference,
        tracker_from_image @ reference, hand_eye,
    )  # fmt: skip


@dataclass(frozen=True)
class PointerStory:
    """The pointer's keyframed ``segments``; its ``travels`` (where pointer and reference
    dropouts may fall), the dwells and the sweep as (start, end) s, and when the script ends."""

    segments: list[Segment]
    travels: list[Segment]
    dwell_intervals_s: list[list[float]]
    sweep_interval_s: Float64Array
    scripted_s: float


def pointer_story(
    touched: Float64Array,
    touch_rotations: list[Float64Array],
    sweep_points: Float64Array,
    sweep_normals: Float64Array,
    rest: tuple[Float64Array, Float64Array],
    cfg: SimulationConfig,
) -> PointerStory:
    """Rest; travel to and dwell on each touched fiducial; travel to the sweep and sweep it;
    travel back to rest and rest (``rest``: the tip and rotation at rest)."""
    sweep_rotations = [frame_from_z(n) for n in sweep_normals]
    rest_tip, rest_rotation = rest
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
    return PointerStory(segments, travels, dwell_intervals, sweep_interval, t + cfg.rest_s)


def tracked_poses(
    scene: PlacedScene,
    segments: list[Segment],
    orbit: CameraOrbit,
    ticks: Float64Array,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> tuple[Float64Array, Float64Array, dict[str, Float64Array]]:
    """True ``tracker_from_pointer`` and ``tracker_from_cameramarker`` at every tracker tick,
    and every tool's measured poses (with jitter, drawn reference, pointer, camera)."""
    tip_in_pointer = np.asarray(POINTER_TIP_IN_POINTER_MM, dtype=np.float64)
    image_from_pointer = np.array(
        [pointer_pose(segments, float(tt), tip_in_pointer) for tt in ticks]
    )
    tracker_from_pointer = scene.tracker_from_image @ image_from_pointer
    marker_from_camera_inverse = invert_rigid(scene.cameramarker_from_camera)
    tracker_from_marker = scene.tracker_from_image @ orbit.poses(ticks) @ marker_from_camera_inverse
    measured = {
        REFERENCE: _jitter(
            np.broadcast_to(scene.tracker_from_reference, (len(ticks), 4, 4)), cfg, rng
        ),
        POINTER: _jitter(tracker_from_pointer, cfg, rng),
        CAMERA: _jitter(tracker_from_marker, cfg, rng),
    }
    return tracker_from_pointer, tracker_from_marker, measured


# --------------------------------------------------------------------------- internals
def _touched_fiducials(
    fiducials: Float64Array,
    fiducial_normals: Float64Array,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Float64Array:
    """Where the tip touches each fiducial: plus the FLE, isotropic or, for landmarks on the
    skin, in its tangent plane (sigma fle / sqrt(2) per tangent axis)."""
    if cfg.fle_on_skin:
        fle = rng.normal(0.0, cfg.fle_rms_mm / math.sqrt(2.0), fiducials.shape)
        fle -= np.sum(fle * fiducial_normals, axis=1, keepdims=True) * fiducial_normals
    else:
        fle = rng.normal(0.0, cfg.fle_rms_mm / math.sqrt(3.0), fiducials.shape)
    return fiducials + fle


def _pressed_sweep(
    points: Float64Array, normals: Float64Array, cfg: SimulationConfig, rng: np.random.Generator
) -> Float64Array:
    """The sweep's points off the skin along its normals: the pointer pressing the skin
    (independent) plus the smooth shift of the skin (correlated)."""
    if cfg.sweep_noise_mm > 0 or cfg.skin_shift_mm > 0:
        offsets = rng.normal(0.0, cfg.sweep_noise_mm, len(points))
        if cfg.skin_shift_mm > 0:
            offsets += cfg.skin_shift_mm * smooth_noise(points, cfg.skin_shift_length_mm, rng)
        points = points + offsets[:, np.newaxis] * normals
    return points


def _simulated_intrinsics(cfg: SimulationConfig) -> CameraIntrinsics:
    """The simulated NIR camera: focal length 1.2 image widths, principal point centred."""
    width, height = cfg.image_size_px
    focal = 1.2 * width
    return CameraIntrinsics(
        camera_matrix=np.array(
            [[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]]
        ),
        distortion=np.zeros(5),
        image_size_px=(width, height),
    )


def _jitter(poses: np.ndarray, cfg: SimulationConfig, rng: np.random.Generator) -> Float64Array:
    count = len(poses)
    translation = rng.normal(0.0, cfg.jitter_rms_mm / math.sqrt(3.0), (count, 3))
    rotvec = rng.normal(0.0, math.radians(cfg.jitter_rotation_deg) / math.sqrt(3.0), (count, 3))
    noisy = np.array(poses, dtype=np.float64, copy=True)
    noisy[:, :3, :3] = Rotation.from_rotvec(rotvec).as_matrix() @ noisy[:, :3, :3]
    noisy[:, :3, 3] += translation
    return noisy


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
