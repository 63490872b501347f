"""``igcs accuracy``: the engineer's Monte Carlo accuracy study of a plan's fiducial layout.

Builds an :class:`registration.accuracy.AccuracyStudy` from the plan (fiducials; targets: the
tumour centroid first, the plan's other targets, the point of the tumour surface where the
plan's layout predicts the largest TRE, and any ``--target``) and any extra ``--layout`` point
files, runs it in-process (``--workers 0``), on a local Dask cluster (default,
``--workers 2``) or on an existing scheduler (``--scheduler tcp://HOST:PORT``; its workers need
igcs installed), computes the predicted TRE over the plan's skin and tumour meshes (vertices
LPS mm), and writes into ``--out``: report.html, results.csv, summary.json, the PNG figures
and ``tre_map_<label>.vtp`` (the mesh with point data ``tre_rms_predicted_mm``).

Gates: ``--max-tre-at-tumour MM`` fails when the simulated TRE at the tumour centroid or at the
tumour surface's worst predicted point exceeds MM, ``--max-tre MM`` at any target;
``--gate-statistic`` chooses RMS (default) or the 95th percentile. Exit status 0 when every
gate passes (or none is given), 1 when one fails (the report is written either way), 2 on bad
input. Dask's own logging is shown only with ``igcs -v``.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from navigation.cli import UserError
from navigation.planning.markups import read_point_file
from navigation.planning.plan import Plan, load_plan, read_plan_mesh
from registration.accuracy import (
    AccuracyStudy,
    Layout,
    StudyResults,
    StudyTarget,
    dask_client,
    run_study,
    surface_tre_maps,
    write_report,
)
from registration.accuracy.gates import TREGate, tre_gates
from registration.core.atomic_files import atomic_path
from registration.core.checks import InputError
from registration.tre import predict_tre_rms

#: Plan labels whose meshes get a TRE map.
MAP_LABELS = ("skin", "tumour")
#: The study targets that are the tumour (``--max-tre-at-tumour``).
TUMOUR_CENTROID = "tumour centroid"
TUMOUR_WORST = "tumour surface, worst predicted"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", required=True, type=Path, help="plan folder (igcs plan)")
    parser.add_argument(
        "--fle",
        required=True,
        type=float,
        nargs="+",
        metavar="MM",
        help="RMS 3-D FLE of the tracked fiducials, sqrt(<FLE^2>) in mm, isotropic; several "
        "values study several levels",
    )
    parser.add_argument(
        "--fle-image",
        type=float,
        default=0.0,
        metavar="MM",
        help="RMS 3-D FLE of the image fiducials, mm (default 0)",
    )
    parser.add_argument("--trials", type=int, default=10_000, help="registrations per case")
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="REPORT",
        help="output folder (created; files in it are replaced)",
    )
    parser.add_argument(
        "--layout",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="another fiducial layout to compare (point file, repeatable)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=X,Y,Z",
        help="another target, LPS mm (repeatable), e.g. 'carotid L=35,-20,-40'",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT", help="run on this existing Dask scheduler"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="local Dask workers (default 2; 0 runs in this process)",
    )
    parser.add_argument("--no-drop", action="store_true", help="skip the drop-each-fiducial cases")
    parser.add_argument(
        "--max-tre-at-tumour",
        type=float,
        metavar="MM",
        help="gate: simulated TRE at the tumour centroid and the tumour surface's worst "
        "predicted point at most MM (exit 1 otherwise)",
    )
    parser.add_argument(
        "--max-tre", type=float, metavar="MM", help="gate: simulated TRE at every target at most MM"
    )
    parser.add_argument(
        "--gate-statistic",
        choices=("rms", "p95"),
        default="rms",
        help="the gated TRE statistic: RMS over the trials (default) or the 95th percentile",
    )


def parse_target(text: str) -> StudyTarget:
    """``NAME=X,Y,Z`` (LPS mm) as a study target."""
    name, _, coordinates = text.rpartition("=")
    try:
        position = np.array([float(c) for c in coordinates.split(",")])
    except ValueError:
        position = np.empty(0)
    if not name.strip() or position.shape != (3,) or not np.isfinite(position).all():
        raise UserError(
            f"--target {text!r}: expected NAME=X,Y,Z with three finite numbers in LPS mm, "
            "e.g. 'carotid L=35,-20,-40'."
        )
    return StudyTarget(name.strip(), position)


def worst_surface_point(fiducials: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """The vertex where the layout predicts the largest TRE. TRE scales with FLE (Fitzpatrick,
    West & Maurer 1998), so the point is the same at every FLE level."""
    tre = predict_tre_rms(fiducials, vertices, fle_rms_mm=1.0)
    return np.asarray(vertices[int(np.argmax(tre))], dtype=np.float64)


def study_from_plan(
    plan: Plan, args: argparse.Namespace, meshes: dict[str, Any] | None = None
) -> AccuracyStudy:
    """The study the command runs: the plan's layout first, then the --layout files. Targets:
    the tumour centroid, the plan's other targets, the worst-predicted point of the tumour
    surface (when ``meshes``, from :func:`plan_meshes`, holds the tumour), then ``--target``."""
    if len(plan.fiducial_names) < 3:
        raise UserError(
            f"plan {plan.root} has {len(plan.fiducial_names)} fiducials; an accuracy study "
            "needs at least 3. Place fiducials in the plan first."
        )
    layouts = [Layout("plan", plan.fiducial_names, plan.fiducials_lps_mm)]
    for path in args.layout:
        points = read_point_file(path)
        layouts.append(Layout(path.name, points.names, points.points_lps_mm))
    targets = [StudyTarget(t.name, t.position_lps_mm) for t in plan.targets]
    centroid = plan.tumour_centroid_lps_mm
    if centroid is not None and not any(
        np.allclose(t.position_lps_mm, centroid, atol=1e-6) for t in targets
    ):
        targets.insert(0, StudyTarget(TUMOUR_CENTROID, centroid))
    tumour = (meshes or {}).get("tumour")
    if tumour is not None and tumour.n_points:
        vertices = np.asarray(tumour.points, dtype=np.float64)
        worst = worst_surface_point(plan.fiducials_lps_mm, vertices)
        targets.append(StudyTarget(TUMOUR_WORST, worst))
    targets += [parse_target(text) for text in args.target]
    if not targets:
        targets = [StudyTarget("fiducial centroid", plan.fiducials_lps_mm.mean(axis=0))]
    return AccuracyStudy(
        layouts=tuple(layouts),
        fle_rms_mm=tuple(args.fle),
        targets=tuple(targets),
        trials=args.trials,
        fle_image_rms_mm=args.fle_image,
        seed=args.seed,
        drop_each_fiducial=not args.no_drop,
    )


def plan_meshes(plan: Plan) -> dict[str, Any]:
    """The plan's meshes of ``MAP_LABELS`` that exist (pyvista PolyData, LPS mm)."""
    meshes = {}
    for label in MAP_LABELS:
        try:
            path = plan.mesh_path(label)
        except InputError as error:
            print(f"No TRE map for {label}: {error}")
            continue
        meshes[label] = read_plan_mesh(path)
    return meshes


def quiet_dask(verbose: bool) -> None:
    """Keep Dask's scheduler/nanny INFO lines (about 30 per run) off the console unless
    ``verbose``; distributed configures its loggers when imported, so import it first."""
    if verbose:
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        return  # dask_client says which extra to install

    for name in ("distributed", "dask", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(logging.WARNING)


def study_gates(results: StudyResults, args: argparse.Namespace) -> tuple[TREGate, ...]:
    """The gates asked for on the command line, evaluated on the main case."""
    names = [t.name for t in results.study.targets]
    gates: list[TREGate] = []
    if args.max_tre_at_tumour is not None:
        tumour = [j for j, n in enumerate(names) if n in (TUMOUR_CENTROID, TUMOUR_WORST)]
        gates += tre_gates(
            results,
            "max TRE at the tumour",
            args.max_tre_at_tumour,
            tumour,
            statistic=args.gate_statistic,
        )
    if args.max_tre is not None:
        gates += tre_gates(
            results,
            "max TRE",
            args.max_tre,
            range(len(names)),
            statistic=args.gate_statistic,
        )
    return tuple(gates)


def run(args: argparse.Namespace) -> int:
    for value in [*args.fle, args.fle_image]:
        if not math.isfinite(value) or value < 0:
            raise UserError(f"FLE values must be non-negative numbers of mm; got {value}.")
    for flag, value in (
        ("--max-tre-at-tumour", args.max_tre_at_tumour),
        ("--max-tre", args.max_tre),
    ):
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise UserError(f"{flag} must be a positive number of mm; got {value}.")
    if args.trials < 2:
        raise UserError(f"--trials must be at least 2; got {args.trials}.")
    if args.workers < 0:
        raise UserError(f"--workers must be >= 0; got {args.workers}.")
    plan = load_plan(args.plan)
    if args.max_tre_at_tumour is not None and plan.tumour_centroid_lps_mm is None:
        raise UserError(
            f"--max-tre-at-tumour: plan {plan.root} has no tumour; segment it first or gate "
            "the targets with --max-tre."
        )
    meshes = plan_meshes(plan)
    study = study_from_plan(plan, args, meshes)

    if args.workers == 0 and not args.scheduler:
        results = run_study(study)
    else:
        where = args.scheduler or f"a local Dask cluster of {args.workers} workers"
        print(f"Running {len(study.cases())} cases x {study.trials} trials on {where}.")
        quiet_dask(getattr(args, "verbose", False))
        try:
            with dask_client(args.scheduler, workers=max(args.workers, 1)) as client:
                results = run_study(study, client=client)
        except OSError as error:
            raise UserError(f"cannot reach the Dask scheduler {args.scheduler}: {error}") from None

    maps = surface_tre_maps(
        results,
        {label: np.asarray(mesh.points, dtype=np.float64) for label, mesh in meshes.items()},
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for surface in maps:
        mesh = meshes[surface.name].copy()
        mesh.point_data["tre_rms_predicted_mm"] = surface.tre_rms_mm
        with atomic_path(args.out / f"tre_map_{surface.name}.vtp") as tmp:
            mesh.save(tmp)
    gates = study_gates(results, args)
    files = write_report(args.out, results, maps=maps, gates=gates)

    main = results.main
    print(f"FRE RMS: simulated {main.fre_rms_mm:.3f} mm, theory {main.fre_rms_predicted_mm:.3f} mm")
    for j, target in enumerate(study.targets):
        print(
            f"TRE RMS at {target.name}: simulated {main.tre_rms_mm[j]:.3f} mm, theory "
            f"{main.tre_rms_predicted_mm[j]:.3f} mm, P95 {main.tre_percentile_mm(95)[j]:.3f} mm"
        )
    for surface in maps:
        print(
            f"Predicted TRE over {surface.name}: {surface.tre_rms_mm.min():.3f}-"
            f"{surface.tre_rms_mm.max():.3f} mm"
        )
    for gate in gates:
        print(gate.describe())
    print(f"Wrote {files['report']}")
    return 0 if all(g.passed for g in gates) else 1
