"""Where the simulated tools go on a real patient: a face-and-neck sweep and a skull reference.

Image frame LPS mm (DICOM's patient frame: +x left, +y posterior, +z superior, whatever the
scanner's patient position), so "anterior" is -y and "up the head" is +z.

- :func:`face_neck_sweep`: the pointer's skin sweep for surface registration as a surgeon makes
  it: horizontal strokes across the face and the front of the neck (serpentine, every
  ``stripe_mm``, from ``above_mm`` over the highest landmark to ``below_mm`` under the lowest),
  each stroke a cut of the skin mesh by the plane z = const (exactly on the surface; its most
  anterior point per millimetre of x: the outer profile), kept where the skin faces forward
  (normal . (-y) > ``min_facing``) within ``half_width_mm`` of the landmarks' midline and
  in front of the ears (40 mm behind the landmarks' median depth), resampled every
  ``spacing_mm``; the pointer glides on the skin between strokes and across gaps (the path is
  densified to ``spacing_mm`` and snapped onto the skin: exact closest points).
- :func:`skull_reference_pose`: the patient reference, a marker array on a post fixed to the
  skull (skull clamp or screw-in reference) above the landmarks on the side away from the
  surgery: ``height_mm`` above the skin there, its z axis along the skin normal.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from registration.closest_point import TriangleMeshLocator
from registration.core.checks import Float64Array, InputError, check_points

ANTERIOR = np.array([0.0, -1.0, 0.0])


def face_neck_sweep(
    skin: Any,
    landmarks_in_image: ArrayLike,
    *,
    stripe_mm: float = 15.0,
    spacing_mm: float = 3.0,
    above_mm: float = 30.0,
    below_mm: float = 50.0,
    half_width_mm: float | None = None,
    min_facing: float = 0.25,
) -> tuple[Float64Array, Float64Array]:
    """The sweep path (M, 3) and its outward unit normals (M, 3), LPS mm (module docstring).

    skin : the skin mesh (``pyvista.PolyData``, LPS mm, outward point normals ``Normals``).
    landmarks_in_image : (N, 3) the landmarks touched before (where the face is).
    half_width_mm : default half the landmarks' x spread, at least 50 mm.
    """
    landmarks = check_points(landmarks_in_image, "landmarks_in_image", min_count=1)
    surface = skin.compute_normals(
        point_normals=True, cell_normals=False, auto_orient_normals=True, split_vertices=False
    )
    midline = float(np.median(landmarks[:, 0]))
    spread = float(np.ptp(landmarks[:, 0]))
    half = half_width_mm if half_width_mm is not None else max(50.0, spread / 2.0)
    back = float(np.median(landmarks[:, 1])) + 40.0  # in front of the ears
    top = float(landmarks[:, 2].max()) + above_mm
    bottom = float(landmarks[:, 2].min()) - below_mm
    points: list[Float64Array] = []
    for index, z in enumerate(np.arange(top, bottom, -stripe_mm)):
        cut = surface.slice(normal="z", origin=(midline, 0.0, float(z)))
        if cut.n_points == 0:
            continue
        xyz = np.asarray(cut.points, dtype=np.float64)
        normal = np.asarray(cut.point_data["Normals"], dtype=np.float64)
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
        inside = (np.abs(xyz[:, 0] - midline) < half) & (xyz[:, 1] < back)
        outer = _outer_profile(xyz[inside])  # the skin, not a cavity wall behind it
        keep = outer[normal[inside][outer] @ ANTERIOR > min_facing]
        if len(keep) < 3:
            continue
        stroke = _resample(xyz[inside][keep], spacing_mm)
        if index % 2:
            stroke = stroke[::-1]
        points.append(stroke)
    if not points:
        raise InputError(
            "no forward-facing skin around the landmarks to sweep; check that the plan's skin "
            "covers the face (LPS: anterior is -y)."
        )
    # The pointer glides on the skin from stroke to stroke and across a gap (nostrils, lips):
    # densify every step longer than the spacing, then snap everything onto the skin (the
    # strokes are chords between surface points) and take the surface's own normals there.
    path = _densify(np.concatenate(points), spacing_mm)
    faces = np.asarray(surface.faces).reshape(-1, 4)[:, 1:]
    locator = TriangleMeshLocator(
        np.asarray(surface.points), faces, np.asarray(surface.point_data["Normals"])
    )
    hit = locator.closest(path)
    return hit.points, hit.normals


def skull_reference_pose(
    skin_vertices: ArrayLike,
    skin_normals: ArrayLike,
    landmarks_in_image: ArrayLike,
    *,
    away_from_x: float,
    rng: np.random.Generator,
    height_mm: float = 40.0,
) -> Float64Array:
    """(4, 4) ``image_from_reference`` of a skull-mounted reference (module docstring).

    away_from_x : x (LPS mm) of the surgery (the tumour): the reference goes to the other side.
    """
    vertices = check_points(skin_vertices, "skin_vertices")
    normals = check_points(skin_normals, "skin_normals")
    landmarks = check_points(landmarks_in_image, "landmarks_in_image")
    centre = landmarks.mean(axis=0)
    side = -1.0 if away_from_x >= centre[0] else 1.0
    wanted = centre + np.array([side * 55.0, 20.0, 70.0])
    index = int(np.argmin(np.linalg.norm(vertices - wanted, axis=1)))
    z = normals[index] / np.linalg.norm(normals[index])
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    roll = rng.uniform(0.0, 2.0 * math.pi)
    x = math.cos(roll) * x + math.sin(roll) * np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, np.cross(z, x), z
    pose[:3, 3] = vertices[index] + height_mm * z
    return pose


def _densify(points: Float64Array, spacing_mm: float) -> Float64Array:
    """The polyline with points inserted so that no step exceeds ``spacing_mm``."""
    out = [points[:1]]
    for a, b in itertools.pairwise(points):
        count = max(1, int(np.ceil(np.linalg.norm(b - a) / spacing_mm)))
        out.append(a + np.outer(np.arange(1, count + 1) / count, b - a))
    return np.concatenate(out)


def _outer_profile(points: Float64Array) -> np.ndarray:
    """Indices of the most anterior point of every 1 mm of x, in order of x."""
    bins = np.floor(points[:, 0]).astype(np.int64)
    order = np.lexsort((points[:, 1], bins))  # by x bin, then most anterior first
    first = np.ones(len(order), dtype=bool)
    first[1:] = bins[order][1:] != bins[order][:-1]
    return order[first]


def _resample(points: Float64Array, spacing_mm: float) -> Float64Array:
    """Points of one stroke (ordered across the face) resampled every spacing_mm, piece by
    piece: no chord across a gap of more than 4 mm (over a pit or a cavity's mouth)."""
    gaps = np.flatnonzero(np.linalg.norm(np.diff(points, axis=0), axis=1) > 4.0) + 1
    pieces = []
    for piece in np.split(points, gaps):
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(piece, axis=0), axis=1))])
        if arc[-1] < spacing_mm:
            continue
        samples = np.arange(0.0, arc[-1], spacing_mm)
        pieces.append(np.column_stack([np.interp(samples, arc, piece[:, k]) for k in range(3)]))
    return np.concatenate(pieces) if pieces else points[:1]
