"""The tests' one plan-folder factory: an analytic head written as a plan folder.

A head is an ellipsoid skin, a spherical tumour and six fiducials on the face, all in LPS mm,
so tests can compare against exact truth. The folder is written with the plan writer's own
pieces (the schema of :mod:`navigation.planning.plan`, meshes through
:func:`navigation.planning.meshing.save_mesh`, ``plan.json`` through
:func:`registration.core.atomic_files.write_json_atomic`) and read back with
:func:`navigation.planning.plan.load_plan`, so a folder the reader would refuse fails here.
The meshes are the analytic surfaces themselves, not marched from a label map: that is what
makes the truth exact. The plans the planner makes from scans are tested in
``tests/navigation/planning``.

Two heads:

- :data:`ORIGIN_HEAD`: centred at the LPS origin, fiducials F1-F6 where rays from the centre
  meet the skin (tracking, simulator, fluorescence and app tests; with ``label_map=True`` also
  a ``labels.nii.gz`` for the slice views);
- :data:`SCANNER_HEAD`: a scanner-like position far from the origin, named fiducials, a neck
  target besides the tumour (command tests: ``igcs register``, ``igcs accuracy``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyvista
import SimpleITK as sitk

from navigation.planning.meshing import save_mesh
from navigation.planning.plan import PLAN_SCHEMA, PLAN_SCHEMA_VERSION, load_plan
from registration.core.atomic_files import write_json_atomic


def ellipsoid_point(direction, semi_axes_mm=(75.0, 95.0, 115.0)) -> np.ndarray:
    """Where the ray from the centre along ``direction`` meets the ellipsoid surface."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    scale = 1.0 / np.sqrt(np.sum((d / np.asarray(semi_axes_mm)) ** 2))
    return d * scale


@dataclass(frozen=True, eq=False)
class Head:
    """An analytic head and the plan folder written of it (positions LPS mm)."""

    centre_lps_mm: np.ndarray
    semi_axes_mm: tuple[float, float, float]  # left-right, posterior-anterior, inferior-superior
    tumour_centre_lps_mm: np.ndarray
    tumour_radius_mm: float
    fiducial_names: tuple[str, ...]
    fiducials_lps_mm: np.ndarray  # (6, 3)
    grid_size_ijk: tuple[int, int, int]
    grid_origin_lps_mm: np.ndarray
    grid_spacing_mm: tuple[float, float, float]
    skin_resolution: dict[str, int]  # pyvista.ParametricEllipsoid's u_res, v_res, w_res
    clean_skin: bool  # triangulate and merge the ellipsoid's seam points
    tumour_resolution: dict[str, int] = field(default_factory=dict)  # pyvista.Sphere's
    tumour_volume_ml: float | None = None  # None: the sphere's exact volume
    tumour_seed: bool = False  # record the tumour centre as its seed
    other_targets: tuple[tuple[str, tuple[float, float, float]], ...] = ()
    source: dict[str, Any] | None = None

    def skin_mesh(self) -> pyvista.PolyData:
        skin = pyvista.ParametricEllipsoid(*self.semi_axes_mm, **self.skin_resolution)
        if self.clean_skin:
            skin = skin.triangulate().clean()
        return skin.translate(self.centre_lps_mm) if np.any(self.centre_lps_mm) else skin

    def tumour_mesh(self) -> pyvista.PolyData:
        return pyvista.Sphere(
            radius=self.tumour_radius_mm,
            center=self.tumour_centre_lps_mm,
            **self.tumour_resolution,
        )

    def label_map(self) -> np.ndarray:
        """(k, j, i) uint8 on the plan's grid: skin 1, tumour 2, outside 0."""
        origin = self.grid_origin_lps_mm
        spacing = self.grid_spacing_mm
        k, j, i = np.meshgrid(*(np.arange(n) for n in self.grid_size_ijk[::-1]), indexing="ij")
        x, y, z = (origin[a] + spacing[a] * idx for a, idx in enumerate((i, j, k)))
        x, y, z = x - self.centre_lps_mm[0], y - self.centre_lps_mm[1], z - self.centre_lps_mm[2]
        a, b, c = self.semi_axes_mm
        labels = np.zeros(tuple(self.grid_size_ijk[::-1]), np.uint8)
        labels[(x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= 1.0] = 1
        t = self.tumour_centre_lps_mm - self.centre_lps_mm
        inside = (x - t[0]) ** 2 + (y - t[1]) ** 2 + (z - t[2]) ** 2
        labels[inside <= self.tumour_radius_mm**2] = 2
        return labels


_DIRECTIONS = (
    (0.0, -1.0, 0.3),  # nasion
    (0.8, -0.6, 0.1),  # zygomas
    (-0.8, -0.6, 0.1),
    (0.0, -1.0, -0.6),  # chin
    (0.6, -0.5, -0.7),  # mandible
    (-0.6, -0.5, -0.7),
)
ORIGIN_HEAD = Head(
    centre_lps_mm=np.zeros(3),
    semi_axes_mm=(75.0, 95.0, 115.0),
    tumour_centre_lps_mm=np.array([20.0, -70.0, -30.0]),
    tumour_radius_mm=10.0,
    fiducial_names=tuple(f"F{i + 1}" for i in range(len(_DIRECTIONS))),
    fiducials_lps_mm=np.array([ellipsoid_point(d) for d in _DIRECTIONS]),
    grid_size_ijk=(128, 128, 128),
    grid_origin_lps_mm=np.array([-127.0, -127.0, -127.0]),
    grid_spacing_mm=(2.0, 2.0, 2.0),
    skin_resolution={"u_res": 90, "v_res": 90},
    clean_skin=True,
    source={"kind": "file", "path": "synthetic", "modality": "CT"},
)

_SCANNER_CENTRE = np.array([10.0, 220.0, -480.0])
SCANNER_HEAD = Head(
    centre_lps_mm=_SCANNER_CENTRE,
    semi_axes_mm=(75.0, 95.0, 115.0),
    tumour_centre_lps_mm=_SCANNER_CENTRE + np.array([25.0, -50.0, -55.0]),
    tumour_radius_mm=12.0,
    fiducial_names=("nasion", "zygoma L", "zygoma R", "mandible L", "mandible R", "chin"),
    fiducials_lps_mm=_SCANNER_CENTRE
    + np.array(
        [[0, -95, 30], [60, -60, 5], [-60, -60, 5], [50, -10, -60], [-50, -10, -60], [0, -85, -75]],
        dtype=float,
    ),
    grid_size_ijk=(128, 128, 100),
    grid_origin_lps_mm=_SCANNER_CENTRE - np.array([127.0, 127.0, 125.0]),
    grid_spacing_mm=(2.0, 2.0, 2.5),
    skin_resolution={"u_res": 60, "v_res": 60, "w_res": 60},
    clean_skin=False,
    tumour_resolution={"theta_resolution": 24},
    tumour_volume_ml=7.2,
    tumour_seed=True,
    other_targets=(("neck level II L", tuple(_SCANNER_CENTRE + np.array([45.0, 0.0, -100.0]))),),
)


def write_plan(
    root: Path, head: Head = ORIGIN_HEAD, *, with_tumour: bool = True, label_map: bool = False
) -> Path:
    """Write the plan folder of ``head`` at ``root`` (created) and return ``root``.

    with_tumour : a tumour label, mesh, record and target; label_map : also ``labels.nii.gz``.
    """
    (root / "meshes").mkdir(parents=True, exist_ok=True)
    save_mesh(head.skin_mesh(), root / "meshes" / "skin.vtp")
    labels = [{"name": "skin", "value": 1, "color": [0.9, 0.7, 0.6], "mesh": "meshes/skin.vtp"}]
    targets = [{"name": name, "position_lps_mm": list(p)} for name, p in head.other_targets]
    tumour: dict[str, Any] | None = None
    if with_tumour:
        save_mesh(head.tumour_mesh(), root / "meshes" / "tumour.vtp")
        labels.append(
            {"name": "tumour", "value": 2, "color": [1, 0, 0], "mesh": "meshes/tumour.vtp"}
        )
        centre = head.tumour_centre_lps_mm.tolist()
        volume_ml = head.tumour_volume_ml
        if volume_ml is None:
            volume_ml = 4.0 / 3.0 * np.pi * head.tumour_radius_mm**3 / 1000.0
        tumour = {"label": "tumour", "centroid_lps_mm": centre, "volume_ml": volume_ml}
        if head.tumour_seed:
            tumour["seed_lps_mm"] = centre
        targets.insert(0, {"name": "tumour centroid", "position_lps_mm": centre})
    files: dict[str, str] = {}
    if label_map:
        image = sitk.GetImageFromArray(head.label_map())
        image.SetOrigin(tuple(head.grid_origin_lps_mm))
        image.SetSpacing(tuple(head.grid_spacing_mm))
        sitk.WriteImage(image, str(root / "labels.nii.gz"))
        files["nifti"] = "labels.nii.gz"
    payload: dict[str, Any] = {
        "schema": PLAN_SCHEMA,
        "schema_version": PLAN_SCHEMA_VERSION,
        "coordinate_system": "LPS",
        "units": "mm",
        "geometry": {
            "size_ijk": list(head.grid_size_ijk),
            "origin_lps_mm": head.grid_origin_lps_mm.tolist(),
            "spacing_mm": list(head.grid_spacing_mm),
            "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1],
        },
        "labels": labels,
        "files": files,
        "fiducials": [
            {"name": n, "position_lps_mm": p.tolist()}
            for n, p in zip(head.fiducial_names, head.fiducials_lps_mm, strict=True)
        ],
        "tumour": tumour,
        "targets": targets,
    }
    if head.source is not None:
        payload["source"] = head.source
    write_json_atomic(root / "plan.json", payload)
    load_plan(root)  # the reader accepts what was written
    return root
