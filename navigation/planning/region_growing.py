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

A box given by the user holds the region: only voxels whose centres lie inside the box (in LPS,
whatever the grid's direction: a gantry-tilted grid's voxel axes are not the box's) may join
it, and the mesh is clipped to the box. A window given by the planner replaces the one found.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import fill_voids
import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from navigation.planning.regions import RegionMask
from registration.core.checks import Float64Array, InputError, check_points
from registration.core.geometry import ImageGeometry


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
    box_lps_mm: Float64Array | None = None  # (2, 3) low and high corners of the user's box
    window_given: bool = False  # the window [lower, upper] was given, not found


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
    """(k, j, i) index ranges of the grid covering the axis-aligned LPS box with the given
    opposite corners (all eight corners mapped: on an oblique grid two do not bound it)."""
    low, high = corners_lps.min(axis=0), corners_lps.max(axis=0)
    eight = np.array([[(low, high)[b >> a & 1][a] for a in range(3)] for b in range(8)])
    ijk = geometry.lps_to_ijk(eight)
    first = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, None)
    last = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 1, geometry.size_ijk)
    (i0, j0, k0), (i1, j1, k1) = first, last
    return (k0, k1), (j0, j1), (i0, i1)


def inside_box(
    geometry: ImageGeometry, ranges_kji: tuple[tuple[int, int], ...], corners_lps: Float64Array
) -> np.ndarray:
    """(k, j, i) bool over the block ``ranges_kji``: voxel centres inside the LPS box."""
    low, high = corners_lps.min(axis=0) - 1e-6, corners_lps.max(axis=0) + 1e-6
    k, j, i = np.ogrid[tuple(slice(a, b) for a, b in ranges_kji)]
    matrix = geometry.lps_from_ijk
    inside = np.ones([b - a for a, b in ranges_kji], dtype=bool)
    for axis in range(3):
        coordinate = matrix[axis, 0] * i + matrix[axis, 1] * j + matrix[axis, 2] * k
        coordinate = coordinate + matrix[axis, 3]
        inside &= (coordinate >= low[axis]) & (coordinate <= high[axis])
    return inside


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
    window: tuple[float, float] | None = None,
) -> GrownRegion:
    """Grow the homogeneous region holding ``seed_lps_mm`` (see the module docstring).

    array : (k, j, i) image (CT in HU, MR in scanner units). geometry : its grid.
    seed_lps_mm : (3,) LPS mm, inside the volume (clear error otherwise).
    box_lps_mm : optional (2, 3) opposite corners (LPS mm) of a box that holds the region and
        must contain the seed; default a cube of half-side ``search_radius_mm`` around the
        seed (the search box, not a limit the region is held to).
    window : optional (lower, upper) intensity window (the smoothed image's units): the
        region is the seed's 6-connected component inside it, holes filled, instead of the
        window found from the lesion and its surroundings (a planner's correction).
    """
    seed = check_seed(seed_lps_mm, geometry, name)
    held = box_lps_mm is not None
    if box_lps_mm is not None:
        corners = check_points(box_lps_mm, f"{name} box", min_count=2)
        if corners.shape[0] != 2:
            raise InputError(f"{name} box must be two opposite corners (2, 3) in LPS mm.")
        low, high = corners.min(axis=0), corners.max(axis=0)
        if not np.all((seed >= low) & (seed <= high)):
            raise InputError(f"{name} seed {seed.tolist()} lies outside the {name} box.")
        corners = np.stack([low, high])
    else:
        corners = np.stack([seed - search_radius_mm, seed + search_radius_mm])
    if window is not None and not float(window[0]) <= float(window[1]):
        raise InputError(f"{name} window must be lower <= upper; got {tuple(window)}.")
    ranges = _box_ranges(geometry, corners)
    offset = tuple(r[0] for r in ranges)
    block = np.asarray(array[tuple(slice(a, b) for a, b in ranges)], dtype=np.float32)
    allowed = inside_box(geometry, ranges, corners) if held else np.ones(block.shape, bool)
    sigma_kji = smoothing_mm / geometry.spacing_mm[::-1]
    smooth = ndimage.gaussian_filter(block, sigma_kji)
    seed_ijk = np.rint(geometry.lps_to_ijk(seed)).astype(int)
    k, j, i = (int(v) for v in (seed_ijk[::-1] - np.asarray(offset)))
    seed_kji = (k, j, i)
    if window is not None:
        lower, upper = float(window[0]), float(window[1])
        region = _component_at((smooth >= lower) & (smooth <= upper) & allowed, seed_kji)
        if not region.any():
            raise InputError(
                f"the {name} seed's voxel lies outside the window {lower:g}..{upper:g}; widen "
                "the window or move the seed."
            )
        region = fill_voids.fill(region, in_place=False) & allowed
        inside = float(np.median(smooth[region]))
        surround = _surround_level(smooth, region, geometry, inside)
    else:
        found, lower, upper, inside, surround = _adaptive(smooth, allowed, seed_kji, geometry)
        if found is None:
            raise InputError(
                f"{name} seed {seed.round(1).tolist()} is not inside a homogeneous region "
                "(its voxel differs from its neighbourhood); move the seed into the lesion."
            )
        region = found
    edge = ~allowed | ~ndimage.binary_erosion(allowed, border_value=0)
    touches = bool((region & edge).any())
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
        box_lps_mm=corners if held else None,
        window_given=window is not None,
    )


def _surround_level(
    smooth: np.ndarray, region: np.ndarray, geometry: ImageGeometry, default: float
) -> float:
    """Median of the shell 2-4 mm outside ``region`` (``default`` when there is none)."""
    shell_outer, shell_inner = _ball(geometry, 4.0), _ball(geometry, 2.0)
    near_box = _around(region, np.asarray(shell_outer.shape) // 2 + 1)
    local = region[near_box]
    shell = ndimage.binary_dilation(local, shell_outer) & ~ndimage.binary_dilation(
        local, shell_inner
    )
    return float(np.median(smooth[near_box][shell])) if shell.any() else default


def _adaptive(
    smooth: np.ndarray, allowed: np.ndarray, seed_kji: tuple[int, int, int], geometry: ImageGeometry
) -> tuple[np.ndarray | None, float, float, float, float]:
    """The region, window and levels found from the seed's neighbourhood (module docstring)."""
    ball = _ball(geometry, 2.5)
    near = np.zeros_like(smooth, dtype=bool)
    centre = tuple(s // 2 for s in ball.shape)
    slices = []
    for axis in range(3):
        start = seed_kji[axis] - centre[axis]
        a, b = max(start, 0), min(start + ball.shape[axis], smooth.shape[axis])
        slices.append((slice(a, b), slice(a - start, b - start)))
    near[tuple(s[0] for s in slices)] = ball[tuple(s[1] for s in slices)]
    near &= allowed
    level = float(np.median(smooth[near]))
    spread = max(3.0 * float(np.std(smooth[near])), 1e-3 * abs(level) + 1e-6)
    region = _component_at((np.abs(smooth - level) <= spread) & allowed, seed_kji)
    if not region.any():
        return None, level, level, level, level
    lower = upper = inside = surround = level
    for _ in range(2):
        inside = float(np.median(smooth[region]))
        surround = _surround_level(smooth, region, geometry, float("nan"))
        if np.isnan(surround):
            surround = inside
            break
        half = 0.5 * (inside + surround)
        lower, upper = sorted((half, 2.0 * inside - half))
        grown = _component_at((smooth >= lower) & (smooth <= upper) & allowed, seed_kji)
        if not grown.any():
            break
        region = fill_voids.fill(grown, in_place=False) & allowed
    return region, lower, upper, inside, surround
