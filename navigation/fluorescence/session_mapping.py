"""Map a recorded session's NIR frames onto the field mesh, offline.

Two streaming passes over the session file (constant memory in its length):

1. **Times and poses.** Every received message gets a time on the recorder's monotonic clock
   by :class:`~navigation.tracking.timestamps.TimestampMapper`, the live policy, one mapper per
   recorded source: the sender's header timestamp shifted by the sender's clock offset when it
   is sane, else the arrival time (the faults are counted and reported). A tracker and camera
   on one sender (PLUS) then share the sender's clock, so frames and poses are synchronised by
   acquisition time, not by network arrival. Pose samples are taken from messages of the
   camera-marker and reference tools whose state is OK
   (:func:`~navigation.tracking.pose_validation.tool_samples`: out-of-view, invalid and
   placeholder-identity samples are dropped) into one
   :class:`~registration.pose_interpolation.PoseTrack` per tool. The frame times are kept.
2. **Frames.** For each IMAGE of the camera device: the marker pose (and the reference pose)
   interpolated at the frame's time (SLERP + linear; refused across gaps longer than
   ``max_gap_s`` or beyond ``max_extrapolation_s`` of the samples: the frame is then skipped
   with the reason), the chain of :class:`~navigation.fluorescence.mapping_inputs.Registration`,
   :meth:`~rendering.fluorescence.projection.FrameProjector.project` and
   :meth:`~rendering.fluorescence.fusion.FluorescenceMap.fuse`.

Every frame is accounted for: used, or skipped with a reason (not a single-channel frame, size
different from the intrinsics, no camera pose, no reference pose).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from navigation.fluorescence.mapping_inputs import MappingInputs
from navigation.tracking.device_names import CAMERA, CAMERA_IMAGE_DEVICE, REFERENCE
from navigation.tracking.messages import ImageBody
from navigation.tracking.pose_validation import ToolState, tool_samples
from navigation.tracking.recording import SessionReader
from navigation.tracking.timestamps import TimeSource, TimestampMapper
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import invert_rigid
from registration.pose_interpolation import (
    DEFAULT_MAX_EXTRAPOLATION_S,
    DEFAULT_MAX_GAP_S,
    PoseTrack,
    compose_camera_pose,
)
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.fusion import FluorescenceMap, FusedFluorescence
from rendering.fluorescence.projection import FrameProjector
from rendering.fluorescence.surface_mesh import SurfaceMesh
from rendering.highlights import HighlightDetector, highlight_mask

SKIP_NOT_2D = "not a single-channel 2-D frame"
SKIP_SIZE = "frame size differs from the camera intrinsics"
SKIP_CAMERA = "camera marker not tracked at the frame's time"
SKIP_REFERENCE = "patient reference not tracked at the frame's time"


@dataclass(frozen=True)
class SessionDevices:
    """OpenIGTLink device names (PLUS-style) of the session's camera frames and tools."""

    camera_image: str = CAMERA_IMAGE_DEVICE
    camera_marker: str = CAMERA  # carries tracker_from_cameramarker
    reference: str = REFERENCE  # carries tracker_from_reference


@dataclass(frozen=True)
class SessionMapping:
    """The fused map of a session and the account of its frames.

    fused : the per-vertex map. frames_total : camera IMAGE messages in the session.
    frames_used : frames projected and fused; frames_seeing_field : of those, frames that
    sampled at least one vertex. skipped : reason -> count. time_base : how times were
    assigned (source counts, faults). chain : the pose chain used.
    """

    fused: FusedFluorescence
    frames_total: int
    frames_used: int
    frames_seeing_field: int
    skipped: Mapping[str, int]
    time_base: Mapping[str, Any]
    chain: str
    frame_times_s: Float64Array = field(repr=False)


@dataclass(frozen=True)
class _Scan:
    tracks: dict[str, PoseTrack]
    frame_times: list[float]
    sources: Counter[str]
    faults: Counter[str]


def map_session(
    session: str | Path,
    mesh: SurfaceMesh,
    inputs: MappingInputs,
    *,
    devices: SessionDevices | None = None,
    projector: FrameProjector | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_extrapolation_s: float = DEFAULT_MAX_EXTRAPOLATION_S,
    on_frame: Callable[[int, int], None] | None = None,
    highlights: HighlightDetector | None = None,
) -> SessionMapping:
    """Map every camera frame of ``session`` onto ``mesh`` (module docstring).

    projector : a configured :class:`FrameProjector` for ``mesh`` (default: the inputs'
        camera and radiometric calibration, default weights and visibility).
    highlights : mask each frame's specular highlights and saturation
        (:mod:`rendering.highlights`) before projecting it; None: no mask.
    on_frame : progress callback ``(frames done, frames total)``.
    Raises InputError when the session has no camera frames or no usable camera pose at all.
    """
    names = devices or SessionDevices()
    reader = SessionReader(session)
    scan = _scan(reader, names, max_gap_s, max_extrapolation_s)
    total = len(scan.frame_times)
    if total == 0:
        raise InputError(
            f"session {session} has no IMAGE messages from device {names.camera_image!r}; "
            "record the NIR camera's stream (or name its device)."
        )
    if names.camera_marker not in scan.tracks:
        raise InputError(
            f"session {session} has no valid {names.camera_marker!r} pose: the camera marker "
            "was never tracked; without it the frames cannot be placed."
        )
    reference_frame = inputs.registration.frame == "reference"
    if reference_frame and names.reference not in scan.tracks:
        raise InputError(
            f"session {session} has no valid {names.reference!r} pose, but the registration is "
            "to the patient reference; if the fiducials were in the tracker frame, say so "
            "(registration frame 'tracker')."
        )
    mapper = projector or FrameProjector(
        mesh, CameraModel(inputs.intrinsics), calibration=inputs.radiometry
    )
    if mapper.mesh is not mesh:
        raise InputError("the projector belongs to another mesh.")
    width, height = inputs.intrinsics.image_size_px
    fmap = FluorescenceMap(mesh.vertex_count)
    skipped: Counter[str] = Counter()
    used = seeing = 0
    index = 0
    for record in reader.messages(direction="in"):
        message = record.message
        if message.type != "IMAGE" or message.device_name != names.camera_image:
            continue
        t = scan.frame_times[index]
        index += 1
        reason = _frame_problem(message.body, width, height)
        if reason is None:
            pose = _camera_pose(scan.tracks, names, inputs, t, reference_frame)
            if isinstance(pose, str):
                reason = pose
        if reason is not None:
            skipped[reason] += 1
        else:
            assert isinstance(message.body, ImageBody) and not isinstance(pose, str)
            pixels = message.body.pixels[0]
            mask = None if highlights is None else highlight_mask(pixels, highlights)
            sample = mapper.project(pixels, pose, timestamp_s=t, mask=mask)
            fmap.fuse(sample)
            used += 1
            seeing += int(sample.sampled.any())
        if on_frame is not None:
            on_frame(index, total)
    time_base = {
        "clock": "recorder's monotonic clock (s)",
        "policy": "sender timestamp mapped by the sender's clock offset when sane, else "
        "arrival time (navigation.tracking.timestamps.TimestampMapper)",
        "samples_by_source": dict(scan.sources),
        "faults": dict(scan.faults),
        "max_gap_s": max_gap_s,
        "max_extrapolation_s": max_extrapolation_s,
    }
    return SessionMapping(
        fused=fmap.snapshot(),
        frames_total=total,
        frames_used=used,
        frames_seeing_field=seeing,
        skipped=dict(skipped),
        time_base=time_base,
        chain=inputs.registration.chain,
        frame_times_s=np.array(scan.frame_times),
    )


def _scan(
    reader: SessionReader, names: SessionDevices, max_gap_s: float, max_extrapolation_s: float
) -> _Scan:
    mappers: dict[str, TimestampMapper] = {}
    samples: dict[str, list[tuple[float, Float64Array]]] = {
        names.camera_marker: [],
        names.reference: [],
    }
    frame_times: list[float] = []
    sources: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    for record in reader.messages(direction="in"):
        message = record.message
        is_frame = message.type == "IMAGE" and message.device_name == names.camera_image
        poses = [] if is_frame else [s for s in tool_samples(message) if s.name in samples]
        if not is_frame and not poses:
            continue
        mapper = mappers.setdefault(record.source, TimestampMapper())
        stamp = mapper.stamp(message.device_name, message.timestamp_s, record.arrival_s)
        sources[stamp.source.value] += 1
        if stamp.source is TimeSource.ARRIVAL and stamp.fault is not None:
            faults[f"{message.device_name}: {stamp.fault.value}"] += 1
        if is_frame:
            frame_times.append(stamp.time_s)
            continue
        for sample in poses:
            if sample.state is ToolState.OK and sample.matrix is not None:
                samples[sample.name].append((stamp.time_s, sample.matrix))
    tracks = {}
    for name, entries in samples.items():
        if not entries:
            continue
        entries.sort(key=lambda item: item[0])
        times = np.array([t for t, _ in entries])
        keep = np.append(np.diff(times) > 0, True)  # of equal times, keep the last
        tracks[name] = PoseTrack(
            times[keep],
            np.array([m for (_, m), k in zip(entries, keep, strict=True) if k]),
            max_extrapolation_s=max_extrapolation_s,
            max_gap_s=max_gap_s,
        )
    return _Scan(tracks, frame_times, sources, faults)


def _frame_problem(body: object, width: int, height: int) -> str | None:
    if not isinstance(body, ImageBody):
        return SKIP_NOT_2D
    pixels = body.pixels
    if pixels.ndim != 3 or pixels.shape[0] != 1 or pixels.dtype.kind not in "uif":
        return SKIP_NOT_2D
    if pixels.shape[1:] != (height, width):
        return SKIP_SIZE
    return None


def _camera_pose(
    tracks: Mapping[str, PoseTrack],
    names: SessionDevices,
    inputs: MappingInputs,
    t: float,
    reference_frame: bool,
) -> Float64Array | str:
    try:
        tracker_from_cameramarker = tracks[names.camera_marker].at(t)
    except InputError:
        return SKIP_CAMERA
    image_from_tracker = inputs.registration.image_from_frame
    if reference_frame:
        try:
            tracker_from_reference = tracks[names.reference].at(t)
        except InputError:
            return SKIP_REFERENCE
        image_from_tracker = image_from_tracker @ invert_rigid(tracker_from_reference)
    return compose_camera_pose(
        image_from_tracker=image_from_tracker,
        tracker_from_cameramarker=tracker_from_cameramarker,
        cameramarker_from_camera=inputs.cameramarker_from_camera,
    )
