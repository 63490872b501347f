"""Triangle rasterisation and exact ray tests on the pinhole image plane (numba kernels).

Used by :mod:`rendering.fluorescence.visibility` (which vertices a camera sees) and
:mod:`rendering.fluorescence.nir_camera` (which surface point each pixel sees). Compiled with numba
(``parallel=True``, ``cache=True``); the first call in a fresh environment compiles for a few
seconds.

Threading: this module selects numba's ``workqueue`` threading layer (unless
``NUMBA_THREADING_LAYER`` is set). OpenMP's spin-waiting made a frame 3-5x slower whenever
other processes share the two cores (the app renders and runs Qt beside the mapper); measured
in ``benchmarks/bench_fluorescence.py``. The workqueue layer is not re-entrant: call these
kernels from one thread at a time. Every ``parallel=True`` kernel of the package is therefore
wrapped by :func:`serialized`, which holds one process-wide lock for the call: the simulator's
NIR frames and the app's live mapping may share a process (two threads launching kernels at
once made numba terminate the process, "Concurrent access has been detected").

Rasterisation is the classic edge-function scan conversion (Pineda 1988) over pixel centres,
with perspective-correct depth: ``1/z`` is affine on the image plane, so it is interpolated
barycentrically and the largest ``1/z`` (nearest surface) wins. The image is split into
horizontal bands, one per thread, so no two threads write the same pixel; the band borders
split the projected vertices evenly (equal-height bands idled a thread whenever the mesh
filled only part of the image; on the centred benchmark views both splits are within
10 %). Ray-triangle tests use Möller & Trumbore 1997.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numba
import numpy as np
from numba import prange

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]

#: Held while any ``parallel=True`` kernel runs (see the module docstring). Re-entrant.
KERNEL_LOCK = threading.RLock()

_Kernel = TypeVar("_Kernel", bound=Callable[..., Any])


def serialized(kernel: _Kernel) -> _Kernel:
    """Wrap a numba ``parallel=True`` kernel so that calls from several Python threads run one
    at a time (numba's workqueue layer is not thread-safe). Only for kernels called from
    Python, never from other jitted code; the compiled kernel stays at ``.kernel``."""

    @functools.wraps(kernel)
    def call(*args: Any) -> Any:
        with KERNEL_LOCK:
            return kernel(*args)

    call.kernel = kernel  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]


#: Vertices at z <= NEAR_MM (camera frame) are not projected; their triangles are skipped.
NEAR_MM = 1.0


@serialized
@numba.njit(parallel=True, cache=True, fastmath=False)
def project_to_grid(
    vertices, rotation, translation, fx, fy, skew, cx, cy, offset_x, offset_y, scale
):
    """Camera-frame points (N, 3) and screen coordinates (N, 3) of image-frame vertices: pinhole
    grid coordinates (gx, gy) and inverse depth 1/z; NaN for vertices at z <= NEAR_MM."""
    n = vertices.shape[0]
    cam = np.empty((n, 3))
    grid = np.empty((n, 3))
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
            grid[i, 2] = 1.0 / z
        else:
            grid[i, 0] = np.nan
            grid[i, 1] = np.nan
            grid[i, 2] = np.nan
    return cam, grid


def rasterize(grid, triangles, width, height):
    """Nearest-surface buffers of a (height, width) grid, sampled at pixel centres (integer grid
    coordinates): float64 inverse depth 1/z (0 = empty), int64 triangle index (-1 = empty), and
    the triangles' pixel boxes (see :func:`rasterize_into`).

    grid : (N, 3) float, screen coordinates (gx, gy, 1/z) from :func:`project_to_grid`;
    triangles : (M, 3) int64.
    """
    packed = np.empty((height, width), dtype=np.int64)
    boxes = np.empty((triangles.shape[0], 4), dtype=np.int32)
    rasterize_into(grid, triangles, packed, boxes, numba.get_num_threads())
    triangle_id = np.where(packed == 0, -1, packed & _ID_MASK)
    inverse_depth = (packed >> 32).astype(np.float64) / _DEPTH_SCALE
    return inverse_depth, triangle_id, boxes


_EMPTY = 1 << 30
_ID_MASK = 0xFFFFFFFF
#: Inverse depth (< 1 since z > 1 mm) is stored as a 32-bit fixed-point fraction: a step of
#: 2.3e-10 / mm, i.e. 2e-5 mm of depth at 300 mm.
_DEPTH_SCALE = 4294967296.0


@numba.njit(cache=True, inline="always")
def triangle_at(packed, row, column):
    """The triangle index stored in a packed buffer pixel, -1 if empty."""
    key = packed[row, column]
    return -1 if key == 0 else key & _ID_MASK


@serialized
@numba.njit(parallel=True, cache=True)
def rasterize_into(grid, triangles, packed, boxes, bands):
    """Rasterise into a preallocated (H, W) int64 buffer (cleared here): each pixel holds
    ``(fixed-point 1/z) << 32 | triangle`` of the nearest surface, 0 if empty, so the depth test
    and the write are one branch-free ``max`` (the visibility-buffer packing of GPU
    rasterisers). ``bands`` horizontal bands run in parallel (no two threads write a row).

    ``boxes`` (M, 4) int32 receives each triangle's pixel-centre bounds (ceil(min gx),
    floor(max gx), ceil(min gy), floor(max gy)), clamped to +-2^29; the continuous bounding box
    lies within these bounds widened by one pixel. Triangles with a corner at z <= NEAR_MM get
    the empty box (2^30, -2^30, 2^30, -2^30) and are not drawn. At most 2^32 triangles.
    """
    height = packed.shape[0]
    for row in prange(height):
        packed[row, :] = 0
    limit = 1 << 29
    for t in prange(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        if not (grid[a, 2] > 0.0 and grid[b, 2] > 0.0 and grid[c, 2] > 0.0):  # NaN-safe
            boxes[t, 0] = _EMPTY
            boxes[t, 1] = -_EMPTY
            boxes[t, 2] = _EMPTY
            boxes[t, 3] = -_EMPTY
            continue
        low_x = min(max(min(grid[a, 0], grid[b, 0], grid[c, 0]), -limit), limit)
        high_x = min(max(max(grid[a, 0], grid[b, 0], grid[c, 0]), -limit), limit)
        low_y = min(max(min(grid[a, 1], grid[b, 1], grid[c, 1]), -limit), limit)
        high_y = min(max(max(grid[a, 1], grid[b, 1], grid[c, 1]), -limit), limit)
        boxes[t, 0] = math.ceil(low_x)
        boxes[t, 1] = math.floor(high_x)
        boxes[t, 2] = math.ceil(low_y)
        boxes[t, 3] = math.floor(high_y)
    tops = _balanced_tops(grid, height, bands)
    for band in prange(bands):
        if tops[band] < tops[band + 1]:
            _rasterize_band(grid, triangles, boxes, packed, tops[band], tops[band + 1] - 1)


@numba.njit(cache=True)
def _balanced_tops(grid, height, bands):
    """Band borders (bands + 1,): band k draws rows tops[k] .. tops[k + 1] - 1. Each band gets
    about the same number of projected vertices (every eighth vertex counted), a proxy for the
    number of triangles it draws; equal-height bands left one thread idle whenever the mesh
    filled only the top or the bottom of the image."""
    rows = np.zeros(height, dtype=np.int64)
    for i in range(0, grid.shape[0], 8):
        y = grid[i, 1]
        if 0.0 <= y < height:  # NaN-safe
            rows[int(y)] += 1
    tops = np.empty(bands + 1, dtype=np.int64)
    tops[0] = 0
    tops[bands] = height
    total = rows.sum()
    row = 0
    counted = 0
    for band in range(1, bands):
        while row < height and (counted + rows[row]) * bands <= total * band:
            counted += rows[row]
            row += 1
        tops[band] = row
    return tops


@numba.njit(cache=True)
def _rasterize_band(grid, triangles, boxes, packed, top, bottom):
    width = packed.shape[1]
    for t in range(triangles.shape[0]):
        row0 = max(boxes[t, 2], top)
        row1 = min(boxes[t, 3], bottom)
        col0 = max(boxes[t, 0], 0)
        col1 = min(boxes[t, 1], width - 1)
        if row0 > row1 or col0 > col1:
            continue
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        xa, ya, wa = grid[a, 0], grid[a, 1], grid[a, 2]
        xb, yb, wb = grid[b, 0], grid[b, 1], grid[b, 2]
        xc, yc, wc = grid[c, 0], grid[c, 1], grid[c, 2]
        area = (xb - xa) * (yc - ya) - (xc - xa) * (yb - ya)
        if area == 0.0:
            continue
        inverse_area = 1.0 / area
        # Barycentrics are affine in (px, py): l = l_x * px + l_y * py + l_0, stepped along
        # each row; inside test, depth test and write are branch-free (a branch here
        # mispredicts about every other pixel of the small triangles of fine meshes).
        la_x = (yb - yc) * inverse_area
        la_y = (xc - xb) * inverse_area
        la_0 = (xb * yc - xc * yb) * inverse_area
        lb_x = (yc - ya) * inverse_area
        lb_y = (xa - xc) * inverse_area
        lb_0 = (xc * ya - xa * yc) * inverse_area
        w_x = (la_x * (wa - wc) + lb_x * (wb - wc)) * _DEPTH_SCALE
        tag = np.int64(t)
        for py in range(row0, row1 + 1):
            la = la_x * col0 + la_y * py + la_0
            lb = lb_x * col0 + lb_y * py + lb_0
            w = (wc + la * (wa - wc) + lb * (wb - wc)) * _DEPTH_SCALE
            row = packed[py]
            for px in range(col0, col1 + 1):
                inside = (la >= 0.0) & (lb >= 0.0) & (la + lb <= 1.0)
                key = (np.int64(max(w, 1.0)) << 32) | tag
                row[px] = max(row[px], key if inside else 0)
                la += la_x
                lb += lb_x
                w += w_x


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
