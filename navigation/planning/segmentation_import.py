"""A 3D Slicer segmentation (``.seg.nrrd``) read back, and imported onto the planning grid.

Read with ``slicerio`` (``read_segmentation``: the NRRD header's ``space`` LPS or RAS, the
segments' ``_Layer``/``_LabelValue``/``_Name``/``_Color``/``_Tags``), voxels in pynrrd's
(i, j, k) order, turned here into the (k, j, i) arrays of the rest of igcs. Shared labelmaps
(several segments in one layer with different label values) and layered files (a ``list`` axis
where segments overlap, as ``igcs plan`` writes ``labels.seg.nrrd``) are both read.

:func:`read_seg_nrrd` gives the segments on the file's own grid (a plan's own
``labels.seg.nrrd`` comes back exactly: names, values, colours, voxels).
:func:`segmentation_structures` maps them onto the planning image: a file on the image's grid,
or on a box of it (Slicer crops segmentations to their extent), is placed voxel for voxel; any
other grid is resampled by nearest voxel, said so in the record. Segment names and terminology
codes are mapped to the plan's labels by :func:`navigation.planning.terminology.label_for_segment`
(``GTV`` or SNOMED ``108369006 Neoplasm`` -> ``tumour``...); other segments keep their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import slicerio

from navigation.imaging.grid_sampling import sample_nearest
from navigation.imaging.volume import Volume
from navigation.planning.imported_structures import ImportedStructures
from navigation.planning.regions import RegionMask
from navigation.planning.terminology import label_for_segment
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry

_SAME = 1e-3  # voxels / relative spacing / direction cosines


@dataclass(frozen=True)
class SegmentRead:
    """One segment of a ``.seg.nrrd``: its header fields and (k, j, i) mask on the file's grid."""

    name: str
    value: int
    layer: int
    color: tuple[float, float, float] | None
    terminology: dict[str, Any] | None
    mask: np.ndarray


def read_seg_nrrd(path: str | Path) -> tuple[ImageGeometry, list[SegmentRead]]:
    """The file's grid (LPS mm) and its segments; :class:`InputError` for what is not one."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"segmentation {file} does not exist; give a Slicer .seg.nrrd file.")
    try:
        segmentation = slicerio.read_segmentation(str(file))
    except Exception as error:  # pynrrd and slicerio raise assorted errors on foreign files
        raise InputError(
            f"{file} is not a readable 3D Slicer segmentation ({error}); save it from Slicer's "
            "Segmentations module as .seg.nrrd."
        ) from None
    voxels = segmentation.get("voxels")
    if voxels is None or voxels.ndim not in (3, 4) or not np.issubdtype(voxels.dtype, np.integer):
        raise InputError(f"{file}: expected integer voxels on 3 axes (plus layers).")
    geometry = _geometry(np.asarray(segmentation["ijkToLPS"], dtype=np.float64),
                         voxels.shape[-3:], file)  # fmt: skip
    segments: list[SegmentRead] = []
    for info in segmentation.get("segments", []):
        layer = int(info.get("layer", 0))
        if voxels.ndim == 4 and not 0 <= layer < voxels.shape[0]:
            raise InputError(f"{file}: segment {info.get('name')!r} is in layer {layer}, absent.")
        ijk = voxels[layer] if voxels.ndim == 4 else voxels
        value = int(info.get("labelValue", 1))
        color = info.get("color")
        segments.append(
            SegmentRead(
                name=str(info.get("name") or info.get("id") or f"segment {len(segments) + 1}"),
                value=value,
                layer=layer,
                color=None
                if color is None
                else (float(color[0]), float(color[1]), float(color[2])),
                terminology=info.get("terminology"),
                mask=np.ascontiguousarray((ijk == value).transpose(2, 1, 0)),
            )
        )
    if not segments:
        raise InputError(f"{file} holds no segments.")
    return geometry, segments


def segmentation_structures(path: str | Path, image: Volume) -> ImportedStructures:
    """The segments of the ``.seg.nrrd`` at ``path`` on ``image``'s grid, named by our labels
    where they mean one (see the module docstring)."""
    file = Path(path)
    grid, segments = read_seg_nrrd(file)
    placement = _placement(grid, image.geometry)
    mapped: dict[str, str] = {}
    regions: dict[str, RegionMask] = {}
    colors: dict[str, tuple[float, float, float]] = {}
    imported, skipped = [], []
    for segment in segments:
        label = label_for_segment(segment.name, segment.terminology) or segment.name
        if label in mapped:
            raise InputError(
                f"{file}: segments {mapped[label]!r} and {segment.name!r} both mean {label!r}; "
                "rename or remove one in Slicer."
            )
        mapped[label] = segment.name
        region = _on_image(segment.mask, grid, image.geometry, placement)
        if region.voxel_count == 0:
            skipped.append({"name": segment.name, "reason": "empty on the image's grid"})
            continue
        regions[label] = region
        outside = int(np.count_nonzero(segment.mask)) - region.voxel_count
        if placement[1] is not None and outside > 0:
            skipped.append({"name": segment.name, "reason": f"{outside} voxels outside the image"})
        if segment.color is not None:
            colors[label] = segment.color
        term = (segment.terminology or {}).get("type")
        imported.append(
            {
                "name": label,
                "source": segment.name,
                "terminology": None if not term else "^".join(str(t) for t in term),
                "volume_ml": round(region.volume_ml(image.geometry), 3),
            }
        )
    if not regions:
        raise InputError(
            f"{file}: no segment overlaps the image; is the segmentation of this scan?"
        )
    record = {"file": str(file), "grid": placement[0], "imported": imported, "skipped": skipped}
    return ImportedStructures("segmentation_import", regions, colors, record)


def _geometry(ijk_to_lps: np.ndarray, shape_ijk: tuple[int, ...], file: Path) -> ImageGeometry:
    axes = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    if np.any(spacing <= 0):
        raise InputError(f"{file}: 'space directions' has a zero axis; the file is corrupt.")
    try:
        return ImageGeometry(
            (int(shape_ijk[0]), int(shape_ijk[1]), int(shape_ijk[2])),
            ijk_to_lps[:3, 3].copy(),
            spacing,
            axes / spacing,
        )
    except InputError as error:
        raise InputError(f"{file}: {error}") from None


def _placement(grid: ImageGeometry, image: ImageGeometry) -> tuple[str, np.ndarray | None]:
    """("same"|"box", (k, j, i) offset) when the file's voxels are image voxels, else
    ("resampled", None)."""
    same_axes = np.allclose(grid.direction, image.direction, atol=_SAME) and np.allclose(
        grid.spacing_mm, image.spacing_mm, rtol=_SAME
    )
    offset_ijk = image.lps_to_ijk(grid.origin_lps_mm)
    if same_axes and np.allclose(offset_ijk, np.rint(offset_ijk), atol=_SAME):
        offset = np.rint(offset_ijk).astype(int)[::-1]
        same = not offset.any() and grid.size_ijk == image.size_ijk
        return ("same" if same else "box", offset)
    return ("resampled", None)


def _on_image(
    mask: np.ndarray,
    grid: ImageGeometry,
    image: ImageGeometry,
    placement: tuple[str, np.ndarray | None],
) -> RegionMask:
    _kind, offset = placement
    if offset is None:
        return RegionMask.from_full(sample_nearest(mask, grid, image, fill=False))
    shape = np.asarray(image.shape_kji)
    low = np.maximum(offset, 0)
    high = np.minimum(offset + np.asarray(mask.shape), shape)
    if np.any(high <= low):
        return RegionMask.from_full(np.zeros((0, 0, 0), dtype=bool))
    source = tuple(slice(a - o, b - o) for a, b, o in zip(low, high, offset, strict=True))
    block = RegionMask.from_full(mask[source])
    start = np.asarray(block.offset_kji) + low
    return RegionMask((int(start[0]), int(start[1]), int(start[2])), block.mask)
