"""The simulator's edges: read a plan folder into a scenario, write its truth, pace it out.

:func:`scenario_from_plan` reads the plan's fiducials and its skin and tumour meshes (``.vtp``,
LPS mm, with PyVista; point normals from ``compute_normals``) and builds the pure scenario of
:mod:`navigation.tracking.simulator`. :func:`serve_scenario` sends the timeline through any
``send(message)`` (an ``IgtlServer``'s) at the original timing scaled by ``speed``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from navigation.planning.plan import Plan, load_plan
from navigation.tracking.messages import IgtlMessage
from navigation.tracking.simulator import Scenario, SimulationConfig, build_scenario
from registration.atomic_files import write_json_atomic
from registration.checks import Float64Array, InputError, check_positive

log = logging.getLogger(__name__)

SKIN_LABEL = "skin"


def scenario_from_plan(
    plan: Plan | str | Path,
    config: SimulationConfig | None = None,
    *,
    duration_s: float | None = None,
) -> Scenario:
    """Build the scenario for a plan folder: its fiducials (>= 3), the ``skin`` label's mesh
    (the sweep) and the tumour's mesh when the plan has one (camera target and frames).

    Raises :class:`InputError` when the plan has fewer than 3 fiducials or no skin mesh.
    """
    loaded = plan if isinstance(plan, Plan) else load_plan(plan)
    if len(loaded.fiducials_lps_mm) < 3:
        raise InputError(
            f"plan {loaded.root} has {len(loaded.fiducials_lps_mm)} fiducials; the simulator "
            "needs at least 3 (add fiducials to the plan with igcs plan)."
        )
    skin, normals = _read_mesh(loaded.mesh_path(SKIN_LABEL), with_normals=True)
    tumour = None
    tumour_entry = loaded.raw.get("tumour") or {}
    label = tumour_entry.get("label")
    if label:
        try:
            tumour, _ = _read_mesh(loaded.mesh_path(str(label)), with_normals=False)
        except InputError as error:
            log.warning("no tumour mesh (%s); the camera will see a dark field.", error)
    return build_scenario(
        loaded.fiducials_lps_mm,
        skin,
        skin_normals_in_image=normals,
        tumour_vertices_in_image=tumour,
        fiducial_names=loaded.fiducial_names,
        config=config,
        duration_s=duration_s,
    )


def write_truth(path: str | Path, scenario: Scenario) -> None:
    """Write the scenario's ground truth as JSON, atomically."""
    write_json_atomic(path, scenario.truth.to_dict())


def serve_scenario(
    scenario: Scenario,
    send: Callable[[IgtlMessage], object],
    *,
    speed: float = 1.0,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    restamp: bool = True,
    on_progress: Callable[[float], None] | None = None,
) -> int:
    """Send the timeline at its timing divided by ``speed``; returns the messages sent.

    restamp : replace each message's timestamp with the wall-clock UNIX time at sending (what
        a live PLUS server does), so a receiver's clock mapping sees a sane sender clock at any
        ``speed``. stop : set it to end early. on_progress : called with the scenario time of
        each message sent.
    """
    rate = check_positive(speed, "speed")
    halt = stop or threading.Event()
    start = time.monotonic()
    sent = 0
    for t_s, message in scenario.timeline(duration_s=duration_s):
        delay = start + t_s / rate - time.monotonic()
        if delay > 0 and halt.wait(delay):
            break
        if halt.is_set():
            break
        if restamp:
            message = dataclasses.replace(message, timestamp_s=time.time())
        send(message)
        sent += 1
        if on_progress is not None:
            on_progress(t_s)
    return sent


def _read_mesh(path: Path, *, with_normals: bool) -> tuple[Float64Array, Float64Array | None]:
    import pyvista as pv

    if not path.is_file():
        raise InputError(f"mesh {path} does not exist; re-create the plan with igcs plan.")
    try:
        mesh = pv.read(path)
    except Exception as error:  # VTK readers raise assorted errors on corrupt files
        raise InputError(f"cannot read mesh {path}: {error}") from None
    surface = mesh.extract_surface() if not isinstance(mesh, pv.PolyData) else mesh
    points = np.asarray(surface.points, dtype=np.float64)
    if len(points) < 3:
        raise InputError(f"mesh {path} has {len(points)} points; it is empty or corrupt.")
    if not with_normals:
        return points, None
    oriented = surface.compute_normals(
        point_normals=True, cell_normals=False, auto_orient_normals=True, split_vertices=False
    )
    normals = np.asarray(oriented.point_data["Normals"], dtype=np.float64)
    return np.asarray(oriented.points, dtype=np.float64), normals
