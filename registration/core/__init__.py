"""The shared core every package of igcs stands on: the one error type and the array
checks at public boundaries (:mod:`registration.core.checks`), rigid transforms
``a_from_b`` (:mod:`registration.core.transforms`), the voxel grid's ``lps_from_ijk``
(:mod:`registration.core.geometry`) and atomic file writes
(:mod:`registration.core.atomic_files`). numpy and scipy only; it imports nothing else of
igcs (import-linter contract).
"""
