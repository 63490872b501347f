"""Whether a received pose may be used: the per-sample checks behind the pose store's states.

A decoded message (:class:`~navigation.tracking.messages.IgtlMessage`) becomes one
:class:`ToolSample` per tool: TRANSFORM and POSITION name one tool by their device name, TDATA
and QTDATA one per element, STATUS reports on the device it names. Each sample is OK (with a
read-only copy of its matrix) or says why not:

- OUT_OF_VIEW: header-v2 metadata ``TransformStatus`` other than "OK" or ``TransformValid``
  false (PLUS, ``vtkPlusIgtlMessageCommon::PackTransformMessage``), an exact identity matrix
  (PLUS's placeholder for an invalid transform, also sent to v1 clients without status), or a
  STATUS code other than 1 (OK);
- INVALID: wrong shape, NaN/Inf, not rigid (scaled, sheared, reflected: rigidity error above
  ``rigid_tolerance``, :func:`registration.core.transforms.rigidity_error`), a quaternion that is
  not unit, or a translation beyond the tracker's working volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy.spatial.transform import Rotation

from navigation.tracking.messages import (
    IgtlMessage,
    PositionBody,
    QuaternionTrackingDataBody,
    StatusBody,
    TrackingDataBody,
    TransformBody,
)
from registration.core.checks import Float64Array, check_positive
from registration.core.transforms import rigidity_error

#: Largest rigidity error (|R^T R - I|, |det R - 1|, bottom row) accepted from a tracker. Real
#: PLUS recordings measure up to 5.3e-4 (median 2e-4 to 4e-4: the tracker's own rounding), so
#: the 1e-4 of :data:`registration.core.transforms.RIGID_TOLERANCE`, right for transforms igcs
#: computes, would reject nearly every real sample. 1e-3 still refuses a 0.1 % scaling.
TRACKER_RIGID_TOLERANCE = 1e-3

_IDENTITY_VALUES = np.eye(4).ravel().tolist()
_QUATERNION_TOLERANCE = 1e-3
_STATUS_OK = 1


class ToolState(Enum):
    """The state of one tool's pose (see :mod:`navigation.tracking.pose_store`)."""

    OK = "OK"
    OUT_OF_VIEW = "OUT_OF_VIEW"
    STALE = "STALE"
    INVALID = "INVALID"
    DISCONNECTED = "DISCONNECTED"


@dataclass(frozen=True)
class PoseValidation:
    """Thresholds of the per-sample checks.

    rigid_tolerance : largest accepted rigidity error of a received matrix.
    max_translation_mm : the tracker's working volume: translations farther from its origin
        are INVALID. 3 m covers large optical tracker volumes (the PLUS recordings place tools
        at z = -1.5 m); set it from the tracker's data sheet.
    identity_means_out_of_view : treat an exact identity as PLUS's placeholder for "invalid".
    """

    rigid_tolerance: float = TRACKER_RIGID_TOLERANCE
    max_translation_mm: float = 3000.0
    identity_means_out_of_view: bool = True

    def __post_init__(self) -> None:
        check_positive(self.rigid_tolerance, "rigid_tolerance")
        check_positive(self.max_translation_mm, "max_translation_mm")


@dataclass(frozen=True)
class ToolSample:
    """One tool's sample from a message: its state, matrix (read-only, only when OK), reason."""

    name: str
    state: ToolState
    matrix: Float64Array | None
    reason: str = ""


def classify_matrix(
    matrix: np.ndarray, *, validation: PoseValidation | None = None
) -> tuple[ToolState, str]:
    """``(ToolState.OK, "")`` for a usable received 4x4, else its state and the reason.

    Checks, in order: shape and finiteness, rigidity, working volume (INVALID), then an exact
    identity (OUT_OF_VIEW, when ``identity_means_out_of_view``).
    """
    limits = validation or PoseValidation()
    m = np.asarray(matrix)
    if m.shape != (4, 4):
        return ToolState.INVALID, f"matrix has shape {m.shape}, not (4, 4)"
    values = m.ravel().tolist()  # Python floats: cheaper than numpy calls on a 4x4
    if not all(math.isfinite(v) for v in values):
        return ToolState.INVALID, "matrix contains NaN or Inf"
    error = rigidity_error(m)
    if error > limits.rigid_tolerance:
        determinant = float(np.linalg.det(np.asarray(m, dtype=np.float64)[:3, :3]))
        kind = "a reflection" if determinant < 0 else "not rigid (scaled or sheared)"
        return (
            ToolState.INVALID,
            f"matrix is {kind}: rigidity error {error:.3g}, det {determinant:.3g}",
        )
    distance = math.hypot(values[3], values[7], values[11])
    if distance > limits.max_translation_mm:
        return (
            ToolState.INVALID,
            f"translation {distance:.0f} mm is beyond the working volume "
            f"({limits.max_translation_mm:.0f} mm)",
        )
    if limits.identity_means_out_of_view and values == _IDENTITY_VALUES:
        return ToolState.OUT_OF_VIEW, "identity matrix (PLUS's placeholder for an invalid pose)"
    return ToolState.OK, ""


def quaternion_matrix(position_mm: np.ndarray, quaternion_xyzw: np.ndarray) -> np.ndarray | None:
    """(4, 4) from a position (mm) and unit quaternion (x, y, z, w); None if not unit/finite."""
    q = np.asarray(quaternion_xyzw, dtype=np.float64)
    p = np.asarray(position_mm, dtype=np.float64)
    if q.shape != (4,) or p.shape != (3,) or not (np.isfinite(q).all() and np.isfinite(p).all()):
        return None
    if abs(float(np.linalg.norm(q)) - 1.0) > _QUATERNION_TOLERANCE:
        return None
    m = np.eye(4)
    m[:3, :3] = Rotation.from_quat(q).as_matrix()
    m[:3, 3] = p
    return m


def tool_samples(
    message: IgtlMessage, validation: PoseValidation | None = None
) -> list[ToolSample]:
    """The tool samples a message carries (empty for types that carry no pose or status)."""
    limits = validation or PoseValidation()
    body = message.body
    if isinstance(body, TransformBody):
        return [_sample(message.device_name, body.matrix, message, limits)]
    if isinstance(body, PositionBody):
        if body.quaternion_xyzw is None:
            reason = "POSITION without orientation (position-only): not a pose"
            return [ToolSample(message.device_name, ToolState.INVALID, None, reason)]
        matrix = quaternion_matrix(body.position_mm, body.quaternion_xyzw)
        if matrix is None:
            reason = "position/quaternion not finite or not unit"
            return [ToolSample(message.device_name, ToolState.INVALID, None, reason)]
        return [_sample(message.device_name, matrix, message, limits)]
    if isinstance(body, TrackingDataBody):
        return [_sample(e.name, e.matrix, None, limits) for e in body.elements]
    if isinstance(body, QuaternionTrackingDataBody):
        samples = []
        for element in body.elements:
            matrix = quaternion_matrix(element.position_mm, element.quaternion_xyzw)
            if matrix is None:
                reason = "quaternion not finite or not unit"
                samples.append(ToolSample(element.name, ToolState.INVALID, None, reason))
            else:
                samples.append(_sample(element.name, matrix, None, limits))
        return samples
    if isinstance(body, StatusBody):
        if body.code == _STATUS_OK:
            return [ToolSample(message.device_name, ToolState.OK, None)]
        reason = f"STATUS code {body.code} {body.error_name}: {body.message}".strip()
        return [ToolSample(message.device_name, ToolState.OUT_OF_VIEW, None, reason)]
    return []


def _sample(
    name: str, matrix: np.ndarray, message: IgtlMessage | None, limits: PoseValidation
) -> ToolSample:
    if message is not None:
        status = _metadata_status(message)
        if status is not None:
            return ToolSample(name, ToolState.OUT_OF_VIEW, None, status)
    state, reason = classify_matrix(matrix, validation=limits)
    if state is not ToolState.OK:
        return ToolSample(name, state, None, reason)
    copy = np.array(matrix, dtype=np.float64)
    copy.setflags(write=False)
    return ToolSample(name, state, copy)


def _metadata_status(message: IgtlMessage) -> str | None:
    """The sender's "not OK" as a reason, from PLUS's TransformStatus/TransformValid."""
    metadata = message.metadata
    if not metadata:
        return None
    for key, value in metadata.items():
        lowered = key.lower()
        if lowered.endswith("transformstatus"):
            text = str(value).strip()
            if text.upper() != "OK":
                return f"sender reports {key} = {text}"
        elif lowered.endswith("transformvalid"):
            text = str(value).strip()
            if text.lower() in ("0", "false", "no"):
                return f"sender reports {key} = {text}"
    return None
