"""A small plan folder for command tests: plan.json (navigation.planning.plan schema), an
ellipsoid skin and a sphere tumour saved with pyvista (vertices LPS mm), six fiducials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyvista

#: Skin ellipsoid semi-axes (L, P, S) in mm and its centre, LPS.
SKIN_RADII = np.array([75.0, 95.0, 115.0])
CENTRE = np.array([10.0, 220.0, -480.0])  # scanner-like, far from the origin
TUMOUR_CENTRE = CENTRE + np.array([25.0, -50.0, -55.0])
FIDUCIAL_NAMES = ("nasion", "zygoma L", "zygoma R", "mandible L", "mandible R", "chin")
#: Fiducials on the face (relative to CENTRE), LPS mm.
FIDUCIALS = CENTRE + np.array(
    [[0, -95, 30], [60, -60, 5], [-60, -60, 5], [50, -10, -60], [-50, -10, -60], [0, -85, -75]],
    dtype=float,
)


def make_plan(root: Path, *, with_tumour: bool = True) -> Path:
    """Write the plan folder at ``root``; returns ``root``."""
    (root / "meshes").mkdir(parents=True)
    skin = pyvista.ParametricEllipsoid(*SKIN_RADII, u_res=60, v_res=60, w_res=60).translate(CENTRE)
    skin.save(root / "meshes" / "skin.vtp")
    labels = [{"name": "skin", "value": 1, "color": [0.9, 0.7, 0.6], "mesh": "meshes/skin.vtp"}]
    payload = {
        "schema": "igcs-plan",
        "schema_version": 1,
        "coordinate_system": "LPS",
        "units": "mm",
        "geometry": {
            "size_ijk": [128, 128, 100],
            "origin_lps_mm": (CENTRE - [127, 127, 125]).tolist(),
            "spacing_mm": [2.0, 2.0, 2.5],
            "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1],
        },
        "labels": labels,
        "files": {},
        "fiducials": [
            {"name": n, "position_lps_mm": p.tolist()}
            for n, p in zip(FIDUCIAL_NAMES, FIDUCIALS, strict=True)
        ],
        "tumour": None,
        "targets": [
            {
                "name": "neck level II L",
                "position_lps_mm": (CENTRE + np.array([45.0, 0.0, -100.0])).tolist(),
            }
        ],
    }
    if with_tumour:
        tumour = pyvista.Sphere(radius=12.0, center=TUMOUR_CENTRE, theta_resolution=24)
        tumour.save(root / "meshes" / "tumour.vtp")
        labels.append(
            {"name": "tumour", "value": 2, "color": [1, 0, 0], "mesh": "meshes/tumour.vtp"}
        )
        payload["tumour"] = {
            "label": "tumour",
            "centroid_lps_mm": TUMOUR_CENTRE.tolist(),
            "volume_ml": 7.2,
            "seed_lps_mm": TUMOUR_CENTRE.tolist(),
        }
        payload["targets"].insert(
            0, {"name": "tumour centroid", "position_lps_mm": TUMOUR_CENTRE.tolist()}
        )
    (root / "plan.json").write_text(json.dumps(payload, indent=2))
    return root
