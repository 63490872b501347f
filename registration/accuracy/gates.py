"""Pass/fail gates on an accuracy study's simulated TRE (the engineer's acceptance criteria).

A gate compares one statistic of the main case's simulated TRE at one target with a threshold:
``rms`` is sqrt(mean TRE^2) over the trials, ``p95`` the 95th percentile. The statistic is the
simulation's, not the theory's: the simulation is what the gate is about (it agrees with
Fitzpatrick, West & Maurer 1998 for isotropic FLE; see the report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from registration.accuracy.engine import StudyResults
from registration.core.checks import InputError, check_positive

TREStatistic = Literal["rms", "p95"]


@dataclass(frozen=True)
class TREGate:
    """One gate's outcome: ``value_mm <= threshold_mm`` passes."""

    name: str
    target: str
    statistic: str
    threshold_mm: float
    value_mm: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "quantity": f"simulated TRE {self.statistic}",
            "threshold_mm": self.threshold_mm,
            "value_mm": self.value_mm,
            "passed": self.passed,
        }

    def describe(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}: {self.name}: simulated TRE {self.statistic.upper()} at {self.target} "
            f"{self.value_mm:.3f} mm vs {self.threshold_mm:g} mm"
        )


def tre_gates(
    results: StudyResults,
    name: str,
    threshold_mm: float,
    target_indices: Sequence[int],
    *,
    statistic: TREStatistic = "rms",
) -> tuple[TREGate, ...]:
    """One gate per target index (into ``results.study.targets``) on the main case."""
    threshold = check_positive(threshold_mm, name)
    if statistic not in ("rms", "p95"):
        raise InputError(f"statistic must be 'rms' or 'p95'; got {statistic!r}.")
    main = results.main
    values = main.tre_rms_mm if statistic == "rms" else main.tre_percentile_mm(95)
    targets = results.study.targets
    return tuple(
        TREGate(
            name=name,
            target=targets[j].name,
            statistic=statistic,
            threshold_mm=threshold,
            value_mm=float(values[j]),
            passed=bool(values[j] <= threshold),
        )
        for j in target_indices
    )
