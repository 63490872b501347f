"""OpenIGTLink wire primitives: the 58-byte header, CRC-64, timestamps, names, v2 metadata, caps.

Written from the protocol documents (``Documents/Protocol/header.md`` and ``v3_proposal.md`` of
the OpenIGTLink repository) and checked byte for byte against pyigtl 0.3.4 and against the
reference C++ library 1.11 (``tests/navigation/test_igtl_interop.py``).

Header (big endian): ``uint16 version | char[12] type | char[20] device name | uint64 timestamp
| uint64 body size | uint64 CRC-64 of the body``. Header version 2 bodies are ``extended header
(uint16 size = 12, uint16 metadata header size, uint32 metadata size, uint32 message id) |
content | metadata header (uint16 count, count x (uint16 key size, uint16 value encoding,
uint32 value size)) | metadata (keys and values)``.

CRC-64 is ECMA-182 (polynomial 0x42F0E1EBA9EA3693, initial value 0, not reflected, no final
XOR; check value of b"123456789" is 0x6C40DF5F0B497347). It is computed by ``fastcrc``
(Rust crc-rs; ~30 GB/s here, a 1280x1024 uint16 frame in 0.1 ms; ``crcmod``, pyigtl's choice,
is ~0.4 GB/s).

Names are ASCII in the spec; we accept UTF-8 both ways and decode undecodable bytes with
``surrogateescape`` so that any received name re-encodes to exactly the same bytes (no two
different names on the wire ever become the same string). A name longer than its field is
refused when encoding (:class:`InputError`), never truncated.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from fastcrc import crc64 as fast_crc64

from registration.core.checks import InputError

HEADER_SIZE = 58
TYPE_SIZE = 12
DEVICE_NAME_SIZE = 20
EXTENDED_HEADER_SIZE = 12
HEADER_STRUCT = struct.Struct(">H12s20sQQQ")
EXTENDED_HEADER_STRUCT = struct.Struct(">HHII")
METADATA_ENTRY_STRUCT = struct.Struct(">HHI")

#: IANA MIBenum values used by OpenIGTLink text fields.
ENCODING_US_ASCII = 3
ENCODING_UTF8 = 106
_PYTHON_CODECS = {
    ENCODING_US_ASCII: "ascii",
    4: "latin-1",
    ENCODING_UTF8: "utf-8",
    1013: "utf-16-be",
    1014: "utf-16-le",
    1015: "utf-16",
}

REQUEST_PREFIXES = ("GET", "STT", "STP", "RTS")

#: Largest content (body without the v2 extended header and metadata) accepted per type, bytes.
#: Fixed-size types are exact; list types allow thousands of elements; IMAGE allows a 512 MiB
#: volume (a 1280x1024 uint16 frame is 2.5 MiB). A header claiming more is refused before any
#: allocation. Override per link with ``body_caps``.
DEFAULT_CONTENT_CAPS: Mapping[str, int] = {
    "TRANSFORM": 48,
    "POSITION": 28,
    "QTRANS": 28,
    "STATUS": 30 + 65536,
    "STRING": 4 + 65535,
    "TDATA": 70 * 4096,
    "QTDATA": 50 * 4096,
    "POINT": 136 * 16384,
    "IMAGE": 512 * 1024 * 1024,
}
#: Cap for GET_/STT_/STP_/RTS_ requests and for types we do not decode (passed through raw).
REQUEST_CONTENT_CAP = 4096
UNKNOWN_CONTENT_CAP = 16 * 1024 * 1024
#: Extra bytes a header-v2 body may carry (extended header + metadata).
V2_OVERHEAD_CAP = EXTENDED_HEADER_SIZE + 1024 * 1024


def crc64(data: bytes | bytearray | memoryview) -> int:
    """CRC-64/ECMA-182 of ``data`` as OpenIGTLink computes it over a message body."""
    return int(fast_crc64.ecma_182(data))


@dataclass(frozen=True)
class IgtlHeader:
    """A parsed 58-byte header. ``timestamp_s`` is seconds since 1970 (0.0 when unset)."""

    version: int
    type: str
    device_name: str
    timestamp_s: float
    body_size: int
    crc: int


def parse_header(data: bytes | bytearray | memoryview) -> IgtlHeader:
    """Parse the first 58 bytes of ``data`` (no plausibility checks; see :func:`header_problem`)."""
    version, type_bytes, name_bytes, stamp, body_size, crc = HEADER_STRUCT.unpack_from(data)
    return IgtlHeader(
        version=version,
        type=decode_name(type_bytes),
        device_name=decode_name(name_bytes),
        timestamp_s=decode_timestamp(stamp),
        body_size=body_size,
        crc=crc,
    )


def pack_header(
    version: int, type_name: str, device_name: str, timestamp_s: float, body: bytes
) -> bytes:
    """The 58-byte header for ``body`` (computes its size and CRC-64)."""
    return HEADER_STRUCT.pack(
        version,
        encode_name(type_name, TYPE_SIZE, "message type"),
        encode_name(device_name, DEVICE_NAME_SIZE, "device name"),
        encode_timestamp(timestamp_s),
        len(body),
        crc64(body),
    )


def content_cap(type_name: str, caps: Mapping[str, int] | None = None) -> int:
    """Largest content size accepted for ``type_name`` (see :data:`DEFAULT_CONTENT_CAPS`)."""
    if caps is not None and type_name in caps:
        return caps[type_name]
    if type_name in DEFAULT_CONTENT_CAPS:
        return DEFAULT_CONTENT_CAPS[type_name]
    if type_name[:4] in ("GET_", "STT_", "STP_", "RTS_"):
        return REQUEST_CONTENT_CAP
    return UNKNOWN_CONTENT_CAP


def body_cap(type_name: str, version: int, caps: Mapping[str, int] | None = None) -> int:
    """Largest body size accepted for a header of ``type_name`` and header ``version``."""
    return content_cap(type_name, caps) + (V2_OVERHEAD_CAP if version >= 2 else 0)


_TYPE_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def header_problem(
    data: bytes | bytearray | memoryview,
    *,
    caps: Mapping[str, int] | None = None,
    strict_names: bool = False,
) -> str | None:
    """Why the 58 bytes at the start of ``data`` cannot be a header, or None if plausible.

    Plausible: version 1 or 2; a type of 1-12 characters from ``A-Z 0-9 _`` padded with NULs;
    a body size within the type's cap. With ``strict_names`` (used while resynchronising) the
    device name must also be NUL-padded after its first NUL, as every known sender writes it.
    """
    version, type_bytes, name_bytes, _stamp, body_size, _crc = HEADER_STRUCT.unpack_from(data)
    if version not in (1, 2):
        return f"header version {version} (expected 1 or 2)"
    type_text = type_bytes.split(b"\0", 1)[0]
    if not type_text or not _TYPE_CHARS.issuperset(type_text):
        return f"message type {type_bytes!r} is not an OpenIGTLink type name"
    if type_bytes[len(type_text) :].strip(b"\0"):
        return f"message type {type_bytes!r} has bytes after its terminating NUL"
    if strict_names:
        name_text = name_bytes.split(b"\0", 1)[0]
        if name_bytes[len(name_text) :].strip(b"\0"):
            return "device name has bytes after its terminating NUL"
    type_name = type_text.decode("ascii")
    cap = body_cap(type_name, version, caps)
    if body_size > cap:
        return f"{type_name} body of {body_size} bytes exceeds the cap of {cap} bytes"
    return None


def decode_name(field: bytes) -> str:
    """A fixed-width name field up to its first NUL; lossless for any bytes (surrogateescape)."""
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def encode_name(name: str, size: int, what: str) -> bytes:
    """UTF-8 bytes of ``name`` for a ``size``-byte field; refuses names that do not fit."""
    if not isinstance(name, str):
        raise InputError(f"{what} must be a str; got {type(name).__name__}.")
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as error:
        raise InputError(f"{what} {name!r} cannot be encoded as UTF-8: {error}.") from None
    if b"\0" in raw:
        raise InputError(f"{what} {name!r} contains a NUL character; remove it.")
    if len(raw) > size:
        raise InputError(
            f"{what} {name!r} is {len(raw)} bytes in UTF-8 but OpenIGTLink allows {size}; "
            "use a shorter name (names are never truncated, so two long names cannot collide)."
        )
    return raw


def decode_timestamp(stamp: int) -> float:
    """Seconds since 1970 from the 64-bit ``seconds << 32 | fraction`` field."""
    return (stamp >> 32) + (stamp & 0xFFFFFFFF) / 4294967296.0


def encode_timestamp(timestamp_s: float) -> int:
    """The 64-bit header timestamp; the fraction as OpenIGTLink 3's ``igtl_nanosec_to_frac``."""
    if timestamp_s == 0.0:
        return 0
    if not math.isfinite(timestamp_s) or timestamp_s < 0 or timestamp_s >= 2**32:
        raise InputError(f"timestamp_s must be finite and in [0, 2^32) s; got {timestamp_s!r}.")
    seconds = int(timestamp_s)
    nanoseconds = min(int((timestamp_s - seconds) * 1e9), 999_999_999)  # truncated, as pyigtl
    return (seconds << 32) | _nanosec_to_frac(nanoseconds)


def _nanosec_to_frac(nanoseconds: int) -> int:
    # The binary expansion of OpenIGTLink 3's igtl_util.c (as pyigtl): byte-identical stamps.
    base = 1_000_000_000
    mask = 0x80000000
    fraction = 0
    while mask:
        base = (base + 1) >> 1
        if nanoseconds >= base:
            fraction |= mask
            nanoseconds -= base
        mask >>= 1
    return fraction


def decode_text(raw: bytes, encoding: int, what: str) -> str:
    """Decode ``raw`` with its IANA MIBenum; US-ASCII that is not ASCII is read as UTF-8.

    Raises ValueError (caught by the codec as a malformed message) for unknown encodings or
    bytes invalid in the declared encoding; text is never silently altered.
    """
    codec = _PYTHON_CODECS.get(encoding)
    if codec is None:
        raise ValueError(f"{what}: unsupported text encoding MIBenum {encoding}")
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        if encoding == ENCODING_US_ASCII:
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
        raise ValueError(f"{what}: bytes are not valid {codec}") from None


def encode_text(text: str, encoding: int | None, what: str) -> tuple[bytes, int]:
    """``(bytes, MIBenum)`` for ``text``: US-ASCII when possible, else UTF-8 (when None)."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a str; got {type(text).__name__}.")
    if encoding is None:
        encoding = ENCODING_US_ASCII if text.isascii() else ENCODING_UTF8
    codec = _PYTHON_CODECS.get(encoding)
    if codec is None:
        raise InputError(f"{what}: unsupported text encoding MIBenum {encoding}; use 3 or 106.")
    try:
        return text.encode(codec), encoding
    except UnicodeEncodeError:
        raise InputError(
            f"{what} {text[:40]!r} cannot be encoded as {codec} (MIBenum {encoding}); "
            "use UTF-8 (106)."
        ) from None


def pack_v2_body(content: bytes, metadata: Mapping[str, str], message_id: int) -> bytes:
    """Wrap ``content`` in the header-v2 extended header and metadata."""
    if not 0 <= message_id < 2**32:
        raise InputError(f"message_id must be in [0, 2^32); got {message_id}.")
    if len(metadata) > (65535 - 2) // METADATA_ENTRY_STRUCT.size:
        raise InputError(f"too many metadata entries ({len(metadata)}); at most 8191.")
    entries = [struct.pack(">H", len(metadata))]
    values = []
    for key, value in metadata.items():
        key_bytes, _ = encode_text(key, ENCODING_UTF8, "metadata key")
        value_bytes, value_encoding = encode_text(value, None, f"metadata value of {key!r}")
        if len(key_bytes) > 65535 or len(value_bytes) >= 2**32:
            raise InputError(f"metadata entry {key!r} is too long for OpenIGTLink.")
        entries.append(METADATA_ENTRY_STRUCT.pack(len(key_bytes), value_encoding, len(value_bytes)))
        values.append(key_bytes + value_bytes)
    metadata_header = b"".join(entries)
    metadata_body = b"".join(values)
    extended = EXTENDED_HEADER_STRUCT.pack(
        EXTENDED_HEADER_SIZE, len(metadata_header), len(metadata_body), message_id
    )
    return extended + content + metadata_header + metadata_body


@dataclass(frozen=True)
class V2Parts:
    """A header-v2 body split into its content, metadata and message id."""

    content: memoryview
    metadata: Mapping[str, str]
    message_id: int


def unpack_v2_body(body: bytes | memoryview) -> V2Parts:
    """Split a header-v2 body; raises ValueError when the sizes do not add up."""
    view = memoryview(body)
    if len(view) < EXTENDED_HEADER_SIZE:
        raise ValueError(f"v2 body of {len(view)} bytes is shorter than the extended header")
    ext_size, meta_header_size, meta_size, message_id = EXTENDED_HEADER_STRUCT.unpack_from(view)
    if ext_size < EXTENDED_HEADER_SIZE:
        raise ValueError(f"extended header size {ext_size} < {EXTENDED_HEADER_SIZE}")
    content_end = len(view) - meta_header_size - meta_size
    if content_end < ext_size:
        raise ValueError(
            f"extended header ({ext_size}) + metadata ({meta_header_size} + {meta_size}) "
            f"exceed the body ({len(view)} bytes)"
        )
    metadata: dict[str, str] = {}
    if meta_header_size:
        meta = view[content_end:]
        if meta_header_size < 2:
            raise ValueError(f"metadata header size {meta_header_size} < 2")
        (count,) = struct.unpack_from(">H", meta)
        if meta_header_size != 2 + count * METADATA_ENTRY_STRUCT.size:
            raise ValueError(
                f"metadata header size {meta_header_size} does not match {count} entries"
            )
        offset = meta_header_size
        for index in range(count):
            key_size, value_encoding, value_size = METADATA_ENTRY_STRUCT.unpack_from(
                meta, 2 + index * METADATA_ENTRY_STRUCT.size
            )
            end = offset + key_size + value_size
            if end > meta_header_size + meta_size:
                raise ValueError(f"metadata entry {index} runs past the metadata")
            key = decode_text(bytes(meta[offset : offset + key_size]), ENCODING_UTF8, "key")
            metadata[key] = decode_text(
                bytes(meta[offset + key_size : end]), value_encoding, f"metadata {key!r}"
            )
            offset = end
        if offset != meta_header_size + meta_size:
            raise ValueError("metadata sizes do not add up")
    elif meta_size:
        raise ValueError(f"metadata of {meta_size} bytes without a metadata header")
    return V2Parts(view[ext_size:content_end], metadata, message_id)
