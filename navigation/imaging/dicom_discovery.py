"""Finding DICOM series in a folder tree and choosing the one to load.

Every file under the folder is read once with pydicom (header only, see
:mod:`navigation.imaging.dicom_headers`) and grouped by SeriesInstanceUID, the same key as
GDCM's series IDs in SimpleITK (``ImageSeriesReader.GetGDCMSeriesIDs``). GDCM's discovery is
not used itself because it looks at one directory at a time, does not say why it skipped a file,
and would read every header a second time. A series whose files differ in size, orientation,
pixel spacing or kind (localizer/scout, multi-frame) is split into *stacks*; a stack is the unit
that can become one volume.

Which stack to load is chosen by :mod:`navigation.imaging.dicom_choice`.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom.uid

from navigation.imaging.dicom_checks import slice_plane
from navigation.imaging.dicom_headers import DicomHeader, FileFinding, read_header
from navigation.imaging.errors import ImagingError

#: Transfer syntaxes that SimpleITK's GDCM cannot decode (video, HTJ2K, JPEG XL, JPIP, SMPTE).
UNDECODABLE_SYNTAXES = {
    **{f"1.2.840.10008.1.2.4.{n}": "MPEG/HEVC video" for n in range(100, 109)},
    **{f"1.2.840.10008.1.2.4.{n}": "JPEG XL" for n in (110, 111, 112)},
    **{f"1.2.840.10008.1.2.4.{n}": "High-Throughput JPEG 2000" for n in (201, 202, 203)},
    "1.2.840.10008.1.2.4.94": "JPIP referenced",
    "1.2.840.10008.1.2.4.95": "JPIP referenced deflate",
    **{f"1.2.840.10008.1.2.7.{n}": "SMPTE ST 2110" for n in (1, 2, 3)},
}
_AXES = ("sagittal", "coronal", "axial")
#: Largest difference of direction cosines (IOP) or pixel spacing (mm) within one stack.
_SAME_GEOMETRY = 1e-4


@dataclass(frozen=True)
class DicomStack:
    """Image files of one series that share size, orientation, spacing and kind.

    ``problem`` is empty when the stack can be read, else why it cannot (multi-frame, no
    patient geometry, colour, truncated files, an undecodable transfer syntax...).
    ``broken`` holds files of this stack whose header was readable but whose data is not.
    """

    headers: tuple[DicomHeader, ...]
    broken: tuple[FileFinding, ...] = ()
    problem: str = ""

    @property
    def first(self) -> DicomHeader:
        return self.headers[0] if self.headers else self.broken[0].header  # type: ignore[return-value]

    @property
    def series_instance_uid(self) -> str:
        return self.first.series_instance_uid

    @property
    def count(self) -> int:
        return len(self.headers)

    @property
    def is_localizer(self) -> bool:
        return self.first.is_localizer

    @property
    def orientation_label(self) -> str:
        """ "axial", "sagittal", "coronal", "oblique axial" (> 1 deg off)..., or "unknown"."""
        if self.first.orientation is None:
            return "unknown"
        try:
            normal = slice_plane(self.first.orientation, where="").normal
        except ImagingError:
            return "unknown"
        axis = int(np.argmax(np.abs(normal)))
        oblique = np.degrees(np.arccos(min(1.0, abs(float(normal[axis]))))) > 1.0
        return ("oblique " if oblique else "") + _AXES[axis]

    def describe(self, root: Path) -> str:
        """One line for the user: modality, series number and description, size, UID."""
        h = self.first
        number = f" #{h.series_number}" if h.series_number is not None else ""
        text = f" '{h.series_description}'" if h.series_description else ""
        kind = " localizer" if self.is_localizer else ""
        frames = f", {h.number_of_frames} frames" if h.number_of_frames > 1 else ""
        paths = [header.path for header in self.headers] + [f.path for f in self.broken]
        names = f" ({', '.join(p.name for p in paths)})" if len(paths) <= 3 else ""
        return (
            f"{h.modality}{kind} series{number}{text}: {len(paths)} file(s){names} in "
            f"{_folder(paths[0], root)}, {h.columns}x{h.rows}{frames}, "
            f"{self.orientation_label}, uid {h.series_instance_uid or '(none)'}"
        )


@dataclass(frozen=True)
class DicomDiscovery:
    """Everything found under ``root``: image stacks and every other file with its reason.

    ``source`` is the path given (a folder, then equal to ``root``, or one file in ``root``).
    """

    source: Path
    root: Path
    stacks: tuple[DicomStack, ...]
    others: tuple[FileFinding, ...]
    file_count: int
    dicomdir: Path | None = None  # the DICOMDIR given, whose folder was read instead


def discover_dicom(path: Path) -> DicomDiscovery:
    """Read every file's header under ``path`` (a folder, searched recursively, or one file).

    Never raises on a file it does not understand: such a file is listed in ``others`` with
    the reason. A DICOMDIR file stands for the folder it indexes (the folder is read).
    """
    dicomdir = None
    if path.is_file() and _read_header_safely(path).kind == "dicomdir":
        dicomdir, path = path, path.parent
    root = path if path.is_dir() else path.parent
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    with _quiet_pydicom():
        findings = [_read_header_safely(file) for file in files]
    grouped: dict[tuple[object, ...], list[FileFinding]] = defaultdict(list)
    others: list[FileFinding] = []
    for finding in findings:
        if finding.header is None:
            others.append(finding)
        else:
            grouped[_stack_key(finding.header)].append(finding)
    stacks = []
    for members in grouped.values():
        try:
            stacks += [_make_stack(cluster) for cluster in _by_geometry(members)]
        except Exception as error:  # a header value no rule foresaw: list the files, go on
            reason = f"header values cannot be grouped into a stack ({_short(error)})"
            others += [FileFinding(f.path, "unreadable", reason) for f in members]
    stacks.sort(key=lambda s: (s.series_instance_uid, -s.count, str(s.first.path)))
    return DicomDiscovery(path, root, tuple(stacks), tuple(others), len(files), dicomdir)


def _read_header_safely(path: Path) -> FileFinding:
    """:func:`read_header`, and any error it did not foresee becomes an "unreadable" finding."""
    try:
        return read_header(path)
    except Exception as error:  # discovery must go on past any one file
        return FileFinding(path, "unreadable", f"cannot be classified ({_short(error)})")


@contextlib.contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """pydicom logs a warning per odd value (invalid UIs, VRs); the findings say what matters."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:120]}" if text else type(error).__name__


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else the file name."""
    return _name(path, root)


def _stack_key(header: DicomHeader) -> tuple[object, ...]:
    return (
        header.series_instance_uid,
        header.rows,
        header.columns,
        header.orientation is None,
        header.pixel_spacing_mm is None,
        header.is_localizer,
        header.is_multiframe,
        header.samples_per_pixel,
    )


def _by_geometry(members: Sequence[FileFinding]) -> list[list[FileFinding]]:
    """Split files into clusters of equal orientation and pixel spacing (within tolerance).

    A tolerance rather than rounding, so that values written with different precision do not
    fall on two sides of a rounding boundary. Files without orientation or spacing (secondary
    captures, dose report pages) have an empty key and cluster together.
    """
    clusters: list[tuple[np.ndarray, list[FileFinding]]] = []
    for finding in members:
        header = finding.header
        if header is None:  # not reached: only files with headers are grouped
            continue
        key = np.array([*(header.orientation or ()), *(header.pixel_spacing_mm or ())])
        for reference, cluster in clusters:
            if key.shape == reference.shape and (
                key.size == 0 or float(np.abs(key - reference).max()) <= _SAME_GEOMETRY
            ):
                cluster.append(finding)
                break
        else:
            clusters.append((key, [finding]))
    return [cluster for _, cluster in clusters]


def _make_stack(members: Sequence[FileFinding]) -> DicomStack:
    headers = tuple(f.header for f in members if f.kind == "image" and f.header is not None)
    broken = tuple(f for f in members if f.kind != "image")
    return DicomStack(headers, broken, _stack_problem(headers, broken))


def _stack_problem(headers: Sequence[DicomHeader], broken: Sequence[FileFinding]) -> str:
    if broken:
        return "unreadable file(s): " + names_list([f"{f.path.name} ({f.reason})" for f in broken])
    first = headers[0]
    name = first.path.name
    if first.is_multiframe:
        return (
            f"{name} is a multi-frame file ({first.number_of_frames} frames); IGCS reads "
            "single-frame series. Convert it (e.g. dcm2niix to NIfTI, or the scanner's "
            "'classic' single-frame export) and load that"
        )
    if first.samples_per_pixel != 1:
        return f"{name} is a colour image ({first.samples_per_pixel} samples per pixel)"
    if first.position_lps_mm is None or first.orientation is None:
        missing = "ImagePositionPatient" if first.position_lps_mm is None else ""
        missing += (" and " if missing else "") + (
            "ImageOrientationPatient" if first.orientation is None else ""
        )
        sop = _sop_name(first.sop_class_uid)
        what = f" ({sop})" if sop else ""
        return (
            f"{name}{what} has no {missing}: its position in the patient is unknown (a "
            "projection radiograph, a secondary capture such as a dose report page, or a "
            "screenshot), so it cannot be planned on"
        )
    if first.pixel_spacing_mm is None or min(first.pixel_spacing_mm) <= 0:
        return f"{name} has no valid PixelSpacing: the voxel size is unknown"
    undecodable = [h for h in headers if h.transfer_syntax_uid in UNDECODABLE_SYNTAXES]
    if undecodable:
        syntax = undecodable[0].transfer_syntax_uid
        return (
            f"{undecodable[0].path.name} uses the transfer syntax "
            f"{UNDECODABLE_SYNTAXES[syntax]} ({syntax}), which IGCS (GDCM) cannot decode. "
            "Re-export the series uncompressed (or convert it, e.g. with dcmdjpeg/gdcmconv --raw)"
        )
    return ""


def _sop_name(uid: str) -> str:
    try:
        return str(pydicom.uid.UID(uid).name) if uid else ""
    except Exception:  # malformed UID text
        return ""


def _folder(path: Path, root: Path) -> str:
    parent = _name(path.parent, root) if path.parent != root else "."
    return parent


def _name(path: Path, root: Path) -> str:
    try:
        relative = path.relative_to(root)
        return str(relative) if str(relative) != "." else path.name
    except ValueError:
        return path.name


def names_list(names: Sequence[str], limit: int = 8) -> str:
    """At most ``limit`` names, comma-separated, and how many more."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
