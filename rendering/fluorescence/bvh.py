"""A bounding-volume hierarchy over a static mesh, for exact occlusion rays (numba).

The mesh does not move in the image frame; only the camera does. So the hierarchy is built once
per mesh (a linear BVH: triangles sorted along a 63-bit Morton curve of their centroids,
ranges split at their middle; Lauterbach et al. 2009) and every frame's exact ray casts (the
ambiguous vertices of :mod:`rendering.fluorescence.visibility`) walk it: a slab test per node (Kay &
Kajiya 1986), Möller-Trumbore per triangle in the leaves. Building 400k triangles takes well under a
second.

The Morton cells are cubes (one scale for all three axes). Scaling each axis to its own extent,
as before, made a thin surface (a tissue sheet 200 x 200 x 20 mm) split along its thickness
near the root: two children each spanning the whole sheet, so every grazing ray entered both.
With cubic cells a visible ambiguous vertex's ray visits about 270 nodes instead of 730, and
the same rays take 35 % less time (200k-vertex sheet of ``benchmarks/bench_fluorescence.py``,
one thread). Node layout (depth-first, float32 boxes) and branch-free slab tests were tried
and gained under 10 %: the number of nodes a ray enters is what counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

from rendering.fluorescence.rasterizer import ray_hit, serialized

_LEAF_SIZE = 4
_STACK = 128


@dataclass(frozen=True)
class MeshBVH:
    """Node boxes (K, 2, 3) in image mm, children (K, 2) (-1 at leaves), leaf triangle ranges
    (K, 2) into ``order`` (M,), the triangle indices in Morton order."""

    boxes: np.ndarray
    children: np.ndarray
    ranges: np.ndarray
    order: np.ndarray

    @classmethod
    def build(cls, vertices_in_image: np.ndarray, triangles: np.ndarray) -> MeshBVH:
        """Build over (N, 3) float64 vertices and (M, 3) int64 triangles."""
        corners = vertices_in_image[triangles]
        low = corners.min(axis=1)
        high = corners.max(axis=1)
        centre = 0.5 * (low + high)
        span = max(float((centre.max(axis=0) - centre.min(axis=0)).max()), 1e-12)
        cells = ((centre - centre.min(axis=0)) / span * (2**21 - 1)).astype(np.int64)
        order = np.argsort(_morton(cells), kind="stable")
        boxes, children, ranges = _build(low[order], high[order])
        return cls(boxes, children, ranges, order.astype(np.int64))


@numba.njit(cache=True)
def _morton(cells):
    codes = np.zeros(cells.shape[0], dtype=np.int64)
    for i in range(cells.shape[0]):
        code = 0
        for bit in range(21):
            for axis in range(3):
                code |= ((cells[i, axis] >> bit) & 1) << (3 * bit + axis)
        codes[i] = code
    return codes


@numba.njit(cache=True)
def _build(low, high):
    m = low.shape[0]
    capacity = 2 * m
    boxes = np.empty((capacity, 2, 3))
    children = np.full((capacity, 2), -1, dtype=np.int64)
    ranges = np.zeros((capacity, 2), dtype=np.int64)
    ranges[0, 0] = 0
    ranges[0, 1] = m
    count = 1
    node = 0
    while node < count:  # nodes are created in breadth-first order
        start, end = ranges[node, 0], ranges[node, 1]
        if end - start > _LEAF_SIZE:
            middle = (start + end) // 2
            children[node, 0] = count
            children[node, 1] = count + 1
            ranges[count, 0], ranges[count, 1] = start, middle
            ranges[count + 1, 0], ranges[count + 1, 1] = middle, end
            count += 2
        node += 1
    for node in range(count - 1, -1, -1):  # children before parents
        if children[node, 0] < 0:
            for axis in range(3):
                boxes[node, 0, axis] = low[ranges[node, 0] : ranges[node, 1], axis].min()
                boxes[node, 1, axis] = high[ranges[node, 0] : ranges[node, 1], axis].max()
        else:
            left, right = children[node, 0], children[node, 1]
            for axis in range(3):
                boxes[node, 0, axis] = min(boxes[left, 0, axis], boxes[right, 0, axis])
                boxes[node, 1, axis] = max(boxes[left, 1, axis], boxes[right, 1, axis])
    return boxes[:count].copy(), children[:count].copy(), ranges[:count].copy()


@serialized
@numba.njit(parallel=True, cache=True)
def occluded_by_rays(vertex_indices, camera_in_image, vertices_in_image, cam, triangles,
                     boxes, children, ranges, order, ray_slack, edge_slack):  # fmt: skip
    """For each vertex i, whether a triangle not containing i crosses the segment from the
    camera centre to it (hits at s < 1 - ray_slack of the way). Boxes are tested in the image
    frame, triangles in the camera frame (``cam``: camera-frame vertices), where the ray is
    s * cam[i]; the parameter s is the same in both."""
    result = np.zeros(vertex_indices.shape[0], dtype=np.bool_)
    stacks = np.empty((vertex_indices.shape[0], _STACK), dtype=np.int64)
    ox, oy, oz = camera_in_image[0], camera_in_image[1], camera_in_image[2]
    limit = 1.0 - ray_slack
    for k in prange(vertex_indices.shape[0]):
        i = vertex_indices[k]
        dx = vertices_in_image[i, 0] - ox
        dy = vertices_in_image[i, 1] - oy
        dz = vertices_in_image[i, 2] - oz
        ix = 1.0 / dx if dx != 0.0 else np.inf
        iy = 1.0 / dy if dy != 0.0 else np.inf
        iz = 1.0 / dz if dz != 0.0 else np.inf
        stack = stacks[k]
        stack[0] = 0
        top = 1
        while top > 0 and not result[k]:
            top -= 1
            node = stack[top]
            near, far = _slab(boxes[node, 0, 0], boxes[node, 1, 0], ox, ix, 0.0, limit)
            near, far = _slab(boxes[node, 0, 1], boxes[node, 1, 1], oy, iy, near, far)
            near, far = _slab(boxes[node, 0, 2], boxes[node, 1, 2], oz, iz, near, far)
            if near > far:
                continue
            if children[node, 0] < 0:
                for j in range(ranges[node, 0], ranges[node, 1]):
                    t = order[j]
                    if triangles[t, 0] == i or triangles[t, 1] == i or triangles[t, 2] == i:
                        continue
                    s, _, _ = ray_hit(cam[i, 0], cam[i, 1], cam[i, 2], cam, triangles, t,
                                      edge_slack)  # fmt: skip
                    if s < limit:
                        result[k] = True
                        break
            elif top + 2 <= _STACK:
                stack[top] = children[node, 0]
                stack[top + 1] = children[node, 1]
                top += 2
    return result


@numba.njit(cache=True, inline="always")
def _slab(low, high, origin, inverse, near, far):
    """Narrow the ray interval [near, far] to one axis slab of a box (NaN-safe: a ray in the
    slab's plane keeps the interval)."""
    t0 = (low - origin) * inverse
    t1 = (high - origin) * inverse
    if np.isnan(t0) or np.isnan(t1):
        return near, far
    return max(near, min(t0, t1)), min(far, max(t0, t1))
