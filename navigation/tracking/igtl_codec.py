"""Encode and decode OpenIGTLink messages to and from :class:`IgtlMessage`.

Types: TRANSFORM, POSITION (12-, 24- and 28-byte variants), TDATA, QTDATA, STATUS, IMAGE,
POINT, STRING and the GET_/STT_/STP_/RTS_ requests; anything else is passed through with its
raw content as ``body`` (bytes) and logged once per type. Header v1 and v2 (metadata, message
id) via :mod:`navigation.tracking.igtl_wire`.

The struct packing is our own (struct and numpy structured dtypes), not pyigtl's message
classes: pyigtl 0.3.4 has no TDATA/QTDATA/STATUS/requests, packs POSITION as a POINT-like
record, raises UnicodeEncodeError when packing non-ASCII text, raises on sub-volume images and
returns big-endian pixels in a non-native dtype. Its packing of TRANSFORM, IMAGE, POINT, ASCII
STRING and v2 metadata is right: the tests compare our bytes with it byte for byte.

Conventions: matrices are sent as float32 (the protocol's type); decoded arrays are float64 and
read-only. NaN/Inf values decode as they are (the pose store rejects them), never "fixed".
IMAGE positions: the wire carries the centre of the volume, ``world_from_ijk`` the centre of
voxel (0, 0, 0): origin = centre - M (size - 1) / 2 with M the 3x3 of spacing-scaled axes, as
3D Slicer's OpenIGTLinkIO does. A sub-volume decodes to its own pixels with the origin moved to
its first voxel.

One module of some 500 lines: the decoder and the encoder of every message type it speaks
(TRANSFORM, POSITION, TDATA, QTDATA, POINT, STATUS, STRING, IMAGE and the requests) are kept in
one place, so each encoder stays the mirror image of its decoder.
"""

from __future__ import annotations

import logging
import math
import struct
import sys
from collections.abc import Callable
from types import MappingProxyType

import numpy as np

from navigation.tracking import igtl_wire as wire
from navigation.tracking.messages import (
    Body,
    IgtlMessage,
    ImageBody,
    PointBody,
    PointElement,
    PositionBody,
    QuaternionTrackingDataBody,
    QuaternionTrackingElement,
    RequestBody,
    StatusBody,
    StringBody,
    TrackingDataBody,
    TrackingElement,
    TransformBody,
)
from registration.core.checks import Float64Array, InputError, check_matrix

log = logging.getLogger(__name__)


class MalformedMessage(ValueError):
    """A message whose CRC was right but whose body does not decode as its type says."""


_MATRIX = np.dtype(">f4")
_TDATA = np.dtype([("name", "S20"), ("type", "u1"), ("reserved", "u1"), ("matrix", ">f4", 12)])
_QTDATA = np.dtype(
    [
        ("name", "S20"),
        ("type", "u1"),
        ("reserved", "u1"),
        ("position", ">f4", 3),
        ("quaternion", ">f4", 4),
    ]
)
_POINT = np.dtype(
    [
        ("name", "S64"),
        ("group", "S32"),
        ("rgba", "u1", 4),
        ("position", ">f4", 3),
        ("diameter", ">f4"),
        ("owner", "S20"),
    ]
)
_STATUS_HEAD = struct.Struct(">Hq20s")
_STRING_HEAD = struct.Struct(">HH")
_IMAGE_HEAD = struct.Struct(">HBBBB3H12f6H")
_STT_TDATA = struct.Struct(">i32s")
_SCALAR_TYPES: dict[int, np.dtype] = {
    2: np.dtype(np.int8),
    3: np.dtype(np.uint8),
    4: np.dtype(np.int16),
    5: np.dtype(np.uint16),
    6: np.dtype(np.int32),
    7: np.dtype(np.uint32),
    10: np.dtype(np.float32),
    11: np.dtype(np.float64),
}
_SCALAR_CODES = {dtype.newbyteorder("<"): code for code, dtype in _SCALAR_TYPES.items()}
_COORDINATES = {1: "RAS", 2: "LPS"}
_reported_unknown: set[str] = set()


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _matrix_from_wire(values: np.ndarray) -> Float64Array:
    """4x4 float64 from the 12 floats R11 R21 R31 R12 R22 R32 R13 R23 R33 TX TY TZ."""
    matrix = np.eye(4)
    matrix[:3, :3] = values[:9].reshape(3, 3).T
    matrix[:3, 3] = values[9:12]
    return matrix


def _matrix_to_wire(matrix: np.ndarray) -> bytes:
    return np.concatenate([matrix[:3, :3].T.ravel(), matrix[:3, 3]]).astype(_MATRIX).tobytes()


def _decode_transform(content: memoryview) -> TransformBody:
    if len(content) != 48:
        raise MalformedMessage(f"TRANSFORM content is {len(content)} bytes, expected 48")
    values = np.frombuffer(content, _MATRIX, 12).astype(np.float64)
    return TransformBody(_frozen(_matrix_from_wire(values)))


def _decode_position(content: memoryview) -> PositionBody:
    size = len(content)
    if size not in (12, 24, 28):
        raise MalformedMessage(f"POSITION content is {size} bytes, expected 12, 24 or 28")
    values = np.frombuffer(content, _MATRIX).astype(np.float64)
    quaternion: np.ndarray | None = None
    if size == 28:
        quaternion = values[3:7]
    elif size == 24:
        xyz = values[3:6]
        w = math.sqrt(max(0.0, 1.0 - float(xyz @ xyz)))
        quaternion = np.append(xyz, w)
    return PositionBody(
        _frozen(values[:3].copy()), None if quaternion is None else _frozen(quaternion.copy())
    )


def _records(content: memoryview, dtype: np.dtype, what: str) -> np.ndarray:
    if len(content) % dtype.itemsize:
        raise MalformedMessage(
            f"{what} content of {len(content)} bytes is not a multiple of {dtype.itemsize}"
        )
    return np.frombuffer(content, dtype)


def _decode_tdata(content: memoryview) -> TrackingDataBody:
    records = _records(content, _TDATA, "TDATA")
    elements = tuple(
        TrackingElement(
            name=wire.decode_name(bytes(record["name"])),
            instrument_type=int(record["type"]),
            matrix=_frozen(_matrix_from_wire(record["matrix"].astype(np.float64))),
        )
        for record in records
    )
    return TrackingDataBody(elements)


def _decode_qtdata(content: memoryview) -> QuaternionTrackingDataBody:
    records = _records(content, _QTDATA, "QTDATA")
    elements = tuple(
        QuaternionTrackingElement(
            name=wire.decode_name(bytes(record["name"])),
            instrument_type=int(record["type"]),
            position_mm=_frozen(record["position"].astype(np.float64)),
            quaternion_xyzw=_frozen(record["quaternion"].astype(np.float64)),
        )
        for record in records
    )
    return QuaternionTrackingDataBody(elements)


def _decode_point(content: memoryview) -> PointBody:
    records = _records(content, _POINT, "POINT")
    points = tuple(
        PointElement(
            name=wire.decode_name(bytes(record["name"])),
            group=wire.decode_name(bytes(record["group"])),
            rgba=tuple(int(c) for c in record["rgba"]),  # type: ignore[arg-type]
            position_mm=_frozen(record["position"].astype(np.float64)),
            diameter_mm=float(record["diameter"]),
            owner=wire.decode_name(bytes(record["owner"])),
        )
        for record in records
    )
    return PointBody(points)


def _decode_status(content: memoryview) -> StatusBody:
    if len(content) < _STATUS_HEAD.size:
        raise MalformedMessage(f"STATUS content is {len(content)} bytes, expected >= 30")
    code, subcode, error_name = _STATUS_HEAD.unpack_from(content)
    text = bytes(content[_STATUS_HEAD.size :]).split(b"\0", 1)[0]
    return StatusBody(
        code=code,
        subcode=subcode,
        error_name=wire.decode_name(error_name),
        message=wire.decode_text(text, wire.ENCODING_US_ASCII, "STATUS message"),
    )


def _decode_string(content: memoryview) -> StringBody:
    if len(content) < _STRING_HEAD.size:
        raise MalformedMessage(f"STRING content is {len(content)} bytes, expected >= 4")
    encoding, length = _STRING_HEAD.unpack_from(content)
    if _STRING_HEAD.size + length > len(content):
        raise MalformedMessage(f"STRING claims {length} bytes but carries {len(content) - 4}")
    raw = bytes(content[_STRING_HEAD.size : _STRING_HEAD.size + length])
    return StringBody(wire.decode_text(raw, encoding, "STRING"), encoding)


def _decode_image(content: memoryview) -> ImageBody:
    if len(content) < _IMAGE_HEAD.size:
        raise MalformedMessage(f"IMAGE content is {len(content)} bytes, expected >= 72")
    fields = _IMAGE_HEAD.unpack_from(content)
    _version, components, scalar, endian, coordinate = fields[:5]
    size = np.array(fields[5:8])  # i, j, k
    axes = np.array(fields[8:17], dtype=np.float64).reshape(3, 3).T  # columns t, s, n
    centre = np.array(fields[17:20], dtype=np.float64)
    offset = np.array(fields[20:23])
    sub_size = np.array(fields[23:26])
    if scalar not in _SCALAR_TYPES or endian not in (1, 2) or coordinate not in _COORDINATES:
        raise MalformedMessage(
            f"IMAGE scalar type {scalar}, endian {endian} or coordinate {coordinate} is invalid"
        )
    if components < 1 or (offset + sub_size > size).any():
        raise MalformedMessage(
            f"IMAGE with {components} components, sub-volume {offset}+{sub_size} of {size}"
        )
    dtype = _SCALAR_TYPES[scalar].newbyteorder(">" if endian == 1 else "<")
    count = int(np.prod(sub_size)) * components
    if len(content) - _IMAGE_HEAD.size != count * dtype.itemsize:
        raise MalformedMessage(
            f"IMAGE pixel data is {len(content) - _IMAGE_HEAD.size} bytes, expected "
            f"{count * dtype.itemsize} for {sub_size} x {components} x {dtype}"
        )
    pixels = np.frombuffer(content, dtype, count, _IMAGE_HEAD.size)
    if not dtype.isnative:
        pixels = pixels.astype(dtype.newbyteorder("="))
    shape = (int(sub_size[2]), int(sub_size[1]), int(sub_size[0]))
    pixels = pixels.reshape(shape + ((components,) if components > 1 else ()))
    world_from_ijk = np.eye(4)
    world_from_ijk[:3, :3] = axes
    world_from_ijk[:3, 3] = centre - axes @ ((size - 1) / 2.0) + axes @ offset
    return ImageBody(_frozen(pixels), _frozen(world_from_ijk), _COORDINATES[coordinate])


def _decode_request(type_name: str, content: memoryview) -> RequestBody | bytes:
    prefix, base = type_name[:3], type_name[4:]
    if prefix == "STT" and base in ("TDATA", "QTDATA") and len(content) == _STT_TDATA.size:
        resolution, coordinate = _STT_TDATA.unpack_from(content)
        return RequestBody(prefix, base, resolution, wire.decode_name(coordinate))
    if prefix == "RTS" and len(content) == 1:
        status = content[0] - 256 if content[0] > 127 else content[0]
        return RequestBody(prefix, base, status=status)
    if len(content) == 0:
        return RequestBody(prefix, base)
    return bytes(content)


_DECODERS: dict[str, Callable[[memoryview], Body]] = {
    "TRANSFORM": _decode_transform,
    "POSITION": _decode_position,
    "TDATA": _decode_tdata,
    "QTDATA": _decode_qtdata,
    "POINT": _decode_point,
    "STATUS": _decode_status,
    "STRING": _decode_string,
    "IMAGE": _decode_image,
}


def decode_message(
    header: wire.IgtlHeader, body: bytes | bytearray | memoryview, *, arrival_s: float = math.nan
) -> IgtlMessage:
    """Decode one message whose CRC has been checked.

    Raises
    ------
    MalformedMessage
        When the body does not decode as its header says (wrong size for the type, v1/v2
        mix-up, corrupt metadata, invalid text, bad image header).
    """
    metadata: dict[str, str] = {}
    message_id = 0
    content = memoryview(body)
    try:
        if header.version >= 2:
            parts = wire.unpack_v2_body(content)
            content, metadata, message_id = parts.content, dict(parts.metadata), parts.message_id
        decoder = _DECODERS.get(header.type)
        decoded: Body
        if decoder is not None:
            decoded = decoder(content)
        elif header.type[:4] in ("GET_", "STT_", "STP_", "RTS_"):
            decoded = _decode_request(header.type, content)
        else:
            if header.type not in _reported_unknown:
                _reported_unknown.add(header.type)
                log.info("OpenIGTLink type %s is not decoded; passed through raw", header.type)
            decoded = bytes(content)
    except MalformedMessage:
        raise
    except (ValueError, struct.error) as error:
        raise MalformedMessage(f"{header.type} {header.device_name!r}: {error}") from None
    return IgtlMessage(
        type=header.type,
        device_name=header.device_name,
        body=decoded,
        timestamp_s=header.timestamp_s,
        header_version=header.version,
        metadata=MappingProxyType(metadata),
        message_id=message_id,
        arrival_s=arrival_s,
    )


# --- encoding -------------------------------------------------------------------------------


def _encode_transform(body: TransformBody) -> bytes:
    return _matrix_to_wire(np.asarray(body.matrix, dtype=np.float64).reshape(4, 4))


def _encode_position(body: PositionBody) -> bytes:
    position = np.asarray(body.position_mm, dtype=np.float64).reshape(3)
    if body.quaternion_xyzw is None:
        return position.astype(_MATRIX).tobytes()
    quaternion = np.asarray(body.quaternion_xyzw, dtype=np.float64).reshape(4)
    return np.concatenate([position, quaternion]).astype(_MATRIX).tobytes()


def _encode_tdata(body: TrackingDataBody) -> bytes:
    records = np.zeros(len(body.elements), _TDATA)
    for record, element in zip(records, body.elements, strict=True):
        record["name"] = wire.encode_name(element.name, 20, "TDATA element name")
        record["type"] = element.instrument_type
        matrix = np.asarray(element.matrix, dtype=np.float64).reshape(4, 4)
        record["matrix"] = np.concatenate([matrix[:3, :3].T.ravel(), matrix[:3, 3]])
    return records.tobytes()


def _encode_qtdata(body: QuaternionTrackingDataBody) -> bytes:
    records = np.zeros(len(body.elements), _QTDATA)
    for record, element in zip(records, body.elements, strict=True):
        record["name"] = wire.encode_name(element.name, 20, "QTDATA element name")
        record["type"] = element.instrument_type
        record["position"] = np.asarray(element.position_mm, dtype=np.float64).reshape(3)
        record["quaternion"] = np.asarray(element.quaternion_xyzw, dtype=np.float64).reshape(4)
    return records.tobytes()


def _encode_point(body: PointBody) -> bytes:
    records = np.zeros(len(body.points), _POINT)
    for record, point in zip(records, body.points, strict=True):
        record["name"] = wire.encode_name(point.name, 64, "POINT name")
        record["group"] = wire.encode_name(point.group, 32, "POINT group")
        record["rgba"] = point.rgba
        record["position"] = np.asarray(point.position_mm, dtype=np.float64).reshape(3)
        record["diameter"] = point.diameter_mm
        record["owner"] = wire.encode_name(point.owner, 20, "POINT owner")
    return records.tobytes()


def _encode_status(body: StatusBody) -> bytes:
    text, _ = wire.encode_text(body.message, wire.ENCODING_UTF8, "STATUS message")
    name = wire.encode_name(body.error_name, 20, "STATUS error name")
    return _STATUS_HEAD.pack(body.code, body.subcode, name) + text + b"\0"


def _encode_string(body: StringBody) -> bytes:
    text, encoding = wire.encode_text(body.text, body.encoding, "STRING text")
    if len(text) > 65535:
        raise InputError(f"STRING text is {len(text)} bytes; OpenIGTLink allows 65535.")
    return _STRING_HEAD.pack(encoding, len(text)) + text


def _encode_image(body: ImageBody) -> bytes:
    pixels = np.asarray(body.pixels)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.ndim not in (3, 4):
        raise InputError(
            f"IMAGE pixels must be (j, i), (k, j, i) or (k, j, i, c); got {pixels.shape}."
        )
    code = _SCALAR_CODES.get(pixels.dtype.newbyteorder("<"))
    if code is None:
        raise InputError(
            f"IMAGE pixel type {pixels.dtype} is not an OpenIGTLink scalar type; use (u)int8, "
            "(u)int16, (u)int32, float32 or float64."
        )
    components = pixels.shape[3] if pixels.ndim == 4 else 1
    size_ijk = (pixels.shape[2], pixels.shape[1], pixels.shape[0])
    if max(size_ijk) > 65535 or components > 255 or min(size_ijk) < 1:
        raise InputError(f"IMAGE of shape {pixels.shape} does not fit OpenIGTLink's fields.")
    big = pixels.dtype.byteorder == ">" or (
        pixels.dtype.byteorder == "=" and sys.byteorder == "big"
    )
    world_from_ijk = check_matrix(body.world_from_ijk, "ImageBody.world_from_ijk", (4, 4))
    coordinate = {v: k for k, v in _COORDINATES.items()}.get(body.coordinate_system)
    if coordinate is None:
        raise InputError(
            f"IMAGE coordinate_system must be RAS or LPS; got {body.coordinate_system!r}."
        )
    axes = world_from_ijk[:3, :3]
    centre = world_from_ijk[:3, 3] + axes @ ((np.array(size_ijk) - 1) / 2.0)
    head = _IMAGE_HEAD.pack(
        1,
        components,
        code,
        1 if big else 2,
        coordinate,
        *size_ijk,
        *axes.T.ravel().tolist(),
        *centre.tolist(),
        0,
        0,
        0,
        *size_ijk,
    )
    data = np.ascontiguousarray(pixels).view(np.uint8).reshape(-1)  # no copy: raw bytes
    return b"".join((head, data.data))


def _encode_request(type_name: str, body: RequestBody) -> bytes:
    if type_name != f"{body.prefix}_{body.base_type}":
        raise InputError(
            f"message type {type_name!r} does not match its request body "
            f"{body.prefix}_{body.base_type}."
        )
    if body.prefix == "STT" and body.base_type in ("TDATA", "QTDATA"):
        coordinate = wire.encode_name(body.coordinate_name or "", 32, "coordinate name")
        return _STT_TDATA.pack(body.resolution_ms or 0, coordinate)
    if body.prefix == "RTS" and body.status is not None:
        return struct.pack(">b" if body.status < 0 else ">B", body.status)
    return b""


_ENCODERS: dict[type, tuple[str, Callable[[object], bytes]]] = {
    TransformBody: ("TRANSFORM", _encode_transform),  # type: ignore[dict-item]
    PositionBody: ("POSITION", _encode_position),  # type: ignore[dict-item]
    TrackingDataBody: ("TDATA", _encode_tdata),  # type: ignore[dict-item]
    QuaternionTrackingDataBody: ("QTDATA", _encode_qtdata),  # type: ignore[dict-item]
    PointBody: ("POINT", _encode_point),  # type: ignore[dict-item]
    StatusBody: ("STATUS", _encode_status),  # type: ignore[dict-item]
    StringBody: ("STRING", _encode_string),  # type: ignore[dict-item]
    ImageBody: ("IMAGE", _encode_image),  # type: ignore[dict-item]
}


def encode_content(message: IgtlMessage) -> bytes:
    """The type-specific content of ``message`` (the whole body in header v1)."""
    body = message.body
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, RequestBody):
        return _encode_request(message.type, body)
    entry = _ENCODERS.get(type(body))
    if entry is None:
        raise InputError(f"cannot encode a body of type {type(body).__name__}.")
    expected_type, encoder = entry
    if message.type != expected_type:
        raise InputError(
            f"message type {message.type!r} does not match its {type(body).__name__} "
            f"(expected {expected_type!r})."
        )
    try:
        return encoder(body)
    except (ValueError, TypeError, OverflowError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(f"cannot encode {message.type} {message.device_name!r}: {error}") from None


def encode_message(message: IgtlMessage, *, header_version: int | None = None) -> bytes:
    """The complete wire bytes (header + body) of ``message``.

    ``header_version`` overrides ``message.header_version``. In header v1 the metadata and
    message id cannot be sent and are left out (the protocol's behaviour towards v1 peers).

    Raises
    ------
    InputError
        For names that do not fit their fields, text that cannot be encoded, a body that does
        not match ``message.type`` and other values OpenIGTLink cannot carry.
    """
    version = message.header_version if header_version is None else header_version
    if version not in (1, 2):
        raise InputError(f"header_version must be 1 or 2; got {version}.")
    content = encode_content(message)
    if version == 2:
        body = wire.pack_v2_body(content, message.metadata, message.message_id)
    else:
        body = content
    header = wire.pack_header(version, message.type, message.device_name, message.timestamp_s, body)
    return b"".join((header, body))
