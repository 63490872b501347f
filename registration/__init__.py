"""Point and surface registration, target registration error, calibration and accuracy studies.

The bottom layer of igcs: numpy and scipy only (OpenCV for camera calibration, Dask and
matplotlib for accuracy studies). No VTK, no GUI, no sockets (an import-linter contract in
``pyproject.toml`` keeps it so).

Conventions: millimetres; patient/image coordinates are LPS; a 4x4 rigid transform named
``a_from_b`` maps points in frame ``b`` into frame ``a``.
"""
