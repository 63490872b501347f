"""Pivot calibration of a tracked pointer: where its tip is in the pointer's marker frame.

The pointer is pivoted about its tip held in a fixed divot while the tracker records
``tracker_from_tool`` (the pointer's marker frame, PLUS's ``StylusToTracker``). Every pose
satisfies ``R_i @ tip_in_tool + t_i = pivot_in_tracker``.

Methods (Yaniv 2015, "Which pivot calibration?", Proc. SPIE 9415):

- ``"algebraic"`` (default): the algebraic one-step least squares solution of the stacked
  ``[R_i, -I] [tip; pivot] = -t_i`` (numpy ``lstsq``).
- ``"sphere"``: the marker origins ``t_i`` lie on a sphere about the pivot; the algebraic sphere
  fit (Kasa 1976: ``|t|^2 = 2 c.t + k`` is linear in the centre c) refined geometrically
  (``scipy.optimize.least_squares`` on ``|t_i - c| - r``) gives the pivot, and the tip is the
  mean of ``R_i^T (pivot - t_i)``. It ignores the rotations while fitting, so on the usual
  +-30 deg cap the radius (shaft length) is less certain: in our tests at 0.2 mm noise it is
  within 0.5 mm where the algebraic method is within 0.1 mm.

Both are always computed: the chosen one is the result, the other is reported as a check
(:attr:`PivotCalibration.other_method`), and a disagreement larger than
:data:`AGREEMENT_WARNING_MM` is a warning. Optionally, RANSAC (scikit-image's
``skimage.measure.ransac``, Fischler & Bolles 1981) first finds the poses consistent with one
pivot within ``ransac_threshold_mm`` and the methods then use those inliers only; see
:mod:`registration.pivot_residuals` for the residual definitions (:data:`RESIDUAL_DEFINITIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from registration.core.checks import Float64Array, InputError, check_finite, check_positive
from registration.core.transforms import RIGID_TOLERANCE
from registration.pivot_residuals import (
    RESIDUAL_DEFINITIONS,
    PivotResiduals,
    pivot_residuals,
    ransac_inliers,
)

PivotMethod = Literal["algebraic", "sphere"]

#: NousNav's pivot calibration acceptance gate (mm), applied to the 3-D RMS tip error.
DEFAULT_GATE_MM = 0.8
#: Below this RMS rotation about the least-excited axis the result is flagged (deg). Pivoting
#: +-20 deg in all directions gives about 14 deg; the real NDI recording's 10.4 deg is a +-15
#: deg pivot, whose tip along the weak axis is determined 1.5 times less well.
RECOMMENDED_SPREAD_DEG = 12.0
#: Algebraic and sphere-fit tips further apart than this (mm) are flagged.
AGREEMENT_WARNING_MM = 1.0

__all__ = [
    "AGREEMENT_WARNING_MM",
    "DEFAULT_GATE_MM",
    "RECOMMENDED_SPREAD_DEG",
    "RESIDUAL_DEFINITIONS",
    "MethodCheck",
    "PivotCalibration",
    "calibrate_pivot",
    "rotation_spread",
]


@dataclass(frozen=True)
class MethodCheck:
    """The other method's answer on the same poses, and how far it is from the result (mm)."""

    method: str
    tip_in_tool: Float64Array
    pivot_in_tracker: Float64Array
    rms_error_mm: float
    tip_difference_mm: float
    pivot_difference_mm: float


@dataclass(frozen=True)
class PivotCalibration:
    """Result of :func:`calibrate_pivot`.

    tip_in_tool : (3,) float, mm, the tip in the pointer's marker frame.
    pivot_in_tracker : (3,) float, mm, the pivot (divot) point in the tracker frame.
    residuals : every pose's tip residual and the summaries (:class:`PivotResiduals`; the
        RMS figures are over the inliers).
    gate_mm : the acceptance gate on the 3-D RMS tip error; ``passed`` = rms <= gate.
    method : "algebraic" or "sphere".
    rotation_spread_deg, weak_axis_in_tool : RMS rotation of the poses about the least-excited
        axis, and that axis (unit, pointer frame); see :func:`rotation_spread`.
    inliers : (N,) bool, the poses used (all, unless RANSAC was asked for).
    ransac_threshold_mm : the RANSAC inlier distance, or None.
    other_method : the other method's answer (None when it could not be computed).
    warnings : plain-language problems worth a look (small rotation spread, methods disagree,
        many RANSAC outliers).
    """

    tip_in_tool: Float64Array
    pivot_in_tracker: Float64Array
    residuals: PivotResiduals
    gate_mm: float
    passed: bool
    method: str
    rotation_spread_deg: float
    weak_axis_in_tool: Float64Array
    inliers: NDArray[np.bool_]
    ransac_threshold_mm: float | None
    other_method: MethodCheck | None
    warnings: tuple[str, ...]

    @property
    def errors_mm(self) -> Float64Array:
        """(N,) every pose's 3-D tip distance from the pivot point, mm."""
        return self.residuals.errors_mm

    @property
    def rms_error_mm(self) -> float:
        """The gated figure: 3-D RMS tip error over the inliers, mm."""
        return self.residuals.rms_mm

    @property
    def mean_error_mm(self) -> float:
        return self.residuals.mean_mm

    @property
    def max_error_mm(self) -> float:
        return self.residuals.max_mm

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
    ransac_threshold_mm: float | None = None,
    ransac_trials: int = 500,
    seed: int = 0,
) -> PivotCalibration:
    """Pivot calibration from tracked poses of a pointer pivoting about its tip.

    Parameters
    ----------
    tracker_from_tool : (N, 4, 4) float, rigid poses of the pointer's marker in the tracker
        frame, mm, N >= ``min_poses``.
    method : "algebraic" (one-step least squares) or "sphere" (sphere fit), see module doc.
    gate_mm : pass/fail threshold on the 3-D RMS tip error (default 0.8 mm, NousNav's gate).
    min_poses : refuse fewer poses (also fewer RANSAC inliers).
    min_rotation_deg : refuse when the RMS rotation about the least-excited axis is smaller
        (the tip offset along that axis would be determined by noise); below
        :data:`RECOMMENDED_SPREAD_DEG` the result carries a warning.
    ransac_threshold_mm : when given, RANSAC keeps the poses whose tip lies within this
        distance of the pivot of the best 3-pose model; ``ransac_trials`` samples, ``seed``.

    Raises
    ------
    InputError
        Wrong shape, NaN/Inf, a non-rigid pose (index named), too few poses or inliers, too
        little rotation (the weak axis is named in the tool frame), an unknown method.
    """
    poses = _check_poses(tracker_from_tool, min_poses)
    if method not in ("algebraic", "sphere"):
        raise InputError(f"method must be 'algebraic' or 'sphere'; got {method!r}.")
    gate_mm = check_positive(gate_mm, "gate_mm")
    inliers = np.ones(len(poses), dtype=bool)
    notes: list[str] = []
    if ransac_threshold_mm is not None:
        threshold = check_positive(ransac_threshold_mm, "ransac_threshold_mm")
        inliers = ransac_inliers(
            poses, threshold, trials=ransac_trials, seed=seed, solve=_algebraic_from_poses
        )
        if inliers.sum() < min_poses:
            raise InputError(
                f"RANSAC kept {int(inliers.sum())} of {len(poses)} poses within "
                f"{threshold:g} mm of one pivot; at least {min_poses} are needed. Use a larger "
                "threshold, or record again holding the tip firmly in the divot."
            )
        if inliers.sum() < 0.5 * len(poses):
            notes.append(
                f"RANSAC kept only {int(inliers.sum())} of {len(poses)} poses within "
                f"{threshold:g} mm: most of the recording does not pivot about one point "
                "(tip slipping in the divot?); record again."
            )
    used = poses[inliers]
    spread_deg, weak_axis = rotation_spread(used)
    if spread_deg < min_rotation_deg:
        raise InputError(
            f"too little rotation for pivot calibration: the pointer turned {spread_deg:.2f} deg "
            f"RMS about the axis {np.round(weak_axis, 2).tolist()} (pointer frame), at least "
            f"{min_rotation_deg:g} deg is needed. Pivot the pointer about its tip by 20-30 deg "
            "in two directions (not only spin it about its shaft)."
        )
    if spread_deg < RECOMMENDED_SPREAD_DEG:
        notes.append(
            f"small rotation spread: {spread_deg:.1f} deg RMS about the axis "
            f"{np.round(weak_axis, 2).tolist()} (pointer frame), recommended at least "
            f"{RECOMMENDED_SPREAD_DEG:g} deg; the tip along that axis is poorly determined. "
            "Pivot further: 20-30 deg each way, in two directions."
        )
    solvers = {"algebraic": _algebraic_from_poses, "sphere": _sphere_from_poses}
    tip, pivot = solvers[method](used)
    residuals = pivot_residuals(poses, tip, pivot, inliers=inliers)
    other = _other_method(used, tip, pivot, "sphere" if method == "algebraic" else "algebraic")
    if other is not None and other.tip_difference_mm > AGREEMENT_WARNING_MM:
        notes.append(
            f"the {method} and {other.method} methods disagree: tips "
            f"{other.tip_difference_mm:.2f} mm apart (more than {AGREEMENT_WARNING_MM:g} mm); "
            "the poses do not determine the tip well (small rotation, slipping or noise)."
        )
    for array in (tip, pivot, weak_axis, inliers):
        array.setflags(write=False)
    return PivotCalibration(
        tip_in_tool=tip,
        pivot_in_tracker=pivot,
        residuals=residuals,
        gate_mm=gate_mm,
        passed=residuals.rms_mm <= gate_mm,
        method=method,
        rotation_spread_deg=spread_deg,
        weak_axis_in_tool=weak_axis,
        inliers=inliers,
        ransac_threshold_mm=None if ransac_threshold_mm is None else float(ransac_threshold_mm),
        other_method=other,
        warnings=tuple(notes),
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
    return float(np.degrees(singular[-1] / np.sqrt(len(rotations)))), v_t[-1].copy()


def _other_method(
    poses: Float64Array, tip: Float64Array, pivot: Float64Array, method: str
) -> MethodCheck | None:
    solve = _algebraic_from_poses if method == "algebraic" else _sphere_from_poses
    try:
        other_tip, other_pivot = solve(poses)
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not (np.isfinite(other_tip).all() and np.isfinite(other_pivot).all()):
        return None
    for array in (other_tip, other_pivot):
        array.setflags(write=False)
    return MethodCheck(
        method=method,
        tip_in_tool=other_tip,
        pivot_in_tracker=other_pivot,
        rms_error_mm=pivot_residuals(poses, other_tip, other_pivot).rms_mm,
        tip_difference_mm=float(np.linalg.norm(other_tip - tip)),
        pivot_difference_mm=float(np.linalg.norm(other_pivot - pivot)),
    )


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


def _algebraic_from_poses(poses: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Algebraic one-step: lstsq of [R_i, -I] [tip; pivot] = -t_i."""
    rotations, translations = poses[:, :3, :3], poses[:, :3, 3]
    count = len(rotations)
    system = np.concatenate([rotations, -np.broadcast_to(np.eye(3), (count, 3, 3))], axis=2)
    solution = np.linalg.lstsq(system.reshape(-1, 6), -translations.reshape(-1), rcond=None)[0]
    return solution[:3].copy(), solution[3:].copy()


def _sphere_from_poses(poses: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Sphere fit to the marker origins (algebraic start, geometric refinement)."""
    rotations, translations = poses[:, :3, :3], poses[:, :3, 3]
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
