"""Which mesh the map lives on: the tissue bed (:mod:`.field`) or a transcervical wound cut into
the patient's own anatomy (:mod:`.approach`), rebuilt from the description a simulation
recorded (``fluorescence.field`` in its truth JSON, ``kind`` "transcervical" for a wound) or
the plan's own bed, so the mesh the map lives on is the mesh the camera saw, vertex for vertex.

The navigation app and ``igcs fluorescence`` both build their field here; the truth on it, when
a caller can give one, comes through the evaluation hook (:mod:`.evaluation`).
"""

from __future__ import annotations

from typing import Any

from navigation.fluorescence.approach import APPROACH_KIND, ApproachGeometry, build_approach_field
from navigation.fluorescence.evaluation import FieldEvaluator, evaluated
from navigation.fluorescence.field import FieldGeometry, SurgicalField, build_field
from navigation.planning.plan import Plan
from registration.core.checks import InputError
from rendering.fluorescence.metrics import MarginThresholds


def geometry_from_dict(data: dict[str, Any]) -> FieldGeometry:
    """A recorded field geometry: :class:`ApproachGeometry` when ``kind`` is "transcervical",
    else the phantom's bed (:class:`FieldGeometry`)."""
    kind = data.get("kind", "bed")
    if kind == APPROACH_KIND:
        return ApproachGeometry.from_dict(data)
    if kind != "bed":
        raise InputError(f"unknown field kind {kind!r}; this igcs knows 'bed' and 'transcervical'.")
    return FieldGeometry.from_dict(data)


def mapping_field(
    plan: Plan,
    *,
    geometry: FieldGeometry | None = None,
    evaluator: FieldEvaluator | None = None,
    thresholds: MarginThresholds | None = None,
) -> SurgicalField:
    """The mesh the map lives on and its regions: the wound when ``geometry`` is an
    :class:`ApproachGeometry`, else the bed (``geometry``, default the plan's). With an
    ``evaluator``, the true tracer on it (positive patch at ``thresholds``); without one,
    ``truth`` is None (a real session)."""
    if isinstance(geometry, ApproachGeometry):
        field_ = build_approach_field(plan, geometry)
    else:
        field_ = build_field(plan, geometry=geometry)
    return evaluated(field_, evaluator, thresholds)
