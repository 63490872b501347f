"""Simulation, apart from the clinical path: the tracking scenario PLUS would stream, the
simulated pointer and camera motion, the NIR frames of the simulated camera, the phantom (its
CT/MR and analytic anatomy, the sample data), the NIR scene the camera sees (the phantom's
tracer patch, real tissue) and the evaluators that score a map against that truth.

Only ``igcs simulate``, ``igcs phantom``, ``igcs demo``, the evaluation wiring of ``igcs
navigate`` and ``igcs fluorescence``, and the tests import it: an import-linter contract keeps
the app, tracking, imaging, planning, fluorescence and review from ever loading it in the
operating room.
"""
