"""A plan folder for the app tests: the small ellipsoid-head plan of
``tests/navigation/simple_plan.py`` plus its label map (``labels.nii.gz``, skin 1 and tumour 2
on the plan's 2 mm grid, written with SimpleITK) so the slice views have something to cut.

Replace with the planning slice's ``phantom_plan`` fixture when it is on main.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from tests.navigation import simple_plan


def write_navigation_plan(folder: Path) -> Path:
    """Write the plan folder (meshes, plan.json, labels.nii.gz) and return it."""
    simple_plan.write_simple_plan(folder)
    payload = json.loads((folder / "plan.json").read_text())
    geometry = payload["geometry"]
    size = geometry["size_ijk"]
    origin = np.asarray(geometry["origin_lps_mm"], dtype=float)
    spacing = np.asarray(geometry["spacing_mm"], dtype=float)
    k, j, i = np.meshgrid(*(np.arange(n) for n in size[::-1]), indexing="ij")
    x, y, z = (origin[a] + spacing[a] * idx for a, idx in enumerate((i, j, k)))
    a, b, c = simple_plan.HEAD_SEMI_AXES_MM
    labels = np.zeros(tuple(size[::-1]), np.uint8)
    labels[(x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= 1.0] = 1
    centre = simple_plan.TUMOUR_CENTRE_LPS_MM
    inside = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
    labels[inside <= simple_plan.TUMOUR_RADIUS_MM**2] = 2
    image = sitk.GetImageFromArray(labels)
    image.SetOrigin(tuple(origin))
    image.SetSpacing(tuple(spacing))
    sitk.WriteImage(image, str(folder / "labels.nii.gz"))
    payload["files"] = {"nifti": "labels.nii.gz"}
    (folder / "plan.json").write_text(json.dumps(payload, indent=2))
    return folder
