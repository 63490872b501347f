"""Seeded region growing of a homogeneous lesion (tumour, lymph node) at its half-contrast edge.

Method: in a search box around the seed (or a box the user gives), the image is smoothed with a
small Gaussian (sigma ``smoothing_mm``); a first region is the 6-connected component holding
the seed within +- 3 SD of the seed's level; then, twice, one edge of the intensity window is
set halfway between the region's level (median inside) and its surroundings' level (median of
a shell 2-4 mm outside) and the other edge as far beyond the level (a window symmetric about
the lesion's level, so brighter and darker neighbours both stay out), and the seed's component
is regrown and its holes filled. A threshold halfway between two tissues puts the boundary
where partial-volume voxels are half lesion: the volume is unbiased to first order (the
``connected threshold`` method of ITK's ConnectedThresholdImageFilter, with the threshold
chosen locally by the isodata rule of Ridler and Calvard 1978).
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import fill_voids
import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from navigation.planning.regions import RegionMask
from registration.checks import Float64Array, InputError, check_points
from registration.geometry import ImageGeometry


@dataclass(frozen=True)
class GrownRegion:
    """A lesion grown from a seed; positions LPS mm, intensities in the image's units."""

    name: str
    region: RegionMask
    seed_lps_mm: Float64Array  # (3,)
    lower: float
    upper: float
    inside_level: float
    surround_level: float
    centroid_lps_mm: Float64Array  # (3,)
    volume_ml: float
    touches_search_box: bool
    smoothing_mm: float


def _describe_extent(geometry: ImageGeometry) -> str:
    low, high = geometry.extent_lps_mm
    return ", ".join(
        f"{axis} {a:.1f}..{b:.1f}" for axis, a, b in zip("xyz", low, high, strict=True)
    )


def check_seed(seed_lps_mm: ArrayLike, geometry: ImageGeometry, name: str) -> Float64Array:
    """Return the seed as (3,) LPS mm, or raise a clear error when it is outside the image."""
    seed = check_points(seed_lps_mm, f"{name} seed")
    if seed.shape[0] != 1:
        raise InputError(f"{name} seed must be one point x,y,z (LPS mm); got {seed.shape[0]}.")
    if not geometry.contains_lps(seed)[0]:
        x, y, z = seed[0]
        raise InputError(
            f"{name} seed ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS lies outside the image, whose "
            f"voxel centres span {_describe_extent(geometry)} mm LPS; give a seed inside the "
            "volume (LPS: +x patient left, +y posterior, +z superior)."
        )
    return seed[0]


def _box_ranges(
    geometry: ImageGeometry, corners_lps: Float64Array
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(k, j, i) index ranges of the grid covering the LPS box with the given corners."""
    ijk = geometry.lps_to_ijk(corners_lps)
    low = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, None)
    high = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 1, geometry.size_ijk)
    (i0, j0, k0), (i1, j1, k1) = low, high
    return (k0, k1), (j0, j1), (i0, i1)


def _component_at(mask: np.ndarray, seed_kji: tuple[int, int, int]) -> np.ndarray:
    if not mask[seed_kji]:
        return np.zeros_like(mask)
    labels = cc3d.connected_components(mask, connectivity=6)
    return labels == labels[seed_kji]


def _around(mask: np.ndarray, margin: np.ndarray) -> tuple[slice, ...]:
    """Slices of ``mask``'s bounding box grown by ``margin`` voxels per (k, j, i) axis."""
    box = RegionMask.from_full(mask)
    return tuple(
        slice(max(s.start - m, 0), min(s.stop + m, n))
        for s, m, n in zip(box.slices, margin, mask.shape, strict=True)
    )


def _ball(geometry: ImageGeometry, radius_mm: float) -> np.ndarray:
    half = np.ceil(radius_mm / geometry.spacing_mm[::-1]).astype(int)
    k, j, i = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    sk, sj, si = geometry.spacing_mm[::-1]
    return (k * sk) ** 2 + (j * sj) ** 2 + (i * si) ** 2 <= radius_mm**2


def grow_region(
    array: np.ndarray,
    geometry: ImageGeometry,
    seed_lps_mm: ArrayLike,
    *,
    name: str = "tumour",
    box_lps_mm: ArrayLike | None = None,
    search_radius_mm: float = 50.0,
    smoothing_mm: float = 0.7,
) -> GrownRegion:
    """Grow the homogeneous region holding ``seed_lps_mm`` (see the module docstring).

    array : (k, j, i) image (CT in HU, MR in scanner units). geometry : its grid.
    seed_lps_mm : (3,) LPS mm, inside the volume (clear error otherwise).
    box_lps_mm : optional (2, 3) opposite corners (LPS mm) of the search box, which must
        contain the seed; default a cube of half-side ``search_radius_mm`` around the seed.
    """
    seed = check_seed(seed_lps_mm, geometry, name)
    if box_lps_mm is not None:
        corners = check_points(box_lps_mm, f"{name} box", min_count=2)
        if corners.shape[0] != 2:
            raise InputError(f"{name} box must be two opposite corners (2, 3) in LPS mm.")
        low, high = corners.min(axis=0), corners.max(axis=0)
        if not np.all((seed >= low) & (seed <= high)):
            raise InputError(f"{name} seed {seed.tolist()} lies outside the {name} box.")
    else:
        corners = np.stack([seed - search_radius_mm, seed + search_radius_mm])
    ranges = _box_ranges(geometry, corners)
    offset = tuple(r[0] for r in ranges)
    block = np.asarray(array[tuple(slice(a, b) for a, b in ranges)], dtype=np.float32)
    sigma_kji = smoothing_mm / geometry.spacing_mm[::-1]
    smooth = ndimage.gaussian_filter(block, sigma_kji)
    seed_ijk = np.rint(geometry.lps_to_ijk(seed)).astype(int)
    k, j, i = (int(v) for v in (seed_ijk[::-1] - np.asarray(offset)))
    seed_kji = (k, j, i)
    ball = _ball(geometry, 2.5)
    near = np.zeros_like(smooth, dtype=bool)
    centre = tuple(s // 2 for s in ball.shape)
    slices = []
    for axis in range(3):
        start = seed_kji[axis] - centre[axis]
        a, b = max(start, 0), min(start + ball.shape[axis], smooth.shape[axis])
        slices.append((slice(a, b), slice(a - start, b - start)))
    near[tuple(s[0] for s in slices)] = ball[tuple(s[1] for s in slices)]
    level = float(np.median(smooth[near]))
    spread = max(3.0 * float(np.std(smooth[near])), 1e-3 * abs(level) + 1e-6)
    region = _component_at(np.abs(smooth - level) <= spread, seed_kji)
    if not region.any():
        raise InputError(
            f"{name} seed {seed.round(1).tolist()} is not inside a homogeneous region "
            "(its voxel differs from its neighbourhood); move the seed into the lesion."
        )
    shell_outer, shell_inner = _ball(geometry, 4.0), _ball(geometry, 2.0)
    lower = upper = inside = surround = level
    for _ in range(2):
        inside = float(np.median(smooth[region]))
        near_box = _around(region, np.asarray(shell_outer.shape) // 2 + 1)
        local = region[near_box]
        shell = ndimage.binary_dilation(local, shell_outer) & ~ndimage.binary_dilation(
            local, shell_inner
        )
        if not shell.any():
            break
        surround = float(np.median(smooth[near_box][shell]))
        half = 0.5 * (inside + surround)
        lower, upper = sorted((half, 2.0 * inside - half))
        grown = _component_at((smooth >= lower) & (smooth <= upper), seed_kji)
        if not grown.any():
            break
        region = fill_voids.fill(grown, in_place=False)
    touches = bool(
        region[0].any()
        or region[-1].any()
        or region[:, 0].any()
        or region[:, -1].any()
        or region[:, :, 0].any()
        or region[:, :, -1].any()
    )
    cropped = RegionMask.from_full(region)
    cropped = RegionMask(
        tuple(int(a + b) for a, b in zip(cropped.offset_kji, offset, strict=True)),  # type: ignore[arg-type]
        cropped.mask,
    )
    return GrownRegion(
        name=name,
        region=cropped,
        seed_lps_mm=seed,
        lower=lower,
        upper=upper,
        inside_level=inside,
        surround_level=surround,
        centroid_lps_mm=cropped.centroid_lps_mm(geometry),
        volume_ml=cropped.volume_ml(geometry),
        touches_search_box=touches,
        smoothing_mm=smoothing_mm,
    )
