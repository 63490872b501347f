"""Reading one DICOM stack into a :class:`Volume`: pixels from SimpleITK, geometry from headers.

Pixels are decoded by SimpleITK's GDCM (``ImageSeriesReader`` over the files in the order
sorted here). GDCM applies Rescale Slope/Intercept (CT in HU), masks the unused high bits of
12-bit data and sign-extends signed 12-bit values from the High Bit, and decodes the common
compressed transfer syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE, deflate). The geometry never comes
from SimpleITK's series reader (it assumes an orthogonal, evenly spaced stack): it is built from
the headers by :mod:`navigation.imaging.dicom_checks`, and an irregular stack is either
resampled explicitly (:mod:`navigation.imaging.stack_resampling`) with a warning or refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pydicom.uid
import SimpleITK as sitk

from navigation.imaging.dicom_checks import (
    MAX_INTERPOLATED_GAP_FACTOR,
    SlicePlane,
    StackGeometry,
    analyse_stack,
    describe_irregularities,
    duplicate_groups,
    slice_plane,
    sort_along_normal,
)
from navigation.imaging.dicom_discovery import DicomStack, relative_name
from navigation.imaging.dicom_headers import DicomHeader
from navigation.imaging.errors import ImagingError
from navigation.imaging.stack_resampling import ResampledStack, resample_stack
from navigation.imaging.volume import Volume
from registration.core.geometry import ImageGeometry

#: Value of voxels outside the acquired slices after resampling, when the series states no
#: PixelPaddingValue: air for CT (HU); for other modalities the image minimum is used.
CT_AIR_HU = -1024.0
_INT16 = np.iinfo(np.int16)


@dataclass(frozen=True)
class SeriesRead:
    """A stack read into a volume, with what the user must know about how."""

    volume: Volume
    warnings: tuple[str, ...]
    resampled: bool
    files: tuple[Path, ...]


def read_stack(stack: DicomStack, *, root: Path, allow_resampling: bool = True) -> SeriesRead:
    """Read ``stack`` into a volume in LPS mm (arrays (k, j, i); CT in HU, int16 or float32).

    Raises :class:`ImagingError` naming the files when the stack cannot be read with
    trustworthy geometry: mixed patients or frames of reference, duplicate positions holding
    different images, more than one missing slice in a row, an undecodable file, or an
    irregular stack with ``allow_resampling=False``.
    """
    if stack.problem:
        raise ImagingError(f"cannot load {stack.describe(root)}: {stack.problem}")
    first = stack.headers[0]
    plane = slice_plane(first.orientation, where=relative_name(first.path, root))  # type: ignore[arg-type]
    _check_same_patient_and_frame(stack.headers, root)
    positions = np.array([h.position_lps_mm for h in stack.headers], dtype=np.float64)
    order = sort_along_normal(positions, plane)
    headers = [stack.headers[i] for i in order]
    array = _read_pixels(headers, root)
    headers, array, warnings = _drop_duplicates(headers, array, plane, root)
    names = [relative_name(h.path, root) for h in headers]

    positions = np.array([h.position_lps_mm for h in headers], dtype=np.float64)
    single_step = first.spacing_between_slices_mm or first.slice_thickness_mm or 1.0
    geometry = analyse_stack(positions, plane, single_slice_step_mm=single_step)
    spacing_i, spacing_j = first.pixel_spacing_mm[1], first.pixel_spacing_mm[0]  # type: ignore[index]
    padding = _padding(first, array)
    resampled = False
    if geometry.count == 1:
        source = (
            "SpacingBetweenSlices"
            if first.spacing_between_slices_mm
            else "SliceThickness"
            if first.slice_thickness_mm
            else "no tag (1 mm assumed)"
        )
        warnings.append(
            f"a single slice ({names[0]}): its thickness along the normal, {single_step:g} mm, "
            f"comes from {source}; to load the whole series, pass its folder"
        )
    if geometry.is_regular:
        step = geometry.uniform_step_mm
        origin = geometry.positions_lps_mm[0]
    else:
        problems = describe_irregularities(geometry, names)
        if geometry.largest_gap_factor > MAX_INTERPOLATED_GAP_FACTOR:
            raise ImagingError(
                "; ".join(problems) + f". A gap of more than {MAX_INTERPOLATED_GAP_FACTOR}x the "
                "median step means two or more slices are missing, too much to interpolate. "
                "Re-export or copy the complete series."
            )
        if not allow_resampling:
            raise ImagingError(
                "; ".join(problems) + ". Refused because resampling is disabled "
                "(allow_resampling=False / --no-resample); allow it to load this series onto a "
                "regular grid, or re-export the series with uniform, orthogonal slices."
            )
        regular = resample_stack(
            array,
            geometry,
            pixel_spacing_ij_mm=(spacing_i, spacing_j),
            default_value=padding,
        )
        array, origin, step = regular.array, regular.origin_lps_mm, regular.step_mm
        resampled = True
        warnings += [f"{problem}." for problem in problems]
        warnings.append(_resampled_message(regular, geometry, names, first, padding))
    grid = ImageGeometry(
        size_ijk=(int(array.shape[2]), int(array.shape[1]), int(array.shape[0])),
        origin_lps_mm=origin,
        spacing_mm=np.array([spacing_i, spacing_j, step]),
        direction=plane.direction,
    )
    files = tuple(h.path for h in headers)
    metadata = _metadata(headers, root, files, padding, resampled, warnings)
    modality = first.modality if first.modality in ("CT", "MR") else "OT"
    volume = Volume(array, grid, modality, metadata)
    return SeriesRead(volume, tuple(warnings), resampled, files)


def _resampled_message(
    regular: ResampledStack,
    geometry: StackGeometry,
    names: Sequence[str],
    first: DicomHeader,
    padding: float,
) -> str:
    """The RESAMPLED warning: the new grid, its extent, and how it was widened."""
    slices, rows, columns = regular.array.shape
    before_i, after_i, before_j, after_j = regular.added_ij
    spacing_j, spacing_i = first.pixel_spacing_mm  # type: ignore[misc]
    widened = ""
    if regular.widened:
        widened = (
            f", widened from the acquired {first.columns} x {first.rows} pixels by "
            f"{before_i}+{after_i} columns and {before_j}+{after_j} rows "
            f"({(before_i + after_i) * spacing_i:.1f} x {(before_j + after_j) * spacing_j:.1f} "
            f"mm) so that every acquired pixel of every slice lies inside (the slices are "
            f"shifted up to {geometry.max_shear_mm:.1f} mm within their plane)"
        )
    return (
        f"RESAMPLED: the {geometry.count} slices were resampled (SimpleITK, linear) onto a "
        f"regular orthogonal grid of {columns} x {rows} x {slices} voxels{widened}; it spans "
        f"{columns * spacing_i:.1f} x {rows * spacing_j:.1f} mm in the slice plane and "
        f"{geometry.distances_mm[-1]:.2f} mm along the normal from {names[0]} to {names[-1]} "
        f"in steps of {regular.step_mm:.3f} mm; axes along the slice rows/columns/normal, "
        f"voxel (0, 0, 0) at {np.round(regular.origin_lps_mm, 2).tolist()} LPS mm; voxels "
        f"outside the acquired slices are set to {padding:g}"
    )


def _check_same_patient_and_frame(headers: Sequence[DicomHeader], root: Path) -> None:
    for label, attribute in (
        ("PatientID", "patient_id"),
        ("StudyInstanceUID", "study_instance_uid"),
        ("FrameOfReferenceUID", "frame_of_reference_uid"),
        ("Modality", "modality"),
    ):
        values: dict[str, Path] = {}
        for header in headers:
            values.setdefault(getattr(header, attribute), header.path)
        if len(values) > 1:
            examples = ", ".join(f"{v!r} ({relative_name(p, root)})" for v, p in values.items())
            raise ImagingError(
                f"the series mixes {len(values)} different {label} values: {examples}. Images "
                "of different patients, studies or frames of reference cannot form one volume; "
                "separate the files and load one set."
            )


#: The files are decoded in this many parts at once (GDCM releases the GIL): twice as fast
#: on two cores.
READ_PARTS = 2


def _read_pixels(headers: Sequence[DicomHeader], root: Path) -> np.ndarray:
    """(N, rows, columns) rescaled pixels of the sorted files, decoded by GDCM; int16 or float32.

    GDCM picks a pixel type wide enough for any stored value after rescale (often int32 for
    CT); asking for int16 up front when the header ranges prove it is enough, and compacting
    from a view otherwise, keeps the peak memory near two copies of the int16 volume. The
    files are decoded in :data:`READ_PARTS` consecutive parts by as many threads.
    """
    output_type = _output_pixel_type(headers)
    count = max(1, min(READ_PARTS, os.cpu_count() or 1, len(headers)))
    bounds = [len(headers) * n // count for n in range(count + 1)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        jobs = [pool.submit(_decode, headers[a:b], output_type) for a, b in pairwise(bounds)]
        try:
            images = [job.result() for job in jobs]
        except RuntimeError as error:
            raise _decode_error(headers, root, error) from None
    views = [sitk.GetArrayViewFromImage(image) for image in images]
    expected = (len(headers), headers[0].rows, headers[0].columns)
    found = (sum(v.shape[0] for v in views), *views[0].shape[1:])
    if found != expected or any(v.shape[1:] != views[0].shape[1:] for v in views):
        raise ImagingError(
            f"decoded pixels of {relative_name(headers[0].path, root)}... have shape "
            f"{found}, but the headers announce {expected} (slices, rows, columns); the "
            "files are inconsistent. Re-export the series."
        )
    return _compact(views)


def _decode(headers: Sequence[DicomHeader], output_type: int | None) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileNames([str(h.path) for h in headers])
    reader.SetSpacingWarningRelThreshold(1e9)  # spacing is checked from the headers instead
    if output_type is not None:
        reader.SetOutputPixelType(output_type)
    return reader.Execute()


def _output_pixel_type(headers: Sequence[DicomHeader]) -> int | None:
    """sitkFloat32 for non-integer or per-slice rescale, sitkInt16 when every possible
    rescaled stored value fits int16, else None (GDCM's choice, compacted afterwards)."""
    rescales = {(h.rescale_slope, h.rescale_intercept) for h in headers}
    integral = all(float(v).is_integer() for pair in rescales for v in pair)
    if len(rescales) > 1 or not integral:
        return int(sitk.sitkFloat32)
    slope, intercept = rescales.pop()
    first = headers[0]
    bits = first.bits_stored
    low, high = (
        (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        if first.pixel_representation
        else (0, 2**bits - 1)
    )
    ends = (low * slope + intercept, high * slope + intercept)
    if _INT16.min <= min(ends) and max(ends) <= _INT16.max:
        return int(sitk.sitkInt16)
    return None


def _decode_error(headers: Sequence[DicomHeader], root: Path, error: RuntimeError) -> ImagingError:
    """Find the file GDCM cannot decode (one by one) and say which and why."""
    for header in headers:
        reader = sitk.ImageFileReader()
        reader.SetImageIO("GDCMImageIO")
        reader.SetFileName(str(header.path))
        try:
            reader.Execute()
        except RuntimeError as file_error:
            syntax = header.transfer_syntax_uid
            return ImagingError(
                f"{relative_name(header.path, root)}: the pixel data cannot be decoded "
                f"(transfer syntax {_syntax_name(syntax)} {syntax}; GDCM says: "
                f"{_last_line(file_error)}). The file is corrupt or uses an unsupported "
                "compression; re-export the series uncompressed."
            )
    return ImagingError(f"the series cannot be read by GDCM: {_last_line(error)}")


def _drop_duplicates(
    headers: list[DicomHeader], array: np.ndarray, plane: SlicePlane, root: Path
) -> tuple[list[DicomHeader], np.ndarray, list[str]]:
    positions = np.array([h.position_lps_mm for h in headers], dtype=np.float64)
    warnings: list[str] = []
    drop: list[int] = []
    for group in duplicate_groups(positions, plane):
        names = [relative_name(headers[i].path, root) for i in group]
        keep = group[0]
        for other in group[1:]:
            if not np.array_equal(array[keep], array[other]):
                raise ImagingError(
                    f"duplicate slice position: {names[0]} and "
                    f"{relative_name(headers[other].path, root)} lie at the same position "
                    f"(IPP {np.round(positions[keep], 3).tolist()}) but hold different images"
                    f"{_differing_tags(headers[keep], headers[other])}. The series mixes several "
                    "acquisitions, echoes or time points; export the one to plan on as its own "
                    "series."
                )
        warnings.append(
            f"duplicate slices: {', '.join(names)} lie at the same position and hold identical "
            f"pixels; kept {names[0]}, ignored the others"
        )
        drop += group[1:]
    if not drop:
        return headers, array, warnings
    keep_mask = np.ones(len(headers), dtype=bool)
    keep_mask[drop] = False
    kept = [h for h, k in zip(headers, keep_mask, strict=True) if k]
    return kept, array[keep_mask], warnings


def _differing_tags(a: DicomHeader, b: DicomHeader) -> str:
    tags = (
        ("AcquisitionNumber", "acquisition_number"),
        ("EchoNumbers", "echo_number"),
        ("TemporalPositionIdentifier", "temporal_position"),
        ("InstanceNumber", "instance_number"),
    )
    differing = [
        f"{label} {getattr(a, attr)} vs {getattr(b, attr)}"
        for label, attr in tags
        if getattr(a, attr) != getattr(b, attr)
    ]
    return f" ({', '.join(differing)})" if differing else ""


def _padding(header: DicomHeader, array: np.ndarray) -> float:
    """Outside value: PixelPaddingValue (rescaled), else air for CT, else the image minimum."""
    if header.padding_value is not None:
        return header.padding_value * header.rescale_slope + header.rescale_intercept
    if header.modality == "CT":
        return CT_AIR_HU
    return float(array.min())


def _compact(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The parts stacked along their first axis in a new array: int16 when every value is an
    integer in int16's range, else float32.

    The parts may be views of memory owned by SimpleITK; the result never is.
    """
    dtype: np.dtype[Any] = np.dtype(np.int16)
    if any(part.dtype != np.int16 for part in parts):
        low = min(float(part.min()) for part in parts)
        high = max(float(part.max()) for part in parts)
        fits = _INT16.min <= low and high <= _INT16.max
        if fits and any(np.issubdtype(part.dtype, np.floating) for part in parts):
            fits = all(  # slice by slice
                np.array_equal(plane, np.round(plane)) for part in parts for plane in part
            )
        dtype = np.dtype(np.int16 if fits else np.float32)
    out = np.empty((sum(part.shape[0] for part in parts), *parts[0].shape[1:]), dtype=dtype)
    start = 0
    for part in parts:
        out[start : start + part.shape[0]] = part  # exact: the values fit ``dtype``
        start += part.shape[0]
    return out


def _metadata(
    headers: Sequence[DicomHeader],
    root: Path,
    files: tuple[Path, ...],
    padding: float,
    resampled: bool,
    warnings: Sequence[str],
) -> dict[str, Any]:
    first = headers[0]
    return {
        "kind": "dicom",
        "source": str(root),
        "modality": first.modality,
        "series_instance_uid": first.series_instance_uid,
        "study_instance_uid": first.study_instance_uid,
        "frame_of_reference_uid": first.frame_of_reference_uid,
        "patient_id": first.patient_id,
        "patient_position": first.patient_position,
        "series_number": first.series_number,
        "series_description": first.series_description,
        "files": [str(path) for path in files],
        "slice_thickness_mm": first.slice_thickness_mm,
        "rescale_slope": first.rescale_slope,
        "rescale_intercept": first.rescale_intercept,
        "outside_value": padding,
        "resampled": resampled,
        "warnings": list(warnings),
    }


def _syntax_name(uid: str) -> str:
    try:
        return f"'{pydicom.uid.UID(uid).name}'"
    except Exception:  # malformed UID text
        return "(unknown)"


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(error).__name__
