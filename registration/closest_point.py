"""Closest points on a triangle mesh: exact point-to-triangle distances located with a KD-tree.

Each triangle is represented by the centre of its smallest enclosing sphere in a
:class:`scipy.spatial.cKDTree`; the candidates for a query point are the triangles with the
nearest centres, and the closest point on each candidate is computed exactly (Ericson,
*Real-Time Collision Detection*, 2005, section 5.1.5, vectorised). The answer is then
certified: no triangle outside the candidates can be closer than (distance to the farthest
candidate centre) - (largest enclosing radius of its class: triangles are grouped by radius,
doubling classes, each with its own tree). Points whose answer is not certified are re-solved,
class by class, against every triangle whose centre lies within that bound (a ball query), so
:meth:`TriangleMeshLocator.closest` is exact, like VTK's ``vtkCellLocator``. ``exact=False``
skips the certification (faster; on marching-cubes meshes about 1-2 % of points get a nearby
triangle instead of the closest, off by a fraction of an edge): ICP's inner iterations use it.

The mesh and the points share one frame (for surface registration: the image LPS frame, mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from registration.core.checks import Float64Array, InputError, check_points

IntArray = NDArray[np.intp]

#: Triangles (nearest centres) tried per query point: approximate queries, exact queries
#: (before certification; on marching-cubes skin meshes 16 certify nearly every point).
CANDIDATES = 8
CANDIDATES_EXACT = 16


@dataclass(frozen=True)
class ClosestPoints:
    """Closest surface points of N query points.

    points : (N, 3) float, mm, closest points on the surface (mesh frame).
    distances_mm : (N,) float, unsigned distance of each query point to the surface.
    normals : (N, 3) float, unit surface normal at each closest point (vertex normals
        interpolated barycentrically; the triangle's normal where they cancel).
    triangle_ids : (N,) int, index of the triangle holding each closest point.
    """

    points: Float64Array
    distances_mm: Float64Array
    normals: Float64Array
    triangle_ids: IntArray


class TriangleMeshLocator:
    """Exact closest-point queries on a fixed triangle mesh (built once, queried many times).

    Parameters
    ----------
    vertices : (V, 3) float, mm, mesh vertices (any frame; queries use the same frame).
    triangles : (T, 3) int, vertex indices of each triangle, 0 <= index < V.
    vertex_normals : (V, 3) float, optional unit normals; default: area-weighted triangle
        normals. Their sign does not matter to distances.
    """

    def __init__(
        self,
        vertices: ArrayLike,
        triangles: ArrayLike,
        vertex_normals: ArrayLike | None = None,
    ) -> None:
        self.vertices = check_points(vertices, "vertices", min_count=3)
        self.triangles = _check_triangles(triangles, len(self.vertices))
        corners = self.vertices[self.triangles]
        cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        area2 = np.linalg.norm(cross, axis=1)
        if not (area2 > 0).any():
            raise InputError("triangles are all degenerate (zero area); check the mesh.")
        with np.errstate(invalid="ignore", divide="ignore"):
            self.face_normals = np.nan_to_num(cross / area2[:, np.newaxis])
        if vertex_normals is None:
            normals = np.zeros_like(self.vertices)
            for corner in range(3):
                np.add.at(normals, self.triangles[:, corner], cross)
        else:
            normals = check_points(vertex_normals, "vertex_normals")
            if normals.shape != self.vertices.shape:
                raise InputError(
                    f"vertex_normals must have one normal per vertex, shape {self.vertices.shape}; "
                    f"got {normals.shape}."
                )
        lengths = np.linalg.norm(normals, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.vertex_normals = np.where(
                lengths[:, np.newaxis] > 0, normals / lengths[:, np.newaxis], 0.0
            )
        self._corner_a = corners[:, 0]
        self._edge_ab = corners[:, 1] - corners[:, 0]
        self._edge_ac = corners[:, 2] - corners[:, 0]
        # one row per triangle, gathered at once: a, ab, ac, ab.ab, ab.ac, ac.ac
        self._packed = np.hstack(
            [
                self._corner_a,
                self._edge_ab,
                self._edge_ac,
                np.einsum("tk,tk->t", self._edge_ab, self._edge_ab)[:, np.newaxis],
                np.einsum("tk,tk->t", self._edge_ab, self._edge_ac)[:, np.newaxis],
                np.einsum("tk,tk->t", self._edge_ac, self._edge_ac)[:, np.newaxis],
            ]
        )
        centres, radii = _enclosing_spheres(corners)
        self._radius_max = float(radii.max())
        self.tree = cKDTree(centres)
        # Certification balls must reach the largest triangle's size; decimated meshes have a
        # few huge slivers across flat regions (190 mm on a real CT's skin with its table,
        # median 2.5 mm), which made every ball hold thousands of triangles. So the triangles
        # are grouped by enclosing radius (doubling classes from twice the median), each class
        # with its own KD-tree and radius: a ball holds only its class's triangles.
        edges = 2.0 * max(float(np.median(radii)), 1e-9) * 2.0 ** np.arange(16)
        label = np.searchsorted(edges, radii)
        self._classes = []
        for value in np.unique(label):
            members = np.flatnonzero(label == value)
            self._classes.append((cKDTree(centres[members]), members, float(radii[members].max())))
        for array in (self.vertices, self.triangles, self.face_normals, self.vertex_normals):
            array.setflags(write=False)

    def closest(self, points: ArrayLike, *, exact: bool = True) -> ClosestPoints:
        """Closest points on the mesh to ``points`` ((N, 3) float, mm, mesh frame).

        With ``exact`` (default) the result is the true closest point of the whole mesh;
        without, the closest point among the triangles with the nearest centres.
        """
        query = check_points(points, "points")
        count = min(CANDIDATES_EXACT if exact else CANDIDATES, len(self.triangles))
        centre_distances, candidates = self.tree.query(query, k=count)
        centre_distances = np.asarray(centre_distances).reshape(len(query), count)
        candidates = np.asarray(candidates, dtype=np.intp).reshape(len(query), count)
        squared, v, w = self._to_triangles(query[:, np.newaxis, :], candidates)
        rows = np.arange(len(query))
        best = np.argmin(squared, axis=1)
        best_squared = squared[rows, best]
        triangle_ids = candidates[rows, best]
        v_best, w_best = v[rows, best], w[rows, best]
        if exact and count < len(self.triangles):
            for tree, members, radius in self._classes:
                # Triangles outside the candidates have centres at least the k-th candidate's
                # distance away: a class certifies a point when that minus its radius is
                # already no better.
                bound = centre_distances[:, -1] - radius
                unsure = np.flatnonzero(best_squared > np.square(np.maximum(bound, 0.0)))
                if len(unsure) == 0:
                    continue
                found = self._exhaustive(
                    query[unsure], np.sqrt(best_squared[unsure]), tree, members, radius
                )
                if found is None:
                    continue
                ids, squared_found, v_found, w_found = found
                better = squared_found < best_squared[unsure]
                chosen = unsure[better]
                triangle_ids[chosen], best_squared[chosen] = ids[better], squared_found[better]
                v_best[chosen], w_best[chosen] = v_found[better], w_found[better]
        v_best, w_best = v_best[:, np.newaxis], w_best[:, np.newaxis]
        closest = (
            self._corner_a[triangle_ids]
            + v_best * self._edge_ab[triangle_ids]
            + w_best * self._edge_ac[triangle_ids]
        )
        corner_normals = self.vertex_normals[self.triangles[triangle_ids]]  # (N, 3, 3)
        normals = (
            (1.0 - v_best - w_best) * corner_normals[:, 0]
            + v_best * corner_normals[:, 1]
            + w_best * corner_normals[:, 2]
        )
        length = np.linalg.norm(normals, axis=1)
        weak = length < 0.5  # vertex normals disagree (or are missing): use the face normal
        with np.errstate(invalid="ignore", divide="ignore"):
            normals = np.where(
                weak[:, np.newaxis],
                self.face_normals[triangle_ids],
                normals / length[:, np.newaxis],
            )
        distances = np.linalg.norm(query - closest, axis=1)  # not from the expansion: precise
        return ClosestPoints(closest, distances, normals, triangle_ids)

    def _to_triangles(
        self, query: Float64Array, candidates: IntArray
    ) -> tuple[Float64Array, Float64Array, Float64Array]:
        """Squared distances and barycentric (v, w) from query points (..., 1 or C, 3) to the
        candidate triangles (..., C); degenerate triangles give inf."""
        packed = self._packed[candidates]
        offset = query - packed[..., 0:3]  # p - a
        ab, ac = packed[..., 3:6], packed[..., 6:9]
        ab_ab, ab_ac, ac_ac = packed[..., 9], packed[..., 10], packed[..., 11]
        d1 = np.einsum("...k,...k->...", ab, offset)
        d2 = np.einsum("...k,...k->...", ac, offset)
        v, w = _closest_barycentric(d1, d2, ab_ab, ab_ac, ac_ac)
        squared = (
            np.einsum("...k,...k->...", offset, offset)
            - 2.0 * (v * d1 + w * d2)
            + v * v * ab_ab
            + 2.0 * v * w * ab_ac
            + w * w * ac_ac
        )
        return np.where(np.isfinite(squared), squared, np.inf), v, w

    def _exhaustive(
        self,
        query: Float64Array,
        upper_bound: Float64Array,
        tree: cKDTree,
        members: IntArray,
        radius: float,
    ) -> tuple[IntArray, Float64Array, Float64Array, Float64Array] | None:
        """Closest triangle of one radius class among those whose centre is within
        ``upper_bound`` + the class's largest enclosing radius of each query point (a superset
        of the class's triangles that can be closer); None when no ball holds one."""
        balls = tree.query_ball_point(query, r=upper_bound + radius + 1e-9, return_sorted=False)
        sizes = np.fromiter((len(b) for b in balls), dtype=np.intp, count=len(balls))
        if sizes.sum() == 0:
            return None
        owner = np.repeat(np.arange(len(query)), sizes)
        local = np.fromiter(
            (t for ball in balls for t in ball), dtype=np.intp, count=int(sizes.sum())
        )
        candidates = members[local]
        squared, v, w = self._to_triangles(query[owner], candidates)
        order = np.lexsort((squared, owner))  # by owner, then distance
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        has = sizes > 0
        first = order[starts[has]]
        ids = np.zeros(len(query), dtype=np.intp)
        best = np.full(len(query), np.inf)
        v_out, w_out = np.zeros(len(query)), np.zeros(len(query))
        ids[has], best[has], v_out[has], w_out[has] = (
            candidates[first],
            squared[first],
            v[first],
            w[first],
        )
        return ids, best, v_out, w_out


def _check_triangles(triangles: ArrayLike, vertex_count: int) -> IntArray:
    array = np.asarray(triangles)
    if array.ndim != 2 or array.shape[1] != 3 or len(array) == 0:
        raise InputError(
            f"triangles must have shape (T, 3) with T >= 1 (vertex indices); got {array.shape}."
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"triangles must hold integer vertex indices; got dtype {array.dtype}.")
    if array.min() < 0 or array.max() >= vertex_count:
        raise InputError(
            f"triangles index vertices {array.min()}..{array.max()} but there are "
            f"{vertex_count} vertices; the triangles do not belong to these vertices."
        )
    return array.astype(np.intp)


def _enclosing_spheres(corners: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Smallest enclosing sphere of each triangle (T, 3 corners, 3): centre (T, 3) and radius (T,).

    Right or obtuse triangles: the midpoint of the longest edge; acute ones: the circumcentre.
    Degenerate triangles fall back to the centroid and the largest centroid-corner distance.
    """
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    ab, ac = b - a, c - a
    normal = np.cross(ab, ac)
    normal_squared = np.einsum("tk,tk->t", normal, normal)
    with np.errstate(invalid="ignore", divide="ignore"):
        circumcentre = a + (
            np.cross(normal, ab) * np.einsum("tk,tk->t", ac, ac)[:, np.newaxis]
            + np.cross(ac, normal) * np.einsum("tk,tk->t", ab, ab)[:, np.newaxis]
        ) / (2.0 * normal_squared[:, np.newaxis])
    opposite = np.stack([c - b, a - c, b - a], axis=1)  # edge opposite each corner
    lengths = np.linalg.norm(opposite, axis=2)
    longest = np.argmax(lengths, axis=1)
    rows = np.arange(len(corners))
    midpoint = 0.5 * (corners[rows, (longest + 1) % 3] + corners[rows, (longest + 2) % 3])
    ordered = np.sort(lengths, axis=1)
    blunt = ordered[:, 2] ** 2 >= ordered[:, 0] ** 2 + ordered[:, 1] ** 2
    centres = np.where(blunt[:, np.newaxis], midpoint, circumcentre)
    degenerate = ~np.isfinite(centres).all(axis=1)
    centres[degenerate] = corners[degenerate].mean(axis=1)
    radii = np.linalg.norm(corners - centres[:, np.newaxis], axis=2).max(axis=1)
    return centres, radii


def _closest_barycentric(
    d1: Float64Array,
    d2: Float64Array,
    ab_ab: Float64Array,
    ab_ac: Float64Array,
    ac_ac: Float64Array,
) -> tuple[Float64Array, Float64Array]:
    """Barycentric (v, w) of the point a + v ab + w ac of triangle abc closest to p.

    Ericson's region tests (5.1.5) written with the two dot products d1 = ab.(p - a) and
    d2 = ac.(p - a) and the triangle's precomputed Gram entries; the others follow from
    bp = ap - ab and cp = ap - ac. Degenerate triangles give non-finite values (skipped).
    """
    d3, d4 = d1 - ab_ab, d2 - ab_ac
    d5, d6 = d1 - ab_ac, d2 - ac_ac
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    with np.errstate(invalid="ignore", divide="ignore"):
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        denominator = 1.0 / (va + vb + vc)
        v_face, w_face = vb * denominator, vc * denominator
    zero = np.zeros_like(d1)
    one = np.ones_like(d1)
    conditions = [
        (d1 <= 0) & (d2 <= 0),  # vertex a
        (d3 >= 0) & (d4 <= d3),  # vertex b
        (vc <= 0) & (d1 >= 0) & (d3 <= 0),  # edge ab
        (d6 >= 0) & (d5 <= d6),  # vertex c
        (vb <= 0) & (d2 >= 0) & (d6 <= 0),  # edge ac
        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),  # edge bc
    ]
    v = np.select(conditions, [zero, one, t_ab, zero, zero, 1.0 - t_bc], default=v_face)
    w = np.select(conditions, [zero, zero, zero, one, t_ac, t_bc], default=w_face)
    return v, w
