"""Run an :class:`~registration.accuracy.study.AccuracyStudy`: in-process or on Dask.

Work is cut into chunks of ``study.chunk_trials`` trials per case. Chunk ``k`` (in case order)
draws its noise from ``numpy.random.default_rng(SeedSequence(study.seed).spawn(K)[k])``, so
the chunking and every random number are fixed by the study alone: the in-process path and a
Dask cluster (local or remote, any number of workers) return identical arrays. Each chunk runs
the batched kernel :func:`registration.tre_simulation.simulate_registration_errors`. Progress
is shown with tqdm on stderr.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from registration.accuracy.study import AccuracyStudy, StudyCase
from registration.core.checks import Float64Array
from registration.optional_dependencies import require_extra
from registration.tre import expected_fre_rms, isotropic_covariance, predict_tre_rms
from registration.tre_simulation import noise_factors, simulate_registration_errors


@dataclass(frozen=True)
class CaseResult:
    """Simulated and predicted errors of one case.

    fre_mm : (T,) RMS FRE of each trial, mm.
    tre_mm : (T, M) TRE magnitude at each target in each trial, mm.
    fre_rms_predicted_mm : sqrt((1 - 2/N) <FLE^2>), mm (Fitzpatrick et al. 1998).
    tre_rms_predicted_mm : (M,) Fitzpatrick, West & Maurer 1998 at each target, mm.
    """

    case: StudyCase
    fre_mm: Float64Array
    tre_mm: Float64Array
    fre_rms_predicted_mm: float
    tre_rms_predicted_mm: Float64Array

    @property
    def fre_rms_mm(self) -> float:
        """sqrt(mean FRE^2) over trials, mm."""
        return float(np.sqrt(np.mean(self.fre_mm**2)))

    @property
    def tre_rms_mm(self) -> Float64Array:
        """(M,) sqrt(mean TRE^2) over trials at each target, mm."""
        return np.sqrt(np.mean(self.tre_mm**2, axis=0))

    def tre_percentile_mm(self, q: float) -> Float64Array:
        """(M,) the q-th percentile of TRE at each target, mm."""
        return np.percentile(self.tre_mm, q, axis=0)

    @property
    def fre_tre_correlation(self) -> Float64Array:
        """(M,) Pearson correlation of FRE with TRE at each target over trials."""
        fre = self.fre_mm - self.fre_mm.mean()
        tre = self.tre_mm - self.tre_mm.mean(axis=0)
        denominator = np.sqrt((fre**2).sum() * (tre**2).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray((fre @ tre) / denominator)


@dataclass(frozen=True)
class StudyResults:
    """All cases of a study, in :meth:`AccuracyStudy.cases` order; ``cases[0]`` is the main
    case (first layout, first FLE level)."""

    study: AccuracyStudy
    cases: tuple[CaseResult, ...]

    @property
    def main(self) -> CaseResult:
        return self.cases[0]


@dataclass(frozen=True)
class _Chunk:
    case_index: int
    trials: int
    seed: np.random.SeedSequence


def plan_chunks(study: AccuracyStudy) -> tuple[_Chunk, ...]:
    """The study's chunks in a fixed order, each with its own spawned seed."""
    sizes = [
        (case.index, min(study.chunk_trials, study.trials - start))
        for case in study.cases()
        for start in range(0, study.trials, study.chunk_trials)
    ]
    seeds = np.random.SeedSequence(study.seed).spawn(len(sizes))
    return tuple(_Chunk(c, n, s) for (c, n), s in zip(sizes, seeds, strict=True))


def run_chunk(
    fiducials: Float64Array,
    targets: Float64Array,
    fle_rms_mm: float,
    fle_image_rms_mm: float,
    trials: int,
    seed: np.random.SeedSequence,
) -> tuple[Float64Array, Float64Array]:
    """Simulate one chunk: returns FRE (T,) and TRE magnitudes (T, M), mm. Runs on workers."""
    n = len(fiducials)
    tracker = noise_factors(np.broadcast_to(isotropic_covariance(fle_rms_mm), (n, 3, 3)))
    image = (
        noise_factors(np.broadcast_to(isotropic_covariance(fle_image_rms_mm), (n, 3, 3)))
        if fle_image_rms_mm > 0
        else None
    )
    sim = simulate_registration_errors(
        fiducials, targets, tracker, image, trials, np.random.default_rng(seed)
    )
    return sim.fre_rms_mm, np.linalg.norm(sim.target_errors_mm, axis=2)


def run_study(study: AccuracyStudy, *, client: Any = None, progress: bool = True) -> StudyResults:
    """Run every chunk of ``study``; in-process when ``client`` is None, else on that
    ``distributed.Client``. Same study, same numbers either way."""
    chunks = plan_chunks(study)
    cases = study.cases()
    targets = study.target_positions_lps_mm
    outputs: list[tuple[Float64Array, Float64Array] | None] = [None] * len(chunks)
    bar = tqdm(
        total=study.trials * len(cases),
        unit="trial",
        unit_scale=True,
        disable=not progress,
        desc="Monte Carlo",
    )
    with bar:
        if client is None:
            for k, chunk in enumerate(chunks):
                outputs[k] = _run(cases[chunk.case_index], targets, chunk)
                bar.update(chunk.trials)
        else:
            from distributed import as_completed

            run_id = uuid.uuid4().hex
            futures = {
                client.submit(
                    _run, cases[chunk.case_index], targets, chunk, key=f"igcs-mc-{run_id}-{k}"
                ): k
                for k, chunk in enumerate(chunks)
            }
            for future in as_completed(futures):
                k = futures[future]
                outputs[k] = future.result()
                bar.update(chunks[k].trials)
    results = []
    for case in cases:
        parts = [
            out
            for chunk, out in zip(chunks, outputs, strict=True)
            if chunk.case_index == case.index
        ]
        fre = np.concatenate([p[0] for p in parts if p is not None])
        tre = np.concatenate([p[1] for p in parts if p is not None])
        fiducials = case.layout.fiducials_lps_mm
        results.append(
            CaseResult(
                case=case,
                fre_mm=fre,
                tre_mm=tre,
                fre_rms_predicted_mm=expected_fre_rms(len(fiducials), case.fle_total_rms_mm),
                tre_rms_predicted_mm=predict_tre_rms(
                    fiducials, targets, fle_rms_mm=case.fle_total_rms_mm
                ),
            )
        )
    return StudyResults(study, tuple(results))


def _run(
    case: StudyCase, targets: Float64Array, chunk: _Chunk
) -> tuple[Float64Array, Float64Array]:
    return run_chunk(
        np.asarray(case.layout.fiducials_lps_mm),
        targets,
        case.fle_rms_mm,
        case.fle_image_rms_mm,
        chunk.trials,
        chunk.seed,
    )


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None, *, workers: int = 2, processes: bool = True
) -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``scheduler`` ("tcp://HOST:PORT") when given,
    else to a new local cluster of ``workers`` single-threaded workers (closed on exit)."""
    require_extra("dask", alternative="or run the study in this process (--workers 0)")
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="10s") as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
