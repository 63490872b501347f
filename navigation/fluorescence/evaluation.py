"""The evaluation hook: how a map learns where the tracer truly is, from outside.

The clinical path never knows the truth: a plan does not say where the tracer is, and nothing
of the simulator is loaded in the operating room. When a map *can* be scored (a simulated
session, a phantom whose truth files are known), the caller hands the mapper a
:class:`FieldEvaluator`; the mapper asks it once for the true tracer on the field's vertices
(:class:`~navigation.fluorescence.field.FieldTruth`) and scores the map against it (Dice and
boundary error of the positive region, :func:`rendering.fluorescence.accuracy.region_accuracy`;
the report's truth metrics). The implementations live with the simulation
(:mod:`navigation.simulation.evaluation`), wired only by the ``navigate``, ``fluorescence``,
``demo`` and ``simulate`` commands.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from navigation.fluorescence.field import FieldTruth, SurgicalField
from rendering.fluorescence.metrics import MarginThresholds


class FieldEvaluator(Protocol):
    """Knows the true tracer on a field: ``truth_on(field, thresholds)`` gives it per vertex,
    with the true positive patch at ``thresholds.positive_sbr``. Raises InputError when the
    field is not one it can score."""

    def truth_on(self, field_: SurgicalField, thresholds: MarginThresholds) -> FieldTruth: ...


def evaluated(
    field_: SurgicalField,
    evaluator: FieldEvaluator | None,
    thresholds: MarginThresholds | None = None,
) -> SurgicalField:
    """``field_`` with the evaluator's truth on its vertices (unchanged without an evaluator: a
    real session is not scored)."""
    if evaluator is None:
        return field_
    return replace(field_, truth=evaluator.truth_on(field_, thresholds or MarginThresholds()))
