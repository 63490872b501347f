"""Level of detail: display meshes decimated to a triangle budget, with a vertex map.

The software renderer's frame cost grows with the triangles drawn, so display meshes are
decimated once, when a scene is built, with fast-simplification (quadric edge collapse,
Garland & Heckbert 1997). The collapse history gives, for every full-resolution vertex, the
display vertex it was merged into; per-vertex data computed on the full mesh (the fused
fluorescence map) are carried over with :meth:`DisplayMesh.transfer`.

Where the error quadric is nearly singular (thin, flat or degenerate regions of real scans'
marching-cubes meshes), the "optimal" placement can put a collapsed vertex metres off the
surface (seen on a real head and neck CT's bone: a vertex at z = +12 m, the 3-D camera then
fitted to it). A display vertex farther than :data:`STRAY_MM` from every source vertex is put
back on the surface, on the source vertex nearest the centroid of the vertices merged into it
(scipy's ``cKDTree``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import fast_simplification
import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from registration.core.checks import InputError

#: Meshes at or below this many triangles are never decimated (a tumour or node stays smooth).
MIN_TRIANGLES_PER_MESH = 2_000
#: A decimated vertex this far from every source vertex (mm) is a misplaced collapse: a valid
#: placement lies on the surface, within about one source edge (1-2 mm) of a source vertex.
STRAY_MM = 5.0


@dataclass(frozen=True, eq=False)
class DisplayMesh:
    """A display mesh and the map from its full-resolution source.

    mesh : triangles in the source's frame (LPS mm), with point normals for smooth shading.
    source_point_count : number of vertices of the full-resolution mesh.
    display_from_source : (source_point_count,) int64, display vertex of each source vertex, or
        None when the mesh was not decimated (display vertices are the source vertices).
    """

    mesh: pv.PolyData
    source_point_count: int
    display_from_source: np.ndarray | None
    _order: np.ndarray = field(init=False, repr=False)
    _starts: np.ndarray = field(init=False, repr=False)
    _owners: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Source vertices grouped by display vertex, for the reductions in transfer().
        if self.display_from_source is None:
            return
        order = np.argsort(self.display_from_source, kind="stable")
        owners = self.display_from_source[order]
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_owners", owners[starts])

    @property
    def triangle_count(self) -> int:
        return int(self.mesh.n_cells)

    def transfer(self, values: np.ndarray) -> np.ndarray:
        """Carry per-source-vertex values to the display vertices.

        values : (source_point_count,) float; NaN marks unknown (unseen) vertices.
        Returns (display point count,) float64. A display vertex is NaN if any source vertex
        merged into it is NaN (so nothing unseen is ever coloured) and otherwise the maximum of
        its source values (a small positive spot is not averaged away).
        """
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (self.source_point_count,):
            raise InputError(
                f"values must have one entry per mesh vertex ({self.source_point_count}); "
                f"got shape {array.shape}."
            )
        if self.display_from_source is None:
            return array.copy()
        order, starts = self._order, self._starts
        grouped = array[order]
        unseen = np.isnan(grouped)
        maxima = np.maximum.reduceat(np.where(unseen, -np.inf, grouped), starts)
        any_unseen = np.logical_or.reduceat(unseen, starts)
        result = np.full(self.mesh.n_points, np.nan)
        result[self._owners] = np.where(any_unseen, np.nan, maxima)
        return result


def triangles_of(mesh: pv.PolyData, name: str) -> np.ndarray:
    """(M, 3) int64 vertex indices of a mesh's triangles (polygons are triangulated, vertex
    order and count kept); refuses a mesh without faces."""
    if not isinstance(mesh, pv.PolyData):
        raise InputError(f"{name} must be a pyvista.PolyData surface; got {type(mesh).__name__}.")
    if mesh.n_points == 0 or mesh.GetNumberOfPolys() == 0:
        raise InputError(f"{name} has no surface triangles; pass a non-empty surface mesh.")
    surface = mesh if mesh.is_all_triangles else mesh.triangulate()
    return np.asarray(surface.regular_faces, dtype=np.int64)


def decimate(mesh: pv.PolyData, max_triangles: int, *, name: str = "mesh") -> DisplayMesh:
    """Decimate ``mesh`` to at most about ``max_triangles`` triangles (no-op when smaller).

    mesh : surface in any frame (LPS mm here); polygons are triangulated first.
    max_triangles : target triangle count, >= 4.
    """
    if int(max_triangles) < 4:
        raise InputError(f"max_triangles must be >= 4; got {max_triangles}.")
    triangles = triangles_of(mesh, name)
    points = np.asarray(mesh.points, dtype=np.float64)
    if len(triangles) <= max_triangles:
        display = pv.PolyData.from_regular_faces(points, triangles)
        return DisplayMesh(_with_normals(display), mesh.n_points, None)
    _, _, collapses = fast_simplification.simplify(
        points, triangles, target_count=int(max_triangles), return_collapses=True
    )
    new_points, new_triangles, display_from_source = fast_simplification.replay_simplification(
        points, triangles, collapses
    )
    mapping = np.asarray(display_from_source, dtype=np.int64)
    placed = _pin_strays(points, np.asarray(new_points, dtype=np.float64), mapping)
    display = pv.PolyData.from_regular_faces(placed, np.asarray(new_triangles))
    mapping.setflags(write=False)
    return DisplayMesh(_with_normals(display), mesh.n_points, mapping)


def _pin_strays(
    source: np.ndarray, display: np.ndarray, display_from_source: np.ndarray
) -> np.ndarray:
    """``display`` (D, 3) with every vertex farther than :data:`STRAY_MM` from all ``source``
    vertices (N, 3) moved onto the source vertex nearest the centroid of its merged sources."""
    tree = cKDTree(source)
    distance, _ = tree.query(display)
    strays = np.flatnonzero(distance > STRAY_MM)
    if not len(strays):
        return display
    sums = np.zeros_like(display)
    counts = np.zeros(len(display))
    np.add.at(sums, display_from_source, source)
    np.add.at(counts, display_from_source, 1.0)
    centroids = sums[strays] / np.maximum(counts[strays], 1.0)[:, np.newaxis]
    _, nearest = tree.query(centroids)
    fixed = display.copy()
    fixed[strays] = source[nearest]
    return fixed


def split_budget(triangle_counts: Sequence[int], budget: int) -> list[int]:
    """Share a total triangle ``budget`` among meshes, proportionally to their size.

    No mesh gets fewer than :data:`MIN_TRIANGLES_PER_MESH` triangles (or all of its own, if it
    has fewer), even when those floors alone exceed the budget; when the total fits in the
    budget, every mesh keeps all of its triangles.
    """
    counts = [int(n) for n in triangle_counts]
    if sum(counts) <= budget:
        return counts
    # Meshes whose proportional share would fall under the floor get the floor (or all of
    # theirs); the rest share what remains, until no share changes.
    fixed: dict[int, int] = {}
    while True:
        remaining = max(budget - sum(fixed.values()), 0)
        free = [i for i in range(len(counts)) if i not in fixed]
        free_total = sum(counts[i] for i in free)
        shares = {i: int(remaining * counts[i] / free_total) for i in free} if free_total else {}
        low = {i: min(counts[i], MIN_TRIANGLES_PER_MESH) for i, s in shares.items()
               if s < min(counts[i], MIN_TRIANGLES_PER_MESH)}  # fmt: skip
        if not low:
            return [fixed[i] if i in fixed else shares[i] for i in range(len(counts))]
        fixed.update(low)


def _with_normals(mesh: pv.PolyData) -> pv.PolyData:
    """Point normals for smooth shading, without splitting vertices (the vertex map holds)."""
    return mesh.compute_normals(
        cell_normals=False, point_normals=True, split_vertices=False, auto_orient_normals=False
    )
