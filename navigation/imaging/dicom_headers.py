"""One DICOM file's header, read with pydicom and reduced to what loading a series needs.

Each file is classified (image, non-image object, DICOMDIR, unreadable, not DICOM) with a
reason a user can act on. Pixel data is never decoded here: ``defer_size`` keeps it on disk,
but its declared length and offset are checked against the file size so that a truncated file
is caught by name before any decoder sees it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

#: Modalities that carry no anatomical image of the patient (or no pixels at all).
NON_IMAGE_MODALITIES: dict[str, str] = {
    "RTSTRUCT": "RT structure set (contours, not an image)",
    "RTPLAN": "RT plan (no image)",
    "RTDOSE": "RT dose grid (not an anatomical image)",
    "RTRECORD": "RT treatment record (no image)",
    "SEG": "segmentation object (not an anatomical image)",
    "SR": "structured report (no image)",
    "PR": "presentation state (no image)",
    "KO": "key object selection (no image)",
    "REG": "registration object (no image)",
    "DOC": "encapsulated document (no image)",
}
#: Uncompressed transfer syntaxes (implicit LE, explicit LE, explicit BE).
NATIVE_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_LOCALIZER_WORDS = ("localizer", "localiser", "scout", "topogram", "surview", "survey", "pilot")
_LEGACY_FIRST_BYTES = (b"\x08\x00", b"\x00\x08", b"\x02\x00", b"\x00\x02")
_UNDEFINED_LENGTH = 0xFFFFFFFF


class HeaderProblem(Exception):
    """A header field is missing or invalid; the message names the field."""


@dataclass(frozen=True)
class DicomHeader:
    """What one image file's header says (values as in DICOM; positions LPS mm).

    ``pixel_spacing_mm`` is DICOM's (row spacing, column spacing): the first value is the
    distance between rows (along the column direction), the second between columns.
    """

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    modality: str
    series_instance_uid: str
    study_instance_uid: str
    frame_of_reference_uid: str
    patient_id: str
    patient_position: str
    series_number: int | None
    series_description: str
    instance_number: int | None
    acquisition_number: int | None
    echo_number: str
    temporal_position: str
    image_type: tuple[str, ...]
    convolution_kernel: str
    transfer_syntax_uid: str
    rows: int
    columns: int
    number_of_frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    position_lps_mm: tuple[float, float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    pixel_spacing_mm: tuple[float, float] | None
    slice_thickness_mm: float | None
    spacing_between_slices_mm: float | None
    rescale_slope: float
    rescale_intercept: float
    padding_value: float | None
    lossy_compressed: bool
    pixel_bytes_declared: int | None
    pixel_bytes_present: int | None

    @property
    def is_localizer(self) -> bool:
        """Localizer/scout by ImageType, or by a series description word (scout, pilot...)."""
        if any(value.upper() == "LOCALIZER" for value in self.image_type):
            return True
        words = self.series_description.lower().replace("_", " ").split()
        return any(word.startswith(_LOCALIZER_WORDS) for word in words)

    @property
    def is_multiframe(self) -> bool:
        return (
            self.number_of_frames > 1 or "ENHANCED" in _sop_class_name(self.sop_class_uid).upper()
        )

    @property
    def is_native(self) -> bool:
        """Uncompressed pixel data (no decoder needed)."""
        return self.transfer_syntax_uid in NATIVE_SYNTAXES

    @property
    def expected_pixel_bytes(self) -> int:
        """Bytes of native (uncompressed) pixel data the header announces."""
        bits = self.rows * self.columns * self.number_of_frames * self.samples_per_pixel
        return math.ceil(bits * self.bits_allocated / 8)


@dataclass(frozen=True)
class FileFinding:
    """The classification of one file: ``kind`` is "image", "non_image", "dicomdir",
    "unreadable" or "not_dicom"; ``reason`` says why (empty for images)."""

    path: Path
    kind: str
    reason: str = ""
    header: DicomHeader | None = None


def read_header(path: Path) -> FileFinding:
    """Classify ``path`` and, for an image, read its header (pixel data left on disk).

    A truncated image file comes back as "unreadable" but still carries its header when the
    header itself is intact, so the series it belongs to can be refused by name.
    """
    try:
        with open(path, "rb") as stream:
            start = stream.read(132)
    except OSError as error:
        return FileFinding(path, "unreadable", f"cannot be opened ({error.strerror})")
    if start[:2] == b"\x1f\x8b":
        return FileFinding(path, "not_dicom", "gzip-compressed; decompress it first")
    has_preamble = start[128:132] == b"DICM"
    if not has_preamble and start[:2] not in _LEGACY_FIRST_BYTES:
        return FileFinding(path, "not_dicom", "no DICOM preamble or header")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dataset = pydicom.dcmread(path, defer_size=1024, force=not has_preamble)
            ended_early = any("End of file" in str(w.message) for w in caught)
            if ended_early or len(dataset) == 0:
                dataset = pydicom.dcmread(path, stop_before_pixels=True, force=not has_preamble)
                return _truncated(path, dataset)
            return _classify(path, dataset, has_preamble)
        except Exception as error:  # pydicom raises assorted exception types on corrupt data
            kind = "unreadable" if has_preamble else "not_dicom"
            return FileFinding(path, kind, f"DICOM header cannot be parsed ({_short(error)})")


def _truncated(path: Path, dataset: Dataset) -> FileFinding:
    reason = "truncated: the file ends inside the pixel data"
    try:
        header = _image_header(path, dataset, check_pixels=False)
    except HeaderProblem:
        header = None
    return FileFinding(path, "unreadable", reason, header)


def _classify(path: Path, dataset: Dataset, has_preamble: bool) -> FileFinding:
    meta = getattr(dataset, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    if media_class == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in dataset:
        return FileFinding(
            path,
            "dicomdir",
            "DICOMDIR index (lists files, holds no image; load its folder instead)",
        )
    known = ("SOPClassUID", "Modality", "SeriesInstanceUID", "StudyInstanceUID", "Rows")
    if not any(keyword in dataset for keyword in known):
        if has_preamble:
            return FileFinding(path, "non_image", "DICOM file without image or series tags")
        return FileFinding(path, "not_dicom", "no recognisable DICOM header")
    modality = str(dataset.get("Modality", "") or "").upper()
    if modality in NON_IMAGE_MODALITIES:
        return FileFinding(path, "non_image", f"{modality}: {NON_IMAGE_MODALITIES[modality]}")
    if "PixelData" not in dataset:
        if "Rows" in dataset:
            return FileFinding(path, "unreadable", "image header without pixel data (truncated?)")
        sop = _sop_class_name(str(dataset.get("SOPClassUID", "")))
        return FileFinding(path, "non_image", f"no pixel data ({sop or 'no SOP class'})")
    try:
        header = _image_header(path, dataset, check_pixels=True)
    except HeaderProblem as problem:
        return FileFinding(path, "unreadable", str(problem))
    declared, present = header.pixel_bytes_declared, header.pixel_bytes_present
    if declared is not None and present is not None:
        reason = ""
        if present < declared:
            reason = f"truncated: pixel data has {present} of the {declared} bytes it announces"
        elif declared < header.expected_pixel_bytes:
            reason = (
                f"pixel data too short: {declared} bytes, but {header.rows}x{header.columns}"
                f"x{header.number_of_frames} pixels of {header.bits_allocated} bits need "
                f"{header.expected_pixel_bytes}"
            )
        if reason:
            return FileFinding(path, "unreadable", reason, header)
    return FileFinding(path, "image", header=header)


def _image_header(path: Path, ds: Dataset, *, check_pixels: bool) -> DicomHeader:
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    rows = _required_int(ds, "Rows")
    columns = _required_int(ds, "Columns")
    frames = _int(ds, "NumberOfFrames") or 1
    bits_allocated = _int(ds, "BitsAllocated") or 16
    native = (syntax or _implied_syntax(ds)) in NATIVE_SYNTAXES
    declared, present = _pixel_data_extent(path, ds) if check_pixels and native else (None, None)
    return DicomHeader(
        path=path,
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        modality=str(ds.get("Modality", "") or "OT").upper(),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        study_instance_uid=str(ds.get("StudyInstanceUID", "") or ""),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "") or ""),
        patient_id=str(ds.get("PatientID", "") or ""),
        patient_position=str(ds.get("PatientPosition", "") or ""),
        series_number=_int(ds, "SeriesNumber"),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        instance_number=_int(ds, "InstanceNumber"),
        acquisition_number=_int(ds, "AcquisitionNumber"),
        echo_number=str(ds.get("EchoNumbers", "") or ""),
        temporal_position=str(ds.get("TemporalPositionIdentifier", "") or ""),
        image_type=tuple(str(v) for v in _values(ds.get("ImageType", ()))),
        convolution_kernel="\\".join(str(v) for v in _values(ds.get("ConvolutionKernel"))),
        transfer_syntax_uid=syntax or _implied_syntax(ds),
        rows=rows,
        columns=columns,
        number_of_frames=frames,
        samples_per_pixel=_int(ds, "SamplesPerPixel") or 1,
        bits_allocated=bits_allocated,
        bits_stored=_int(ds, "BitsStored") or bits_allocated,
        pixel_representation=_int(ds, "PixelRepresentation") or 0,
        position_lps_mm=_floats(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
        orientation=_floats(ds, "ImageOrientationPatient", 6),  # type: ignore[arg-type]
        pixel_spacing_mm=_floats(ds, "PixelSpacing", 2),  # type: ignore[arg-type]
        slice_thickness_mm=_float(ds, "SliceThickness"),
        spacing_between_slices_mm=_float(ds, "SpacingBetweenSlices"),
        rescale_slope=_float(ds, "RescaleSlope") or 1.0,
        rescale_intercept=_float(ds, "RescaleIntercept") or 0.0,
        padding_value=_float(ds, "PixelPaddingValue"),
        lossy_compressed=str(ds.get("LossyImageCompression", "")).strip() == "01",
        pixel_bytes_declared=declared,
        pixel_bytes_present=present,
    )


def _pixel_data_extent(path: Path, ds: Dataset) -> tuple[int | None, int | None]:
    """(declared length, bytes present in the file) of native pixel data.

    With ``defer_size`` pydicom leaves a large value on disk and records its offset, so the
    bytes present are what the file holds from that offset on; a small value is read at once.
    """
    element = ds.get_item("PixelData", keep_deferred=True)
    length = getattr(element, "length", None)
    offset = getattr(element, "value_tell", None)
    if length is None or offset is None or length == _UNDEFINED_LENGTH:
        value = getattr(element, "value", None)
        if isinstance(value, bytes):
            return len(value), len(value)
        return None, None
    present = max(0, min(int(length), path.stat().st_size - int(offset)))
    return int(length), present


def _implied_syntax(ds: Dataset) -> str:
    """The transfer syntax pydicom inferred for a file without file meta information."""
    implicit, little = ds.original_encoding
    if implicit:
        return "1.2.840.10008.1.2"
    return "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2"


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes, int, float)):
        return [value]
    return list(value)


def _required_int(ds: Dataset, keyword: str) -> int:
    value = _int(ds, keyword)
    if value is None:
        raise HeaderProblem(f"required tag {keyword} is missing")
    return value


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise HeaderProblem(f"tag {keyword} has an invalid value {str(value)!r}") from None


def _float(ds: Dataset, keyword: str) -> float | None:
    values = _floats(ds, keyword, None)
    return values[0] if values else None


def _floats(ds: Dataset, keyword: str, count: int | None) -> tuple[float, ...] | None:
    raw = _values(ds.get(keyword))
    if not raw:
        return None
    try:
        values = tuple(float(str(v).strip()) for v in raw)
    except ValueError:
        raise HeaderProblem(f"tag {keyword} has an invalid value {raw!r}") from None
    if count is not None and len(values) != count:
        raise HeaderProblem(f"tag {keyword} has {len(values)} values; DICOM requires {count}")
    if not all(math.isfinite(v) for v in values):
        raise HeaderProblem(f"tag {keyword} has a non-finite value {raw!r}")
    return values


def _sop_class_name(uid: str) -> str:
    try:
        return str(pydicom.uid.UID(uid).name) if uid else ""
    except Exception:  # unknown or malformed UID
        return uid


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:120]}" if text else type(error).__name__
