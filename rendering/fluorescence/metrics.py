"""Quantification of a fused fluorescence map on the model: SBR/TBR, CNR, margin flags.

- Signal-to-background (also called tumour-to-background) ratio ``SBR = mean(target) /
  mean(background)`` and contrast-to-noise ratio ``CNR = (mu_t - mu_b) / sigma_b``, with the
  target and background regions always stated, and the raw means always reported beside the
  ratios: the background definition changes the ratio a lot (Hoogstins et al. 2019).
- Per-vertex flags from the vertex's value over the background mean: positive (SBR >= 2.0) and
  close (SBR >= 1.5) by default, the margin thresholds of de Wit et al. 2023 for
  cetuximab-800CW in head and neck cancer (65 patients). They are tracer- and device-specific:
  configure :class:`MarginThresholds` for another tracer or camera.
- Background regions: a vertex mask (e.g. a normal-tissue label), or a ring around the target
  at a given inner/outer distance along the surface (geodesic: Dijkstra on mesh edges) or in
  space (Euclidean: nearest target vertex). scipy's ``csgraph.dijkstra`` and ``cKDTree``.

Statistics are area-weighted over *seen* vertices (vertex areas: one third of the adjacent
triangles), so they do not depend on the tessellation. A flag says "fluorophore within a few
millimetres under the surface", never a depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from registration.core.checks import Float64Array, InputError, check_positive
from rendering.fluorescence.surface_mesh import SurfaceMesh

UNSEEN = -1
NEGATIVE = 0
CLOSE = 1
POSITIVE = 2


@dataclass(frozen=True)
class MarginThresholds:
    """Per-vertex SBR thresholds; defaults after de Wit et al. 2023 (cetuximab-800CW, one
    camera system): tracer- and device-specific, not universal."""

    positive_sbr: float = 2.0
    close_sbr: float = 1.5
    source: str = (
        "de Wit et al. 2023, cetuximab-800CW, head and neck SCC; tracer- and device-specific"
    )

    def __post_init__(self) -> None:
        check_positive(self.close_sbr, "close_sbr")
        if self.positive_sbr < self.close_sbr:
            raise InputError(
                f"positive_sbr ({self.positive_sbr}) must be >= close_sbr ({self.close_sbr})."
            )


@dataclass(frozen=True)
class Quantification:
    """Target vs background statistics of one map (area-weighted over seen vertices).

    Attributes
    ----------
    target_mean, background_mean : raw means of the map's values in each region.
    background_std : area-weighted standard deviation in the background region.
    sbr : target_mean / background_mean (signal- or tumour-to-background ratio).
    cnr : (target_mean - background_mean) / background_std.
    target_seen_fraction, background_seen_fraction : area fraction of each region that was seen.
    target_region, background_region : what the regions are, in words (for reports).
    """

    target_mean: float
    background_mean: float
    background_std: float
    sbr: float
    cnr: float
    target_seen_fraction: float
    background_seen_fraction: float
    target_region: str
    background_region: str


def ring_mask(
    mesh: SurfaceMesh,
    target_mask: ArrayLike,
    *,
    inner_mm: float,
    outer_mm: float,
    geodesic: bool = True,
) -> np.ndarray:
    """(N,) bool: vertices whose distance to the target region lies in [inner_mm, outer_mm].

    target_mask : (N,) bool, the target vertices (e.g. the tumour label on the model).
    geodesic : distance along the surface (Dijkstra on mesh edges and chords across them, a
        few per cent longer than the true geodesic) if True, else straight-line distance, mm.
    The target's own vertices are never in the ring.
    """
    target = _mask(target_mask, mesh.vertex_count, "target_mask")
    if not target.any():
        raise InputError("target_mask selects no vertex; a ring needs a target region.")
    if not 0.0 <= inner_mm < outer_mm:
        raise InputError(f"need 0 <= inner_mm < outer_mm; got {inner_mm}, {outer_mm}.")
    if geodesic:
        distance = csgraph.dijkstra(
            mesh.edge_graph(), indices=np.flatnonzero(target), min_only=True, limit=outer_mm
        )
    else:
        distance, _ = cKDTree(mesh.vertices_in_image[target]).query(
            mesh.vertices_in_image, distance_upper_bound=outer_mm * 1.0001
        )
    return (distance >= inner_mm) & (distance <= outer_mm) & ~target


def quantify(
    values: ArrayLike,
    target_mask: ArrayLike,
    background_mask: ArrayLike,
    *,
    target_region: str,
    background_region: str,
    vertex_areas: ArrayLike | None = None,
) -> Quantification:
    """SBR, CNR and the raw means of ``values`` (NaN = unseen) over two vertex regions.

    values : (N,) float, the fused map (NaN where unseen).
    target_mask, background_mask : (N,) bool, disjoint regions.
    target_region, background_region : descriptions reported with the numbers (e.g.
        "tumour label", "ring 5-15 mm around the tumour, geodesic").
    vertex_areas : (N,) mm^2 weights (``mesh.vertex_areas()``); None weighs vertices equally.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    target = _mask(target_mask, n, "target_mask")
    background = _mask(background_mask, n, "background_mask")
    if (target & background).any():
        raise InputError("target_mask and background_mask overlap; the regions must be disjoint.")
    areas = np.ones(n) if vertex_areas is None else np.asarray(vertex_areas, dtype=np.float64)
    seen = np.isfinite(v)
    t = target & seen
    b = background & seen
    if not t.any() or not b.any():
        which = (
            f"target region ({target_region})"
            if not t.any()
            else (f"background region ({background_region})")
        )
        raise InputError(f"no seen vertex in the {which}; sweep the camera over it.")
    mu_t = float(np.average(v[t], weights=areas[t]))
    mu_b = float(np.average(v[b], weights=areas[b]))
    sigma_b = float(np.sqrt(np.average((v[b] - mu_b) ** 2, weights=areas[b])))
    return Quantification(
        target_mean=mu_t,
        background_mean=mu_b,
        background_std=sigma_b,
        sbr=mu_t / mu_b if mu_b > 0 else float("inf"),
        cnr=(mu_t - mu_b) / sigma_b if sigma_b > 0 else float("inf"),
        target_seen_fraction=float(areas[t].sum() / areas[target].sum()),
        background_seen_fraction=float(areas[b].sum() / areas[background].sum()),
        target_region=target_region,
        background_region=background_region,
    )


def vertex_sbr(values: ArrayLike, background_mean: float) -> Float64Array:
    """(N,) per-vertex SBR: value / background mean (NaN where unseen)."""
    check_positive(background_mean, "background_mean")
    return np.asarray(values, dtype=np.float64) / background_mean


def margin_flags(
    values: ArrayLike, background_mean: float, *, thresholds: MarginThresholds | None = None
) -> np.ndarray:
    """(N,) int8 per-vertex flags: POSITIVE (SBR >= positive_sbr), CLOSE (>= close_sbr),
    NEGATIVE, or UNSEEN (NaN values). Thresholds are tracer- and device-specific."""
    limits = thresholds or MarginThresholds()
    sbr = vertex_sbr(values, background_mean)
    flags = np.full(sbr.shape, UNSEEN, dtype=np.int8)
    seen = np.isfinite(sbr)
    flags[seen] = NEGATIVE
    flags[seen & (sbr >= limits.close_sbr)] = CLOSE
    flags[seen & (sbr >= limits.positive_sbr)] = POSITIVE
    return flags


def _mask(mask: ArrayLike, n: int, name: str) -> np.ndarray:
    array = np.asarray(mask)
    if array.shape != (n,) or array.dtype != np.bool_:
        raise InputError(f"{name} must be a boolean array of shape ({n},); got {array.dtype} "
                         f"{array.shape}.")  # fmt: skip
    return array
