"""Reading NIfTI, NRRD and MetaImage files into a :class:`Volume` with SimpleITK.

ITK converts each format's geometry to LPS (NIfTI's RAS qform/sform, NRRD's ``space`` and
``space directions``, MetaImage's ``TransformMatrix``), so the SimpleITK image's origin,
spacing and direction are used as they are. Two cases are warned about because the file does
not say where the patient is: a NIfTI file with neither qform nor sform, and a NRRD file with
per-axis ``spacings`` but no ``space directions``. The latter is also refused by ITK's NRRD
reader when a ``space`` is given (teem's "ScalarWithSpace" rule); it is then read with pynrrd
(header and data, also when the data is split over several detached files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nrrd
import numpy as np
import SimpleITK as sitk

from navigation.imaging.errors import ImagingError
from navigation.imaging.nifti_header import nifti_dimensions
from navigation.imaging.volume import Volume
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry

#: File name endings read here, and the kind reported for them.
IMAGE_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "mha",
    ".mhd": "mha",
}
_NRRD_DATA_LIST = re.compile(
    r"^(?P<format>\S*%\S*)\s+(?P<min>-?\d+)\s+(?P<max>-?\d+)\s+(?P<step>-?\d+)"
)


@dataclass(frozen=True)
class FileRead:
    """A volume read from one image file, the files it came from and warnings about it."""

    volume: Volume
    kind: str
    files: tuple[Path, ...]
    warnings: tuple[str, ...]


def image_file_kind(path: Path) -> str | None:
    """ "nifti", "nrrd" or "mha" from the file name, or None."""
    name = path.name.lower()
    for suffix, kind in IMAGE_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return None


def read_image_file(path: Path) -> FileRead:
    """Read a 3-D scalar NIfTI/NRRD/MetaImage file (geometry in LPS mm)."""
    kind = image_file_kind(path)
    if kind is None:
        raise ImagingError(f"{path.name}: not a NIfTI, NRRD or MetaImage file name.")
    if kind == "nifti":
        _check_nifti_dimensions(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    warnings: list[str] = []
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        if kind == "nrrd" and "spacing" in str(error).lower():
            return _read_nrrd_without_directions(path)
        raise ImagingError(
            f"{path.name}: cannot be read as {kind} ({_last_line(error)})."
        ) from None
    dimension = reader.GetDimension()
    if dimension != 3 and not (dimension == 4 and reader.GetSize()[3] == 1):
        raise ImagingError(
            f"{path.name} is a {dimension}-D image of size {reader.GetSize()}; IGCS plans on one "
            "3-D volume. Extract the 3-D image (e.g. one time point) and load that."
        )
    if reader.GetNumberOfComponents() != 1:
        raise ImagingError(
            f"{path.name} has {reader.GetNumberOfComponents()} components per voxel (colour, "
            "vector or a multi-layer segmentation); IGCS needs one scalar value per voxel."
        )
    if kind == "nifti" and _metadata(reader, "qform_code") == "0" == _metadata(
        reader, "sform_code"
    ):
        warnings.append(
            f"{path.name} has neither a qform nor an sform (both codes 0): its orientation in "
            "the patient is unknown, so laterality is NOT guaranteed"
        )
    try:
        image = reader.Execute()
    except RuntimeError as error:
        message = f"{path.name}: the image data cannot be read ({_last_line(error)})."
        raise ImagingError(message) from None
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    files = (path, *[f for f in _detached_files(path) if f != path])
    return FileRead(_volume(image, path, kind, files, warnings), kind, files, tuple(warnings))


def _check_nifti_dimensions(path: Path) -> None:
    """Refuse a NIfTI file whose header gives an axis of zero length (it holds no image)."""
    dims = nifti_dimensions(path)
    if dims is not None and any(n <= 0 for n in dims):
        raise ImagingError(
            f"{path.name}: the NIfTI header gives an axis of length zero (dim {list(dims)}), so "
            "the file holds no image. Re-export or re-convert the image."
        )


def _read_nrrd_without_directions(path: Path) -> FileRead:
    try:
        header = nrrd.read_header(str(path))
    except (nrrd.NRRDError, OSError, ValueError) as error:
        raise ImagingError(f"{path.name}: not a readable NRRD header ({error}).") from None
    sizes = [int(n) for n in header["sizes"]]
    if len(sizes) != 3 or "spacings" not in header:
        raise ImagingError(f"{path.name}: cannot be read as a 3-D NRRD volume (sizes {sizes}).")
    spacing = np.asarray(header["spacings"], dtype=np.float64)
    data_files = _nrrd_data_files(path, header)
    array = _read_data(path, header, data_files)
    geometry = ImageGeometry(tuple(sizes), np.zeros(3), spacing, np.eye(3))  # type: ignore[arg-type]
    warnings = [
        f"{path.name} gives per-axis 'spacings' in space '{header.get('space', 'none')}' but no "
        "'space directions' or 'space origin' (ITK refuses this combination): read with pynrrd; "
        "the axes were taken as L, P, S with the origin at (0, 0, 0). Its orientation in the "
        "patient is unknown, so laterality is NOT guaranteed"
    ]
    files = (path, *[f for f in data_files if f != path])
    metadata = {"kind": "nrrd", "source": str(path), "files": [str(f) for f in files]}
    metadata["warnings"] = warnings
    return FileRead(Volume(array, geometry, "OT", metadata), "nrrd", files, tuple(warnings))


def _nrrd_data_files(path: Path, header: dict[str, Any]) -> list[Path]:
    data_file = header.get("data file", header.get("datafile"))
    if data_file is None:
        return [path]
    match = _NRRD_DATA_LIST.match(str(data_file))
    if match is None:
        return [path.parent / str(data_file)]
    start, stop, step = (int(match[k]) for k in ("min", "max", "step"))
    return [path.parent / (match["format"] % n) for n in range(start, stop + 1, step)]


def _read_data(path: Path, header: dict[str, Any], files: list[Path]) -> np.ndarray:
    """The (k, j, i) array of a NRRD, one detached data file after another (pynrrd)."""
    sizes = [int(n) for n in header["sizes"]]
    if sizes[-1] % len(files):
        raise ImagingError(
            f"{path.name}: {len(files)} data files cannot hold {sizes[-1]} slices evenly."
        )
    chunk = dict(header)
    chunk["sizes"] = np.array([*sizes[:-1], sizes[-1] // len(files)])
    parts = []
    for file in files:
        chunk["data file"] = str(file)
        chunk.pop("datafile", None)
        try:
            parts.append(nrrd.read_data(chunk, filename=str(path), index_order="C"))
        except (nrrd.NRRDError, OSError, ValueError) as error:
            raise ImagingError(f"{file.name}: NRRD data cannot be read ({error}).") from None
    return np.concatenate(parts, axis=0)


def _volume(
    image: sitk.Image, path: Path, kind: str, files: tuple[Path, ...], warnings: list[str]
) -> Volume:
    metadata: dict[str, Any] = {
        "kind": kind,
        "source": str(path),
        "files": [str(f) for f in files],
        "warnings": list(warnings),
    }
    try:
        return Volume.from_sitk(image, modality="OT", metadata=metadata)
    except InputError as error:
        raise ImagingError(f"{path.name}: {error}") from None


def _detached_files(path: Path) -> list[Path]:
    """Data files a detached header (.nhdr, .mhd) points to."""
    try:
        if path.name.lower().endswith(".nhdr"):
            return _nrrd_data_files(path, nrrd.read_header(str(path)))
        if path.name.lower().endswith(".mhd"):
            for line in path.read_text(errors="replace").splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "ElementDataFile" and value.strip() != "LOCAL":
                    return [path.parent / value.strip()]
    except (nrrd.NRRDError, OSError, ValueError, ImagingError):
        return []
    return []


def _metadata(reader: sitk.ImageFileReader, key: str) -> str | None:
    return reader.GetMetaData(key) if reader.HasMetaDataKey(key) else None


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(error).__name__
