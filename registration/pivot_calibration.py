"""Pivot calibration of a tracked pointer: where its tip is in the pointer's marker frame.

The pointer is pivoted about its tip held in a fixed divot while the tracker records
``tracker_from_tool`` (the pointer's marker frame, PLUS's ``StylusToTracker``). Every pose
satisfies ``R_i @ tip_in_tool + t_i = pivot_in_tracker``.

Methods (Yaniv 2015, "Which pivot calibration?", Proc. SPIE 9415):

- ``"algebraic"`` (default): the algebraic one-step least squares solution of the stacked
  ``[R_i, -I] [tip; pivot] = -t_i`` (numpy ``lstsq``).
- ``"sphere"``: the marker origins ``t_i`` lie on a sphere about the pivot; an algebraic sphere
  fit refined geometrically (``scipy.optimize.least_squares`` on ``|t_i - c| - r``) gives the
  pivot, and the tip is the mean of ``R_i^T (pivot - t_i)``. It ignores the rotations while
  fitting, so on the usual +-30 deg cap the radius (shaft length) is less certain: in our tests
  at 0.2 mm noise it is within 0.5 mm where the algebraic method is within 0.1 mm.

Error: each pose's tip position ``R_i @ tip_in_tool + t_i`` against the pivot point, 3-D
Euclidean distance in mm, summarised as RMS (the gated figure), mean and maximum. NousNav gates
pivot calibration at 0.8 mm with PLUS's mean distance; RMS >= mean, so gating the RMS at the
same number is at least as strict. (Some tools quote the per-axis RMS, which is the 3-D RMS
divided by sqrt(3).)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import least_squares

from registration.checks import Float64Array, InputError, check_finite, check_positive
from registration.transforms import RIGID_TOLERANCE

PivotMethod = Literal["algebraic", "sphere"]

#: NousNav's pivot calibration acceptance gate (mm).
DEFAULT_GATE_MM = 0.8


@dataclass(frozen=True)
class PivotCalibration:
    """Result of :func:`calibrate_pivot`.

    tip_in_tool : (3,) float, mm, the tip in the pointer's marker frame.
    pivot_in_tracker : (3,) float, mm, the pivot (divot) point in the tracker frame.
    errors_mm : (N,) float, each pose's tip distance from the pivot point.
    rms_error_mm, mean_error_mm, max_error_mm : summaries of ``errors_mm``.
    gate_mm : the acceptance gate on ``rms_error_mm``; ``passed`` = rms <= gate.
    method : "algebraic" or "sphere".
    rotation_spread_deg : RMS rotation of the poses about the least-excited axis (what
        determines the tip offset along that axis; see :func:`rotation_spread`).
    """

    tip_in_tool: Float64Array
    pivot_in_tracker: Float64Array
    errors_mm: Float64Array
    rms_error_mm: float
    mean_error_mm: float
    max_error_mm: float
    gate_mm: float
    passed: bool
    method: str
    rotation_spread_deg: float

    @property
    def tool_from_tip(self) -> Float64Array:
        """(4, 4) translation placing the tip frame's origin at the tip (PLUS's
        ``StylusTipToStylus``), rotation identity."""
        matrix = np.eye(4)
        matrix[:3, 3] = self.tip_in_tool
        return matrix


def calibrate_pivot(
    tracker_from_tool: ArrayLike,
    *,
    method: PivotMethod = "algebraic",
    gate_mm: float = DEFAULT_GATE_MM,
    min_poses: int = 10,
    min_rotation_deg: float = 5.0,
) -> PivotCalibration:
    """Pivot calibration from tracked poses of a pointer pivoting about its tip.

    Parameters
    ----------
    tracker_from_tool : (N, 4, 4) float, rigid poses of the pointer's marker in the tracker
        frame, mm, N >= ``min_poses``.
    method : "algebraic" (one-step least squares) or "sphere" (sphere fit), see module doc.
    gate_mm : pass/fail threshold on the RMS tip error (default 0.8 mm, NousNav's gate).
    min_poses : refuse fewer poses.
    min_rotation_deg : refuse when the RMS rotation about the least-excited axis is smaller
        (the tip offset along that axis would be determined by noise).

    Raises
    ------
    InputError
        Wrong shape, NaN/Inf, a non-rigid pose (index named), too few poses, too little
        rotation (the weak axis is named in the tool frame), an unknown method.
    """
    poses = _check_poses(tracker_from_tool, min_poses)
    if method not in ("algebraic", "sphere"):
        raise InputError(f"method must be 'algebraic' or 'sphere'; got {method!r}.")
    gate_mm = check_positive(gate_mm, "gate_mm")
    spread_deg, weak_axis = rotation_spread(poses)
    if spread_deg < min_rotation_deg:
        raise InputError(
            f"too little rotation for pivot calibration: the pointer turned {spread_deg:.2f} deg "
            f"RMS about the axis {np.round(weak_axis, 2).tolist()} (pointer frame), at least "
            f"{min_rotation_deg:g} deg is needed. Pivot the pointer about its tip by 20-30 deg "
            "in two directions (not only spin it about its shaft)."
        )
    rotations, translations = poses[:, :3, :3], poses[:, :3, 3]
    if method == "algebraic":
        tip, pivot = _algebraic(rotations, translations)
    else:
        tip, pivot = _sphere(rotations, translations)
    errors = np.linalg.norm(np.einsum("nij,j->ni", rotations, tip) + translations - pivot, axis=1)
    rms = float(np.sqrt(np.mean(errors**2)))
    for array in (tip, pivot, errors):
        array.setflags(write=False)
    return PivotCalibration(
        tip_in_tool=tip,
        pivot_in_tracker=pivot,
        errors_mm=errors,
        rms_error_mm=rms,
        mean_error_mm=float(errors.mean()),
        max_error_mm=float(errors.max()),
        gate_mm=gate_mm,
        passed=rms <= gate_mm,
        method=method,
        rotation_spread_deg=spread_deg,
    )


def rotation_spread(tracker_from_tool: ArrayLike) -> tuple[float, Float64Array]:
    """How well the poses' rotations determine a tool-frame offset, and the weakest axis.

    The stacked ``R_i - mean(R)`` (3N x 3) maps a tool-frame offset to its spread in the tracker;
    a rotation by theta about axis u moves an offset perpendicular to u by theta and one along u
    not at all. Its smallest singular value over sqrt(N) is therefore the RMS rotation angle
    (radians, returned in degrees) that constrains the offset along the right singular vector
    (the returned unit axis, tool frame).
    """
    poses = np.asarray(tracker_from_tool, dtype=np.float64)
    rotations = poses[:, :3, :3]
    stacked = (rotations - rotations.mean(axis=0)).reshape(-1, 3)
    _, singular, v_t = np.linalg.svd(stacked, full_matrices=False)
    return float(np.degrees(singular[-1] / np.sqrt(len(rotations)))), v_t[-1]


def _check_poses(tracker_from_tool: ArrayLike, min_poses: int) -> Float64Array:
    try:
        poses = np.asarray(tracker_from_tool, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"tracker_from_tool must be numeric (N, 4, 4) poses; {error}.") from None
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise InputError(f"tracker_from_tool must have shape (N, 4, 4); got {poses.shape}.")
    if len(poses) < min_poses:
        raise InputError(
            f"pivot calibration needs at least {min_poses} poses; got {len(poses)}. "
            "Record the pointer while pivoting it for a few seconds."
        )
    poses = check_finite(poses, "tracker_from_tool")
    rotations = poses[:, :3, :3]
    orthogonality = np.abs(np.einsum("nji,njk->nik", rotations, rotations) - np.eye(3)).max(
        axis=(1, 2)
    )
    determinants = np.linalg.det(rotations)
    bottom = np.abs(poses[:, 3] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1)
    bad = (orthogonality > RIGID_TOLERANCE) | (determinants < 0) | (bottom > RIGID_TOLERANCE)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"tracker_from_tool pose {first} is not rigid (|R^T R - I| = "
            f"{orthogonality[first]:.3g}, det R = {determinants[first]:.3f}, bottom row "
            f"{poses[first, 3].tolist()}); {int(bad.sum())} of {len(poses)} poses are bad. "
            "Check the file's matrix layout (4x4, row-major) and units."
        )
    return poses


def _algebraic(
    rotations: Float64Array, translations: Float64Array
) -> tuple[Float64Array, Float64Array]:
    """Algebraic one-step: lstsq of [R_i, -I] [tip; pivot] = -t_i."""
    count = len(rotations)
    system = np.concatenate([rotations, -np.broadcast_to(np.eye(3), (count, 3, 3))], axis=2)
    solution = np.linalg.lstsq(system.reshape(-1, 6), -translations.reshape(-1), rcond=None)[0]
    return solution[:3].copy(), solution[3:].copy()


def _sphere(
    rotations: Float64Array, translations: Float64Array
) -> tuple[Float64Array, Float64Array]:
    """Sphere fit to the marker origins (algebraic start, geometric refinement)."""
    centre0 = translations.mean(axis=0)
    centred = translations - centre0
    # |p|^2 = 2 c.p + k  (k = r^2 - |c|^2), linear in (c, k)
    system = np.hstack([2.0 * centred, np.ones((len(centred), 1))])
    c, _, _, _ = np.linalg.lstsq(system, np.sum(centred**2, axis=1), rcond=None)
    radius0 = float(np.sqrt(max(c[3] + c[:3] @ c[:3], 0.0)))

    def residuals(parameters: Float64Array) -> Float64Array:
        return np.linalg.norm(centred - parameters[:3], axis=1) - parameters[3]

    fit = least_squares(residuals, np.append(c[:3], radius0), method="lm")
    pivot = fit.x[:3] + centre0
    tip = np.einsum("nji,nj->ni", rotations, pivot - translations).mean(axis=0)
    return tip, pivot
