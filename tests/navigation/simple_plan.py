"""A small plan folder for tracking tests: an ellipsoid head, a spherical tumour, 6 fiducials.

Written per ``navigation/planning/plan.py`` (plan.json + meshes/*.vtp, LPS mm) until the
planning slice's ``phantom_plan`` fixtures exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyvista as pv

#: Semi-axes of the head (mm): left-right, posterior-anterior, inferior-superior.
HEAD_SEMI_AXES_MM = (75.0, 95.0, 115.0)
TUMOUR_CENTRE_LPS_MM = (20.0, -70.0, -30.0)
TUMOUR_RADIUS_MM = 10.0
#: Directions (LPS) of the fiducials from the head centre: nasion, zygomas, mandible, ...
FIDUCIAL_DIRECTIONS = (
    (0.0, -1.0, 0.3),
    (0.8, -0.6, 0.1),
    (-0.8, -0.6, 0.1),
    (0.0, -1.0, -0.6),
    (0.6, -0.5, -0.7),
    (-0.6, -0.5, -0.7),
)


def ellipsoid_point(direction) -> np.ndarray:
    """Where the ray from the centre along ``direction`` meets the ellipsoid surface."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    scale = 1.0 / np.sqrt(np.sum((d / np.asarray(HEAD_SEMI_AXES_MM)) ** 2))
    return d * scale


def write_simple_plan(folder: Path) -> Path:
    """Write the plan folder and return it."""
    meshes = folder / "meshes"
    meshes.mkdir(parents=True, exist_ok=True)
    skin = pv.ParametricEllipsoid(*HEAD_SEMI_AXES_MM, u_res=90, v_res=90).triangulate().clean()
    skin.save(meshes / "skin.vtp")
    tumour = pv.Sphere(radius=TUMOUR_RADIUS_MM, center=TUMOUR_CENTRE_LPS_MM)
    tumour.save(meshes / "tumour.vtp")
    fiducials = [ellipsoid_point(d) for d in FIDUCIAL_DIRECTIONS]
    volume_ml = 4.0 / 3.0 * np.pi * TUMOUR_RADIUS_MM**3 / 1000.0
    plan = {
        "schema": "igcs-plan",
        "schema_version": 1,
        "coordinate_system": "LPS",
        "units": "mm",
        "source": {"kind": "file", "path": "synthetic", "modality": "CT"},
        "geometry": {
            "size_ijk": [128, 128, 128],
            "origin_lps_mm": [-127.0, -127.0, -127.0],
            "spacing_mm": [2.0, 2.0, 2.0],
            "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1],
        },
        "labels": [
            {"name": "skin", "value": 1, "color": [0.9, 0.7, 0.6], "mesh": "meshes/skin.vtp"},
            {"name": "tumour", "value": 2, "color": [1, 0, 0], "mesh": "meshes/tumour.vtp"},
        ],
        "files": {},
        "fiducials": [
            {"name": f"F{i + 1}", "position_lps_mm": p.tolist()} for i, p in enumerate(fiducials)
        ],
        "tumour": {
            "label": "tumour",
            "centroid_lps_mm": list(TUMOUR_CENTRE_LPS_MM),
            "volume_ml": volume_ml,
        },
        "targets": [{"name": "tumour centroid", "position_lps_mm": list(TUMOUR_CENTRE_LPS_MM)}],
    }
    (folder / "plan.json").write_text(json.dumps(plan, indent=2))
    return folder
