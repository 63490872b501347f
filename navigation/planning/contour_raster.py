"""Planar contours (RTSTRUCT ``CLOSED_PLANAR``) rasterised on an image grid.

In each contour plane a voxel belongs to the structure when its centre lies inside an odd
number of the plane's contours (even-odd rule: a contour inside another is a hole, several
contours side by side are several islands, as treatment planning systems store them), tested
by scikit-image's ``skimage.draw.polygon`` (point in polygon at pixel centres). The planes map
to image slices as follows (positions are continuous slice indices of the image):

- a slice on a contour plane (within 0.01 slice) takes that plane's mask;
- a slice between two planes no farther apart than 1.5x the structure's usual plane spacing
  takes the shape-based interpolation of the two (Herman, Zheng and Bucholtz 1992: the
  zero level of the linearly interpolated signed distance maps, in mm), so a finer image
  grid gets smooth, not stepped, structure edges;
- a slice within half a plane spacing beyond an end plane (or beside a gap between planes)
  takes that plane's mask: each contour stands for a slab one plane spacing thick, as in
  the radiotherapy convention for structure volumes.

Contours must be parallel to the image slices (their points' slice index constant within
0.05 slice); otherwise the image is oblique to the structure set and the caller is told to
plan on the image the contours were drawn on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.draw import polygon

from navigation.planning.regions import RegionMask
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry

ON_PLANE, PARALLEL, GAP_FACTOR = 0.01, 0.05, 1.5


@dataclass(frozen=True)
class RasterResult:
    """The structure's voxels and how they were made."""

    region: RegionMask
    planes: int
    contours: int
    interpolated_slices: int
    clipped: bool  # some contour points lay outside the image in-plane


def rasterise_contours(
    contours_lps_mm: Sequence[np.ndarray], geometry: ImageGeometry, *, name: str
) -> RasterResult:
    """Rasterise closed planar contours ((N, 3) LPS mm each) on ``geometry`` (see the module
    docstring). Raises :class:`InputError` for contours oblique to the image slices."""
    shape = geometry.shape_kji
    planes: dict[float, list[np.ndarray]] = {}
    clipped = False
    for points in contours_lps_mm:
        ijk = geometry.lps_to_ijk(np.asarray(points, dtype=np.float64).reshape(-1, 3))
        spread = float(np.ptp(ijk[:, 2]))
        if spread > PARALLEL:
            raise InputError(
                f"contour of {name!r} is not parallel to the image slices (it spans "
                f"{spread:.2f} slices); plan on the image series the structure set was drawn on."
            )
        clipped |= bool(
            (ijk[:, 0] < -0.5).any()
            or (ijk[:, 1] < -0.5).any()
            or (ijk[:, 0] > shape[2] - 0.5).any()
            or (ijk[:, 1] > shape[1] - 0.5).any()
        )
        key = round(float(ijk[:, 2].mean()), 3)
        planes.setdefault(key, []).append(ijk[:, :2])
    if not planes:
        return RasterResult(RegionMask.from_full(np.zeros(shape, bool)), 0, 0, 0, False)
    positions = np.array(sorted(planes))
    masks = [_plane_mask(planes[p], shape[1:]) for p in positions]
    full = np.zeros(shape, dtype=bool)
    gaps = np.diff(positions)
    usual = float(np.median(gaps)) if gaps.size else 1.0
    interpolated = 0
    for k in range(shape[0]):
        mask = _slice_mask(k, positions, masks, usual, geometry)
        if mask is None:
            continue
        plane_mask, was_interpolated = mask
        full[k] = plane_mask
        interpolated += int(was_interpolated)
    count = sum(len(v) for v in planes.values())
    return RasterResult(RegionMask.from_full(full), len(positions), count, interpolated, clipped)


def _plane_mask(polygons: list[np.ndarray], shape_ji: tuple[int, int]) -> np.ndarray:
    """Even-odd union of the plane's polygons ((N, 2) continuous (i, j) each)."""
    mask = np.zeros(shape_ji, dtype=bool)
    for ij in polygons:
        rows, columns = polygon(ij[:, 1], ij[:, 0], shape=shape_ji)
        inside = np.zeros(shape_ji, dtype=bool)
        inside[rows, columns] = True
        mask ^= inside
    return mask


def _slice_mask(
    k: int,
    positions: np.ndarray,
    masks: list[np.ndarray],
    usual: float,
    geometry: ImageGeometry,
) -> tuple[np.ndarray, bool] | None:
    """The mask of image slice ``k`` and whether it was interpolated (None: outside)."""
    nearest = int(np.argmin(np.abs(positions - k)))
    if abs(positions[nearest] - k) <= ON_PLANE:
        return masks[nearest], False
    above = int(np.searchsorted(positions, k))
    if 0 < above < len(positions) and positions[above] - positions[above - 1] <= GAP_FACTOR * usual:
        low, high = positions[above - 1], positions[above]
        weight = (k - low) / (high - low)
        return _interpolate(masks[above - 1], masks[above], weight, geometry), True
    if abs(positions[nearest] - k) < usual / 2 - 1e-6:
        return masks[nearest], False
    return None


def _interpolate(
    lower: np.ndarray, upper: np.ndarray, weight: float, geometry: ImageGeometry
) -> np.ndarray:
    """Shape-based interpolation: zero level of the blended signed distances (mm)."""
    both = lower | upper
    if not both.any():
        return both
    rows, columns = np.nonzero(both)
    margin = 3
    box = (
        slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
        slice(max(columns.min() - margin, 0), columns.max() + margin + 1),
    )
    sampling = (float(geometry.spacing_mm[1]), float(geometry.spacing_mm[0]))
    blended = (1 - weight) * _signed_distance(lower[box], sampling) + weight * _signed_distance(
        upper[box], sampling
    )
    out = np.zeros_like(lower)
    out[box] = blended > 0
    return out


def _signed_distance(mask: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    """Distance (mm) to the boundary, positive inside; an empty plane is far outside."""
    if not mask.any():
        return np.full(mask.shape, -1e6)
    inside = ndimage.distance_transform_edt(mask, sampling=sampling)
    outside = ndimage.distance_transform_edt(~mask, sampling=sampling)
    return np.asarray(inside - outside, dtype=np.float64)
