"""Slice sampling against ground truth: the nearest voxel's label and trilinear grey values at
each sample's position, mapped through the geometry, for aligned (numpy) and oblique (VTK)
grids; and the cache key's promise (equal keys, equal samples)."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from registration.core.geometry import ImageGeometry
from rendering.orientation import SLICE_ORIENTATIONS
from rendering.slice_sampling import SliceGrid, SliceSampler

SIZE_IJK = (23, 17, 11)


def volumes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(k, j, i) random codes 0..4 (uint8) and a smooth-ish random grey image (float32)."""
    shape = SIZE_IJK[::-1]
    codes = rng.integers(0, 5, size=shape).astype(np.uint8)
    grey = rng.uniform(-500.0, 500.0, size=shape).astype(np.float32)
    return codes, grey


def grid_for(geometry: ImageGeometry, orientation: str, point: np.ndarray, spacing: float,
             rng: np.random.Generator) -> SliceGrid:  # fmt: skip
    """A view's slice frame through ``point``, a grid covering the volume with a random
    sub-sample offset (so no sample sits exactly on a voxel boundary)."""
    view = SLICE_ORIENTATIONS[orientation]
    lps_from_slice = np.eye(4)
    lps_from_slice[:3, 0], lps_from_slice[:3, 1] = view.screen_right, view.view_up
    lps_from_slice[:3, 2] = view.towards_viewer
    lps_from_slice[:3, 3] = point
    corners = geometry.ijk_to_lps(np.array(list(product(*[(-1, n) for n in SIZE_IJK])), float))
    u = (corners - point) @ view.screen_right
    v = (corners - point) @ view.view_up
    origin = (u.min() + rng.uniform(0, spacing), v.min() + rng.uniform(0, spacing))
    columns = int(np.ceil((u.max() - origin[0]) / spacing))
    rows = int(np.ceil((v.max() - origin[1]) / spacing))
    return SliceGrid(lps_from_slice, origin, spacing, columns, rows)


def truth(
    grid: SliceGrid, geometry: ImageGeometry, codes: np.ndarray, grey: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes of the nearest voxel (0 outside), trilinear grey (at voxels fully inside) and the
    mask of samples more than 1e-3 voxel from any voxel boundary."""
    u = grid.origin_uv_mm[0] + grid.spacing_mm * np.arange(grid.columns)
    v = grid.origin_uv_mm[1] + grid.spacing_mm * np.arange(grid.rows)
    uu, vv = np.meshgrid(u, v)
    in_slice = np.stack([uu.ravel(), vv.ravel(), np.zeros(uu.size), np.ones(uu.size)], axis=1)
    points = (in_slice @ grid.lps_from_slice.T)[:, :3]
    ijk = geometry.lps_to_ijk(points)
    size = np.asarray(SIZE_IJK)
    inside = ((ijk >= -0.5) & (ijk <= size - 0.5)).all(axis=1)
    nearest = np.clip(np.floor(ijk + 0.5), 0, size - 1).astype(int)
    expected = np.where(inside, codes[nearest[:, 2], nearest[:, 1], nearest[:, 0]], 0)
    clear = (np.abs(ijk - np.round(ijk) - 0.5) > 1e-3).all(axis=1) & (
        np.abs(ijk - np.round(ijk) + 0.5) > 1e-3
    ).all(axis=1)
    kji = np.clip(ijk[:, ::-1], 0, size[::-1] - 1).T
    linear = map_coordinates(grey.astype(np.float64), kji, order=1)
    interior = ((ijk >= 0) & (ijk <= size - 1)).all(axis=1)
    shape = (grid.rows, grid.columns)
    return (expected.reshape(shape), np.where(interior, linear, np.nan).reshape(shape),
            clear.reshape(shape))  # fmt: skip


def signed_permutation(rng: np.random.Generator) -> np.ndarray:
    direction = np.eye(3)[rng.permutation(3)] * rng.choice([-1.0, 1.0], size=3)
    return direction if np.linalg.det(direction) > 0 else direction * np.array([-1, 1, 1])


def rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


@pytest.mark.parametrize("orientation", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize("kind", ["aligned", "oblique"])
def test_samples_are_the_nearest_voxel_and_trilinear_grey(orientation, kind, rng):
    codes, grey = volumes(rng)
    direction = signed_permutation(rng) if kind == "aligned" else rotation(rng)
    spacing_mm = np.array([1.3, 0.9, 2.1])
    geometry = ImageGeometry(SIZE_IJK, rng.uniform(-20, 20, 3), spacing_mm, direction)
    sampler = SliceSampler(geometry, codes, grey, fill=-1000.0)
    for _ in range(4):
        point = geometry.ijk_to_lps(rng.uniform(0, np.asarray(SIZE_IJK) - 1))
        grid = grid_for(geometry, orientation, point, 0.7, rng)
        assert sampler.key(grid)[0] == kind
        got_codes, got_grey = sampler.sample(grid)
        expected, linear, clear = truth(grid, geometry, codes, grey)
        assert got_codes.shape == (grid.rows, grid.columns) and got_codes.dtype == np.uint8
        assert clear.mean() > 0.95
        np.testing.assert_array_equal(got_codes[clear], expected[clear])
        assert (expected == 0).any() and (expected > 0).sum() > 100  # the volume and outside
        assert got_grey is not None
        known = np.isfinite(linear)
        np.testing.assert_allclose(got_grey[known], linear[known], atol=0.05)


def test_aligned_key_changes_only_across_voxel_planes(rng):
    codes, grey = volumes(rng)
    geometry = ImageGeometry(SIZE_IJK, np.zeros(3), np.array([1.0, 1.0, 2.5]))
    labels_only = SliceSampler(geometry, codes)
    with_grey = SliceSampler(geometry, codes, grey)
    centre = geometry.ijk_to_lps(np.array([11.0, 8.0, 5.0]))  # axial: depth along k (2.5 mm)
    grids = [
        grid_for(
            geometry, "axial", centre + np.array([0.0, 0.0, dz]), 0.8, np.random.default_rng(1)
        )
        for dz in (0.0, 1.0, -1.2, 1.3)
    ]
    keys = [labels_only.key(g) for g in grids]
    assert keys[0] == keys[1] == keys[2] != keys[3]  # within +-1.25 mm: the same voxel plane
    first, within = labels_only.sample(grids[0])[0], labels_only.sample(grids[1])[0]
    np.testing.assert_array_equal(first, within)
    assert not np.array_equal(first, labels_only.sample(grids[3])[0])
    # The grey image is interpolated in depth: any move is a new picture.
    assert len({with_grey.key(g) for g in grids}) == 4
