"""Triangle rasterisation and exact ray tests on the pinhole image plane (numba kernels).

Used by :mod:`rendering.visibility` (which vertices a camera sees) and
:mod:`rendering.nir_camera` (which surface point each pixel sees). Compiled with numba
(``parallel=True``, ``cache=True``); the first call in a fresh environment compiles for a few
seconds. numba's default ``workqueue`` threading layer is not re-entrant: call these kernels
from one thread at a time.

Rasterisation is the classic edge-function scan conversion (Pineda 1988) over pixel centres,
with perspective-correct depth: ``1/z`` is affine on the image plane, so it is interpolated
barycentrically and the largest ``1/z`` (nearest surface) wins. The image is split into
horizontal bands, one per thread, so no two threads write the same pixel. Ray-triangle tests
use Möller & Trumbore 1997.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

#: Vertices at z <= NEAR_MM (camera frame) are not projected; their triangles are skipped.
NEAR_MM = 1.0


@numba.njit(parallel=True, cache=True, fastmath=False)
def project_to_grid(
    vertices, rotation, translation, fx, fy, skew, cx, cy, offset_x, offset_y, scale
):
    """Camera-frame points (N, 3) and pinhole grid coordinates (N, 2) of image-frame vertices."""
    n = vertices.shape[0]
    cam = np.empty((n, 3))
    grid = np.empty((n, 2))
    for i in prange(n):
        for r in range(3):
            cam[i, r] = (
                rotation[r, 0] * vertices[i, 0]
                + rotation[r, 1] * vertices[i, 1]
                + rotation[r, 2] * vertices[i, 2]
                + translation[r]
            )
        z = cam[i, 2]
        if z > NEAR_MM:
            x = cam[i, 0] / z
            y = cam[i, 1] / z
            grid[i, 0] = (fx * x + skew * y + cx - offset_x) * scale
            grid[i, 1] = (fy * y + cy - offset_y) * scale
        else:
            grid[i, 0] = np.nan
            grid[i, 1] = np.nan
    return cam, grid


def rasterize(grid, cam, triangles, width, height):
    """Nearest-surface buffers of a (height, width) grid: float32 inverse depth 1/z (0 = empty)
    and int32 triangle index (-1 = empty), sampled at pixel centres (integer grid coordinates).

    grid : (N, 2) float grid coordinates of the vertices; cam : (N, 3) camera-frame vertices, mm;
    triangles : (M, 3) int64.
    """
    inverse_depth = np.empty((height, width), dtype=np.float32)
    triangle_id = np.empty((height, width), dtype=np.int32)
    rasterize_into(grid, cam, triangles, inverse_depth, triangle_id, numba.get_num_threads())
    return inverse_depth, triangle_id


@numba.njit(parallel=True, cache=True)
def rasterize_into(grid, cam, triangles, inverse_depth, triangle_id, bands):
    """:func:`rasterize` into preallocated buffers (cleared here), ``bands`` horizontal bands in
    parallel (one per thread: no two threads write the same row)."""
    height = inverse_depth.shape[0]
    for row in prange(height):
        inverse_depth[row, :] = 0.0
        triangle_id[row, :] = -1
    band_height = (height + bands - 1) // bands
    for band in prange(bands):
        top = band * band_height
        _rasterize_band(
            grid,
            cam,
            triangles,
            inverse_depth,
            triangle_id,
            top,
            min(height, top + band_height) - 1,
        )


@numba.njit(cache=True)
def _rasterize_band(grid, cam, triangles, inverse_depth, triangle_id, top, bottom):
    width = inverse_depth.shape[1]
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        za, zb, zc = cam[a, 2], cam[b, 2], cam[c, 2]
        if not (za > NEAR_MM and zb > NEAR_MM and zc > NEAR_MM):
            continue
        ya, yb, yc = grid[a, 1], grid[b, 1], grid[c, 1]
        row0 = max(math.ceil(min(ya, yb, yc)), top)
        row1 = min(math.floor(max(ya, yb, yc)), bottom)
        if row0 > row1:
            continue
        xa, xb, xc = grid[a, 0], grid[b, 0], grid[c, 0]
        col0 = max(math.ceil(min(xa, xb, xc)), 0)
        col1 = min(math.floor(max(xa, xb, xc)), width - 1)
        area = (xb - xa) * (yc - ya) - (xc - xa) * (yb - ya)
        if col0 > col1 or area == 0.0:
            continue
        inverse_area = 1.0 / area
        wa, wb, wc = 1.0 / za, 1.0 / zb, 1.0 / zc
        for py in range(row0, row1 + 1):
            for px in range(col0, col1 + 1):
                la = ((xb - px) * (yc - py) - (xc - px) * (yb - py)) * inverse_area
                lb = ((xc - px) * (ya - py) - (xa - px) * (yc - py)) * inverse_area
                lc = 1.0 - la - lb
                if la < 0.0 or lb < 0.0 or lc < 0.0:
                    continue
                w = la * wa + lb * wb + lc * wc
                if w > inverse_depth[py, px]:
                    inverse_depth[py, px] = w
                    triangle_id[py, px] = t


@numba.njit(cache=True, inline="always")
def ray_hit(dx, dy, dz, cam, triangles, t, slack):
    """Möller-Trumbore: parameter s of the ray s * (dx, dy, dz) from the camera centre hitting
    triangle t (barycentric slack allowed at the edges), and the barycentrics (u, v) of the
    hit on corners b and c; s = inf if it misses."""
    a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
    e1x = cam[b, 0] - cam[a, 0]
    e1y = cam[b, 1] - cam[a, 1]
    e1z = cam[b, 2] - cam[a, 2]
    e2x = cam[c, 0] - cam[a, 0]
    e2y = cam[c, 1] - cam[a, 1]
    e2z = cam[c, 2] - cam[a, 2]
    px = dy * e2z - dz * e2y
    py = dz * e2x - dx * e2z
    pz = dx * e2y - dy * e2x
    det = e1x * px + e1y * py + e1z * pz
    if det == 0.0:
        return np.inf, 0.0, 0.0
    inverse = 1.0 / det
    tx, ty, tz = -cam[a, 0], -cam[a, 1], -cam[a, 2]
    u = (tx * px + ty * py + tz * pz) * inverse
    if u < -slack or u > 1.0 + slack:
        return np.inf, u, 0.0
    qx = ty * e1z - tz * e1y
    qy = tz * e1x - tx * e1z
    qz = tx * e1y - ty * e1x
    v = (dx * qx + dy * qy + dz * qz) * inverse
    if v < -slack or u + v > 1.0 + slack:
        return np.inf, u, v
    s = (e2x * qx + e2y * qy + e2z * qz) * inverse
    if s <= 0.0:
        return np.inf, u, v
    return s, u, v


@numba.njit(cache=True)
def bucket_triangles(grid, cam, triangles, wanted_cells, cell_px, columns, rows):
    """Triangles whose continuous image bounding box overlaps each wanted cell (CSR lists)."""
    m = triangles.shape[0]
    starts = np.zeros(columns * rows + 1, dtype=np.int64)
    for t in range(m):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        if cam[a, 2] <= NEAR_MM or cam[b, 2] <= NEAR_MM or cam[c, 2] <= NEAR_MM:
            continue
        c0 = max(math.floor(min(grid[a, 0], grid[b, 0], grid[c, 0]) / cell_px), 0)
        c1 = min(math.floor(max(grid[a, 0], grid[b, 0], grid[c, 0]) / cell_px), columns - 1)
        r0 = max(math.floor(min(grid[a, 1], grid[b, 1], grid[c, 1]) / cell_px), 0)
        r1 = min(math.floor(max(grid[a, 1], grid[b, 1], grid[c, 1]) / cell_px), rows - 1)
        for row in range(r0, r1 + 1):
            for column in range(c0, c1 + 1):
                if wanted_cells[row * columns + column]:
                    starts[row * columns + column + 1] += 1
    for k in range(columns * rows):
        starts[k + 1] += starts[k]
    fill = starts[:-1].copy()
    members = np.empty(starts[-1], dtype=np.int64)
    for t in range(m):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        if cam[a, 2] <= NEAR_MM or cam[b, 2] <= NEAR_MM or cam[c, 2] <= NEAR_MM:
            continue
        c0 = max(math.floor(min(grid[a, 0], grid[b, 0], grid[c, 0]) / cell_px), 0)
        c1 = min(math.floor(max(grid[a, 0], grid[b, 0], grid[c, 0]) / cell_px), columns - 1)
        r0 = max(math.floor(min(grid[a, 1], grid[b, 1], grid[c, 1]) / cell_px), 0)
        r1 = min(math.floor(max(grid[a, 1], grid[b, 1], grid[c, 1]) / cell_px), rows - 1)
        for row in range(r0, r1 + 1):
            for column in range(c0, c1 + 1):
                cell = row * columns + column
                if wanted_cells[cell]:
                    members[fill[cell]] = t
                    fill[cell] += 1
    return starts, members
