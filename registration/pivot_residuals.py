"""Pivot calibration residuals: their definitions, and RANSAC on them.

For pose i (``tracker_from_tool`` = [R_i | t_i]) and a solution (tip in the tool frame, pivot
in the tracker frame) the residual is the vector ``e_i = R_i @ tip + t_i - pivot`` (mm, tracker
frame): where that pose puts the tip, minus the pivot. For the algebraic one-step method it is
exactly the pose's block of the stacked least-squares residual ``A x - b``. Tools summarise it
differently, which is why the same recording reads 3.18 mm in one and 1.84 mm in another:

========================  ======================================================  ==============
key                       definition (over the N poses used)                      who reports it
========================  ======================================================  ==============
``rms_mm``                sqrt(mean_i |e_i|^2), the 3-D RMS tip error; gated       igcs (gate)
``per_axis_rms_mm``       sqrt(mean_i e_i,a^2) for a = x, y, z (tracker axes)      igcs
``component_rms_mm``      sqrt(sum_i |e_i|^2 / (3 N)) = rms_mm / sqrt(3): the RMS  scikit-surgery
                          of the 3N entries of A x - b                            ``residual_error``
``mean_mm``               mean_i |e_i|, the mean tip distance                      PLUS / IGSIO
``max_mm``                max_i |e_i|                                              igcs
========================  ======================================================  ==============

scikit-surgerycalibration's ``pivot_calibration_aos`` returns ``component_rms_mm`` (its
``residual_error`` divides the squared norm of ``A x - b`` by 3N), while its sphere-fitting
variant returns a mean distance. PLUS (IGSIO ``vtkIGSIOPivotCalibrationAlgo``) reports
``PivotCalibrationErrorMm`` as the mean distance ``mean_mm`` over the poses its LSQR outlier
rejection kept. NousNav's 0.8 mm gate is on that mean; gating ``rms_mm`` (>= mean) at the same
value is at least as strict.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from registration.core.checks import Float64Array

#: The residual summaries by key, in words (for help texts, JSON and reports).
RESIDUAL_DEFINITIONS: dict[str, str] = {
    "residual_mm": "e_i = R_i @ tip_in_tool + t_i - pivot_in_tracker for pose i (mm, tracker "
    "frame): where that pose puts the tip, minus the pivot",
    "rms_mm": "3-D RMS tip error sqrt(mean_i |e_i|^2) over the poses used (the gated figure)",
    "per_axis_rms_mm": "sqrt(mean_i e_i,a^2) for each tracker axis a = x, y, z",
    "component_rms_mm": "sqrt(sum_i |e_i|^2 / (3 N)) = rms / sqrt(3), the RMS of the 3N entries "
    "of the stacked least-squares residual; scikit-surgerycalibration's pivot_calibration_aos "
    "residual_error",
    "mean_mm": "mean_i |e_i|, the mean tip distance; PLUS/IGSIO's PivotCalibrationErrorMm "
    "(which PLUS takes after its own outlier rejection)",
    "max_mm": "max_i |e_i|",
}


@dataclass(frozen=True)
class PivotResiduals:
    """Every pose's residual and the summaries of :data:`RESIDUAL_DEFINITIONS`.

    residuals_mm : (N, 3) e_i for every pose (outliers too), tracker frame, mm.
    errors_mm : (N,) |e_i|.
    inliers : (N,) bool, the poses the summaries are taken over.
    rms_mm, mean_mm, max_mm, median_mm, component_rms_mm : floats, mm.
    per_axis_rms_mm : (3,) x, y, z.
    """

    residuals_mm: Float64Array
    errors_mm: Float64Array
    inliers: NDArray[np.bool_]
    rms_mm: float
    per_axis_rms_mm: Float64Array
    component_rms_mm: float
    mean_mm: float
    median_mm: float
    max_mm: float

    def summary(self) -> dict[str, Any]:
        """The summaries as a JSON-ready dict keyed as in :data:`RESIDUAL_DEFINITIONS`."""
        return {
            "rms_mm": self.rms_mm,
            "per_axis_rms_mm": self.per_axis_rms_mm.tolist(),
            "component_rms_mm": self.component_rms_mm,
            "mean_mm": self.mean_mm,
            "median_mm": self.median_mm,
            "max_mm": self.max_mm,
        }


def pivot_residuals(
    tracker_from_tool: Float64Array,
    tip_in_tool: Float64Array,
    pivot_in_tracker: Float64Array,
    *,
    inliers: NDArray[np.bool_] | None = None,
) -> PivotResiduals:
    """Residuals of (N, 4, 4) poses for a (3,) tip and (3,) pivot, summarised over ``inliers``
    ((N,) bool, default all)."""
    rotations, translations = tracker_from_tool[:, :3, :3], tracker_from_tool[:, :3, 3]
    residuals = np.einsum("nij,j->ni", rotations, tip_in_tool) + translations - pivot_in_tracker
    errors = np.linalg.norm(residuals, axis=1)
    used = np.ones(len(errors), dtype=bool) if inliers is None else np.asarray(inliers, dtype=bool)
    kept, kept_errors = residuals[used], errors[used]
    rms = float(np.sqrt(np.mean(kept_errors**2)))
    per_axis = np.sqrt(np.mean(kept**2, axis=0))
    for array in (residuals, errors, per_axis):
        array.setflags(write=False)
    return PivotResiduals(
        residuals_mm=residuals,
        errors_mm=errors,
        inliers=used,
        rms_mm=rms,
        per_axis_rms_mm=per_axis,
        component_rms_mm=rms / float(np.sqrt(3.0)),
        mean_mm=float(kept_errors.mean()),
        median_mm=float(np.median(kept_errors)),
        max_mm=float(kept_errors.max()),
    )


def ransac_inliers(
    tracker_from_tool: Float64Array,
    threshold_mm: float,
    *,
    trials: int,
    seed: int,
    solve: Callable[[Float64Array], tuple[Float64Array, Float64Array]],
) -> NDArray[np.bool_]:
    """(N,) bool: the poses within ``threshold_mm`` (3-D tip distance) of the pivot of the best
    model found by ``skimage.measure.ransac`` from 3-pose samples solved by ``solve`` (poses ->
    tip, pivot). Deterministic for a given ``seed``."""
    from skimage.measure import ransac

    model_class = _pivot_model(tracker_from_tool, solve)
    indices = np.arange(len(tracker_from_tool))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No inliers found", UserWarning)  # reported by caller
        _, inliers = ransac(
            indices,
            model_class,
            min_samples=3,
            residual_threshold=threshold_mm,
            max_trials=trials,
            rng=seed,
        )
    if inliers is None:
        return np.zeros(len(indices), dtype=bool)
    final = model_class.from_estimate(indices[inliers])
    if not final:
        return np.asarray(inliers, dtype=bool)
    return np.asarray(final.residuals(indices) < threshold_mm, dtype=bool)


def _pivot_model(
    tracker_from_tool: Float64Array,
    solve: Callable[[Float64Array], tuple[Float64Array, Float64Array]],
) -> Any:
    """A RANSAC model class over indices into ``tracker_from_tool``; it offers both
    scikit-image's ``from_estimate`` (0.26+) and the older ``estimate`` protocol."""

    class _Model:
        poses = tracker_from_tool

        def __init__(self) -> None:
            self.tip = np.full(3, np.nan)
            self.pivot = np.full(3, np.nan)

        def __bool__(self) -> bool:
            return bool(np.isfinite(self.tip).all())

        @classmethod
        def from_estimate(cls, indices: NDArray[np.intp]) -> _Model:
            model = cls()
            model.estimate(indices)
            return model

        def estimate(self, indices: NDArray[np.intp]) -> bool:
            chosen = self.poses[np.asarray(indices, dtype=np.intp)]
            system = np.concatenate(
                [chosen[:, :3, :3], -np.broadcast_to(np.eye(3), (len(chosen), 3, 3))], axis=2
            ).reshape(-1, 6)
            if np.linalg.matrix_rank(system, tol=1e-2) < 6:
                return False
            self.tip, self.pivot = solve(chosen)
            return bool(self)

        def residuals(self, indices: NDArray[np.intp]) -> Float64Array:
            chosen = self.poses[np.asarray(indices, dtype=np.intp)]
            tips = np.einsum("nij,j->ni", chosen[:, :3, :3], self.tip) + chosen[:, :3, 3]
            return np.asarray(np.linalg.norm(tips - self.pivot, axis=1), dtype=np.float64)

    return _Model
