"""Rigid 4x4 transforms in millimetres, named ``a_from_b`` (maps points in frame ``b`` into ``a``).

Chains read right to left with inner names cancelling:
``image_from_pointer = image_from_tracker @ tracker_from_pointer``.

Rotations use :mod:`scipy.spatial.transform`; everything here is float64.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation

from registration.core.checks import Float64Array, InputError, check_matrix, check_points

#: Tolerance on |R^T R - I| (max abs element) and |det R - 1| for a matrix to count as rigid.
RIGID_TOLERANCE = 1e-4

#: Converts LPS to RAS (and back: it is its own inverse). Only Slicer-file and OpenIGTLink edge
#: code uses it; inside igcs every patient coordinate is LPS.
RAS_FROM_LPS: Float64Array = np.diag([-1.0, -1.0, 1.0, 1.0])
RAS_FROM_LPS.setflags(write=False)


def rigidity_error(matrix: ArrayLike) -> float:
    """Max-abs deviation of a 4x4's rotation block from orthonormal with det +1, and of the
    bottom row from (0, 0, 0, 1). 0 for an exact rigid transform; NaN-safe (returns inf).

    Computed on Python floats (about 5x faster than small-array numpy calls): the pose store
    runs it on every received tracker sample.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        return float("inf")
    values = m.ravel().tolist()
    if not all(math.isfinite(v) for v in values):
        return float("inf")
    r00, r01, r02, _, r10, r11, r12, _, r20, r21, r22, _, b0, b1, b2, b3 = values
    columns = ((r00, r10, r20), (r01, r11, r21), (r02, r12, r22))
    orthogonality = 0.0
    for i in range(3):
        a = columns[i]
        for j in range(i, 3):
            c = columns[j]
            dot = a[0] * c[0] + a[1] * c[1] + a[2] * c[2]
            orthogonality = max(orthogonality, abs(dot - (1.0 if i == j else 0.0)))
    determinant = (
        r00 * (r11 * r22 - r12 * r21)
        - r01 * (r10 * r22 - r12 * r20)
        + r02 * (r10 * r21 - r11 * r20)
    )
    bottom = max(abs(b0), abs(b1), abs(b2), abs(b3 - 1.0))
    return float(max(orthogonality, abs(determinant - 1.0), bottom))


def check_rigid(
    matrix: ArrayLike, name: str, *, tolerance: float = RIGID_TOLERANCE
) -> Float64Array:
    """Return ``matrix`` as a float64 (4, 4) rigid transform, or raise :class:`InputError`.

    Refuses NaN/Inf, a wrong shape, a rotation block that is not orthonormal (|R^T R - I| >
    ``tolerance``), a reflection (det R = -1) and a bottom row other than (0, 0, 0, 1).
    """
    m = check_matrix(matrix, name, (4, 4))
    rotation = m[:3, :3]
    orthogonality = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
    if orthogonality > tolerance:
        raise InputError(
            f"{name} is not rigid: |R^T R - I| = {orthogonality:.3g} > {tolerance:g} "
            "(scaled, sheared or corrupted rotation); check the source of the transform."
        )
    determinant = float(np.linalg.det(rotation))
    if determinant < 0:
        raise InputError(
            f"{name} is a reflection (det R = {determinant:.3f}); a rigid transform has det +1. "
            "Check for a mirrored point set or an LPS/RAS mix-up."
        )
    if np.abs(m[3] - np.array([0.0, 0.0, 0.0, 1.0])).max() > tolerance:
        raise InputError(f"{name} must have bottom row (0, 0, 0, 1); got {m[3].tolist()}.")
    return m


def make_rigid(
    rotation: ArrayLike | None = None, translation_mm: ArrayLike | None = None
) -> Float64Array:
    """Build a 4x4 transform from a (3, 3) rotation matrix and a (3,) translation in mm."""
    m = np.eye(4)
    if rotation is not None:
        m[:3, :3] = check_matrix(rotation, "rotation", (3, 3))
    if translation_mm is not None:
        m[:3, 3] = check_matrix(translation_mm, "translation_mm", (3,))
    return m


def invert_rigid(a_from_b: ArrayLike) -> Float64Array:
    """Exact inverse of a rigid 4x4 (``b_from_a``), using R^T rather than a general inverse."""
    m = np.asarray(a_from_b, dtype=np.float64)
    if m.shape != (4, 4):
        raise InputError(f"a_from_b must have shape (4, 4); got {m.shape}.")
    inverse = np.eye(4)
    inverse[:3, :3] = m[:3, :3].T
    inverse[:3, 3] = -m[:3, :3].T @ m[:3, 3]
    return inverse


def apply_transform(a_from_b: ArrayLike, points_in_b: ArrayLike) -> Float64Array:
    """Map (N, 3) points (or one (3,) point) in frame b into frame a; returns the same shape."""
    m = np.asarray(a_from_b, dtype=np.float64)
    points = np.asarray(points_in_b, dtype=np.float64)
    single = points.ndim == 1
    p = check_points(points, "points_in_b") if not single else points[np.newaxis, :]
    mapped = p @ m[:3, :3].T + m[:3, 3]
    return mapped[0] if single else mapped


def apply_rotation(a_from_b: ArrayLike, vectors_in_b: ArrayLike) -> Float64Array:
    """Rotate (N, 3) direction vectors (normals) from frame b into frame a (no translation)."""
    m = np.asarray(a_from_b, dtype=np.float64)
    vectors = np.asarray(vectors_in_b, dtype=np.float64)
    return vectors @ m[:3, :3].T


def rotation_error_deg(a_from_b: ArrayLike, reference_a_from_b: ArrayLike) -> float:
    """Angle in degrees of the rotation taking one transform's rotation to the other's."""
    r = np.asarray(a_from_b, dtype=np.float64)[:3, :3]
    q = np.asarray(reference_a_from_b, dtype=np.float64)[:3, :3]
    cosine = (np.trace(r.T @ q) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def translation_error_mm(a_from_b: ArrayLike, reference_a_from_b: ArrayLike) -> float:
    """Euclidean distance in mm between two transforms' translations."""
    t = np.asarray(a_from_b, dtype=np.float64)[:3, 3]
    u = np.asarray(reference_a_from_b, dtype=np.float64)[:3, 3]
    return float(np.linalg.norm(t - u))


def random_rigid(
    rng: np.random.Generator,
    *,
    max_angle_deg: float = 180.0,
    max_translation_mm: float = 100.0,
) -> Float64Array:
    """A random rigid transform: uniform axis, angle uniform in [0, max_angle_deg], translation
    uniform in a cube of half-side ``max_translation_mm``. Deterministic for the generator."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(rng.uniform(0.0, max_angle_deg))
    rotation = Rotation.from_rotvec(axis * angle).as_matrix()
    translation = rng.uniform(-max_translation_mm, max_translation_mm, size=3)
    return make_rigid(rotation, translation)


def rotation_about(axis: ArrayLike, angle_deg: float) -> Float64Array:
    """(3, 3) rotation of ``angle_deg`` degrees about ``axis`` (right-hand rule)."""
    a = check_matrix(axis, "axis", (3,))
    norm = np.linalg.norm(a)
    if norm == 0:
        raise InputError("axis must be a non-zero vector.")
    return Rotation.from_rotvec(a / norm * np.radians(angle_deg)).as_matrix()


def lps_to_ras(points_in_lps: ArrayLike) -> Float64Array:
    """Convert (N, 3) or (3,) points from LPS to RAS (negate x and y). Edge code only."""
    return apply_transform(RAS_FROM_LPS, points_in_lps)


def ras_to_lps(points_in_ras: ArrayLike) -> Float64Array:
    """Convert (N, 3) or (3,) points from RAS to LPS (negate x and y). Edge code only."""
    return apply_transform(RAS_FROM_LPS, points_in_ras)
