"""Label corrections a planner makes in the review window, on one label's voxels.

The operations of 3D Slicer's Segment Editor a planner needs most, on
:class:`~navigation.planning.regions.RegionMask` (voxels of one label, in their bounding box):

- islands (Slicer's *Islands* effect): keep the largest, remove those under a volume, remove
  the one holding a clicked voxel. Islands are 6-connected (face neighbours), as the body and
  lesions are grown (``cc3d``, sizes by ``fastremap``);
- threshold range (*Threshold* used as a mask): keep the label's voxels whose image value lies
  in [low, high];
- margin (*Margin*): grow or shrink by a distance in mm, Euclidean on the grid's anisotropic
  spacing (``scipy.ndimage.distance_transform_edt`` with ``sampling``): growing adds every
  voxel whose centre lies within the margin of a label voxel's centre; shrinking keeps the
  voxels whose centre lies farther than the margin from every voxel outside the label;
- clip by a box (*Scissors* with a box): keep the voxels whose centres lie in an axis-aligned
  LPS box (on any grid direction; :func:`navigation.planning.region_growing.inside_box`).

Every function returns a new mask (inputs are never changed) on the same grid; an operation
that empties the label is allowed (the planner sees it and may undo by not saving).
"""

from __future__ import annotations

import cc3d
import fastremap
import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from navigation.planning.region_growing import inside_box
from navigation.planning.regions import RegionMask
from registration.core.checks import InputError, check_finite, check_points
from registration.core.geometry import ImageGeometry


def keep_largest_island(region: RegionMask) -> RegionMask:
    """The largest 6-connected island of the label (an empty label stays empty)."""
    labels, values, sizes = _islands(region)
    if values.size == 0:
        return region
    return _from_block(region, labels == values[int(np.argmax(sizes))])


def remove_small_islands(
    region: RegionMask, geometry: ImageGeometry, min_volume_ml: float
) -> RegionMask:
    """The label without its 6-connected islands smaller than ``min_volume_ml`` (ml)."""
    minimum = float(check_finite(min_volume_ml, "min_volume_ml"))
    if minimum < 0:
        raise InputError(f"min_volume_ml must be >= 0; got {minimum}.")
    labels, values, sizes = _islands(region)
    voxel_ml = float(np.prod(geometry.spacing_mm)) / 1000.0
    small = values[sizes * voxel_ml < minimum]
    if small.size == 0:
        return region
    kept = fastremap.mask(labels, small.tolist(), in_place=True)
    return _from_block(region, kept > 0)


def remove_island_at(region: RegionMask, kji: ArrayLike) -> RegionMask:
    """The label without the 6-connected island holding voxel ``kji`` ((3,) int, full grid);
    :class:`InputError` when that voxel is not in the label."""
    index = np.asarray(kji, dtype=int).reshape(3) - np.asarray(region.offset_kji)
    inside = np.all(index >= 0) and np.all(index < np.asarray(region.mask.shape))
    if not inside or not region.mask[tuple(index)]:
        raise InputError(
            "the clicked voxel is not in this label: click inside the island to remove."
        )
    labels, _values, _sizes = _islands(region)
    return _from_block(region, region.mask & (labels != labels[tuple(index)]))


def threshold_range(region: RegionMask, image: np.ndarray, low: float, high: float) -> RegionMask:
    """The label's voxels whose ``image`` value ((k, j, i), full grid) lies in [low, high]."""
    low, high = float(check_finite(low, "low")), float(check_finite(high, "high"))
    if low > high:
        raise InputError(f"a threshold range needs low <= high; got {low:g}..{high:g}.")
    values = image[region.slices]
    return _from_block(region, region.mask & (values >= low) & (values <= high))


def grow_shrink(region: RegionMask, geometry: ImageGeometry, margin_mm: float) -> RegionMask:
    """The label grown (``margin_mm`` > 0) or shrunk (< 0) by ``|margin_mm|`` (see the module
    docstring), clipped to the image."""
    margin = float(check_finite(margin_mm, "margin_mm"))
    if margin == 0.0 or region.voxel_count == 0:
        return region
    sampling = geometry.spacing_mm[::-1]  # (k, j, i) mm
    shape = np.asarray(geometry.shape_kji)
    if margin > 0:
        pad = np.ceil(margin / sampling).astype(int) + 1
        low = np.maximum(np.asarray(region.offset_kji) - pad, 0)
        high = np.minimum(np.asarray(region.offset_kji) + region.mask.shape + pad, shape)
        block = np.zeros(tuple(high - low), dtype=bool)
        inner = tuple(
            slice(o - a, o - a + n)
            for o, a, n in zip(region.offset_kji, low, region.mask.shape, strict=True)
        )
        block[inner] = region.mask
        distance = ndimage.distance_transform_edt(~block, sampling=sampling)
        grown = distance <= margin + 1e-9
        start = (int(low[0]), int(low[1]), int(low[2]))
        return _shifted(RegionMask.from_full(grown), start)
    padded = np.pad(region.mask, 1)  # outside the block is outside the label
    distance = ndimage.distance_transform_edt(padded, sampling=sampling)[1:-1, 1:-1, 1:-1]
    return _from_block(region, distance > -margin + 1e-9)


def clip_to_box(
    region: RegionMask, geometry: ImageGeometry, corners_lps_mm: ArrayLike
) -> RegionMask:
    """The label's voxels whose centres lie in the axis-aligned box with opposite corners
    ``corners_lps_mm`` ((2, 3), LPS mm)."""
    corners = check_points(corners_lps_mm, "box corners", min_count=2)
    if corners.shape[0] != 2:
        raise InputError("a box is two opposite corners (2, 3) in LPS mm.")
    ranges = tuple((s.start, s.stop) for s in region.slices)
    return _from_block(region, region.mask & inside_box(geometry, ranges, corners))


def changed_voxels(before: RegionMask, after: RegionMask, shape_kji: tuple[int, int, int]) -> int:
    """Voxels added or removed between two masks of one label (for the edit log)."""
    return int(np.count_nonzero(before.to_full(shape_kji) != after.to_full(shape_kji)))


def _islands(region: RegionMask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = cc3d.connected_components(region.mask, connectivity=6)
    values, sizes = fastremap.unique(labels, return_counts=True)
    keep = values != 0
    return labels, values[keep], sizes[keep]


def _from_block(region: RegionMask, block: np.ndarray) -> RegionMask:
    """A mask of the same block placement, cropped to its new bounding box."""
    return _shifted(RegionMask.from_full(block), region.offset_kji)


def _shifted(region: RegionMask, offset_kji: tuple[int, int, int]) -> RegionMask:
    k, j, i = (int(a + b) for a, b in zip(region.offset_kji, offset_kji, strict=True))
    return RegionMask((k, j, i), region.mask)
