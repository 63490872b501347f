"""Is this a real OpenIGTLink header? The checks the framer uses to keep and to regain sync.

An OpenIGTLink header has no checksum of its own, so every byte run that starts with a
version number and a type name is a possible header. These checks, written from the protocol
documents (``Documents/Protocol/header.md``, ``image.md``, ``v3_proposal.md`` of the
OpenIGTLink repository), decide how much a header is trusted:

- :func:`candidate_problem` - the strict test for a header found by scanning (after a
  corrupt header, or inside a body that may be a false lock): a known type name (or one this
  stream has already used), NUL-padded printable names, a body size that the type and the
  header version allow (a v1 TRANSFORM is exactly 48 bytes, a TDATA a multiple of 70...) and
  a timestamp within a day of the stream's last good one.
- :func:`body_prefix_problem` - a large body is checked by its first bytes before the framer
  commits to it: a v2 extended header must be 12 bytes with metadata that fits the body, and
  an IMAGE's 72-byte image header must describe exactly as many pixel bytes as the body
  carries. Only an IMAGE passing that test is *verified*: its size is then confirmed by the
  content itself. Other large bodies stay on probation (see :mod:`~navigation.tracking.
  igtl_framing`).
- :data:`CANDIDATE_START` - the regular expression that finds where to test (a version
  number followed by a capital letter), scanned at C speed by :mod:`re`.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Collection, Mapping

from navigation.tracking import igtl_wire as wire

#: Data types of OpenIGTLink versions 1-3 (protocol documents, "Message types").
DATA_TYPES = frozenset(
    {
        "TRANSFORM", "POSITION", "QTRANS", "IMAGE", "STATUS", "CAPABILITY", "IMGMETA",
        "LBMETA", "COLORT", "POINT", "TRAJ", "TDATA", "QTDATA", "SENSOR", "STRING", "NDARRAY",
        "BIND", "POLYDATA", "VIDEO", "VIDEOMETA", "COMMAND", "RTS_COMMAND",
    }
)  # fmt: skip
#: Data types and their GET_/STT_/STP_/RTS_ queries (names that fit the 12-byte field).
KNOWN_TYPES = frozenset(
    DATA_TYPES
    | {f"{prefix}_{base}" for prefix in wire.REQUEST_PREFIXES for base in DATA_TYPES}
    | {"GET_CAPABIL", "RTS_CAPABIL"}
) - {name for name in DATA_TYPES if len(name) > wire.TYPE_SIZE}

#: Where a header may start: version 1 or 2, then the first letter of a type name.
CANDIDATE_START = re.compile(rb"\x00[\x01\x02][A-Z]")


def type_field(type_name: str) -> bytes:
    """The 12-byte type field of ``type_name`` as it is on the wire (NUL-padded)."""
    return type_name.encode("ascii").ljust(wire.TYPE_SIZE, b"\0")


#: The type fields of :data:`KNOWN_TYPES`: a candidate whose 12 bytes after the version are
#: not one of these (or of a type already seen on the link) is rejected with one set lookup.
KNOWN_TYPE_FIELDS = frozenset(type_field(name) for name in KNOWN_TYPES)

#: A candidate's timestamp may differ from the stream's last good one by at most this (s).
TIMESTAMP_WINDOW_S = 86_400.0

_IMAGE_HEAD = struct.Struct(">HBBBB3H12f6H")
IMAGE_HEADER_SIZE = _IMAGE_HEAD.size
_SCALAR_SIZES = {2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 10: 4, 11: 8}
#: Exact v1 content sizes of fixed-size types; multiples for list types; minimum sizes.
_EXACT = {"TRANSFORM": (48,), "POSITION": (12, 24, 28), "QTRANS": (28,)}
_MULTIPLE = {"TDATA": 70, "QTDATA": 50, "POINT": 136}
_MINIMUM = {"STATUS": 30, "STRING": 4, "IMAGE": IMAGE_HEADER_SIZE}


def candidate_problem(
    data: bytes | bytearray | memoryview,
    *,
    caps: Mapping[str, int] | None = None,
    types_seen: Collection[str] = (),
    last_timestamp_s: float | None = None,
) -> str | None:
    """Why the 58 bytes at the start of ``data`` are not a believable header, or None.

    Stricter than :func:`~navigation.tracking.igtl_wire.header_problem`: for headers found
    by scanning, where look-alike bytes are expected (see the module docstring).
    """
    problem = wire.header_problem(data, caps=caps, strict_names=True)
    if problem is not None:
        return problem
    header = wire.parse_header(data)
    if header.type not in KNOWN_TYPES and header.type not in types_seen:
        return f"type {header.type} is neither an OpenIGTLink type nor seen on this link"
    if not header.device_name.isprintable():
        return f"device name {header.device_name!r} is not printable text"
    problem = size_problem(header.type, header.version, header.body_size)
    if problem is not None:
        return problem
    stamp = header.timestamp_s
    if (
        last_timestamp_s is not None
        and stamp != 0.0
        and not math.isclose(stamp, last_timestamp_s, abs_tol=TIMESTAMP_WINDOW_S)
    ):
        return (
            f"timestamp {stamp:.0f} s is more than a day from the link's last "
            f"({last_timestamp_s:.0f} s)"
        )
    return None


def size_problem(type_name: str, version: int, body_size: int) -> str | None:
    """Why ``body_size`` is impossible for ``type_name`` in header ``version``, or None."""
    overhead = wire.EXTENDED_HEADER_SIZE if version >= 2 else 0
    content = body_size - overhead
    if content < 0:
        return f"{type_name} v{version} body of {body_size} bytes has no room for its header"
    if type_name in _EXACT:
        sizes = _EXACT[type_name]
        fits = content in sizes if version == 1 else content >= min(sizes)
    elif type_name in _MULTIPLE:
        fits = content % _MULTIPLE[type_name] == 0 if version == 1 else True
    elif type_name in _MINIMUM:
        fits = content >= _MINIMUM[type_name]
    elif type_name in ("GET_STATUS", "GET_CAPABIL") or type_name[:4] in ("GET_", "STP_"):
        fits = content == 0 if version == 1 else True
    else:
        return None
    return None if fits else f"{type_name} v{version} cannot have a body of {body_size} bytes"


def prefix_size(header: wire.IgtlHeader) -> int:
    """Bytes of the body :func:`body_prefix_problem` needs (0: nothing to check)."""
    size = wire.EXTENDED_HEADER_SIZE if header.version >= 2 else 0
    if header.type == "IMAGE":
        size += IMAGE_HEADER_SIZE
    return min(size, header.body_size)


def body_prefix_problem(
    header: wire.IgtlHeader, prefix: bytes | bytearray | memoryview
) -> tuple[bool, str | None]:
    """Check a body's first :func:`prefix_size` bytes against ``header``.

    Returns ``(verified, problem)``: a problem means the header is false; ``verified`` means
    the content confirms the body size (an IMAGE whose image header accounts for every byte).
    """
    content_size = header.body_size
    offset = 0
    if header.version >= 2:
        extended, meta_header, meta, _id = wire.EXTENDED_HEADER_STRUCT.unpack_from(prefix)
        if extended != wire.EXTENDED_HEADER_SIZE:
            return False, f"extended header size {extended} (expected 12)"
        content_size -= extended + meta_header + meta
        if content_size < 0:
            return False, "metadata larger than the body"
        offset = extended
    if header.type != "IMAGE":
        return False, None
    if content_size < IMAGE_HEADER_SIZE:
        return False, f"IMAGE content of {content_size} bytes has no image header"
    fields = _IMAGE_HEAD.unpack_from(prefix, offset)
    _version, components, scalar, endian, coordinate = fields[:5]
    size, sub_offset, sub_size = fields[5:8], fields[20:23], fields[23:26]
    if scalar not in _SCALAR_SIZES or endian not in (1, 2) or coordinate not in (1, 2):
        return False, f"image header scalar {scalar}, endian {endian}, coordinate {coordinate}"
    if components < 1 or any(o + s > n for o, s, n in zip(sub_offset, sub_size, size, strict=True)):
        return False, "image header sub-volume outside the volume"
    pixels = math.prod(sub_size) * components * _SCALAR_SIZES[scalar]
    if IMAGE_HEADER_SIZE + pixels != content_size:
        return False, f"image header describes {pixels} pixel bytes, the body {content_size}"
    return True, None
