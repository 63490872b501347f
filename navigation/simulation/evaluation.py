"""Which truth scores a map: the evaluation hook's implementations chosen from truth files.

The navigation app and the offline mapper take a
:class:`~navigation.fluorescence.evaluation.FieldEvaluator` from outside; the commands that
know of simulations (``igcs navigate``, ``igcs fluorescence``, ``igcs demo``) choose it here
from the simulator's truth JSON (``--simulation-truth``/``--truth``) and the plan:

- the tissue model the simulator rendered with (``fluorescence.tissue``):
  :class:`~navigation.simulation.scene.TissueEvaluator`;
- else the igcs phantom the plan was made from (its ``truth.json``, recorded by the simulator or
  found next to the plan's source): :class:`~navigation.simulation.tracer.PhantomEvaluator`;
- else, offline and for a simulated session only, the plan's own tumour as the patch
  (:class:`~navigation.simulation.tracer.PlanTumourEvaluator`, labelled so).

A real session (no truth file, a plan from a real scan) gets no evaluator and is not scored.
"""

from __future__ import annotations

import json
from pathlib import Path

from navigation.fluorescence.evaluation import FieldEvaluator
from navigation.fluorescence.mapping_inputs import SimulationTruth
from navigation.planning.plan import Plan
from navigation.simulation.phantom import load_truth
from navigation.simulation.scene import TissueEvaluator
from navigation.simulation.tissue import TissueModel
from navigation.simulation.tracer import PhantomEvaluator, PlanTumourEvaluator


def recorded_tissue(simulation: SimulationTruth | None) -> TissueModel | None:
    """The tissue model the simulator's frames were rendered with (None: the phantom's patch,
    or no simulation)."""
    entry = ((simulation.fluorescence or {}) if simulation else {}).get("tissue")
    return TissueModel.from_dict(entry) if entry else None


def navigation_evaluator(plan: Plan, simulation: SimulationTruth | None) -> FieldEvaluator | None:
    """The live app's evaluator: the simulator's tissue model, else the phantom the plan was
    made from (found next to its source, with or without a simulation), else None."""
    tissue = recorded_tissue(simulation)
    if tissue is not None:
        return TissueEvaluator(plan, tissue)
    path = find_phantom_truth(plan)
    return None if path is None else PhantomEvaluator(load_truth(path))


def offline_evaluator(plan: Plan, simulation: SimulationTruth | None) -> FieldEvaluator | None:
    """The offline mapper's evaluator for a simulated session (None without ``simulation``):
    its tissue model, else the phantom truth it recorded (or found next to the plan's source),
    else the plan's own tumour."""
    if simulation is None:
        return None
    tissue = recorded_tissue(simulation)
    if tissue is not None:
        return TissueEvaluator(plan, tissue)
    recorded_path = (simulation.fluorescence or {}).get("phantom_truth")
    path = Path(recorded_path) if recorded_path else find_phantom_truth(plan)
    if path is not None and path.exists():
        return PhantomEvaluator(load_truth(path))
    return PlanTumourEvaluator(plan)


def find_phantom_truth(plan: Plan) -> Path | None:
    """The ``truth.json`` of the igcs phantom the plan was made from, or None.

    Looked for next to the plan's source (``source.path`` is the phantom's ``dicom/`` folder, or
    the folder itself) and accepted only when its series instance UID is the plan's.
    """
    source = plan.source.get("path")
    uid = plan.source.get("series_instance_uid")
    if not source or not uid:
        return None
    folder = Path(str(source))
    for candidate in (folder.parent / "truth.json", folder / "truth.json"):
        try:
            raw = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(raw, dict) and raw.get("series_instance_uid") == uid:
            return candidate.resolve()
    return None
