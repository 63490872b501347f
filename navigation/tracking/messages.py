"""Decoded OpenIGTLink messages, independent of the transport that carried them.

The wire codec (``navigation.tracking.igtl_codec``) turns bytes into :class:`IgtlMessage` and
back; the pose store, recorder and app consume these objects. Names on the wire follow PLUS
(``PointerToTracker`` carries ``tracker_from_pointer``); translate them with
:func:`transform_name_to_frames` at the edge.

Frames: OpenIGTLink TRANSFORM/TDATA/POSITION matrices between tracker-side frames (tool,
reference, tracker) carry no patient convention and are used as they are, in mm. IMAGE and
POINT positions sent by 3D Slicer are RAS; the codec reports them as received and the code that
places them in the patient converts explicitly with ``RAS_FROM_LPS``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from registration.core.checks import Float64Array


@dataclass(frozen=True)
class TransformBody:
    """TRANSFORM: one 4x4 (rotation + translation in mm); bottom row (0, 0, 0, 1)."""

    matrix: Float64Array


@dataclass(frozen=True)
class PositionBody:
    """POSITION: a position in mm and a unit quaternion (x, y, z, w), as in the spec.

    ``quaternion_xyzw`` is None for the spec's position-only variant (12-byte body: a 3-D
    instrument with no orientation). The 24-byte variant (x, y, z of the quaternion only) is
    decoded with w = sqrt(1 - x^2 - y^2 - z^2) >= 0.
    """

    position_mm: Float64Array
    quaternion_xyzw: Float64Array | None


@dataclass(frozen=True)
class TrackingElement:
    """One tool in a TDATA message: name (<= 20 bytes), instrument type, 4x4 matrix."""

    name: str
    instrument_type: int
    matrix: Float64Array


@dataclass(frozen=True)
class TrackingDataBody:
    """TDATA: several tools in one message."""

    elements: tuple[TrackingElement, ...]


@dataclass(frozen=True)
class QuaternionTrackingElement:
    """One tool in a QTDATA message: position in mm and quaternion (x, y, z, w)."""

    name: str
    instrument_type: int
    position_mm: Float64Array
    quaternion_xyzw: Float64Array


@dataclass(frozen=True)
class QuaternionTrackingDataBody:
    """QTDATA: several tools as position + quaternion."""

    elements: tuple[QuaternionTrackingElement, ...]


@dataclass(frozen=True)
class StatusBody:
    """STATUS: code (1 = OK; see the spec's table), subcode, error name, message."""

    code: int
    subcode: int
    error_name: str
    message: str


@dataclass(frozen=True)
class ImageBody:
    """IMAGE: voxels (k, j, i) or (k, j, i, components) and the sender's ijk-to-world matrix.

    ``world_from_ijk`` maps voxel centres to the sender's world in mm, after resolving the
    spec's centre-of-volume origin convention; its columns carry the spacing.
    ``coordinate_system`` is the sender's world as the message declares it: "RAS" (3D Slicer,
    PLUS) or "LPS". A 2-D frame is a single slice: pixels of shape (1, j, i).
    Decoded pixels are in native byte order whatever the sender's endianness.
    """

    pixels: np.ndarray
    world_from_ijk: Float64Array
    coordinate_system: str = "RAS"


@dataclass(frozen=True)
class PointElement:
    """One POINT entry: name, group, RGBA colour (0..255), position (mm), diameter, owner.

    ``diameter_mm`` is the element's fourth float, called diameter by the protocol document
    and radius by the C++ library; it is carried as received.
    """

    name: str
    group: str
    rgba: tuple[int, int, int, int]
    position_mm: Float64Array
    diameter_mm: float
    owner: str


@dataclass(frozen=True)
class PointBody:
    """POINT: a list of points."""

    points: tuple[PointElement, ...]


@dataclass(frozen=True)
class StringBody:
    """STRING: text decoded with its MIBenum encoding (3 = US-ASCII, 106 = UTF-8)."""

    text: str
    encoding: int = 106


@dataclass(frozen=True)
class RequestBody:
    """GET_/STT_/STP_/RTS_ requests and replies for a base type (e.g. STT_TDATA).

    ``resolution_ms`` and ``coordinate_name`` are set for STT_TDATA/STT_QTDATA; ``status`` for
    RTS_ replies.
    """

    prefix: str  # "GET", "STT", "STP" or "RTS"
    base_type: str
    resolution_ms: int | None = None
    coordinate_name: str | None = None
    status: int | None = None


Body = (
    TransformBody
    | PositionBody
    | TrackingDataBody
    | QuaternionTrackingDataBody
    | StatusBody
    | ImageBody
    | PointBody
    | StringBody
    | RequestBody
    | bytes  # unknown types: the raw body, kept for recording
)


@dataclass(frozen=True)
class IgtlMessage:
    """One message as received or to be sent.

    Attributes
    ----------
    type : OpenIGTLink type name ("TRANSFORM", "TDATA", "STT_TDATA"...).
    device_name : sender's device name (PLUS names, e.g. "PointerToTracker").
    body : decoded body (see :data:`Body`).
    timestamp_s : the header timestamp in seconds (0.0 when the sender set none).
    header_version : 1 or 2.
    metadata : header-v2 metadata (e.g. PLUS's "TransformStatus": "OK" / "INVALID").
    message_id : header-v2 message id (0 for v1).
    arrival_s : ``time.monotonic()`` when the last byte arrived (NaN for outgoing messages).
    wire : the bytes as received (:class:`WireBytes`) for a message read from a link, so a
        recorder can keep them without encoding again; None otherwise. Not an ``__init__``
        argument: ``dataclasses.replace`` gives None, so a changed message never carries the
        bytes of the original.
    """

    type: str
    device_name: str
    body: Body
    timestamp_s: float = 0.0
    header_version: int = 1
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    message_id: int = 0
    arrival_s: float = math.nan
    wire: WireBytes | None = field(default=None, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class WireBytes:
    """A received message's bytes: the 58-byte header and the body, exactly as they arrived
    (a large body is the framer's buffer; nobody writes to it)."""

    header: bytes
    body: bytes | bytearray

    @property
    def size(self) -> int:
        return len(self.header) + len(self.body)


def attach_wire(message: IgtlMessage, header: bytes, body: bytes | bytearray) -> IgtlMessage:
    """``message`` carrying the bytes it was decoded from (set once, by the framer)."""
    object.__setattr__(message, "wire", WireBytes(header, body))
    return message


def transform_name_to_frames(device_name: str) -> tuple[str, str] | None:
    """Split a PLUS transform name ``FromToTo`` into ``(to, from)`` frame names.

    ``"PointerToTracker"`` -> ``("Tracker", "Pointer")``, i.e. the message carries
    ``tracker_from_pointer``. Returns None when the name has no single ``To``.
    """
    parts = device_name.split("To")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[1], parts[0]
