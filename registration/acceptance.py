"""Whether a registration may be used: the checks a registration must pass before it is trusted.

A registration that fails any of these checks is *refused*: the application will not put it
in force on a key press and ``igcs register`` exits non-zero, unless the user overrides
explicitly (then it is used as UNVERIFIED and no predicted TRE is shown with it, because the
first-order TRE model assumes exactly what the failed check says is not true).

Refusals (:class:`Refusal` codes):

- ``fre_above_alarm``: FRE above the alarm of the FLE test of
  :func:`registration.point_registration.register_points`: N FRE^2 / sigma^2 ~ chi-square with
  3N - 6 degrees of freedom for isotropic Gaussian FLE (Fitzpatrick et al. 1998; Sibson 1978),
  alarm at the 1 - 1e-3 quantile. The message names the likely culprit (a swapped pair, or the
  fiducial with the largest leave-one-out error).
- ``leave_one_out_outlier``: one fiducial disagrees with the others although the FRE may be
  unremarkable (a single mis-touch among many fiducials is diluted in the RMS). Fiducial i's
  leave-one-out error e_i (its distance from where the other N - 1 register it) has
  <e_i^2> = TRE_{-i}^2(q_i) + FLE^2: the first-order TRE at q_i of the registration without i
  (Fitzpatrick et al. 1998, eq. 46) plus its own localisation error, which that registration
  did not see. With e_i^2 / (<e_i^2> / 3) taken as chi-square with 3 degrees of freedom, the
  alarm is at the 1 - alpha / N quantile (Bonferroni over the N fiducials, alpha = 1e-3).
  Needs N >= 4. Reported only when the FRE is under its alarm (above it, the FRE refusal names
  the culprit already: a swapped pair, or the largest leave-one-out error).
- ``mirrored_layout``: the best orthogonal fit is a reflection (an LPS/RAS or left/right mix-up).
- ``surface_not_converged`` / ``surface_moved_tumour``: the skin-sweep refinement did not
  converge, or moved the tumour by more than its limit away from the paired-point result.

Collinear, duplicate and too few fiducials never get this far: ``register_points`` refuses
them outright. Near-coplanar layouts are a *caution* (listed, not refused): with three
fiducials every layout is coplanar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import chi2

from registration.core.checks import Float64Array, InputError, check_points, check_positive
from registration.point_registration import FRE_TEST_ALPHA, PointRegistration
from registration.tre import predict_tre_rms

#: Refusal codes and what each is called on screen.
REFUSAL_TITLES: dict[str, str] = {
    "fre_above_alarm": "FRE above the alarm",
    "leave_one_out_outlier": "leave-one-out outlier",
    "mirrored_layout": "mirrored fiducial layout",
    "surface_not_converged": "surface refinement did not converge",
    "surface_moved_tumour": "surface refinement moved the tumour",
}

#: A surface refinement moving the tumour farther than this (mm) from the paired-point result
#: is refused: the two disagree by more than a cleared system's accuracy criterion (2 mm).
REFINEMENT_SHIFT_LIMIT_MM = 2.0


@dataclass(frozen=True)
class Refusal:
    """One reason a registration may not be trusted.

    code : one of :data:`REFUSAL_TITLES`. short : one line for banners ("FRE 40.10 mm > alarm
    1.35 mm"). message : the full sentence, with what to do. fiducials : the fiducials it
    blames (names), most suspect first; empty when it blames none.
    """

    code: str
    short: str
    message: str
    fiducials: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.code not in REFUSAL_TITLES:
            raise InputError(f"unknown refusal code {self.code!r}; use one of {REFUSAL_TITLES}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "short": self.short,
            "message": self.message,
            "fiducials": list(self.fiducials),
        }


@dataclass(frozen=True)
class RegistrationChecks:
    """The verdict on one registration.

    refusals : why it may not be trusted (empty: it passed). cautions : what is worth knowing
    but does not refuse it (e.g. a near-coplanar layout). fre_alarm_mm : the FRE alarm used.
    leave_one_out_alarm_mm : fiducial name -> its leave-one-out alarm (mm; absent when it
    cannot be tested).
    """

    refusals: tuple[Refusal, ...] = ()
    cautions: tuple[str, ...] = ()
    fre_alarm_mm: float | None = None
    leave_one_out_alarm_mm: dict[str, float] | None = None

    @property
    def passed(self) -> bool:
        """True when no check refused the registration."""
        return not self.refusals

    @property
    def suspects(self) -> tuple[str, ...]:
        """Fiducials the refusals blame, most suspect first, each once."""
        seen: dict[str, None] = {}
        for refusal in self.refusals:
            for name in refusal.fiducials:
                seen.setdefault(name)
        return tuple(seen)

    @property
    def summary(self) -> str:
        """One line: "passed", or the refusals' short texts."""
        if self.passed:
            return "passed"
        return "; ".join(refusal.short for refusal in self.refusals)

    def with_refusals(self, *extra: Refusal) -> RegistrationChecks:
        """These checks with more refusals (e.g. a surface refinement's)."""
        return RegistrationChecks(
            self.refusals + tuple(extra),
            self.cautions,
            self.fre_alarm_mm,
            self.leave_one_out_alarm_mm,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "refusals": [refusal.to_dict() for refusal in self.refusals],
            "cautions": list(self.cautions),
            "fre_alarm_mm": self.fre_alarm_mm,
            "leave_one_out_alarm_mm": self.leave_one_out_alarm_mm,
        }


def check_point_registration(
    fit: PointRegistration,
    fiducials_in_image: ArrayLike,
    *,
    fle_rms_mm: float,
    names: Sequence[str],
    alpha: float = FRE_TEST_ALPHA,
) -> RegistrationChecks:
    """The checks of a paired-point registration (see the module docstring).

    Parameters
    ----------
    fit : the result of :func:`~registration.point_registration.register_points`, computed
        with ``fle_rms_mm`` (its FRE alarm is used).
    fiducials_in_image : (N, 3) the image fiducials it registered, LPS mm, same order.
    fle_rms_mm : RMS 3-D FLE assumed (both sides combined), mm.
    names : the N fiducial names (used in the messages).
    alpha : false-alarm probability of each test.
    """
    image = check_points(fiducials_in_image, "fiducials_in_image", min_count=3)
    fle = check_positive(fle_rms_mm, "fle_rms_mm")
    labels = [str(n) for n in names]
    if len(labels) != len(image) or len(fit.residuals_mm) != len(image):
        raise InputError(
            f"{len(labels)} names and {len(fit.residuals_mm)} residuals for {len(image)} "
            "fiducials; pass the names and image points the registration used."
        )
    refusals: list[Refusal] = []
    cautions: list[str] = []
    threshold = fit.fre_threshold_mm
    if threshold is None:
        raise InputError("register_points was called without fle_rms_mm: no FRE alarm to check.")
    if fit.fre_rms_mm > threshold:
        high = next((w for w in fit.warnings if w.startswith("FRE ")), "")
        blamed = tuple(labels[i] for i in fit.suspect_indices)
        refusals.append(
            Refusal(
                "fre_above_alarm",
                f"FRE {fit.fre_rms_mm:.2f} mm > alarm {threshold:.2f} mm"
                + (f" ({', '.join(blamed)} suspect)" if blamed else ""),
                high or f"FRE {fit.fre_rms_mm:.2f} mm is above the alarm at {threshold:.2f} mm.",
                blamed,
            )
        )
    loo_alarms = leave_one_out_alarms(image, fle_rms_mm=fle, alpha=alpha)
    alarm_by_name = {labels[i]: float(v) for i, v in enumerate(loo_alarms) if np.isfinite(v)}
    errors = np.asarray(fit.leave_one_out_mm, dtype=np.float64)
    over = [
        i
        for i in range(len(labels))
        if np.isfinite(errors[i]) and np.isfinite(loo_alarms[i]) and errors[i] > loo_alarms[i]
    ]
    if over and not refusals:  # with the FRE alarm on, its message already names the culprit
        over.sort(key=lambda i: errors[i] / loo_alarms[i], reverse=True)
        worst = over[0]
        others = ", ".join(f"{labels[i]} {errors[i]:.2f} mm" for i in over[1:])
        refusals.append(
            Refusal(
                "leave_one_out_outlier",
                f"{labels[worst]} leave-one-out {errors[worst]:.2f} mm > alarm "
                f"{loo_alarms[worst]:.2f} mm",
                f"fiducial {labels[worst]} disagrees with the others: the other fiducials put "
                f"it {errors[worst]:.2f} mm from its planned position (alarm "
                f"{loo_alarms[worst]:.2f} mm for FLE {fle:.2f} mm)"
                + (f"; also above their alarms: {others}" if others else "")
                + f". Re-touch {labels[worst]} (check its label), or exclude it.",
                tuple(labels[i] for i in over),
            )
        )
    if fit.mirrored:
        refusals.append(
            Refusal(
                "mirrored_layout",
                "mirrored fiducial layout (LPS/RAS mix-up?)",
                next((w for w in fit.warnings if "reflection" in w), "mirrored layout"),
            )
        )
    if fit.coplanar:
        cautions.extend(w for w in fit.warnings if "coplanar" in w)
    return RegistrationChecks(tuple(refusals), tuple(cautions), float(threshold), alarm_by_name)


def surface_refusals(
    *,
    fre_mm: float,
    fre_alarm_mm: float | None,
    converged: bool,
    iterations: int,
    tumour_shift_mm: float | None,
    shift_limit_mm: float = REFINEMENT_SHIFT_LIMIT_MM,
) -> tuple[Refusal, ...]:
    """Refusals of a surface-refined registration: the fiducials' FRE under the refined
    transform above the paired-point alarm (skin and fiducials disagree), no convergence, or
    the tumour moved by more than ``shift_limit_mm`` from the paired-point result."""
    found: list[Refusal] = []
    if fre_alarm_mm is not None and fre_mm > fre_alarm_mm:
        found.append(
            Refusal(
                "fre_above_alarm",
                f"FRE {fre_mm:.2f} mm > alarm {fre_alarm_mm:.2f} mm after refinement",
                f"after surface refinement the fiducials are {fre_mm:.2f} mm RMS from their "
                f"planned positions (alarm {fre_alarm_mm:.2f} mm): the skin and the fiducials "
                "disagree. Check the sweep (pointer in the air?) or register without it.",
            )
        )
    if not converged:
        found.append(
            Refusal(
                "surface_not_converged",
                f"refinement did not converge ({iterations} iterations)",
                "surface refinement did not converge; sweep again over curved regions (nose, "
                "brow, cheekbones) or register without it.",
            )
        )
    if tumour_shift_mm is not None and tumour_shift_mm > shift_limit_mm:
        found.append(
            Refusal(
                "surface_moved_tumour",
                f"refinement moved the tumour {tumour_shift_mm:.1f} mm (> {shift_limit_mm:g} mm)",
                f"surface refinement moved the tumour by {tumour_shift_mm:.1f} mm (> "
                f"{shift_limit_mm:g} mm) away from the fiducial registration; check the sweep "
                "and the fiducials before using it.",
            )
        )
    return tuple(found)


def leave_one_out_alarms(
    fiducials_in_image: ArrayLike, *, fle_rms_mm: float, alpha: float = FRE_TEST_ALPHA
) -> Float64Array:
    """(N,) leave-one-out error above which each fiducial is an outlier, mm (NaN when N < 4 or
    the other fiducials are collinear: then it cannot be tested).

    alarm_i = sqrt(chi2.ppf(1 - alpha / N, 3) / 3) * sqrt(TRE_{-i}(q_i)^2 + FLE^2), with
    TRE_{-i} the first-order RMS TRE of the other N - 1 fiducials (Fitzpatrick et al. 1998).
    """
    image = check_points(fiducials_in_image, "fiducials_in_image", min_count=3)
    fle = check_positive(fle_rms_mm, "fle_rms_mm")
    n = len(image)
    alarms = np.full(n, np.nan)
    if n < 4:
        return alarms
    factor = float(np.sqrt(chi2.ppf(1.0 - alpha / n, 3) / 3.0))
    for i in range(n):
        others = np.delete(image, i, axis=0)
        try:
            tre = float(predict_tre_rms(others, image[i], fle_rms_mm=fle)[0])
        except InputError:  # the others are collinear: no registration to test i against
            continue
        alarms[i] = factor * float(np.hypot(tre, fle))
    return alarms


__all__ = [
    "REFINEMENT_SHIFT_LIMIT_MM",
    "REFUSAL_TITLES",
    "Refusal",
    "RegistrationChecks",
    "check_point_registration",
    "leave_one_out_alarms",
    "surface_refusals",
]
