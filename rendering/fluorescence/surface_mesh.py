"""A triangle surface as plain arrays: the input of fluorescence mapping and the synthetic camera.

pyvista meshes (the plan's ``.vtp`` models) convert with
:func:`rendering.surface_polydata.surface_from_polydata` (on the drawing side: this core
imports no VTK); everything here works on numpy arrays so the per-frame kernels (numba)
can use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from registration.core.checks import Float64Array, InputError, check_points


@dataclass(frozen=True)
class SurfaceMesh:
    """Vertices, triangles and unit vertex normals of a surface in the image (LPS, mm) frame.

    Attributes
    ----------
    vertices_in_image : (N, 3) float64, mm, LPS.
    triangles : (M, 3) int64 vertex indices (any consistent winding).
    normals_in_image : (N, 3) float64 unit vectors pointing out of the tissue (towards the
        camera side). If not given, area-weighted face normals (right-hand rule on the winding)
        are averaged; pass ``normals_in_image`` explicitly when the winding points inwards.
    """

    vertices_in_image: Float64Array
    triangles: np.ndarray
    normals_in_image: Float64Array | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        vertices = np.ascontiguousarray(
            check_points(self.vertices_in_image, "vertices_in_image", min_count=3)
        )
        triangles = np.asarray(self.triangles)
        if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.shape[0] < 1:
            raise InputError(f"triangles must have shape (M, 3), M >= 1; got {triangles.shape}.")
        if triangles.dtype.kind not in "iu":
            raise InputError(f"triangles must be integer vertex indices; got {triangles.dtype}.")
        triangles = np.ascontiguousarray(triangles, dtype=np.int64)
        if triangles.min() < 0 or triangles.max() >= vertices.shape[0]:
            raise InputError(
                f"triangles index vertices 0..{vertices.shape[0] - 1}; found indices "
                f"{int(triangles.min())}..{int(triangles.max())}."
            )
        if self.normals_in_image is None:
            normals = vertex_normals(vertices, triangles)
        else:
            normals = check_points(self.normals_in_image, "normals_in_image")
            if normals.shape != vertices.shape:
                raise InputError(
                    f"normals_in_image must match vertices_in_image {vertices.shape}; "
                    f"got {normals.shape}."
                )
            length = np.linalg.norm(normals, axis=1)
            if (length < 1e-9).any():
                raise InputError("normals_in_image contains zero vectors; recompute the normals.")
            normals = normals / length[:, np.newaxis]
        for name, value in (
            ("vertices_in_image", vertices),
            ("triangles", triangles),
            ("normals_in_image", np.ascontiguousarray(normals)),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def normals(self) -> Float64Array:
        """(N, 3) unit vertex normals (never None after construction)."""
        assert self.normals_in_image is not None
        return self.normals_in_image

    @property
    def vertex_count(self) -> int:
        return int(self.vertices_in_image.shape[0])

    def edge_graph(self) -> sparse.csr_matrix:
        """(N, N) sparse symmetric matrix of path lengths in mm for geodesic distances.

        Holds the mesh edges plus, for each edge shared by two triangles, the straight chord
        between the two opposite vertices: shortest paths then need not zig-zag along edges
        (on a regular triangulated grid the Dijkstra overestimate drops from up to 41 % to
        about 3 %).
        """
        if "edges" not in self._cache:
            t = self.triangles
            a = np.concatenate([t[:, 0], t[:, 1], t[:, 2]])
            b = np.concatenate([t[:, 1], t[:, 2], t[:, 0]])
            opposite = np.concatenate([t[:, 2], t[:, 0], t[:, 1]])
            key = np.minimum(a, b).astype(np.int64) * self.vertex_count + np.maximum(a, b)
            order = np.argsort(key, kind="stable")
            shared = np.flatnonzero(key[order][1:] == key[order][:-1])
            first, second = opposite[order][shared], opposite[order][shared + 1]
            a = np.concatenate([a, first])
            b = np.concatenate([b, second])
            v = self.vertices_in_image
            lengths = np.linalg.norm(v[a] - v[b], axis=1)
            n = self.vertex_count
            graph = sparse.coo_matrix((lengths, (a, b)), shape=(n, n)).tocsr()
            graph = graph.maximum(graph.T).tocsr()
            self._cache["edges"] = graph
        graph = self._cache["edges"]
        assert isinstance(graph, sparse.csr_matrix)
        return graph

    def triangle_neighbours(self) -> np.ndarray:
        """(M, 3) int64: the triangle across edge k (corners k and k + 1 mod 3) of each
        triangle, -1 on the border; where more than two triangles share an edge (non-manifold),
        one of them. Built once per mesh (cached); used by
        :mod:`rendering.fluorescence.visibility`."""
        if "neighbours" not in self._cache:
            t = self.triangles
            m = t.shape[0]
            a = t.T.ravel()  # edge k of triangle j at k * m + j
            b = np.roll(t, -1, axis=1).T.ravel()
            key = np.minimum(a, b) * self.vertex_count + np.maximum(a, b)
            order = np.argsort(key, kind="stable")
            shared = np.flatnonzero(key[order][1:] == key[order][:-1])
            first, second = order[shared], order[shared + 1]
            neighbours = np.full(3 * m, -1, dtype=np.int64)
            neighbours[first] = second % m
            neighbours[second] = first % m
            neighbours = np.ascontiguousarray(neighbours.reshape(3, m).T)
            neighbours.setflags(write=False)
            self._cache["neighbours"] = neighbours
        neighbours = self._cache["neighbours"]
        assert isinstance(neighbours, np.ndarray)
        return neighbours

    def bvh(self) -> Any:
        """The mesh's :class:`rendering.fluorescence.bvh.MeshBVH` in the image frame (built once,
        cached)."""
        if "bvh" not in self._cache:
            from rendering.fluorescence.bvh import MeshBVH

            self._cache["bvh"] = MeshBVH.build(self.vertices_in_image, self.triangles)
        return self._cache["bvh"]

    def spatially_ordered(self) -> SurfaceMesh:
        """The same surface with its vertices renumbered along a Morton (Z-order) curve of
        their positions and the triangles sorted by their lowest vertex: neighbours in space
        become neighbours in memory, so the per-frame kernels (rasterisation, visibility,
        sampling), which reach the triangles around a vertex and the vertices of a triangle
        at random, hit the cache (25 % faster on a 500k-vertex surgical field). Vertex order
        is otherwise meaningless: maps and masks follow the new numbering."""
        vertices = self.vertices_in_image
        span = max(float(np.ptp(vertices, axis=0).max()), 1e-9)
        cells = ((vertices - vertices.min(axis=0)) / span * 1023.0).astype(np.uint64)
        code = np.zeros(len(vertices), dtype=np.uint64)
        for bit in range(10):
            for axis in range(3):
                code |= ((cells[:, axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(
                    3 * bit + axis
                )
        order = np.argsort(code, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        triangles = rank[self.triangles]
        triangles = triangles[np.argsort(triangles.min(axis=1), kind="stable")]
        return SurfaceMesh(vertices[order], triangles, self.normals[order])

    def vertex_areas(self) -> Float64Array:
        """(N,) mm^2: one third of the area of the triangles around each vertex (sums to the
        surface area); used to weight vertex statistics so they do not depend on tessellation."""
        if "areas" not in self._cache:
            v = self.vertices_in_image
            t = self.triangles
            area = 0.5 * np.linalg.norm(
                np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), axis=1
            )
            self._cache["areas"] = np.bincount(
                t.ravel(), weights=np.repeat(area / 3.0, 3), minlength=self.vertex_count
            )
        areas = self._cache["areas"]
        assert isinstance(areas, np.ndarray)
        return areas


def vertex_normals(vertices: ArrayLike, triangles: ArrayLike) -> Float64Array:
    """Area-weighted vertex normals (N, 3), unit length, from the triangles' winding."""
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles, dtype=np.int64)
    face = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    corners = t.ravel()
    normals = np.stack(
        [np.bincount(corners, np.repeat(face[:, k], 3), minlength=v.shape[0]) for k in range(3)],
        axis=1,
    )
    length = np.linalg.norm(normals, axis=1)
    isolated = length == 0
    if isolated.any():
        normals[isolated] = (0.0, 0.0, 1.0)
        length[isolated] = 1.0
    return normals / length[:, np.newaxis]
