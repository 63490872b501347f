"""The engineer's accuracy lab: Monte Carlo studies of fiducial layouts against theory.

- :mod:`~registration.accuracy.study`: the study definition (layouts x FLE levels x trials x
  targets, seed), a frozen value.
- :mod:`~registration.accuracy.engine`: runs it in-process or on Dask, identical numbers.
- :mod:`~registration.accuracy.report`: report.html, results.csv, summary.json, TRE maps.
"""

from registration.accuracy.engine import CaseResult, StudyResults, dask_client, run_study
from registration.accuracy.report import SurfaceTREMap, surface_tre_maps, write_report
from registration.accuracy.study import AccuracyStudy, Layout, StudyCase, StudyTarget

__all__ = [
    "AccuracyStudy",
    "CaseResult",
    "Layout",
    "StudyCase",
    "StudyResults",
    "StudyTarget",
    "SurfaceTREMap",
    "dask_client",
    "run_study",
    "surface_tre_maps",
    "write_report",
]
