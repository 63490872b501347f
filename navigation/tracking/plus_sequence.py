"""PLUS sequence metafiles (``.igs.mha``) read into frames and into OpenIGTLink messages.

A PLUS sequence metafile is a MetaImage header whose per-frame fields carry the tracking::

    Seq_Frame0000_StylusToTrackerTransform = 16 numbers (row-major 4x4, mm)
    Seq_Frame0000_StylusToTrackerTransformStatus = OK | INVALID | ...
    Seq_Frame0000_Timestamp = 280.46           (seconds, the tracker's clock)
    Seq_Frame0000_ImageStatus = OK | INVALID   (whether the frame holds an image)

followed by ``ElementDataFile = LOCAL`` and the pixels of all frames (zlib-compressed when
``CompressedData = True``; none when ``DimSize`` is ``0 0 N``). The header is parsed here
rather than with SimpleITK/VTK because those readers drop or reject the per-frame fields.

Quirks of real files handled: trailing spaces and CR line ends, Windows exponents
(``2.84176e-005``), ``-0``, a 3x4 matrix (12 numbers; the bottom row is implied), legacy
per-frame fields that are not transforms (``Seq_Frame0000_Stylus = 16 numbers``: kept in
:attr:`PlusFrame.fields`, not turned into a TRANSFORM because their frames are unknown),
frames with ``ImageStatus = INVALID`` (no IMAGE message), transforms without a status field
(status "OK" assumed, as PLUS does), unparsable numbers (``1.#QNAN``: read as NaN so the pose
store marks the sample INVALID instead of this reader guessing).

PLUS writes the identity matrix for a transform it could not measure, together with
``TransformStatus = INVALID``; the messages produced here keep that status as the header-v2
metadata ``TransformStatus``, exactly as PLUS streams it, so the pose store reports the sample
as OUT_OF_VIEW. :func:`write_sequence_session` turns a sequence into an igcs session file for
``igcs replay``.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from navigation.tracking.messages import IgtlMessage, ImageBody, TransformBody
from registration.core.checks import Float64Array, InputError

log = logging.getLogger(__name__)

_FRAME_FIELD = re.compile(r"^Seq_Frame(\d+)_(.+)$")
_TRANSFORM_SUFFIX = "Transform"
_STATUS_SUFFIX = "TransformStatus"

_MET_TYPES: dict[str, str] = {
    "MET_UCHAR": "u1",
    "MET_CHAR": "i1",
    "MET_USHORT": "u2",
    "MET_SHORT": "i2",
    "MET_UINT": "u4",
    "MET_INT": "i4",
    "MET_ULONG": "u4",
    "MET_LONG": "i4",
    "MET_ULONG_LONG": "u8",
    "MET_LONG_LONG": "i8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}

#: Device name of the IMAGE messages made from a sequence's frames (PLUS's default channel).
IMAGE_DEVICE_NAME = "Image"


@dataclass(frozen=True)
class PlusFrame:
    """One frame of a sequence.

    Attributes
    ----------
    index : frame number in the file (``Seq_FrameNNNN``).
    timestamp_s : the frame's ``Timestamp`` in seconds (the recording device's clock).
    transforms : PLUS transform name without the ``Transform`` suffix (``"StylusToTracker"``,
        i.e. ``tracker_from_stylus``) -> (4, 4) float64 read-only matrix in mm.
    statuses : the same names -> the ``...TransformStatus`` text ("OK" when the file has none).
    fields : every other per-frame field as text (``FrameNumber``, ``UnfilteredTimestamp``,
        ``ImageStatus``, legacy fields such as ``Stylus``).
    image : (rows, columns) or (rows, columns, channels) pixels, or None when the frame has
        no valid image.
    """

    index: int
    timestamp_s: float
    transforms: Mapping[str, Float64Array]
    statuses: Mapping[str, str]
    fields: Mapping[str, str]
    image: np.ndarray | None = None


@dataclass(frozen=True)
class PlusSequence:
    """A read sequence: the global header fields and the frames in file order."""

    path: Path
    header: Mapping[str, str]
    frames: tuple[PlusFrame, ...]
    spacing_mm: Float64Array = field(default_factory=lambda: np.ones(3))

    @property
    def transform_names(self) -> tuple[str, ...]:
        """Names of the transforms present in any frame, sorted."""
        return tuple(sorted({name for f in self.frames for name in f.transforms}))

    @property
    def timestamps_s(self) -> Float64Array:
        """(N,) frame timestamps in seconds."""
        return np.array([f.timestamp_s for f in self.frames], dtype=np.float64)

    def matrices(self, name: str) -> Float64Array:
        """(N, 4, 4) matrices of transform ``name`` over the frames (NaN where a frame lacks it)."""
        if name not in self.transform_names:
            raise InputError(
                f"{self.path} has no transform {name!r}; it has {', '.join(self.transform_names)}."
            )
        out = np.full((len(self.frames), 4, 4), np.nan)
        for row, frame in enumerate(self.frames):
            if name in frame.transforms:
                out[row] = frame.transforms[name]
        return out

    def statuses(self, name: str) -> tuple[str, ...]:
        """The status text of transform ``name`` in each frame ("MISSING" where absent)."""
        return tuple(f.statuses.get(name, "MISSING") for f in self.frames)


def read_plus_sequence(path: str | Path) -> PlusSequence:
    """Read a PLUS sequence metafile (``.igs.mha`` / ``.seq.mha``, header and local pixels).

    Raises :class:`InputError` naming the file, frame and field when the file is not a
    sequence metafile, a frame has no timestamp, a transform has the wrong number of values or
    the pixel data is truncated.
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise InputError(f"PLUS sequence file {file} does not exist.") from None
    header_text, pixel_offset = _split_header(data, file)
    header: dict[str, str] = {}
    per_frame: dict[int, dict[str, str]] = {}
    for raw_line in header_text.splitlines():
        line = raw_line.strip()
        if not line or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        match = _FRAME_FIELD.match(key)
        if match:
            per_frame.setdefault(int(match.group(1)), {})[match.group(2)] = value
        else:
            header[key] = value
    if not per_frame:
        raise InputError(
            f"{file} has no Seq_FrameNNNN_ fields; it is not a PLUS sequence metafile."
        )
    dims = _ints(header.get("DimSize", ""), file, "DimSize")
    indices = sorted(per_frame)
    if dims and len(dims) >= 3 and dims[-1] != len(indices):
        log.warning(
            "%s: DimSize says %d frames but the header lists %d; reading the %d listed.",
            file,
            dims[-1],
            len(indices),
            len(indices),
        )
    images = _read_pixels(data, pixel_offset, header, dims, len(indices), file)
    spacing = _spacing(header, file)
    legacy_reported: set[str] = set()
    frames = []
    for row, index in enumerate(indices):
        fields = per_frame[index]
        frames.append(_make_frame(index, fields, images[row] if images is not None else None, file))
        for key, value in fields.items():
            if (
                not key.endswith(_TRANSFORM_SUFFIX)
                and not key.endswith(_STATUS_SUFFIX)
                and len(value.split()) in (12, 16)
                and key not in legacy_reported
            ):
                legacy_reported.add(key)
                log.info(
                    "%s: per-frame field %r holds a matrix but is not named <From>To<To>"
                    "Transform; kept as a field, not imported as a transform.",
                    file,
                    key,
                )
    return PlusSequence(
        path=file,
        header=MappingProxyType(header),
        frames=tuple(frames),
        spacing_mm=spacing,
    )


def sequence_messages(
    sequence: PlusSequence, *, include_images: bool = True
) -> Iterator[tuple[float, IgtlMessage]]:
    """The sequence as OpenIGTLink messages in time order, as PLUS would stream it.

    Yields ``(timestamp_s, message)``: one header-v2 TRANSFORM per transform per frame, named
    as PLUS names it on the wire (``StylusToTracker``), with the metadata ``TransformStatus``
    ("OK", "INVALID"...) and the frame timestamp as the message timestamp; then, when the
    frame holds a valid image and ``include_images``, one IMAGE named :data:`IMAGE_DEVICE_NAME`
    with pixels (1, rows, columns[, channels]) and ``world_from_ijk`` = diag(spacing) (the
    image frame in mm, origin at the centre of the first pixel). ``arrival_s`` is NaN: these
    messages come from a file, the consumer stamps them.
    """
    for frame in sequence.frames:
        for name in sorted(frame.transforms):
            yield (
                frame.timestamp_s,
                IgtlMessage(
                    type="TRANSFORM",
                    device_name=name,
                    body=TransformBody(matrix=frame.transforms[name]),
                    timestamp_s=frame.timestamp_s,
                    header_version=2,
                    metadata=MappingProxyType({"TransformStatus": frame.statuses[name]}),
                ),
            )
        if include_images and frame.image is not None:
            world_from_ijk = np.diag([*sequence.spacing_mm.tolist(), 1.0])
            yield (
                frame.timestamp_s,
                IgtlMessage(
                    type="IMAGE",
                    device_name=IMAGE_DEVICE_NAME,
                    body=ImageBody(pixels=frame.image[np.newaxis], world_from_ijk=world_from_ijk),
                    timestamp_s=frame.timestamp_s,
                    header_version=2,
                    metadata=MappingProxyType({"ImageStatus": "OK"}),
                ),
            )


def write_sequence_session(
    sequence: PlusSequence, path: str | Path, *, overwrite: bool = False
) -> int:
    """Write the sequence's messages (:func:`sequence_messages`) as an igcs session file, so
    ``igcs replay`` re-serves a PLUS recording with its original timing. Each message's
    ``arrival_s`` is its frame timestamp (the recording device's clock; replay uses only the
    differences). Returns the number of messages written.
    """
    from navigation.tracking.recording import SessionWriter

    count = 0
    with SessionWriter(path, overwrite=overwrite, fsync_interval_s=None) as writer:
        writer.write_event("plus_sequence", {"file": str(sequence.path)}, arrival_s=0.0)
        for timestamp, message in sequence_messages(sequence):
            writer.write(message, timestamp, source=f"plus:{sequence.path.name}")
            count += 1
    return count


def parse_matrix_text(text: str, where: str) -> Float64Array:
    """16 (or 12, bottom row implied) whitespace-separated numbers -> (4, 4) float64, row-major.

    Unparsable numbers (``1.#QNAN``, ``nan``) become NaN; a wrong count raises
    :class:`InputError` naming ``where``.
    """
    tokens = text.split()
    if len(tokens) not in (12, 16):
        raise InputError(
            f"{where}: expected 16 numbers (a row-major 4x4 matrix), got {len(tokens)}: "
            f"{text[:80]!r}."
        )
    values = np.empty(len(tokens))
    for position, token in enumerate(tokens):
        try:
            values[position] = float(token)
        except ValueError:
            values[position] = np.nan
    if len(tokens) == 12:
        values = np.concatenate([values, [0.0, 0.0, 0.0, 1.0]])
    return values.reshape(4, 4)


def _make_frame(
    index: int, fields: dict[str, str], image: np.ndarray | None, file: Path
) -> PlusFrame:
    where = f"{file} frame {index}"
    if "Timestamp" not in fields:
        raise InputError(f"{where} has no Timestamp field; the recording is incomplete.")
    try:
        timestamp = float(fields["Timestamp"])
    except ValueError:
        raise InputError(f"{where}: Timestamp {fields['Timestamp']!r} is not a number.") from None
    transforms: dict[str, Float64Array] = {}
    statuses: dict[str, str] = {}
    others: dict[str, str] = {}
    for key, value in fields.items():
        if key.endswith(_STATUS_SUFFIX) or key == "Timestamp":
            continue
        if key.endswith(_TRANSFORM_SUFFIX) and len(key) > len(_TRANSFORM_SUFFIX):
            name = key[: -len(_TRANSFORM_SUFFIX)]
            matrix = parse_matrix_text(value, f"{where} field {key}")
            matrix.setflags(write=False)
            transforms[name] = matrix
            statuses[name] = fields.get(name + _STATUS_SUFFIX, "OK").strip().upper() or "OK"
        else:
            others[key] = value
    image_ok = fields.get("ImageStatus", "OK").strip().upper() == "OK"
    return PlusFrame(
        index=index,
        timestamp_s=timestamp,
        transforms=MappingProxyType(transforms),
        statuses=MappingProxyType(statuses),
        fields=MappingProxyType(others),
        image=image if image_ok else None,
    )


def _split_header(data: bytes, file: Path) -> tuple[str, int]:
    match = re.search(rb"ElementDataFile\s*=\s*([^\r\n]*)\r?\n?", data)
    if match is None:
        # A header-only file (tracking only, some PLUS versions omit the data line).
        return data.decode("latin-1"), len(data)
    head = data[: match.start()].decode("latin-1")
    return head + "ElementDataFile = " + match.group(1).decode("latin-1"), match.end()


def _ints(text: str, file: Path, key: str) -> list[int]:
    if not text:
        return []
    try:
        return [int(float(v)) for v in text.split()]
    except ValueError:
        raise InputError(f"{file}: {key} = {text!r} is not a list of integers.") from None


def _spacing(header: Mapping[str, str], file: Path) -> Float64Array:
    text = header.get("ElementSpacing", "1 1 1")
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise InputError(f"{file}: ElementSpacing {text!r} is not numeric.") from None
    values = [*values, 1.0, 1.0, 1.0][:3]
    spacing = np.asarray(values, dtype=np.float64)
    spacing.setflags(write=False)
    return spacing


def _read_pixels(
    data: bytes,
    offset: int,
    header: Mapping[str, str],
    dims: list[int],
    frame_count: int,
    file: Path,
) -> np.ndarray | None:
    """(frames, rows, columns[, channels]) pixels, or None for a tracking-only sequence."""
    element_type = header.get("ElementType", "MET_OTHER").strip()
    if element_type == "MET_OTHER" or len(dims) < 2 or dims[0] * dims[1] == 0:
        return None
    if element_type not in _MET_TYPES:
        raise InputError(f"{file}: ElementType {element_type} is not supported.")
    msb = header.get("BinaryDataByteOrderMSB", header.get("ElementByteOrderMSB", "False"))
    dtype = np.dtype(_MET_TYPES[element_type]).newbyteorder(
        ">" if msb.strip().lower() == "true" else "<"
    )
    channels = int(header.get("ElementNumberOfChannels", "1") or 1)
    columns, rows = dims[0], dims[1]
    source = header.get("ElementDataFile", "LOCAL").strip()
    if source.upper() == "LOCAL":
        payload = data[offset:]
    else:
        external = file.parent / source
        if not external.is_file():
            raise InputError(f"{file}: ElementDataFile {source} not found beside the header.")
        payload = external.read_bytes()
    if header.get("CompressedData", "False").strip().lower() == "true":
        try:
            payload = zlib.decompress(payload)
        except zlib.error as error:
            raise InputError(f"{file}: compressed pixel data is corrupt ({error}).") from None
    frame_values = rows * columns * channels
    needed = frame_values * frame_count * dtype.itemsize
    if len(payload) < needed:
        raise InputError(
            f"{file}: pixel data is truncated ({len(payload)} bytes, {needed} needed for "
            f"{frame_count} frames of {columns}x{rows}x{channels} {element_type})."
        )
    pixels = np.frombuffer(payload[:needed], dtype=dtype).astype(dtype.newbyteorder("="))
    shape = (frame_count, rows, columns) + ((channels,) if channels > 1 else ())
    return pixels.reshape(shape)
