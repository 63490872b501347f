"""``igcs plan`` on many patients: each planned in its own task on Dask, one table at the end.

The patients are the INPUTs given (each one patient), or, with ``--cohort``, the entries of a
folder (each subfolder or image file one patient) or of a list file (one path per line, ``#``
comments, relative paths from the list's folder). Each plan goes to ``OUT/<patient>/`` and the
table to ``OUT/cohort.csv`` and ``OUT/cohort.json`` (written atomically). The tasks run on a
local Dask cluster of ``--workers`` single-threaded processes (VTK and the numpy steps keep one
core busy each), or on the cluster whose scheduler is ``--scheduler tcp://HOST:PORT``;
``--workers 0`` plans one after the other in this process. A patient that fails is a row with
its one-line reason; the others finish. The exit status is 0 when every patient was planned, 2
otherwise.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from navigation.cli import UserError
from navigation.imaging.image_files import image_file_kind
from registration.core.atomic_files import atomic_path, write_json_atomic

#: Options that name one patient's anatomy or series: refused for a cohort.
_PER_PATIENT = ("tumour_seed", "tumour_box", "node_seed", "series")


@dataclass(frozen=True)
class CohortRow:
    """One patient's outcome (``status`` "planned" or "failed")."""

    patient: str
    input: str
    status: str
    seconds: float
    plan: str = ""
    skin_ml: float | None = None
    bone_ml: float | None = None
    fiducials: int | None = None
    removed_ml: float | None = None
    warnings: int = 0
    error: str = ""


def cohort_inputs(args: argparse.Namespace) -> list[Path]:
    """The patients' inputs: the INPUTs, or with ``--cohort`` the entries of each folder or
    list file given."""
    given = [Path(p) for p in args.input]
    if not args.cohort:
        return given
    patients: list[Path] = []
    for source in given:
        if source.is_dir():
            entries = sorted(
                p for p in source.iterdir() if p.is_dir() or image_file_kind(p) is not None
            )
            if not entries:
                raise UserError(f"--cohort {source}: no patient folders or image files in it.")
            patients += entries
        elif source.is_file():
            patients += _list_file(source)
        else:
            raise UserError(f"--cohort {source} does not exist; give a folder or a list file.")
    return patients


def run_cohort(args: argparse.Namespace) -> int:
    """Plan every patient, print the table, write cohort.csv/json; 0 when all were planned."""
    for name in _PER_PATIENT:
        if getattr(args, name, None):
            flag = "--" + name.replace("_", "-")
            raise UserError(
                f"{flag} names one patient's anatomy or series; plan that patient on its own "
                "(igcs plan INPUT --out PLAN ...), not in a cohort."
            )
    if args.workers < 0:
        raise UserError(f"--workers must be >= 0; got {args.workers}.")
    inputs = cohort_inputs(args)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; --out needs a folder for the cohort's plans.")
    out.mkdir(parents=True, exist_ok=True)
    names = _unique_names(inputs)
    options = {
        "labels": bool(args.labels),
        "expected_fiducials": args.expected_fiducials,
        "no_resample": bool(args.no_resample),
        "modality": getattr(args, "modality", None),
        "no_stl": bool(args.no_stl),
        "overwrite": bool(args.overwrite),
    }
    jobs = [
        (name, str(path), str(out / name), options)
        for name, path in zip(names, inputs, strict=True)
    ]
    rows = _run(jobs, args.scheduler, args.workers)
    _write_table(out, rows)
    print(format_table(rows))
    failed = [r for r in rows if r.status != "planned"]
    print(
        f"{len(rows) - len(failed)} of {len(rows)} patients planned"
        + (f"; {len(failed)} failed (see the table)" if failed else "")
        + f"; table in {out / 'cohort.csv'}"
    )
    return 2 if failed else 0


def plan_one(name: str, source: str, plan_dir: str, options: dict[str, Any]) -> CohortRow:
    """Plan one patient (runs on a worker); never raises: a failure is a row with its reason."""
    from navigation.commands.plan_making import make_plan_from_path

    start = time.perf_counter()
    namespace = argparse.Namespace(
        input=Path(source),
        out=Path(plan_dir),
        tumour_seed=None,
        tumour_box=None,
        node_seed=None,
        series=None,
        **options,
    )
    quiet = io.StringIO()
    stdout, sys.stdout = sys.stdout, quiet  # the per-patient report lives in its plan.json
    try:
        plan = make_plan_from_path(namespace)
    except Exception as error:  # one patient's failure must not stop the others
        reason = " ".join(str(error).split()) or type(error).__name__
        return CohortRow(name, source, "failed", time.perf_counter() - start, error=reason)
    finally:
        sys.stdout = stdout
    volumes = {entry.name: entry.volume_ml for entry in plan.labels}
    report = plan.raw.get("report", {})
    return CohortRow(
        patient=name,
        input=source,
        status="planned",
        seconds=time.perf_counter() - start,
        plan=plan_dir,
        skin_ml=volumes.get("skin"),
        bone_ml=volumes.get("bone"),
        fiducials=len(plan.fiducial_names),
        removed_ml=report.get("removed_from_body", {}).get("volume_ml"),
        warnings=len(report.get("warnings", [])) + len(plan.source.get("warnings", [])),
    )


def format_table(rows: list[CohortRow]) -> str:
    """The cohort table as text (one line per patient)."""
    header = (
        f"{'patient':<24} {'status':<8} {'s':>6} {'skin ml':>9} {'bone ml':>8} "
        f"{'fid':>4} {'removed ml':>10} {'warn':>4}  error"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.patient[:24]:<24} {r.status:<8} {r.seconds:>6.1f} {_num(r.skin_ml, 9)} "
            f"{_num(r.bone_ml, 8)} {'' if r.fiducials is None else r.fiducials:>4} "
            f"{_num(r.removed_ml, 10)} {r.warnings:>4}  {r.error}"
        )
    return "\n".join(lines)


def _run(
    jobs: list[tuple[str, str, str, dict[str, Any]]], scheduler: str | None, workers: int
) -> list[CohortRow]:
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="cohort", unit="patient", file=sys.stderr)
    rows: dict[str, CohortRow] = {}
    with bar:
        if workers == 0 and not scheduler:
            for job in jobs:
                rows[job[0]] = plan_one(*job)
                bar.update()
        else:
            from distributed import as_completed

            from registration.accuracy import dask_client

            try:
                with dask_client(scheduler, workers=max(workers, 1)) as client:
                    futures = [
                        client.submit(
                            plan_one, *job, key=f"igcs-plan-{job[0]}-{time.time_ns()}", pure=False
                        )
                        for job in jobs
                    ]
                    for future in as_completed(futures):
                        row = future.result()
                        rows[row.patient] = row
                        bar.update()
            except OSError as error:
                raise UserError(f"cannot reach the Dask scheduler {scheduler}: {error}") from None
    return [rows[job[0]] for job in jobs]


def _list_file(path: Path) -> list[Path]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--cohort {path}: not a readable list of paths ({error}).") from None
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            entry = Path(line).expanduser()
            entries.append(entry if entry.is_absolute() else path.parent / entry)
    if not entries:
        raise UserError(f"--cohort {path}: the list names no patients (one path per line).")
    return entries


def _unique_names(inputs: list[Path]) -> list[str]:
    names: list[str] = []
    for path in inputs:
        base = path.name
        for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)]
                break
        name, n = base or "patient", 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def _write_table(out: Path, rows: list[CohortRow]) -> None:
    fields = list(CohortRow.__dataclass_fields__)
    with atomic_path(out / "cohort.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    write_json_atomic(out / "cohort.json", {"patients": [asdict(r) for r in rows]})


def _num(value: float | None, width: int) -> str:
    return f"{value:>{width}.1f}" if value is not None else " " * width
