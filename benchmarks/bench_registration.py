"""Speed of point registration, TRE prediction and the Monte Carlo accuracy engine.

Run from the project root: ``python benchmarks/bench_registration.py``. Prints a table of
median wall times (best of a few repeats for the long ones) against the issue's targets:
TRE map over 200k vertices <= 20 ms; 10^5 Monte Carlo trials <= 5 s.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registration.accuracy import (
    AccuracyStudy,
    Layout,
    StudyTarget,
    dask_client,
    run_study,
)
from registration.core.transforms import apply_transform, random_rigid
from registration.point_registration import (
    RegistrationWarning,
    fit_rigid_batch,
    register_points,
)
from registration.tre import (
    isotropic_covariance,
    predict_tre_covariance,
    predict_tre_rms,
)

HEAD = np.array(
    [[0, -95, 30], [60, -60, 5], [-60, -60, 5], [50, -10, -60], [-50, -10, -60], [0, -85, -75]],
    dtype=float,
) + np.array([10.0, 220.0, -480.0])
TARGETS = HEAD.mean(axis=0) + np.array([[25, -50, -55], [45, 0, -100], [0, -20, 90], [0, 90, 0]])


def timed(function: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    rng = np.random.default_rng(1)
    rows: list[tuple[str, float, str]] = []
    warnings.simplefilter("ignore", RegistrationWarning)
    for n, repeats in ((6, 2000), (1000, 20)):
        image = rng.uniform(-100, 100, (n, 3))
        tracker = apply_transform(random_rigid(rng), image) + rng.normal(0, 0.2, (n, 3))
        rows.append(
            (
                f"register_points, {n} points (with leave-one-out)",
                timed(lambda t=tracker, i=image: register_points(t, i, fle_rms_mm=0.35), repeats),
                "",
            )
        )
        rows.append(
            (
                f"fit only (Arun/Umeyama SVD), {n} points",
                timed(lambda t=tracker, i=image: fit_rigid_batch(t[None], i[None]), repeats),
                "",
            )
        )
        try:
            from sksurgerycore.algorithms.procrustes import orthogonal_procrustes

            rows.append(
                (
                    f"scikit-surgerycore orthogonal_procrustes, {n} points",
                    timed(lambda t=tracker, i=image: orthogonal_procrustes(i, t), repeats),
                    "",
                )
            )
        except ImportError:
            pass

    vertices = rng.uniform(-150, 150, (200_000, 3)) + HEAD.mean(axis=0)
    predict_tre_rms(HEAD, vertices, fle_rms_mm=0.3)
    rows.append(
        (
            "TRE map, isotropic (FWM 1998), 200k vertices",
            timed(lambda: predict_tre_rms(HEAD, vertices, fle_rms_mm=0.3), 30),
            "<= 20 ms",
        )
    )
    rows.append(
        (
            "TRE covariance, first-order, 200k vertices",
            timed(
                lambda: predict_tre_covariance(
                    HEAD, vertices, fle_covariances_mm2=isotropic_covariance(0.3)
                ),
                5,
            ),
            "",
        )
    )

    study = AccuracyStudy(
        layouts=(Layout.from_points("head", HEAD),),
        fle_rms_mm=(0.3,),
        targets=tuple(StudyTarget(f"T{i}", t) for i, t in enumerate(TARGETS)),
        trials=100_000,
        seed=0,
        drop_each_fiducial=False,
    )
    in_process = timed(lambda: run_study(study, progress=False), 3)
    rows.append(
        ("Monte Carlo 10^5 trials, 6 fiducials, 4 targets, in-process", in_process, "<= 5 s")
    )
    with dask_client(workers=2) as client:
        run_study(study, client=client, progress=False)  # warm the workers
        on_dask = timed(lambda: run_study(study, client=client, progress=False), 3)
    rows.append(("Monte Carlo 10^5 trials on a local 2-worker Dask cluster", on_dask, "<= 5 s"))

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'time':>12}  target")
    for name, seconds, target in rows:
        shown = f"{seconds * 1e3:9.3f} ms" if seconds < 1 else f"{seconds:10.3f} s"
        print(f"{name:<{width}}  {shown:>12}  {target}")
    print(
        f"Monte Carlo throughput: {1e5 / in_process:,.0f} trials/s in-process, "
        f"{1e5 / on_dask:,.0f} trials/s on Dask (2 workers)"
    )


if __name__ == "__main__":
    main()
