"""A deterministic tracking scenario: what PLUS would stream during a navigated procedure.

Pure: no sockets, no files. This module holds the scenario's settings
(:class:`SimulationConfig`), what really happened (:class:`ScenarioTruth`, :class:`Dropout`)
and the :class:`Scenario` itself, whose :meth:`Scenario.timeline` yields ``(t_s,
IgtlMessage)`` in time order, identical for the same seed: the tracker samples with their
jitter and dropouts, the tip calibration STRING and the camera frames, on PLUS's names.
:func:`navigation.simulation.scenario_builder.build_scenario` builds one from a plan's geometry
(the story the pointer and camera play is told there);
``navigation.simulation.simulator_io`` loads a plan folder and serves it.

Header timestamps are ``sender_epoch_s + t`` (a sender on UNIX time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from navigation.simulation.simulated_motion import Segment
from navigation.tracking.device_names import (
    CAMERA,
    CAMERA_IMAGE_DEVICE,
    POINTER,
    REFERENCE,
    TIP_CALIBRATION_DEVICE,
)
from navigation.tracking.messages import IgtlMessage, ImageBody, StringBody, TransformBody
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError, check_positive
from registration.core.transforms import invert_rigid

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


def draw_dropouts(
    cfg: SimulationConfig, travels: list[Segment], scripted_s: float, rng: np.random.Generator
) -> tuple[Dropout, ...]:
    """The scenario's dropouts (``cfg.out_of_view_count`` out of view, alternating pointer and
    camera; ``cfg.stall_count`` stalls, alternating reference and pointer), each
    ``cfg.dropout_s`` long: pointer and reference ones inside distinct ``travels`` (never in a
    dwell), camera ones anywhere after the first rest; sorted by start."""
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
