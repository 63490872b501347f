"""How well a mapped fluorescence region matches a known true region on the same mesh.

Used by the tests against analytic scenes and by ``igcs fluorescence --truth`` / ``igcs demo``
against the phantom's truth.

- **Dice** ``2 |A n B| / (|A| + |B|)`` of two vertex regions, weighted by vertex area (one third
  of the adjacent triangles; :meth:`SurfaceMesh.vertex_areas`) so it does not depend on the
  tessellation. Unseen vertices are not in the mapped region.
- **Boundary error.** A region ``value >= level`` has as boundary the level set of the
  piecewise-linear interpolant of the per-vertex values: in each triangle whose vertices lie on
  both sides, the segment between the two edge crossings (linear interpolation along the edges,
  :func:`iso_segments`; triangles with an unseen vertex are skipped). The boundary error from
  curve A to curve B is the mean, by arc length along A, of the distance from A to the nearest
  point of B (both curves resampled every ``step_mm``, 0.05 mm by default, and matched with
  scipy's ``cKDTree``: distances are exact to within half a step). Reported both ways: mapped
  -> true says whether the mapped boundary lies where a boundary is; true -> mapped also
  penalises parts of the true boundary that were never mapped (unseen). The headline figure
  (:attr:`RegionAccuracy.boundary_error_mm`) is the larger of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from registration.core.checks import Float64Array, InputError, check_positive
from rendering.fluorescence.surface_mesh import SurfaceMesh


@dataclass(frozen=True)
class RegionAccuracy:
    """Mapped region vs true region on one mesh (module docstring).

    dice : area-weighted Dice in [0, 1].
    mapped_to_true_mm, true_to_mapped_mm : mean boundary distances, mm (NaN without a curve).
    mapped_area_mm2, true_area_mm2 : region areas (vertex-area sums), mm^2.
    level : the level defining both regions (e.g. the positive SBR threshold).
    """

    dice: float
    mapped_to_true_mm: float
    true_to_mapped_mm: float
    mapped_area_mm2: float
    true_area_mm2: float
    level: float

    @property
    def boundary_error_mm(self) -> float:
        """The larger of the two mean boundary distances, mm."""
        return max(self.mapped_to_true_mm, self.true_to_mapped_mm)


def dice(mask_a: ArrayLike, mask_b: ArrayLike, *, weights: ArrayLike | None = None) -> float:
    """Dice coefficient of two (N,) boolean masks, optionally weighted (e.g. vertex areas);
    1.0 when both are empty."""
    a = np.asarray(mask_a, dtype=bool)
    b = np.asarray(mask_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"masks must be (N,) of equal shape; got {a.shape} and {b.shape}.")
    w = np.ones(a.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != a.shape:
        raise InputError(f"weights must have the masks' shape {a.shape}; got {w.shape}.")
    total = float(w[a].sum() + w[b].sum())
    return 1.0 if total == 0 else 2.0 * float(w[a & b].sum()) / total


def iso_segments(
    vertices: ArrayLike, triangles: ArrayLike, values: ArrayLike, level: float
) -> Float64Array:
    """(S, 2, 3) segments of the level set ``values == level`` of the piecewise-linear field.

    vertices : (N, 3) mm. triangles : (M, 3) indices. values : (N,) (NaN = unknown: triangles
    touching such a vertex are skipped). A vertex is "above" when ``value >= level``.
    """
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles, dtype=np.int64)
    f = np.asarray(values, dtype=np.float64)
    if f.shape != (v.shape[0],):
        raise InputError(f"values must have shape ({v.shape[0]},); got {f.shape}.")
    known = np.isfinite(f[t]).all(axis=1)
    t = t[known]
    above = f[t] >= level
    crossing = above.any(axis=1) & ~above.all(axis=1)
    t, above = t[crossing], above[crossing]
    points = np.empty((t.shape[0], 2, 3))
    filled = np.zeros(t.shape[0], dtype=np.int64)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        cut = above[:, a] != above[:, b]
        ia, ib = t[cut, a], t[cut, b]
        fraction = ((level - f[ia]) / (f[ib] - f[ia]))[:, np.newaxis]
        rows = np.flatnonzero(cut)
        points[rows, filled[rows]] = v[ia] + fraction * (v[ib] - v[ia])
        filled[rows] += 1
    return points


def iso_crossings(
    vertices: ArrayLike, triangles: ArrayLike, values: ArrayLike, level: float
) -> Float64Array:
    """(M, 3) points where ``values`` crosses ``level`` along mesh edges (each edge once)."""
    t = np.asarray(triangles, dtype=np.int64)
    pairs = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    edges = np.unique(np.sort(pairs, axis=1), axis=0)
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(values, dtype=np.float64)
    a, b = f[edges[:, 0]], f[edges[:, 1]]
    cut = np.isfinite(a) & np.isfinite(b) & ((a >= level) != (b >= level))
    a, b, e = a[cut], b[cut], edges[cut]
    fraction = ((level - a) / (b - a))[:, np.newaxis]
    return v[e[:, 0]] + fraction * (v[e[:, 1]] - v[e[:, 0]])


def resample_segments(
    segments: ArrayLike, *, step_mm: float = 0.05
) -> tuple[Float64Array, Float64Array]:
    """Points every ``step_mm`` (at least the midpoint) along (S, 2, 3) segments, with the arc
    length each stands for: ((P, 3) points, (P,) lengths in mm)."""
    check_positive(step_mm, "step_mm")
    s = np.asarray(segments, dtype=np.float64).reshape(-1, 2, 3)
    length = np.linalg.norm(s[:, 1] - s[:, 0], axis=1)
    count = np.maximum(np.ceil(length / step_mm).astype(np.int64), 1)
    owner = np.repeat(np.arange(s.shape[0]), count)
    start = np.cumsum(count) - count
    index = np.arange(owner.size) - start[owner]
    fraction = ((index + 0.5) / count[owner])[:, np.newaxis]
    points = s[owner, 0] + fraction * (s[owner, 1] - s[owner, 0])
    return points, (length / count)[owner]


def mean_curve_distance(
    from_segments: ArrayLike, to_segments: ArrayLike, *, step_mm: float = 0.05
) -> float:
    """Arc-length mean of the distance (mm) from one curve (S, 2, 3) to another; NaN when
    either is empty."""
    a, weights = resample_segments(from_segments, step_mm=step_mm)
    b, _ = resample_segments(to_segments, step_mm=step_mm)
    if a.shape[0] == 0 or b.shape[0] == 0 or weights.sum() == 0:
        return float("nan")
    distance, _ = cKDTree(b).query(a)
    return float(np.average(distance, weights=weights))


def polyline_segments(points: ArrayLike, *, closed: bool = True) -> Float64Array:
    """(S, 2, 3) segments joining consecutive (P, 3) points (and the last to the first)."""
    p = np.asarray(points, dtype=np.float64)
    following = np.roll(p, -1, axis=0) if closed else p[1:]
    start = p if closed else p[:-1]
    return np.stack([start, following], axis=1)


def region_accuracy(
    mesh: SurfaceMesh,
    mapped_values: ArrayLike,
    true_values: ArrayLike,
    *,
    level: float,
    true_boundary: ArrayLike | None = None,
    step_mm: float = 0.05,
) -> RegionAccuracy:
    """Dice and boundary errors of ``mapped_values >= level`` vs ``true_values >= level``.

    mapped_values : (N,) per-vertex map in the unit of ``level`` (e.g. SBR), NaN = unseen.
    true_values : (N,) the truth on the same vertices, same unit (finite).
    true_boundary : (S, 2, 3) true boundary segments when known analytically; default the
        level set of ``true_values`` on the mesh.
    """
    mapped = np.asarray(mapped_values, dtype=np.float64)
    truth = np.asarray(true_values, dtype=np.float64)
    n = mesh.vertex_count
    if mapped.shape != (n,) or truth.shape != (n,):
        raise InputError(
            f"mapped_values and true_values must have shape ({n},); got {mapped.shape} and "
            f"{truth.shape}."
        )
    if not np.isfinite(truth).all():
        raise InputError("true_values must be finite on every vertex.")
    areas = mesh.vertex_areas()
    in_mapped = np.isfinite(mapped) & (mapped >= level)
    in_true = truth >= level
    mapped_curve = iso_segments(mesh.vertices_in_image, mesh.triangles, mapped, level)
    true_curve = (
        iso_segments(mesh.vertices_in_image, mesh.triangles, truth, level)
        if true_boundary is None
        else np.asarray(true_boundary, dtype=np.float64)
    )
    return RegionAccuracy(
        dice=dice(in_mapped, in_true, weights=areas),
        mapped_to_true_mm=mean_curve_distance(mapped_curve, true_curve, step_mm=step_mm),
        true_to_mapped_mm=mean_curve_distance(true_curve, mapped_curve, step_mm=step_mm),
        mapped_area_mm2=float(areas[in_mapped].sum()),
        true_area_mm2=float(areas[in_true].sum()),
        level=float(level),
    )
