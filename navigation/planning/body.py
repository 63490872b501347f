"""The patient's body in a CT, without the table, head holders, rests and immobilisation masks.

Everything denser than the body threshold is not the patient: a CT of the head and neck also
shows the couch, the head rest under the neck, a head holder pressed against the scalp and the
thermoplastic mask over the face, and the largest connected component above -500 HU wraps the
patient together with whatever touches them. Supports are told from the patient by shape
(connected components of what survives an erosion, as in morphological opening; Serra 1982):

1. on a coarse grid of ~:data:`COARSE_MM` voxels (a coarse voxel is set when any of its fine
   voxels is; all the steps below are cheap there), the mask is eroded by a box of half-width
   :data:`EROSION_MM`: plates, shells and walls of supports (a few mm thick) vanish, the
   patient's trunk, neck and head keep a *core*; the largest core is the patient's;
2. the *thick body* is the mask within the same distance of that core (the opening of the
   mask, i.e. the patient without thin parts), and one coarse voxel more where it is mostly
   soft tissue (the rim a box leaves along curved skin and sharp edges);
3. thin parts of the mask outside the thick body are connected components of their own: those
   touching the thick body, small (at most :data:`THIN_KEEP_ML` and
   :data:`THIN_KEEP_EXTENT_MM` across) and of soft tissue (coarse voxels whose voxels are mostly
   at most :data:`APPENDAGE_MAX_HU`) are the patient's (an ear, the nose tip, a finger); larger
   or denser ones (a head rest wall, a mask over the face, a holder's shell against an ear) are
   supports; the ones not touching are objects apart from the body (the couch, cables);
4. on the full grid the body is the threshold mask inside the kept coarse voxels, its largest
   6-connected component, holes filled slice by slice (airway and sinuses belong to the body).
   Where a support rests on the skin, up to one coarse voxel of it may stay (a perforated
   mask's imprint, a holder's shell pressed against an ear); nothing is shaved off the skin.

What was removed is reported, one entry per connected object of at least
:data:`REPORT_MIN_ML` (volume, bounding box in LPS mm, where it lies relative to the body,
whether it touched it, whether it was thin), and goes to ``plan.json``. Connected components:
``cc3d`` (with its per-label statistics); erosion and dilation by a box, separable, as shifted
logical AND/OR of the coarse mask (a few voxels of radius: cheaper there than
``scipy.ndimage`` filters).
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import fastremap
import numpy as np

from navigation.planning.regions import (
    RegionMask,
    box_morphology,
    fill_holes_per_slice,
    largest_component,
)
from registration.core.geometry import ImageGeometry

#: Target voxel size of the coarse grid, mm.
COARSE_MM = 2.0
#: Half-width of the erosion that removes plates, shells and walls of supports, mm.
EROSION_MM = 4.0
#: Thin parts touching the body are the patient's when no larger than these.
THIN_KEEP_ML = 40.0
THIN_KEEP_EXTENT_MM = 90.0
#: ... and of soft tissue: skin, fat, muscle and the cartilage of ears and nose lie below this
#: HU; the holder shells of a real head CT measured 180-240 HU (median).
APPENDAGE_MAX_HU = 150.0
#: Removed objects smaller than this are counted, not listed.
REPORT_MIN_ML = 1.0
_DIRECTIONS = (("right", "left"), ("anterior", "posterior"), ("inferior", "superior"))


@dataclass(frozen=True)
class RemovedObject:
    """One connected object above the body threshold that is not the patient.

    kind : "support touching the body" (a head rest, holder or mask pressed against it) or
        "object apart from the body" (the couch, a holder's far side, cables...).
    thin : True when no part of it survives the erosion (a plate, shell or wall).
    where : its position relative to the body's centre, e.g. "posterior" or "left, anterior".
    bbox_lps_mm : (2, 3) lowest and highest LPS coordinates of its voxel centres.
    """

    kind: str
    volume_ml: float
    thin: bool
    where: str
    bbox_lps_mm: np.ndarray

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "volume_ml": round(self.volume_ml, 2),
            "thin": self.thin,
            "where": self.where,
            "bbox_lps_mm": np.round(self.bbox_lps_mm, 1).tolist(),
        }


@dataclass(frozen=True)
class Body:
    """The body (a :class:`RegionMask`: its bounding box) and what was taken away from the
    threshold mask to get it (``removed``: the listed objects, ``removed_ml``: all of it)."""

    region: RegionMask
    removed: tuple[RemovedObject, ...]
    removed_ml: float

    def summary(self) -> str:
        """One sentence for the plan's report."""
        if not self.removed:
            return "nothing but the patient above the body threshold"
        parts = [f"{r.kind} ({r.where}, {r.volume_ml:.0f} ml)" for r in self.removed[:6]]
        more = f" and {len(self.removed) - 6} more" if len(self.removed) > 6 else ""
        return (
            f"removed {self.removed_ml:.0f} ml above the body threshold that is not the "
            f"patient: {', '.join(parts)}{more}"
        )


def segment_body(
    image: np.ndarray,
    geometry: ImageGeometry,
    *,
    threshold: float,
    separate_supports: bool = True,
) -> Body:
    """The patient's body in a (k, j, i) image: voxels above ``threshold`` without supports.

    With ``separate_supports=False`` only the largest 6-connected component is kept (for MR,
    where supports give no signal). ``image`` is CT in HU when supports are separated.
    """
    if not separate_supports:
        return Body(_filled(image > threshold, (slice(None),) * 3), (), 0.0)
    spacing_kji = np.asarray(geometry.spacing_mm, dtype=np.float64)[::-1]
    factors = np.maximum(np.round(COARSE_MM / spacing_kji).astype(int), 1)
    # fine voxels above the threshold, and denser than soft tissue, per coarse voxel
    counts_coarse, dense = _coarse_counts(image, factors, (threshold, APPENDAGE_MAX_HU))
    coarse = counts_coarse > 0
    coarse_mm = spacing_kji * factors
    radius = np.maximum(np.round(EROSION_MM / coarse_mm).astype(int), 1)
    core = box_morphology(coarse, radius, erode=True)
    patient_core = largest_component(core)
    if not patient_core.any():  # nothing thick: keep the old rule rather than lose the body
        return Body(_filled(image > threshold, (slice(None),) * 3), (), 0.0)
    soft = dense.astype(np.uint16) * 2 < counts_coarse  # most of the coarse voxel is soft
    # appendages are looked for among coarse voxels mostly above the threshold: a perforated
    # mask's scattered voxels, or a holder's thin shell, fill few of a coarse voxel's voxels
    full = counts_coarse.astype(np.uint16) * 2 >= int(np.prod(factors))
    # the opening of the mask, and one coarse voxel more of soft tissue: a box leaves a rim
    # along curved skin (and shaves sharp edges) that would otherwise join the whole face into
    # one thin part; a denser holder shell one voxel off an ear stays out
    opened = box_morphology(patient_core, radius, erode=False)
    rim = box_morphology(opened, np.ones(3, dtype=int), erode=False) & soft
    # denser-than-soft-tissue voxels the opening reaches, away from the core: a holder's shell
    # pressed against an ear (bone near the skin, as the nasal bones, lies next to the core)
    near_core = box_morphology(patient_core, np.ones(3, dtype=int), erode=False)
    thick = coarse & ((opened & (soft | near_core)) | rim)
    appendages = _small_thin_parts(full & soft & ~thick, thick, coarse_mm)
    # one coarse voxel around them joins them to the thick body face to face on the full grid
    keep = thick | (box_morphology(appendages, np.ones(3, dtype=int), erode=False) & coarse)
    kept = RegionMask.from_full(keep)
    box = tuple(  # the kept coarse voxels' bounding box on the full grid
        slice(s.start * int(f), min(s.stop * int(f), n))
        for s, f, n in zip(kept.slices, factors, image.shape, strict=True)
    )
    inside = image[box] > threshold
    _and_upsampled(inside, kept.mask, factors)
    body = _filled(inside, box)
    del inside
    above_in_body = int(np.count_nonzero((image[body.slices] > threshold) & body.mask))
    removed_ml = (int(counts_coarse.sum(dtype=np.int64)) - above_in_body) * _voxel_ml(geometry)
    removed = _removed_objects(coarse & ~keep, keep, core, counts_coarse, factors, geometry)
    return Body(body, removed, max(removed_ml, 0.0))


def _filled(mask: np.ndarray, box: tuple[slice, ...]) -> RegionMask:
    """Largest 6-connected component of ``mask`` (which sits at ``box`` in the full grid),
    holes filled slice by slice, as a region of the full grid."""
    offset = tuple(s.start or 0 for s in box)
    region = RegionMask.from_full(largest_component(mask), offset)  # type: ignore[arg-type]
    return RegionMask(region.offset_kji, fill_holes_per_slice(region.mask))


def _voxel_ml(geometry: ImageGeometry) -> float:
    return float(np.prod(geometry.spacing_mm)) / 1000.0


def _small_thin_parts(thin: np.ndarray, thick: np.ndarray, voxel_mm: np.ndarray) -> np.ndarray:
    """Thin components touching ``thick`` and small enough to be the patient's (an ear, the
    nose tip); ``thin`` holds soft-tissue coarse voxels only."""
    labels = cc3d.connected_components(thin, connectivity=26)
    touching = _touching_labels(labels, thick)
    if not touching:
        return np.zeros_like(thin)
    stats = cc3d.statistics(labels)
    voxel_ml = float(np.prod(voxel_mm)) / 1000.0
    keep = []
    for value in sorted(touching):
        box = stats["bounding_boxes"][value]
        extent = max(float((s.stop - s.start) * v) for s, v in zip(box, voxel_mm, strict=True))
        volume_ml = float(stats["voxel_counts"][value]) * voxel_ml
        if volume_ml <= THIN_KEEP_ML and extent <= THIN_KEEP_EXTENT_MM:
            keep.append(value)
    return fastremap.mask_except(labels, keep) > 0 if keep else np.zeros_like(thin)


def _touching_labels(labels: np.ndarray, other: np.ndarray) -> set[int]:
    """Labels with a voxel in the 26-neighbourhood of ``other``."""
    near = box_morphology(other, np.ones(3, dtype=int), erode=False) & ~other
    return set(fastremap.unique(labels[near]).tolist()) - {0}


def _removed_objects(
    removed: np.ndarray,
    keep: np.ndarray,
    core: np.ndarray,
    fine_counts: np.ndarray,
    factors: np.ndarray,
    geometry: ImageGeometry,
) -> tuple[RemovedObject, ...]:
    """The removed objects of at least REPORT_MIN_ML, largest first, found on the coarse grid
    (``removed``, ``keep``, ``core`` there; ``factors`` fine voxels per coarse voxel) and
    measured in fine voxels (``fine_counts`` per coarse voxel)."""
    labels = cc3d.connected_components(removed, connectivity=26)
    stats = cc3d.statistics(labels)
    volumes = np.bincount(  # fine voxels per object (the removed coarse voxels only)
        labels[removed], weights=fine_counts[removed], minlength=len(stats["voxel_counts"])
    ) * _voxel_ml(geometry)
    listed = [int(v) for v in np.argsort(-volumes) if v and volumes[v] >= REPORT_MIN_ML]
    if not listed:
        return ()
    touching = _touching_labels(labels, keep)
    thick = set(fastremap.unique(labels[core]).tolist())
    body_centre = _to_lps(_centroid(keep), factors, geometry)
    objects = []
    for value in listed:
        box = stats["bounding_boxes"][value]
        first = np.array([s.start for s in box], dtype=np.float64)
        last = np.array([s.stop - 1 for s in box], dtype=np.float64)
        corners = _to_lps(np.array([first, last]), factors, geometry)
        centre = _to_lps(np.asarray(stats["centroids"][value]), factors, geometry)
        objects.append(
            RemovedObject(
                kind="support touching the body"
                if value in touching
                else "object apart from the body",
                volume_ml=float(volumes[value]),
                thin=value not in thick,
                where=_where(centre - body_centre),
                bbox_lps_mm=np.array([corners.min(axis=0), corners.max(axis=0)]),
            )
        )
    return tuple(objects)


def _centroid(mask: np.ndarray) -> np.ndarray:
    """(k, j, i) mean index of a mask's voxels, from its three projections."""
    total = float(np.count_nonzero(mask))
    return np.array(
        [
            np.dot(mask.sum(axis=other), np.arange(mask.shape[axis])) / total
            for axis, other in ((0, (1, 2)), (1, (0, 2)), (2, (0, 1)))
        ]
    )


def _to_lps(coarse_kji: np.ndarray, factors: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """LPS mm of coarse-grid (k, j, i) positions (the centres of their blocks)."""
    return geometry.kji_to_lps(np.asarray(coarse_kji) * factors + (factors - 1) / 2.0)


def _where(offset_lps: np.ndarray) -> str:
    """The dominant direction(s) of ``offset_lps`` (from the body centre), in patient words."""
    size = np.abs(offset_lps)
    order = np.argsort(-size)
    words = [_DIRECTIONS[a][int(offset_lps[a] > 0)] for a in order[:2] if size[a] > 10.0]
    if len(words) == 2 and size[order[1]] < 0.5 * size[order[0]]:
        words = words[:1]
    return ", ".join(words) if words else "around the body"


def _coarse_counts(
    image: np.ndarray, factors: np.ndarray, thresholds: tuple[float, ...]
) -> list[np.ndarray]:
    """For each threshold, how many voxels of each ``factors``-sized block of ``image`` lie
    above it (as :func:`_block_counts`: the last blocks of an axis may be partial), computed
    in slabs of a few blocks along k so that no full-size mask is made."""
    fk = int(factors[0])
    shape = tuple(-(-n // int(f)) for n, f in zip(image.shape, factors, strict=True))
    dtype = np.uint8 if int(np.prod(factors)) <= 255 else np.uint16
    counts = [np.zeros(shape, dtype=dtype) for _ in thresholds]
    step = fk * max(1, 16 // fk)  # whole blocks per slab
    for start in range(0, image.shape[0], step):
        slab = image[start : start + step]
        for total, threshold in zip(counts, thresholds, strict=True):
            total[start // fk : start // fk + -(-slab.shape[0] // fk)] = _block_counts(
                slab > threshold, factors
            )
    return counts


def _block_counts(mask: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """How many voxels of each factor-sized block are True (uint8, uint16 for blocks of more
    than 255 voxels; edge blocks are partial): the axes summed in turn over strided views."""
    dtype = np.uint8 if int(np.prod(factors)) <= 255 else np.uint16
    out = mask.astype(dtype)  # a copy: the sums below write into new arrays only
    for axis, f in enumerate(int(f) for f in factors):
        if f == 1:
            continue
        shape = list(out.shape)
        shape[axis] = -(-shape[axis] // f)
        total = np.zeros(shape, dtype=dtype)
        for offset in range(f):
            part = out[(slice(None),) * axis + (slice(offset, None, f),)]
            into = total[(slice(None),) * axis + (slice(0, part.shape[axis]),)]
            np.add(into, part, out=into)
        out = total
    return out


def _and_upsampled(fine: np.ndarray, coarse: np.ndarray, factors: np.ndarray) -> None:
    """``fine &= coarse`` with each coarse voxel standing for its ``factors``-sized block
    (``fine`` starts at a block corner; its last blocks may be partial), one coarse slice at
    a time: the upsampled mask is never made whole."""
    fk = int(factors[0])
    for k in range(coarse.shape[0]):
        plane = coarse[k]
        for axis, f in enumerate(factors[1:]):
            if f > 1:
                plane = np.repeat(plane, int(f), axis=axis)
        slab = fine[k * fk : (k + 1) * fk]
        slab &= plane[np.newaxis, : slab.shape[1], : slab.shape[2]]
