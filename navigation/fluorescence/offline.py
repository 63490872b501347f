"""``igcs fluorescence`` as a library call: map a recorded session onto the plan's field model
and write ``fluorescence.vtp``, the PNG views and ``metrics.json``.

:func:`map_recorded_session` resolves the mapper's inputs (:mod:`.mapping_inputs`: explicit files,
else what the session recorded, else the simulator's truth), builds the field mesh
(:mod:`.model_field`; with a simulator truth, the same bed the simulator used), scores it with
the evaluator the caller chose (the evaluation hook, :mod:`.evaluation`: the true tracer on its
vertices, or none for a real session), maps every camera frame (:mod:`.session_mapping`) and
writes the outputs with the metrics (:mod:`.report`). ``igcs demo`` and ``igcs fluorescence``
both call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from navigation.fluorescence.approach import ApproachGeometry, inside_wound
from navigation.fluorescence.evaluation import FieldEvaluator
from navigation.fluorescence.field import SurgicalField
from navigation.fluorescence.mapping_inputs import (
    SimulationTruth,
    highlight_detector,
    load_simulation_truth,
    recorded_inputs,
    resolve_inputs,
)
from navigation.fluorescence.model_field import mapping_field
from navigation.fluorescence.report import fluorescence_metrics, write_outputs
from navigation.fluorescence.session_mapping import SessionDevices, SessionMapping, map_session
from navigation.planning.plan import Plan, load_plan
from navigation.tracking.recording import SessionReader
from registration.core.checks import InputError

#: How a caller chooses the truth to score against, from the plan and the simulator's truth
#: file (when ``--truth`` was given): an evaluator, or None (not scored).
EvaluatorChoice = Callable[[Plan, SimulationTruth | None], FieldEvaluator | None]


@dataclass(frozen=True)
class OfflineRequest:
    """What to map and with what (paths; None: the default of :mod:`.mapping_inputs`)."""

    plan: Path
    session: Path
    out: Path
    intrinsics: Path | None = None
    hand_eye: Path | None = None
    registration: Path | None = None
    registration_frame: str = "reference"
    truth: Path | None = None
    dark_level: float | None = None
    flat_field: Path | None = None
    saturation_level: float | None = None
    highlight_mask: bool = False
    anatomy_picture: bool = False
    devices: SessionDevices = field(default_factory=SessionDevices)


@dataclass(frozen=True)
class OfflineResult:
    """The metrics (``metrics.json``'s content), the written files by name, the field and the
    session's mapping."""

    metrics: dict[str, Any]
    paths: dict[str, Path]
    field: SurgicalField
    mapping: SessionMapping


def map_recorded_session(
    request: OfflineRequest,
    *,
    evaluator: EvaluatorChoice | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> OfflineResult:
    """Map ``request.session`` onto ``request.plan``'s field and write the outputs to
    ``request.out``; score the map with ``evaluator(plan, simulation truth)`` when given.
    Raises InputError when an input is missing or no frame could be mapped."""
    say = on_stage or (lambda text: None)
    if not Path(request.session).is_file():
        raise InputError(f"session {request.session} does not exist (igcs record writes one).")
    plan = load_plan(request.plan)
    simulation = load_simulation_truth(request.truth) if request.truth else None
    inputs = resolve_inputs(
        recorded=recorded_inputs(SessionReader(request.session).events()),
        intrinsics_path=request.intrinsics,
        hand_eye_path=request.hand_eye,
        registration_path=request.registration,
        registration_frame=request.registration_frame,
        truth=simulation,
        dark_level=request.dark_level,
        flat_field_path=request.flat_field,
        saturation_level=request.saturation_level,
    )
    say("building the field mesh")
    field_ = mapping_field(
        plan,
        geometry=simulation.geometry() if simulation else None,
        evaluator=None if evaluator is None else evaluator(plan, simulation),
    )
    detector = highlight_detector(
        inputs.radiometry,
        sensor=simulation.sensor() if simulation else None,
        requested=request.highlight_mask,
    )
    say("mapping the frames")
    mapping = map_session(
        request.session,
        field_.mesh,
        inputs,
        devices=request.devices,
        on_frame=on_frame,
        highlights=detector,
    )
    if mapping.frames_used == 0:
        reasons = ", ".join(f"{n} {why}" for why, n in mapping.skipped.items())
        raise InputError(f"no frame of {request.session} could be mapped ({reasons}).")
    metrics = fluorescence_metrics(
        field_,
        mapping,
        inputs,
        sensor=simulation.sensor() if simulation else None,
        plan=str(plan.root),
        session=str(Path(request.session).resolve()),
    )
    say("writing the outputs")
    context = _anatomy(plan, field_) if request.anatomy_picture else ()
    paths = write_outputs(request.out, field_, mapping, metrics, context=context)
    return OfflineResult(metrics, paths, field_, mapping)


#: Plan labels drawn around the map in ``fluorescence_anatomy.png``: (colour, opacity).
ANATOMY = {"skin": ((0.85, 0.70, 0.60), 0.25), "bone": ((0.95, 0.93, 0.85), 1.0)}


def _anatomy(
    plan: Plan, field_: SurgicalField
) -> list[tuple[Any, tuple[float, float, float], float]]:
    """The plan's skin and bone meshes (those it has) as picture context, without what a
    wound removed (bone the cut went through would float over the field)."""
    context = []
    for name, (colour, opacity) in ANATOMY.items():
        try:
            mesh = plan.read_mesh(name)
        except InputError:
            continue
        if isinstance(field_.geometry, ApproachGeometry):
            removed = inside_wound(field_.geometry, np.asarray(mesh.points, dtype=np.float64))
            if removed.any():
                mesh = _without_points(mesh, removed)
        context.append((mesh, colour, opacity))
    return context


def _without_points(mesh: Any, removed: np.ndarray) -> Any:
    """The triangle mesh without the triangles that touch a removed point (the points stay:
    only drawn). By hand, as ``PolyData.remove_points`` changes its return in pyvista 0.49."""
    import pyvista

    triangles = np.asarray(mesh.triangulate().faces).reshape(-1, 4)
    kept = triangles[~removed[triangles[:, 1:]].any(axis=1)]
    return pyvista.PolyData(np.asarray(mesh.points), kept.ravel())
