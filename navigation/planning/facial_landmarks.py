"""Anatomical registration landmarks proposed on the skin of a head CT: for patients without
markers, the points a surgeon touches with the pointer before sweeping the skin.

Five soft-tissue landmarks of anthropometry (Farkas 1994): **nasion** (the deepest point of the
concavity between forehead and nose, on the midline), **pronasale** (the tip of the nose),
**pogonion** (the most anterior point of the chin) and the left and right **tragus** (the
cartilage flap in front of the ear canal). Found on the plan's skin mesh in the patient frame
(LPS mm: anterior is -y, superior +z, whatever the scanner position: the DICOM orientation has
already put the image there):

1. **Midline** x: the median x of the scalp within 60 mm of the vertex (a head is symmetric).
   The **profile** is the most anterior skin point of each millimetre of height within 5 mm of
   the midline, in front of the scalp's median depth (a height with no face vertex then has
   no profile point rather than one at the back of the head), its depth smoothed by a running
   median over 5 mm (mask strands and noise).
2. **Pronasale**: the most anterior profile point 70-180 mm below the vertex with a nasal dorsum
   above it: over the 25 mm above, the profile recedes without a step (under 6 mm between 1 mm
   height bins) to at least 5 mm behind the tip (a bite block or the edge of an immobilisation
   mask protruding from the face is a shelf: above it the profile steps back).
3. **Nasion**: of the profile between 10 and 55 mm above the pronasale, the point deepest
   behind the chord from the profile's top there (the glabella region) to the pronasale.
4. **Pogonion**: the most anterior profile point 50-100 mm below the pronasale (the middle of
   the most anterior stretch where the chin is flattened, e.g. under a mask).
5. **Tragus**, each side: the ear canal is open to the air and dents the skin mesh: its deepest
   (most medial) point 35-90 mm from the midline, 0-50 mm below and 60-130 mm behind the
   nasion; its entrance is the most lateral skin point within 6 mm of the canal's axis; the
   tragus is the outward-facing skin point nearest to 8 mm in front of the entrance.

Each landmark carries how it was found; :func:`propose_landmarks` warns (and leaves a landmark
out) when a step finds nothing. Proposals to be checked by the planner, like any automatic
segmentation: an anatomical landmark is touched with a 2-3 mm localisation error anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import median_filter

from registration.core.checks import Float64Array, InputError, check_points

NASION, PRONASALE, POGONION = "nasion", "pronasale", "pogonion"
TRAGUS_LEFT, TRAGUS_RIGHT = "tragus_left", "tragus_right"
ORDER = (NASION, PRONASALE, POGONION, TRAGUS_LEFT, TRAGUS_RIGHT)


@dataclass(frozen=True)
class FacialLandmarks:
    """Proposed landmarks: names (order of :data:`ORDER`, missing ones left out), positions
    (N, 3) LPS mm on the skin, how each was found, the midline x and the warnings."""

    names: tuple[str, ...]
    points_lps_mm: Float64Array
    methods: tuple[str, ...]
    midline_x_mm: float
    warnings: tuple[str, ...]


def propose_landmarks(skin_vertices: ArrayLike, skin_normals: ArrayLike) -> FacialLandmarks:
    """Landmarks on a head's skin mesh (vertices and outward unit normals, (V, 3) LPS mm).

    Raises InputError when the mesh shows no face (no pronasale): the midline landmarks anchor
    the others.
    """
    vertices = check_points(skin_vertices, "skin_vertices", min_count=100)
    normals = check_points(skin_normals, "skin_normals")
    if normals.shape != vertices.shape:
        raise InputError("skin_normals must have one normal per vertex.")
    top = float(vertices[:, 2].max())
    scalp = vertices[vertices[:, 2] > top - 60.0]
    midline = float(np.median(scalp[:, 0]))
    front = vertices[vertices[:, 1] < float(np.median(scalp[:, 1]))]  # the face's half
    heights, profile = _profile(front, midline)
    found: dict[str, tuple[Float64Array, str]] = {}
    warnings: list[str] = []
    tip = _pronasale(heights, profile, top)
    if tip is None:
        raise InputError(
            "no nose found on the skin 70-180 mm below the vertex (LPS: anterior is -y); is "
            "this a head CT with the face in the field of view?"
        )
    found[PRONASALE] = (tip, "most anterior midline point with a nasal dorsum above it")
    nasion = _nasion(heights, profile, tip)
    if nasion is not None:
        found[NASION] = (nasion, "deepest midline point behind the glabella-pronasale chord")
    else:
        warnings.append("no nasion: the profile above the nose is too short")
    chin = _extreme(heights, profile, tip[2] - 100.0, tip[2] - 50.0)
    if chin is not None:
        found[POGONION] = (chin, "most anterior midline point 50-100 mm below the pronasale")
    else:
        warnings.append("no pogonion: the profile stops above the chin")
    anchor = found.get(NASION, (tip + np.array([0.0, 20.0, 40.0]), ""))[0]
    for name, side in ((TRAGUS_LEFT, 1.0), (TRAGUS_RIGHT, -1.0)):
        tragus = _tragus(vertices, normals, midline, anchor, side)
        if tragus is None:
            warnings.append(f"no {name}: no ear canal dents the skin on that side")
        else:
            found[name] = (tragus, "outward skin 8 mm in front of the ear canal's entrance")
    names = tuple(n for n in ORDER if n in found)
    return FacialLandmarks(
        names=names,
        points_lps_mm=np.array([found[n][0] for n in names]),
        methods=tuple(found[n][1] for n in names),
        midline_x_mm=midline,
        warnings=tuple(warnings),
    )


def _profile(vertices: Float64Array, midline: float) -> tuple[Float64Array, Float64Array]:
    """Heights (1 mm bins) and the most anterior skin point of each within 5 mm of the
    midline: (H,) z and (H, 3) points, their depth (y) smoothed by a running median over 5 mm
    (strands of a perforated mask and segmentation noise make 5-8 mm spikes between bins)."""
    band = vertices[np.abs(vertices[:, 0] - midline) < 5.0]
    bins = np.floor(band[:, 2]).astype(np.int64)
    order = np.lexsort((band[:, 1], bins))
    first = np.ones(len(order), dtype=bool)
    first[1:] = bins[order][1:] != bins[order][:-1]
    points = band[order][first].copy()
    points[:, 1] = median_filter(points[:, 1], size=5, mode="nearest")
    return points[:, 2], points


def _extreme(
    heights: Float64Array, profile: Float64Array, low: float, high: float
) -> Float64Array | None:
    """The most anterior profile point with height in [low, high]; where the profile is flat
    there (within 1 mm of that depth), the middle of the flat stretch."""
    inside = (heights >= low) & (heights <= high)
    if not inside.any():
        return None
    segment = profile[inside]
    front = segment[:, 1].min()
    flat = segment[segment[:, 1] <= front + 1.0]
    return np.asarray(flat[np.argsort(flat[:, 2])[len(flat) // 2]], dtype=np.float64)


def _pronasale(heights: Float64Array, profile: Float64Array, top: float) -> Float64Array | None:
    """The most anterior profile point 70-180 mm below the vertex with a nasal dorsum above
    it: over the 25 mm above, the profile recedes without a step (under 6 mm between 1 mm
    height bins) to at least 5 mm behind the tip. A bite block or a mask's edge protruding
    from the face is a shelf: above it the profile steps back to the lip or the face."""
    window = (heights <= top - 70.0) & (heights >= top - 180.0)
    for point in profile[window][np.argsort(profile[window][:, 1])]:
        above = (heights > point[2]) & (heights <= point[2] + 25.0)
        if above.sum() < 15:
            continue
        depths = profile[above][np.argsort(heights[above])][:, 1]
        steps = np.abs(np.diff(np.concatenate([[point[1]], depths])))
        if steps.max() < 6.0 and depths[-1] - point[1] >= 5.0:
            return np.asarray(point, dtype=np.float64)
    return None


def _nasion(heights: Float64Array, profile: Float64Array, tip: Float64Array) -> Float64Array | None:
    """The profile point deepest behind the chord from the pronasale to the profile 55 mm
    above it (the glabella region), among those 10-55 mm above the pronasale."""
    above = (heights > tip[2] + 10.0) & (heights < tip[2] + 55.0)
    if above.sum() < 10:
        return None
    segment = profile[above]
    top = segment[np.argmax(segment[:, 2])]
    chord = tip[1:] - top[1:]
    normal = np.array([-chord[1], chord[0]]) / np.linalg.norm(chord)
    if normal[0] < 0:  # pointing posterior (+y)
        normal = -normal
    depth = (segment[:, 1:] - top[1:]) @ normal
    return np.asarray(segment[int(np.argmax(depth))], dtype=np.float64)


def _tragus(
    vertices: Float64Array,
    normals: Float64Array,
    midline: float,
    nasion: Float64Array,
    side: float,
) -> Float64Array | None:
    lateral = side * (vertices[:, 0] - midline)
    region = (
        (lateral > 35.0)
        & (lateral < 90.0)
        & (vertices[:, 2] < nasion[2])
        & (vertices[:, 2] > nasion[2] - 50.0)
        & (vertices[:, 1] > nasion[1] + 60.0)
        & (vertices[:, 1] < nasion[1] + 130.0)
    )
    if not region.any():
        return None
    candidates = np.flatnonzero(region)
    pit = vertices[candidates[np.argmin(lateral[candidates])]]
    if side * (pit[0] - midline) > 60.0:  # no dent: the canal is not open in this mesh
        return None
    axis = np.hypot(vertices[:, 1] - pit[1], vertices[:, 2] - pit[2]) < 6.0
    entrance = vertices[axis & region][np.argmax(lateral[axis & region])]
    wanted = entrance + np.array([0.0, -8.0, 0.0])
    outward = side * normals[:, 0] > 0.3
    pool = np.flatnonzero(outward & (lateral > side * (entrance[0] - midline) - 8.0))
    if pool.size == 0:
        return None
    best = pool[np.argmin(np.linalg.norm(vertices[pool] - wanted, axis=1))]
    return np.asarray(vertices[best], dtype=np.float64)
