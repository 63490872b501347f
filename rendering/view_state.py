"""What one frame of the navigation views shows: the immutable :class:`ViewSnapshot`.

The application assembles a snapshot each frame from its one source of truth (pose store,
registration, fluorescence map) and hands it to :meth:`rendering.layout.NavigationLayout.render`;
the views keep nothing between frames except caches derived from the static plan content.

Everything is in the image (planning) frame, LPS millimetres. Tool states are the names of the
tracking layer's ``ToolState`` members, as strings (see :data:`TOOL_STATES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import (
    Float64Array,
    InputError,
    check_finite,
    check_points,
    check_positive,
)
from registration.core.transforms import check_rigid
from rendering.fluorescence.metrics import MarginThresholds
from rendering.window_level import WindowLevel

#: Tool states the views understand (``ToolState`` member names of the tracking layer).
TOOL_STATES: tuple[str, ...] = ("OK", "OUT_OF_VIEW", "STALE", "INVALID", "DISCONNECTED")


def _frozen(array: Float64Array) -> Float64Array:
    """A read-only float64 array; copies only when the caller's array could still change."""
    if array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, dtype=np.float64, order="C")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class FluorescenceOverlay:
    """Fused fluorescence values drawn on the vertices of one display mesh.

    mesh_name : name of the :class:`rendering.scene3d.SurfaceModel` the values belong to.
    values : (N,) float, one value per vertex of that model's full-resolution mesh, in the
        unit of the thresholds (e.g. signal-to-background ratio); NaN = never seen (drawn in
        the neutral colour, never in a colour of the scale).
    thresholds : the clinical margin thresholds, the scale's marks
        (:class:`~rendering.fluorescence.metrics.MarginThresholds`: de Wit et al. 2023, SBR >= 2
        positive margin, >= 1.5 close).
    scale_max : top of the colour scale; default 1.5 x the positive threshold.
    quantity : name of the value shown on the colour bar ("SBR", "TBR", ...).
    """

    mesh_name: str
    values: Float64Array
    thresholds: MarginThresholds = field(default_factory=MarginThresholds)
    scale_max: float | None = None
    quantity: str = "SBR"

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1:
            raise InputError(
                f"fluorescence values must be 1-D (one per vertex of {self.mesh_name!r}); "
                f"got shape {values.shape}."
            )
        if np.isinf(values).any():
            raise InputError("fluorescence values contain Inf; use NaN for unseen vertices.")
        positive = self.positive_threshold
        top = 1.5 * positive if self.scale_max is None else float(self.scale_max)
        if not np.isfinite(top) or top <= positive:
            raise InputError(f"scale_max must exceed positive_threshold ({positive}); got {top}.")
        object.__setattr__(self, "values", _frozen(values))
        object.__setattr__(self, "scale_max", top)

    @property
    def positive_threshold(self) -> float:
        """The positive-margin mark of the scale (``thresholds.positive_sbr``)."""
        return float(self.thresholds.positive_sbr)

    @property
    def close_threshold(self) -> float:
        """The close-margin mark of the scale (``thresholds.close_sbr``)."""
        return float(self.thresholds.close_sbr)


@dataclass(frozen=True)
class Guidance:
    """Numbers and marks shown to the surgeon while the pointer is tracked.

    signed_distance_mm : tip to tumour surface, mm, negative inside the tumour.
    tre_at_tip_mm : predicted target registration error at the tip (RMS, mm), if known.
    margin_warning : True when the tip is within ``warning_distance_mm`` of the tumour.
    warning_distance_mm : the margin the warning is about, mm.
    closest_point_lps_mm : (3,) the tumour surface point closest to the tip (LPS mm), marked
        in the views with a line from the tip; None when unknown.
    tre_valid : False when the registration in force did not pass its checks: the predicted
        TRE is then "not valid" (never shown as a number), whatever ``tre_at_tip_mm`` holds.
    target_name : what the target view aims at ("closest tumour point" or a planned
        target's name). target_lps_mm : (3,) that point, or None (no target view).
    """

    signed_distance_mm: float
    tre_at_tip_mm: float | None = None
    margin_warning: bool = False
    warning_distance_mm: float = 5.0
    closest_point_lps_mm: Float64Array | None = None
    tre_valid: bool = True
    target_name: str = "closest tumour point"
    target_lps_mm: Float64Array | None = None

    def __post_init__(self) -> None:
        distance = float(check_finite(self.signed_distance_mm, "signed_distance_mm"))
        object.__setattr__(self, "signed_distance_mm", distance)
        if self.tre_at_tip_mm is not None:
            tre = float(check_finite(self.tre_at_tip_mm, "tre_at_tip_mm"))
            if tre < 0:
                raise InputError(f"tre_at_tip_mm must be >= 0; got {tre}.")
            object.__setattr__(self, "tre_at_tip_mm", tre)
        object.__setattr__(
            self, "warning_distance_mm", check_positive(self.warning_distance_mm, "warning_mm")
        )
        object.__setattr__(self, "margin_warning", bool(self.margin_warning))
        object.__setattr__(self, "tre_valid", bool(self.tre_valid))
        object.__setattr__(
            self,
            "closest_point_lps_mm",
            _optional_point(self.closest_point_lps_mm, "closest_point_lps_mm"),
        )
        object.__setattr__(self, "target_lps_mm", _optional_point(self.target_lps_mm, "target"))

    @property
    def shown_tre_mm(self) -> float | None:
        """The predicted TRE to show: None when unknown or not valid."""
        return self.tre_at_tip_mm if self.tre_valid else None


@dataclass(frozen=True)
class RegistrationStatus:
    """The registration in force, as the views show it.

    verified : it passed its checks. False: it is in use through an explicit override; the
        views then show a red "UNVERIFIED REGISTRATION" label, draw the pointer in the
        untrusted colour and show no predicted TRE ("not valid").
    text : one line naming it (method, fiducials, FRE; the failed checks when not verified).
    """

    verified: bool
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "verified", bool(self.verified))
        if not str(self.text).strip():
            raise InputError("RegistrationStatus.text must name the registration in force.")


@dataclass(frozen=True)
class TrackingAlarm:
    """A navigation tool that is not tracked (the views draw a red border naming it).

    tool : its name. state : one of :data:`TOOL_STATES` other than "OK".
    since_good_s : seconds since its last good pose; None when it never had one.
    """

    tool: str
    state: str
    since_good_s: float | None = None

    def __post_init__(self) -> None:
        if self.state not in TOOL_STATES or self.state == "OK":
            raise InputError(
                f"TrackingAlarm state must be a TOOL_STATES name other than OK; got {self.state!r}."
            )
        if self.since_good_s is not None:
            since = float(self.since_good_s)
            if not since >= 0.0:
                raise InputError(f"since_good_s must be >= 0 or None; got {self.since_good_s!r}.")
            object.__setattr__(self, "since_good_s", since)


@dataclass(frozen=True)
class DisplayOptions:
    """What the surgeon chose to see (set from the keyboard by the app).

    skin_opacity : 0 (hidden) .. 1 (opaque) for models whose role is "skin".
    follow_tool : keep the 3-D camera's focal point on the pointer tip while it is OK.
    slice_field_of_view_mm : height of the region shown by the slice views, centred on the slice
        point; None shows the whole volume.
    frustum_depth_mm : depth at which the NIR camera frustum is closed.
    window_level : the slice views' grey window; None: the image's default preset.
    slice_pan_lps_mm : (3,) shift of the slice views' centre, LPS mm (each view uses the
        part in its plane): the surgeon's pan.
    target : the target view's aim: None for the tumour point closest to the tip, else the
        name of a planned target.
    """

    skin_opacity: float = 0.35
    follow_tool: bool = False
    slice_field_of_view_mm: float | None = None
    frustum_depth_mm: float = 150.0
    window_level: WindowLevel | None = None
    slice_pan_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    target: str | None = None

    def __post_init__(self) -> None:
        opacity = float(self.skin_opacity)
        if not 0.0 <= opacity <= 1.0:
            raise InputError(f"skin_opacity must be in [0, 1]; got {self.skin_opacity!r}.")
        object.__setattr__(self, "skin_opacity", opacity)
        if self.slice_field_of_view_mm is not None:
            fov = check_positive(self.slice_field_of_view_mm, "slice_field_of_view_mm")
            object.__setattr__(self, "slice_field_of_view_mm", fov)
        depth = check_positive(self.frustum_depth_mm, "frustum_depth_mm")
        object.__setattr__(self, "frustum_depth_mm", depth)
        if self.window_level is not None and not isinstance(self.window_level, WindowLevel):
            raise InputError("window_level must be a rendering.window_level.WindowLevel or None.")
        pan = np.asarray(self.slice_pan_lps_mm, dtype=np.float64)
        if pan.shape != (3,) or not np.isfinite(pan).all():
            raise InputError(f"slice_pan_lps_mm must be 3 finite numbers (mm); got {pan}.")
        object.__setattr__(self, "slice_pan_lps_mm", tuple(float(v) for v in pan))


def _optional_rigid(matrix: ArrayLike | None, name: str) -> Float64Array | None:
    return None if matrix is None else _frozen(check_rigid(matrix, name))


def _optional_point(point: ArrayLike | None, name: str) -> Float64Array | None:
    if point is None:
        return None
    array = np.asarray(point, dtype=np.float64)
    if array.shape != (3,):
        raise InputError(f"{name} must be one (3,) point in LPS mm; got shape {array.shape}.")
    return _frozen(check_points(array, name)[0])


@dataclass(frozen=True, eq=False)
class ViewSnapshot:
    """Everything one frame shows; immutable. All positions LPS mm in the image frame.

    Attributes
    ----------
    frame_index : the app's frame counter (the heartbeat shows it).
    timestamp_s : when the snapshot was taken (the app's clock, seconds).
    tool_states : tool name -> state name (one of :data:`TOOL_STATES`); one badge each, in
        this order.
    pointer_name : the tool whose glyph, tip and guidance are drawn.
    image_from_pointer : (4, 4) rigid, pointer frame to image LPS, or None. The glyph's shaft
        runs from the tip to this frame's origin (the marker body).
    pointer_tip_lps_mm : (3,) tip in image LPS mm, or None. Required when the pointer is OK.
    camera_name : the tracked NIR camera's tool name (its frustum is drawn while it is OK).
    image_from_camera : (4, 4) rigid, camera frame (OpenCV: x right, y down, z forward) to image.
    camera_intrinsics : pinhole intrinsics for the frustum (distortion ignored for display).
    fluorescence : the fused map, or None.
    guidance : numbers for the pointer tip, or None; shown only while the pointer is OK.
    focus_lps_mm : (3,) where the slices cut before the pointer ever drove them (e.g. the
        tumour centroid); None = the volume's centre.
    slice_hold_lps_mm : (3,) the last point the pointer drove the slices to (its tip, last
        seen OK inside the scan): where the slices stay, frozen, while the pointer cannot drive
        them; None before the first.
    render_fps : the app's measured frame rate, shown by the heartbeat when given.
    display : the surgeon's display choices.
    placement_note : why tracked tools cannot be placed in the image although the tracker may
        see them (e.g. "not registered" before a registration is accepted); while set, no
        pointer glyph, tip marker, frustum or guidance is drawn (whatever the tool states) and
        the guidance panel shows the note. None when the tools can be placed.
    registration : the registration in force (None: none, or not known to the caller). One
        that is not verified makes the views show "UNVERIFIED REGISTRATION" and draw the
        pointer as untrusted.
    tracking_alarms : navigation tools that are not tracked (red border of the 3-D view).

    Nothing of a tool that is not ``"OK"`` is drawn, whatever pose it carries.
    """

    frame_index: int
    timestamp_s: float
    tool_states: Mapping[str, str] = field(default_factory=dict)
    pointer_name: str = "Pointer"
    image_from_pointer: Float64Array | None = None
    pointer_tip_lps_mm: Float64Array | None = None
    camera_name: str = "NIRCamera"
    image_from_camera: Float64Array | None = None
    camera_intrinsics: CameraIntrinsics | None = None
    fluorescence: FluorescenceOverlay | None = None
    guidance: Guidance | None = None
    focus_lps_mm: Float64Array | None = None
    slice_hold_lps_mm: Float64Array | None = None
    render_fps: float | None = None
    display: DisplayOptions = field(default_factory=DisplayOptions)
    placement_note: str | None = None
    registration: RegistrationStatus | None = None
    tracking_alarms: tuple[TrackingAlarm, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tracking_alarms", tuple(self.tracking_alarms))
        if int(self.frame_index) != self.frame_index or self.frame_index < 0:
            raise InputError(f"frame_index must be a non-negative integer; got {self.frame_index}.")
        object.__setattr__(self, "frame_index", int(self.frame_index))
        timestamp = float(check_finite(self.timestamp_s, "timestamp_s"))
        object.__setattr__(self, "timestamp_s", timestamp)
        states: dict[str, str] = {}
        for name, state in dict(self.tool_states).items():
            if not isinstance(state, str) or state not in TOOL_STATES:
                raise InputError(
                    f"tool_states[{name!r}] is {state!r}; expected one of {', '.join(TOOL_STATES)} "
                    "(pass ToolState.name)."
                )
            states[str(name)] = state
        object.__setattr__(self, "tool_states", MappingProxyType(states))
        object.__setattr__(
            self,
            "image_from_pointer",
            _optional_rigid(self.image_from_pointer, "image_from_pointer"),
        )
        object.__setattr__(
            self, "image_from_camera", _optional_rigid(self.image_from_camera, "image_from_camera")
        )
        object.__setattr__(
            self,
            "pointer_tip_lps_mm",
            _optional_point(self.pointer_tip_lps_mm, "pointer_tip_lps_mm"),
        )
        object.__setattr__(self, "focus_lps_mm", _optional_point(self.focus_lps_mm, "focus_lps_mm"))
        object.__setattr__(
            self, "slice_hold_lps_mm", _optional_point(self.slice_hold_lps_mm, "slice_hold_lps_mm")
        )
        if self.placement_note is not None and not str(self.placement_note).strip():
            raise InputError("placement_note must be None or a non-empty reason.")
        if self.pointer_ok and (self.pointer_tip_lps_mm is None or self.image_from_pointer is None):
            raise InputError(
                f"tool {self.pointer_name!r} is OK but image_from_pointer or pointer_tip_lps_mm "
                "is None; pass the pose of an OK pointer, or its real state."
            )
        if self.camera_intrinsics is not None and not isinstance(
            self.camera_intrinsics, CameraIntrinsics
        ):
            raise InputError("camera_intrinsics must be a registration CameraIntrinsics.")
        if self.render_fps is not None:
            object.__setattr__(self, "render_fps", check_positive(self.render_fps, "render_fps"))

    @property
    def pointer_state(self) -> str:
        """The pointer's state; a pointer the tracker never reported is ``"DISCONNECTED"``."""
        return self.tool_states.get(self.pointer_name, "DISCONNECTED")

    @property
    def pointer_ok(self) -> bool:
        """True when the pointer glyph, tip marker and guidance may be drawn."""
        return self.pointer_state == "OK" and self.placement_note is None

    @property
    def pointer_trusted(self) -> bool:
        """The pointer is drawn and the registration placing it passed its checks."""
        return self.pointer_ok and (self.registration is None or self.registration.verified)

    @property
    def camera_ok(self) -> bool:
        """True when the NIR camera frustum can be drawn (OK, posed and calibrated)."""
        return (
            self.tool_states.get(self.camera_name) == "OK"
            and self.placement_note is None
            and self.image_from_camera is not None
            and self.camera_intrinsics is not None
        )

    @property
    def slice_point_lps_mm(self) -> Float64Array | None:
        """Where the three slices cut: the tip while the pointer is OK, else where they were
        held (``slice_hold_lps_mm``), else ``focus_lps_mm``. (The slice views also hold when
        an OK tip is outside the scan: :func:`rendering.slice_views.slice_point`.)"""
        if self.pointer_ok:
            return self.pointer_tip_lps_mm
        if self.slice_hold_lps_mm is not None:
            return self.slice_hold_lps_mm
        return self.focus_lps_mm
