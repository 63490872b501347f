"""Values of one image at the voxel centres of another grid (both in LPS mm).

Used to bring a PET onto a CT (same frame of reference) and CT-derived masks onto a PET grid.
Every position goes through :class:`registration.core.geometry.ImageGeometry` (the one owner of the
index-to-LPS mapping): target voxel centre -> LPS -> continuous source index. Interpolation is
``scipy.ndimage.map_coordinates`` (order 0 nearest, order 1 trilinear, as ITK's linear
interpolator; points outside the source get ``fill``). When both grids share their direction
matrix the index mapping is separable per axis, and nearest-neighbour sampling is plain
integer indexing (no coordinate arrays).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from registration.core.geometry import ImageGeometry


def target_box(
    geometry: ImageGeometry, box_kji: tuple[slice, slice, slice] | None
) -> tuple[slice, slice, slice]:
    """``box_kji`` or the whole grid, as three slices."""
    if box_kji is not None:
        return box_kji
    k, j, i = geometry.shape_kji
    return (slice(0, k), slice(0, j), slice(0, i))


def source_indices(
    source: ImageGeometry, target: ImageGeometry, box_kji: tuple[slice, slice, slice]
) -> np.ndarray:
    """(3, nk, nj, ni) continuous (k, j, i) source indices of the target box's voxel centres."""
    k, j, i = (np.arange(s.start, s.stop, dtype=np.float64) for s in box_kji)
    kk, jj, ii = np.meshgrid(k, j, i, indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)
    source_ijk = source.lps_to_ijk(target.ijk_to_lps(ijk))
    return source_ijk[:, ::-1].T.reshape(3, *kk.shape)


def _aligned(source: ImageGeometry, target: ImageGeometry) -> bool:
    return bool(np.allclose(source.direction, target.direction, atol=1e-6))


def sample_nearest(
    array: np.ndarray,
    source: ImageGeometry,
    target: ImageGeometry,
    *,
    fill: float | int | bool = 0,
    box_kji: tuple[slice, slice, slice] | None = None,
) -> np.ndarray:
    """``array`` (on ``source``, (k, j, i)) at the nearest source voxel to each target voxel
    centre (in ``box_kji`` of the target, default all); ``fill`` outside the source grid."""
    box = target_box(target, box_kji)
    if not _aligned(source, target):
        coordinates = source_indices(source, target, box)
        return ndimage.map_coordinates(array, coordinates, order=0, cval=fill, mode="constant")
    # Same axes: source index along each axis depends on that axis' target index only.
    step = source.ijk_from_lps[:3, :3] @ target.lps_from_ijk[:3, :3]
    offset = source.lps_to_ijk(target.origin_lps_mm)
    per_axis = []
    for axis_ijk, sl in zip((2, 1, 0), box, strict=True):
        target_index = np.arange(sl.start, sl.stop, dtype=np.float64)
        index = np.rint(offset[axis_ijk] + step[axis_ijk, axis_ijk] * target_index).astype(int)
        per_axis.append(index)
    shape = array.shape
    valid = [(ix >= 0) & (ix < n) for ix, n in zip(per_axis, shape, strict=True)]
    clipped = [np.clip(ix, 0, n - 1) for ix, n in zip(per_axis, shape, strict=True)]
    out = array[np.ix_(*clipped)]
    inside = valid[0][:, None, None] & valid[1][None, :, None] & valid[2][None, None, :]
    if not inside.all():
        out = np.where(inside, out, np.asarray(fill, dtype=out.dtype))
    return out


def sample_linear(
    array: np.ndarray,
    source: ImageGeometry,
    target: ImageGeometry,
    *,
    fill: float = 0.0,
    box_kji: tuple[slice, slice, slice] | None = None,
) -> np.ndarray:
    """``array`` trilinearly interpolated at the target box's voxel centres (float32)."""
    box = target_box(target, box_kji)
    coordinates = source_indices(source, target, box)
    values = np.asarray(array, dtype=np.float32)
    return ndimage.map_coordinates(values, coordinates, order=1, cval=fill, mode="constant")


def overlap_box(inner: ImageGeometry, outer: ImageGeometry) -> tuple[slice, slice, slice] | None:
    """The (k, j, i) box of ``outer``'s voxels covering ``inner``'s extent (one voxel more all
    round), or None when the grids do not overlap."""
    i, j, k = (n - 1 for n in inner.size_ijk)
    corners = np.array([[a, b, c] for a in (0, i) for b in (0, j) for c in (0, k)], float)
    outer_ijk = outer.lps_to_ijk(inner.ijk_to_lps(corners))
    size = np.asarray(outer.size_ijk)
    low = np.maximum(np.floor(outer_ijk.min(axis=0)).astype(int) - 1, 0)
    high = np.minimum(np.ceil(outer_ijk.max(axis=0)).astype(int) + 2, size)
    if np.any(high <= low):
        return None
    return (slice(low[2], high[2]), slice(low[1], high[1]), slice(low[0], high[0]))


def crop_geometry(geometry: ImageGeometry, box_kji: tuple[slice, slice, slice]) -> ImageGeometry:
    """The grid of ``geometry``'s voxels in ``box_kji`` (same spacing and direction)."""
    start_ijk = np.array([box_kji[2].start, box_kji[1].start, box_kji[0].start], float)
    k, j, i = (int(s.stop - s.start) for s in box_kji)
    size = (i, j, k)
    return ImageGeometry(
        size, geometry.ijk_to_lps(start_ijk), geometry.spacing_mm, geometry.direction
    )
