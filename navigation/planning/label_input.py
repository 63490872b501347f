"""Label maps in (``igcs plan --labels``): label files named after their structure, label maps
with several values, and 3D Slicer segmentations (``.seg.nrrd``, shared or layered).

A file's structure is named by what it means where its name says so, with the names and SNOMED
codes the Slicer import uses (:func:`navigation.planning.terminology.label_for_segment`):
``tumour.nrrd``, ``GTV_70.nii.gz`` and ``GTVp.nrrd`` are the plan's ``tumour``, ``GTVn1.nrrd``
its ``node``, ``External.nrrd`` its ``skin``; other files keep their names (``Mandible.nrrd``
-> ``Mandible``). A ``.seg.nrrd`` is read by the Slicer import's reader
(:func:`navigation.planning.segmentation_import.read_seg_nrrd`, slicerio): each segment is a
structure with its name, label value and colour, so a plan's own ``labels.seg.nrrd`` (layered
where segments overlap) comes back with identical labels, values, colours and voxels.

Values: the canonical labels keep theirs (``tumour`` 4...); a segment keeps its file's value
when no earlier structure holds it; the rest take the lowest free values in file order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from navigation.imaging.volume import Volume
from navigation.planning.labels import CANONICAL_LABELS, PALETTE, canonical_entry
from navigation.planning.plan import LabelEntry
from navigation.planning.regions import RegionMask
from navigation.planning.segmentation import Segmentation
from navigation.planning.segmentation_import import read_seg_nrrd
from navigation.planning.terminology import label_for_segment
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry

LABEL_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii", ".nii.gz", ".mha", ".mhd")
_CANONICAL = {entry.name for entry in CANONICAL_LABELS}


@dataclass(frozen=True)
class _Structure:
    name: str  # the plan's label
    source: str  # the file's or segment's own name
    file: Path
    mask: np.ndarray  # (k, j, i) bool
    value: int | None = None  # the file's label value (segments)
    color: tuple[float, float, float] | None = None


def read_label_files(path: str | Path) -> tuple[Volume, Segmentation]:
    """Read a label map file, a ``.seg.nrrd``, or a folder of label files (one structure each)
    into a single-layer label :class:`Volume` (modality "LABEL", later structures painted over
    earlier ones) and a :class:`Segmentation` (structures may overlap there), named as the
    module docstring says. The files must share one grid (LPS geometry from their headers).
    The segmentation's ``imports["label_files"]`` records which file gave which label.
    """
    files = _label_files(Path(path))
    geometry: ImageGeometry | None = None
    structures: list[_Structure] = []
    for file in files:
        grid, found = _read_file(file, several_files=len(files) > 1)
        if geometry is None:
            geometry = grid
        elif not _same_grid(grid, geometry):
            raise InputError(
                f"{file} is on a different grid from {files[0]} (size, origin, spacing or "
                "direction differ); label files of one plan must share one grid."
            )
        structures += found
    assert geometry is not None
    table = _table(structures)
    regions = {s.name: RegionMask.from_full(s.mask) for s in structures}
    dtype = np.uint8 if max(e.value for e in table) < 256 else np.uint16
    label_volume = Volume(
        np.zeros(geometry.shape_kji, dtype=dtype), geometry, "LABEL",
        {"files": [str(f) for f in files]},
    )  # fmt: skip
    for entry in table:
        region = regions[entry.name]
        label_volume.array[region.slices][region.mask] = entry.value
    record = {
        "path": str(path),
        "structures": [
            {"name": s.name, "source": s.source, "file": s.file.name} for s in structures
        ],
    }
    empty = [e.name for e in table if regions[e.name].voxel_count == 0]
    segmentation = Segmentation(
        geometry=geometry,
        table=table,
        regions=regions,
        modality="LABEL",
        warnings=tuple(f"label {name!r} is empty" for name in empty),
        imports={"label_files": record},
    )
    return label_volume, segmentation


def structure_name(file: Path) -> str:
    """A label file's own name without its suffix (``Parotid-Lt.nii.gz`` -> ``Parotid-Lt``)."""
    name = file.name
    for suffix in LABEL_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return file.stem


def _label_files(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(
            p for p in source.iterdir() if p.is_file() and p.name.lower().endswith(LABEL_SUFFIXES)
        )
        if not files:
            raise InputError(
                f"{source} holds no label files ({', '.join(LABEL_SUFFIXES)}); give a label "
                "map file or a folder of them."
            )
        return files
    if source.is_file():
        return [source]
    raise InputError(f"label input {source} does not exist.")


def _read_file(file: Path, *, several_files: bool) -> tuple[ImageGeometry, list[_Structure]]:
    if file.name.lower().endswith(".seg.nrrd"):
        grid, segments = read_seg_nrrd(file)
        found = []
        for s in segments:
            name = label_for_segment(s.name, s.terminology) or s.name
            found.append(_Structure(name, s.name, file, s.mask, s.value, s.color))
        return grid, found
    try:
        image = sitk.ReadImage(str(file))
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
        raise InputError(f"{file} is not a readable label map ({first}).") from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{file} has {image.GetNumberOfComponentsPerPixel()} components per voxel; a label "
            "map has one (a layered 3D Slicer segmentation must be named *.seg.nrrd)."
        )
    volume = Volume.from_sitk(image, modality="LABEL")
    if not np.issubdtype(volume.array.dtype, np.integer):
        raise InputError(f"{file} holds {volume.array.dtype} voxels; a label map is integer.")
    values = _values(volume.array)
    if several_files or len(values) <= 1:
        own = structure_name(file)
        name = label_for_segment(own, None) or own
        return volume.geometry, [_Structure(name, own, file, volume.array != 0)]
    return volume.geometry, [
        _Structure(f"label_{v}", f"value {v}", file, volume.array == v) for v in values
    ]


def _table(structures: list[_Structure]) -> tuple[LabelEntry, ...]:
    """The label table (see the module docstring for the values); refuses two structures that
    mean one label."""
    seen: dict[str, _Structure] = {}
    for structure in structures:
        if structure.name in seen:
            first = seen[structure.name]
            raise InputError(
                f"{first.file.name} ({first.source!r}) and {structure.file.name} "
                f"({structure.source!r}) both mean {structure.name!r}; rename or remove one."
            )
        seen[structure.name] = structure
    values: dict[str, int] = {
        s.name: canonical_entry(s.name).value for s in structures if s.name in _CANONICAL
    }
    for structure in structures:
        if structure.name not in values and structure.value is not None:
            if structure.value not in values.values() and 1 <= structure.value <= 65535:
                values[structure.name] = structure.value
    for structure in structures:
        if structure.name not in values:
            taken = set(values.values())
            values[structure.name] = next(v for v in range(1, 65536) if v not in taken)
    table = []
    for n, structure in enumerate(structures):
        color = structure.color
        if color is None:
            color = (
                canonical_entry(structure.name).color
                if structure.name in _CANONICAL
                else PALETTE[n % len(PALETTE)]
            )
        table.append(LabelEntry(structure.name, values[structure.name], color))
    return tuple(table)


def _same_grid(a: ImageGeometry, b: ImageGeometry) -> bool:
    return (
        a.size_ijk == b.size_ijk
        and np.allclose(a.origin_lps_mm, b.origin_lps_mm, atol=1e-3)
        and np.allclose(a.spacing_mm, b.spacing_mm, atol=1e-5)
        and np.allclose(a.direction, b.direction, atol=1e-5)
    )


def _values(array: np.ndarray) -> list[int]:
    """The non-zero values of an integer array (few values: compare, faster than np.unique)."""
    low, high = int(array.min()), int(array.max())
    if low >= 0 and high <= 64:
        return [v for v in range(1, high + 1) if (array == v).any()]
    return [int(v) for v in np.unique(array) if v != 0]
