"""Simulation, apart from the clinical path: the tracking scenario PLUS would stream, the
simulated pointer and camera motion, and the NIR frames of the simulated camera.

Only ``igcs simulate``, ``igcs demo`` and the tests import it: an import-linter contract keeps
the app, tracking, imaging and planning from ever loading it in the operating room.
"""
