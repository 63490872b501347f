"""The end-to-end demo on the bundled phantom (``igcs demo``): plan, simulate, register, map.

It runs what a user would run, in order, offline:

1. ``igcs plan`` of the sample phantom CT (generated on first use in ``sample_data/``);
2. ``igcs simulate`` of that plan in its own process (as a tracker is another process), on a
   free loopback port, writing the simulator's ground truth;
3. ``igcs navigate --headless --auto-register`` against it: registration from the simulated
   pointer, live fluorescence mapping of the simulated NIR sweep, screenshots, the recorded
   session and the navigation ``summary.json``;
4. ``igcs fluorescence`` of the recorded session (offline mapping, scored against the truth).

Outputs in ``OUT``: ``plan/``, ``plan_meshes.png``, ``navigation/`` (screenshots and the
navigation summary), ``session.igcsrec``, ``fluorescence/`` (map, pictures, metrics),
``summary.json`` (the headline numbers) and ``report.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registration.core.atomic_files import write_json_atomic, write_text_atomic
from registration.core.checks import InputError

log = logging.getLogger(__name__)

#: Seconds of navigation after the simulator's story ends (start-up and the last frames).
_TAIL_S = 4.0


@dataclass(frozen=True)
class DemoResult:
    """The demo's headline summary (also written to ``summary.json``) and its output paths."""

    summary: dict[str, Any]
    paths: dict[str, Path]


def run_demo(out: Path, *, seed: int = 0, say: Callable[[str], None] = print) -> DemoResult:
    """Run the whole demo into ``out`` (created or refreshed) and return its summary."""
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}

    def stage(name: str, began: float) -> None:
        stages[name] = round(time.monotonic() - began, 2)

    began = time.monotonic()
    plan_report = plan_sample_phantom(out, say=say)
    stage("plan_s", began)

    began = time.monotonic()
    session_path = fresh_session_path(out)
    navigation = navigate_against_simulator(out, seed=seed, session_path=session_path, say=say)
    stage("navigate_s", began)

    began = time.monotonic()
    fluorescence = map_offline(out, session_path, say=say)
    stage("fluorescence_offline_s", began)

    summary = {
        "schema": "igcs-demo-summary",
        "schema_version": 1,
        **navigation_headline(navigation),
        "plan": plan_report,
        "fluorescence_offline": offline_headline(fluorescence),
        **run_facts(navigation, seed=seed, stages=stages, start=start),
    }
    paths = {**demo_paths(out, session_path), "plan_picture": out / "plan_meshes.png"}
    return write_demo(paths, summary, _report(summary, navigation, out))


def fresh_session_path(out: Path) -> Path:
    """``out/session.igcsrec``, with any earlier run's recording and registration removed."""
    session_path = out / "session.igcsrec"
    for stale in (session_path, session_path.with_name(session_path.name + ".registration.json")):
        stale.unlink(missing_ok=True)
    return session_path


def run_facts(
    navigation: dict[str, Any], *, seed: int, stages: dict[str, float], start: float
) -> dict[str, Any]:
    """The summary's closing keys: tool states, the automatic registration, seed, stage times
    and the total time since ``start`` (``time.monotonic()``)."""
    return {
        "tools": navigation.get("tools"),
        "auto_registration": navigation.get("auto_registration"),
        "seed": seed,
        "stages_s": stages,
        "total_s": round(time.monotonic() - start, 1),
    }


def demo_paths(out: Path, session_path: Path) -> dict[str, Path]:
    """The output paths both demos write (summary, report, plan, navigation, session, map)."""
    return {
        "summary": out / "summary.json",
        "report": out / "report.md",
        "plan": out / "plan",
        "navigation": out / "navigation",
        "session": session_path,
        "fluorescence": out / "fluorescence",
    }


def write_demo(paths: dict[str, Path], summary: dict[str, Any], report: str) -> DemoResult:
    """Write ``summary.json`` and ``report.md`` atomically; the demo's result."""
    write_json_atomic(paths["summary"], summary)
    write_text_atomic(paths["report"], report)
    return DemoResult(summary, paths)


def plan_sample_phantom(out: Path, *, say: Callable[[str], None] = print) -> dict[str, Any]:
    """``igcs plan`` of the sample phantom into ``out/plan`` and a picture of its meshes;
    returns the plan's accuracy against the phantom truth."""
    import numpy as np

    from navigation.commands.plan_making import make_plan_from_path, print_summary
    from navigation.simulation.phantom import load_truth
    from navigation.simulation.sample_data import ensure_sample_phantom
    from rendering.snapshot import MeshLayer, snapshot_meshes

    phantom = ensure_sample_phantom()
    truth = load_truth(phantom)
    say(f"sample phantom: {phantom}")
    seed = ",".join(f"{v:.2f}" for v in truth.tumour_seed_lps_mm)
    node = ",".join(f"{v:.2f}" for v in truth.node_centroid_lps_mm)
    plan_dir = out / "plan"
    say(f"igcs plan {phantom / 'dicom'} --out {plan_dir} --tumour-seed={seed} --node-seed={node}")
    plan_args = argparse.Namespace(
        input=phantom / "dicom",
        out=plan_dir,
        tumour_seed=seed,
        tumour_box=None,
        node_seed=node,
        series=None,
        labels=False,
        expected_fiducials=len(truth.fiducial_names),
        no_resample=False,
        no_stl=False,
        overwrite=True,
    )
    plan = make_plan_from_path(plan_args)
    print_summary(plan)
    layers = [
        MeshLayer(
            plan.read_mesh(entry.name),
            entry.color,
            0.3 if entry.name == "skin" else 1.0,
            entry.name,
        )
        for entry in plan.labels
        if entry.mesh is not None
    ]
    snapshot_meshes(layers, out / "plan_meshes.png", title="igcs plan")
    distances = np.linalg.norm(
        plan.fiducials_lps_mm[:, None, :] - truth.fiducials_lps_mm[None, :, :], axis=2
    )
    errors = distances.min(axis=0)
    volume_error = (
        None
        if plan.tumour_volume_ml is None
        else 100.0 * (plan.tumour_volume_ml / truth.tumour_volume_ml - 1.0)
    )
    return {
        "fiducials_found": len(plan.fiducials_lps_mm),
        "fiducials_true": len(truth.fiducials_lps_mm),
        "fiducial_error_max_mm": float(errors.max()),
        "tumour_volume_ml": plan.tumour_volume_ml,
        "tumour_volume_true_ml": truth.tumour_volume_ml,
        "tumour_volume_error_percent": volume_error,
    }


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def navigate_against_simulator(
    out: Path,
    *,
    seed: int,
    session_path: Path,
    say: Callable[[str], None],
    simulate_extra: tuple[str, ...] = (),
    navigate_extra: Callable[[dict[str, Any]], list[str]] | None = None,
    fle_mm: float = 0.3,
    ready_timeout_s: float = 120.0,
) -> dict[str, Any]:
    """Start ``igcs simulate`` of ``out/plan`` in its own process and run ``igcs navigate
    --headless`` against it; returns the navigation summary.

    simulate_extra : more ``igcs simulate`` arguments. navigate_extra : more ``igcs navigate``
    arguments, from the simulator's truth JSON. fle_mm : the FLE navigate predicts with.
    ready_timeout_s : how long the simulator may take to write its truth (ready to serve).
    """
    from navigation.commands import navigate

    plan_dir = out / "plan"
    truth_path = out / "simulation_truth.json"
    truth_path.unlink(missing_ok=True)
    port = _free_loopback_port()
    simulate = [
        sys.executable, "-m", "navigation", "simulate", "--plan", str(plan_dir),
        "--port", str(port), "--seed", str(seed), "--truth", str(truth_path), *simulate_extra,
    ]  # fmt: skip
    say("igcs " + " ".join(simulate[3:]))
    log_path = out / "simulator.log"
    with open(log_path, "w", encoding="utf-8") as log_file:
        simulator = subprocess.Popen(simulate, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + ready_timeout_s
            while not truth_path.exists():
                if simulator.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(encoding="utf-8", errors="replace")[-1500:]
                    raise InputError(f"the simulator did not start; its log ends:\n{tail}")
                time.sleep(0.1)
            truth = json.loads(truth_path.read_text())
            story_s = float(truth["poses"]["t_s"][-1])
            arguments = [
                "--plan", str(plan_dir), "--igtl", f"127.0.0.1:{port}", "--headless",
                "--screenshot", str(out / "navigation"), "--duration", f"{story_s + _TAIL_S:.1f}",
                "--auto-register", "--fle", f"{fle_mm:g}", "--record", str(session_path),
                "--simulation-truth", str(truth_path),
                *(navigate_extra(truth) if navigate_extra is not None else []),
            ]  # fmt: skip
            say("igcs navigate " + " ".join(arguments))
            parser = argparse.ArgumentParser(prog="igcs navigate")
            navigate.add_arguments(parser)
            status = navigate.run(parser.parse_args(arguments))
            if status != 0:
                raise InputError(f"igcs navigate ended with status {status}")
        finally:
            try:
                simulator.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                simulator.terminate()
                simulator.wait(timeout=10.0)
    summary: dict[str, Any] = json.loads((out / "navigation" / "summary.json").read_text())
    return summary


def map_offline(
    out: Path, session_path: Path, *, say: Callable[[str], None], anatomy: bool = False
) -> dict[str, Any]:
    """``igcs fluorescence`` of the recorded session, scored against the simulator's truth
    (``anatomy``: also the map in its place on the patient, ``fluorescence_anatomy.png``)."""
    from navigation.fluorescence.offline import OfflineRequest, map_recorded_session
    from navigation.simulation.evaluation import offline_evaluator

    target = out / "fluorescence"
    say(
        f"igcs fluorescence --plan {out / 'plan'} --session {session_path} --out {target} "
        f"--truth {out / 'simulation_truth.json'}"
    )
    result = map_recorded_session(
        OfflineRequest(
            plan=out / "plan",
            session=session_path,
            out=target,
            truth=out / "simulation_truth.json",
            anatomy_picture=anatomy,
        ),
        evaluator=offline_evaluator,
    )
    return result.metrics


#: The demo summary's headline numbers, as the headless navigation's summary has them.
HEADLINE = (
    "fre_mm",
    "tre_at_tumour_true_mm",
    "tre_at_tumour_predicted_mm",
    "fluorescence_dice",
    "fluorescence_boundary_error_mm",
    "tbr",
    "render_fps",
    "latency_ms_p50",
    "latency_ms_p95",
)


def navigation_headline(navigation: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers (:data:`HEADLINE`) of a headless navigation's ``summary.json``."""
    return {key: navigation[key] for key in HEADLINE}


def offline_headline(metrics: dict[str, Any]) -> dict[str, Any]:
    truth = metrics.get("truth") or {}
    frames = metrics.get("frames") or {}
    quantification = metrics.get("quantification") or {}
    return {
        "frames": frames,
        "sbr": quantification.get("sbr"),
        "dice": truth.get("dice"),
        "boundary_error_mm": truth.get("boundary_error_mm"),
    }


def format_number(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{float(value):.{digits}f}{unit}"


def _report(summary: dict[str, Any], navigation: dict[str, Any], out: Path) -> str:
    """A short Markdown report of the demo with its pictures."""
    n = format_number
    plan = summary["plan"]
    offline = summary["fluorescence_offline"]
    shots = sorted((out / "navigation").glob("frame_*.png"))
    middle = shots[len(shots) // 2].relative_to(out).as_posix() if shots else None
    lines = [
        "# igcs demo report",
        "",
        "Offline, on the bundled digital head and neck phantom (LPS mm). Truth comes from the",
        "phantom (`truth.json`) and the simulator (`simulation_truth.json`).",
        "",
        "## Plan",
        f"- fiducial markers found: {plan['fiducials_found']} of {plan['fiducials_true']}, "
        f"worst centroid error {n(plan['fiducial_error_max_mm'], ' mm', 3)}",
        f"- tumour volume: {n(plan['tumour_volume_ml'], ' ml')} "
        f"(truth {n(plan['tumour_volume_true_ml'], ' ml')}, "
        f"{n(plan['tumour_volume_error_percent'], ' %', 1)})",
        "",
        "![plan meshes](plan_meshes.png)",
        "",
        "## Registration (simulated pointer, automatic collection in plan order)",
        f"- FRE {n(summary['fre_mm'], ' mm')} (not accuracy)",
        f"- TRE at the tumour: predicted {n(summary['tre_at_tumour_predicted_mm'], ' mm')}"
        f", true {n(summary['tre_at_tumour_true_mm'], ' mm')} (simulator truth)",
        "",
        "## Fluorescence (simulated NIR sweep of the exposed field)",
        f"- live map: Dice {n(summary['fluorescence_dice'], '', 3)} against the true "
        f"patch, boundary error {n(summary['fluorescence_boundary_error_mm'], ' mm')}, "
        f"TBR {n(summary['tbr'])}",
        f"- offline map of the recorded session: Dice {n(offline['dice'], '', 3)}, "
        f"boundary error {n(offline['boundary_error_mm'], ' mm')}",
        "- SBR thresholds (2.0 positive, 1.5 close, de Wit et al. 2023) are tracer- and "
        "device-specific; fluorescence means tracer within a few mm under the surface.",
        "",
        "![fluorescence map](fluorescence/fluorescence_front.png)",
        "",
        "## Navigation view",
        f"- {n(summary['render_fps'], ' fps', 1)} (software rendering), latency from "
        f"message arrival to frame p50 {n(summary['latency_ms_p50'], ' ms', 0)}, "
        f"p95 {n(summary['latency_ms_p95'], ' ms', 0)}",
        "",
    ]
    if middle:
        lines += [f"![navigation view]({middle})", ""]
    lines += ["![last frame](navigation/last.png)", "", f"Total time {summary['total_s']} s.", ""]
    return "\n".join(lines)
