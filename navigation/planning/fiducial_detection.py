"""Automatic detection of skin fiducial markers: bright, compact blobs of a known size.

Candidates are the 26-connected components above ``threshold``. A component is a marker when
its volume is 0.15-2.5x that of a sphere of the expected diameter d, its bounding box is no
larger than 1.5 d + 2 voxels along every axis, (when the outside air is known) air outside
the body lies within d of it (markers sit on the skin; teeth and bone do not), and the voxels
above its half level T stay within d/2 + 1.5 mm of its centre (a bright spot of bone
continues into the bone).

T lies halfway between the marker's level (90th percentile of its core) and its surroundings
(the median of the voxels more than d/2 + 1.5 mm from its centre, mostly air; if the voxels
above that T reach that far, as into fat in T1 MR, their 90th percentile). A blob whose
voxels above T reach the image border is not taken: the field of view cuts it, so its centre
would be biased (reported in ``rejected``). The centre is the
intensity-weighted centroid of ``max(I - T, 0)`` over the voxels above T that touch the core:
partial-volume voxels weigh by how much marker they hold, so the centroid is sub-voxel
(< 0.15 mm on the phantom at 1 mm voxels). Those voxels form the marker's label.

On/near the skin means both: outside air within d (teeth, fillings and bone are inside the
head) and, when the body is known, the body within d (screws and clips of the couch or head
rest lie in the air outside the patient).

Radiotherapy set-up marks are not registration markers: at CT simulation, small metal BBs are
taped on the skin or mask at the laser crosshairs that define the reference point, one
anterior and one on either side at the same height, all in one axial plane (Mutic et al.,
"Quality assurance for computed-tomography simulators and the computed-tomography-simulation
process", AAPM TG-66, Med Phys 30:2762, 2003). Their metal saturates the reconstruction (a
plateau at the image's maximum value), so their size cannot be measured from the partial
volume: a 1-2 mm BB looks as large as a 4 mm marker. Saturated candidates in that pattern
are rejected with that reason; the mark is removed with the mask and not there in theatre.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

from navigation.planning.regions import RegionMask
from registration.core.checks import Float64Array, check_positive
from registration.core.geometry import ImageGeometry


@dataclass(frozen=True)
class FiducialDetection:
    """Markers found in an image, ordered superior to inferior (then left to right)."""

    names: tuple[str, ...]  # "F1", "F2", ...
    centroids_lps_mm: Float64Array  # (N, 3)
    volumes_mm3: Float64Array  # (N,) volume of each marker's label
    regions: tuple[RegionMask, ...]
    threshold: float
    surface_thresholds: Float64Array  # (N,) each marker's half level T (its label's edge)
    rejected: tuple[str, ...]  # why other bright components were not taken

    @property
    def count(self) -> int:
        return len(self.names)


def _expand(
    slices: tuple[slice, ...], margin: np.ndarray, shape: tuple[int, ...]
) -> tuple[slice, ...]:
    return tuple(
        slice(max(s.start - m, 0), min(s.stop + m, n))
        for s, m, n in zip(slices, margin, shape, strict=True)
    )


class _BrightComponents:
    """The 26-connected components of a sparse bright mask, labelled (``cc3d``) in the mask's
    bounding box only and read as if they covered the whole grid (0 outside the box): the
    same labels, in the same raster order, without a 4-byte label per voxel of the image."""

    def __init__(self, bright: np.ndarray) -> None:
        box = RegionMask.from_full(bright)
        self.shape: tuple[int, ...] = bright.shape
        self.offset = box.offset_kji
        empty = box.mask.size == 0
        self.labels = (
            np.zeros(box.mask.shape, dtype=np.uint32)
            if empty
            else cc3d.connected_components(box.mask, connectivity=26)
        )

    def boxes(self) -> list[tuple[slice, ...] | None]:
        """``ndimage.find_objects`` of the labels, in full-grid indices."""
        boxes: list[tuple[slice, ...] | None] = []
        if self.labels.size == 0:  # nothing bright
            return boxes
        for found in ndimage.find_objects(self.labels):
            shifted = None
            if found is not None:
                pairs = zip(found, self.offset, strict=True)
                shifted = tuple(slice(s.start + o, s.stop + o) for s, o in pairs)
            boxes.append(shifted)
        return boxes

    def __getitem__(self, where: tuple[slice, ...]) -> np.ndarray:
        """The labels in a full-grid box (slices with start and stop)."""
        out = np.zeros([s.stop - s.start for s in where], dtype=self.labels.dtype)
        source, target = [], []
        for s, o, n in zip(where, self.offset, self.labels.shape, strict=True):
            low, high = max(s.start, o), min(s.stop, o + n)
            if low >= high:
                return out
            source.append(slice(low - o, high - o))
            target.append(slice(low - s.start, high - s.start))
        out[tuple(target)] = self.labels[tuple(source)]
        return out


def detect_fiducials(
    array: np.ndarray,
    geometry: ImageGeometry,
    *,
    threshold: float,
    diameter_mm: float = 4.0,
    outside: np.ndarray | None = None,
    body: np.ndarray | None = None,
) -> FiducialDetection:
    """Find bright compact blobs of ``diameter_mm`` in ``array`` (k, j, i).

    threshold : intensity above which a voxel may belong to a marker core (CT: HU).
    outside : optional (k, j, i) bool mask of the air outside the patient; markers must lie
        within one diameter of it.
    body : optional (k, j, i) bool mask of the patient's body; markers must lie within one
        diameter of it.
    Returns a :class:`FiducialDetection` (positions LPS mm).
    """
    diameter = check_positive(diameter_mm, "diameter_mm")
    spacing_kji = geometry.spacing_mm[::-1]
    voxel_mm3 = float(np.prod(spacing_kji))
    expected_mm3 = np.pi * diameter**3 / 6.0
    labels = _BrightComponents(array > threshold)
    boxes = labels.boxes()
    margin = np.ceil((0.5 * diameter + 1.5) / spacing_kji).astype(int) + 1
    reach = np.ceil(diameter / spacing_kji).astype(int)
    ceiling = array.max() if array.size else 0
    found: list[tuple[Float64Array, float, RegionMask, float]] = []
    saturated: list[bool] = []
    rejected: list[str] = []
    for index, box in enumerate(boxes, start=1):
        if box is None:
            continue
        core = labels[box] == index
        volume = core.sum() * voxel_mm3
        where = geometry.kji_to_lps(
            np.argwhere(core).mean(axis=0) + np.array([s.start for s in box])
        ).round(1)
        size_mm = np.array([s.stop - s.start for s in box]) * spacing_kji
        if not 0.15 * expected_mm3 <= volume <= 2.5 * expected_mm3:
            if 0.5 * expected_mm3 <= volume <= 5.0 * expected_mm3:
                rejected.append(
                    f"blob at {where.tolist()} mm: {volume:.0f} mm3 is not marker-sized"
                )
            continue
        if np.any(size_mm > 1.5 * diameter + 2.0 * spacing_kji):
            rejected.append(f"blob at {where.tolist()} mm: {size_mm.round(1).tolist()} mm long")
            continue
        if outside is not None and not outside[_expand(box, reach, labels.shape)].any():
            rejected.append(f"blob at {where.tolist()} mm: not on the skin (no outside air near)")
            continue
        if body is not None and not body[_expand(box, reach, labels.shape)].any():
            rejected.append(f"blob at {where.tolist()} mm: outside the body (not on the skin)")
            continue
        area = _expand(box, margin, labels.shape)
        values = np.asarray(array[area], dtype=np.float64)
        core_here = labels[area] == index
        level = float(np.percentile(values[core_here], 90))
        centre = np.argwhere(core_here).mean(axis=0)
        grid: tuple[np.ndarray, ...] = tuple(np.indices(values.shape, sparse=True))
        offsets = [(a - c) * s for a, c, s in zip(grid, centre, spacing_kji, strict=True)]
        shell = offsets[0] ** 2 + offsets[1] ** 2 + offsets[2] ** 2 > (0.5 * diameter + 1.5) ** 2
        half, keep = level, core_here
        for percentile in (50, 90):  # air around the marker; else its brightest surroundings
            background = float(np.percentile(values[shell], percentile))
            half = 0.5 * (level + background)
            above = values > half
            parts = cc3d.connected_components(above, connectivity=26)
            keep = np.isin(parts, np.unique(parts[core_here & above])) & above
            if not (keep & shell).any():
                break
        if (keep & shell).any():
            rejected.append(f"blob at {where.tolist()} mm: part of a larger bright structure")
            continue
        weights = np.where(keep, values - half, 0.0)
        kji = np.argwhere(weights > 0)
        w = weights[weights > 0]
        centre_kji = (kji * w[:, None]).sum(axis=0) / w.sum() + np.array([s.start for s in area])
        region = RegionMask.from_full(keep)
        region = RegionMask(
            tuple(int(a + s.start) for a, s in zip(region.offset_kji, area, strict=True)),  # type: ignore[arg-type]
            region.mask,
        )
        if any(
            s.start == 0 or s.stop == n for s, n in zip(region.slices, labels.shape, strict=True)
        ):
            rejected.append(f"blob at {where.tolist()} mm: at the image border (cut off)")
            continue
        found.append((geometry.kji_to_lps(centre_kji), keep.sum() * voxel_mm3, region, half))
        saturated.append(int(np.count_nonzero(values[core_here] >= ceiling)) >= 2)
    setup = _setup_marks(
        np.array([f[0] for f in found]).reshape(-1, 3),
        np.array(saturated, dtype=bool),
        plane_mm=0.5 * max(float(np.max(geometry.spacing_mm)), diameter),
        diameter_mm=diameter,
    )
    for index in sorted(setup):
        rejected.append(
            f"blob at {found[index][0].round(1).tolist()} mm: radiotherapy set-up mark "
            "(saturated metal at a laser crosshair: anterior and both sides in one axial plane)"
        )
    found = [f for n, f in enumerate(found) if n not in setup]
    found.sort(key=lambda item: (-round(float(item[0][2]), 1), -float(item[0][0])))
    centroids = np.array([f[0] for f in found]).reshape(-1, 3)
    return FiducialDetection(
        names=tuple(f"F{n + 1}" for n in range(len(found))),
        centroids_lps_mm=centroids,
        volumes_mm3=np.array([f[1] for f in found], dtype=np.float64),
        regions=tuple(f[2] for f in found),
        threshold=float(threshold),
        surface_thresholds=np.array([f[3] for f in found], dtype=np.float64),
        rejected=tuple(rejected),
    )


def _setup_marks(
    centres_lps_mm: Float64Array, saturated: np.ndarray, *, plane_mm: float, diameter_mm: float
) -> set[int]:
    """Indexes of saturated candidates forming the CT-simulation laser pattern: a left-right
    pair at one height (|dy| <= d, >= 60 mm apart) and a third between them in x, >= 20 mm
    anterior or posterior of the pair, all three within ``plane_mm`` of one axial plane."""
    marks: set[int] = set()
    metal = np.flatnonzero(saturated)
    for n, a in enumerate(metal):
        for b in metal[n + 1 :]:
            pa, pb = centres_lps_mm[a], centres_lps_mm[b]
            if (
                abs(pa[2] - pb[2]) > plane_mm
                or abs(pa[1] - pb[1]) > diameter_mm
                or abs(pa[0] - pb[0]) < 60.0
            ):
                continue
            low, high = sorted((pa[0], pb[0]))
            for c in metal:
                pc = centres_lps_mm[c]
                if (
                    c not in (a, b)
                    and max(abs(pc[2] - pa[2]), abs(pc[2] - pb[2])) <= plane_mm
                    and low < pc[0] < high
                    and abs(pc[1] - 0.5 * (pa[1] + pb[1])) >= 20.0
                ):
                    marks.update((int(a), int(b), int(c)))
    return marks
