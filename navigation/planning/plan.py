"""The plan folder's contract: ``PLAN/plan.json`` and what it points to, read into :class:`Plan`.

Layout written by ``igcs plan`` (all positions LPS mm)::

    PLAN/plan.json            this schema (see PLAN_SCHEMA_VERSION)
    PLAN/labels.seg.nrrd      Slicer segmentation (space left-posterior-superior)
    PLAN/labels.nii.gz        the same label map as NIfTI
    PLAN/image.nii.gz         the planning image (CT HU / MR) on the labels' grid, for the
                              slice views (plans made before it was kept have none)
    PLAN/meshes/<name>.vtp    one surface per label, vertices in LPS mm (also <name>.stl)
    PLAN/fiducials.mrk.json   Slicer markups (coordinateSystem stated)

``plan.json`` fields::

    schema: "igcs-plan", schema_version: 1, software_version, created_utc,
    coordinate_system: "LPS", units: "mm",
    source: {kind: "dicom"|"file", path, modality, series_instance_uid, study_instance_uid,
             frame_of_reference_uid, files: [{name, sha256}]},
    geometry: ImageGeometry.to_dict() of the planning volume,
    labels: [{name, value, color: [r, g, b] in 0..1, mesh: "meshes/<name>.vtp" | null,
              volume_ml}],
    files: {seg_nrrd, nifti, image, fiducials},
    image: {file, modality, dtype, sha256} | null   (absent in older plans)
    fiducials: [{name, position_lps_mm: [x, y, z]}],
    tumour: {label, centroid_lps_mm, volume_ml, seed_lps_mm, source} | null,
    targets: [{name, position_lps_mm}]     (the tumour centroid first, when there is one)

Optional blocks, present when the plan used other sources (``igcs plan --pet/--rtstruct/
--segmentation/--fiducials``; ``tumour.source`` then names the one it came from)::

    pet: {suv_max, suv_mean, mtv_ml, threshold_suv, threshold_fraction_of_suv_max, peak_lps_mm,
          centroid_lps_mm, found, foci, excluded, suv_calibration, ...}  (files.pet_tumour: png)
    rtstruct / segmentation_import: {file, imported: [{name, source, ...}], skipped, ...}
    landmarks: {file, file_coordinate_system, names, distance_to_skin_mm, ...}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registration.core.checks import Float64Array, InputError, check_points
from registration.core.geometry import ImageGeometry

PLAN_SCHEMA = "igcs-plan"
PLAN_SCHEMA_VERSION = 1
#: The planning image kept in the plan folder (NIfTI, LPS geometry through SimpleITK).
IMAGE_FILE = "image.nii.gz"


@dataclass(frozen=True)
class LabelEntry:
    """One row of the label table: name, integer value, display colour (r, g, b in 0..1)."""

    name: str
    value: int
    color: tuple[float, float, float]
    mesh: str | None = None  # path relative to the plan folder
    volume_ml: float | None = None


@dataclass(frozen=True)
class Target:
    """A named point of interest in LPS mm (the tumour centroid, a node...)."""

    name: str
    position_lps_mm: Float64Array


@dataclass(frozen=True)
class Plan:
    """A loaded plan folder. Paths are absolute; positions are LPS mm."""

    root: Path
    geometry: ImageGeometry
    labels: tuple[LabelEntry, ...]
    fiducial_names: tuple[str, ...]
    fiducials_lps_mm: Float64Array  # (N, 3)
    targets: tuple[Target, ...]
    tumour_centroid_lps_mm: Float64Array | None
    tumour_volume_ml: float | None
    source: dict[str, Any]
    raw: dict[str, Any]

    def label(self, name: str) -> LabelEntry:
        """The label table row called ``name``; clear error when absent."""
        for entry in self.labels:
            if entry.name == name:
                return entry
        known = ", ".join(e.name for e in self.labels)
        raise InputError(f"plan {self.root} has no label {name!r} (labels: {known}).")

    def mesh_path(self, name: str) -> Path:
        """Absolute path of label ``name``'s mesh (``.vtp``, LPS mm)."""
        entry = self.label(name)
        if entry.mesh is None:
            raise InputError(f"plan {self.root}: label {name!r} has no mesh.")
        return self.root / entry.mesh

    def read_mesh(self, name: str) -> Any:
        """Label ``name``'s surface mesh as ``pyvista.PolyData`` (vertices LPS mm), with a clear
        error when the file is missing, unreadable or has no triangles."""
        return read_plan_mesh(self.mesh_path(name))

    @property
    def image_path(self) -> Path | None:
        """Absolute path of the planning image kept in the plan, or None (a label-map plan,
        or a plan made before the image was kept)."""
        name = (self.raw.get("files") or {}).get("image")
        return None if not name else self.root / str(name)

    @property
    def image_sha256(self) -> str | None:
        """SHA-256 of the planning image file as written, or None when not recorded."""
        block = self.raw.get("image") or {}
        digest = block.get("sha256")
        return None if digest is None else str(digest)

    def file_path(self, key: str) -> Path:
        """Absolute path of one of ``plan.json``'s ``files`` (seg_nrrd, nifti, fiducials)."""
        files = self.raw.get("files", {})
        if key not in files:
            raise InputError(f"plan {self.root}: plan.json lists no file {key!r}.")
        return self.root / files[key]


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise InputError(
            f"{where} is missing the field {key!r}; re-create the plan with igcs plan."
        )
    return mapping[key]


def read_plan_mesh(path: Path) -> Any:
    """A plan mesh file (``.vtp``/``.stl``, LPS mm) as ``pyvista.PolyData`` (read with pyvista);
    clear errors for a missing or corrupt file or one without surface triangles."""
    import pyvista as pv
    import vtk

    if not path.is_file():
        raise InputError(f"mesh {path} does not exist; re-create the plan with igcs plan.")
    # A corrupt file makes VTK's readers print pages of errors and return an empty mesh: read
    # quietly and say it once, below.
    shown = vtk.vtkObject.GetGlobalWarningDisplay()
    vtk.vtkObject.GlobalWarningDisplayOff()
    try:
        mesh = pv.read(path)
    except Exception as error:  # VTK readers raise assorted errors on corrupt files
        raise InputError(f"cannot read mesh {path}: {error}") from None
    finally:
        vtk.vtkObject.SetGlobalWarningDisplay(shown)
    surface = mesh if isinstance(mesh, pv.PolyData) else mesh.extract_surface()
    if surface.n_points < 3 or surface.GetNumberOfPolys() == 0:
        raise InputError(f"mesh {path} has no surface triangles; it is empty or corrupt.")
    return surface


def load_plan(path: str | Path) -> Plan:
    """Read a plan folder (or its ``plan.json``) and validate it.

    Raises :class:`InputError` naming the file and field when something is missing or wrong.
    """
    root = Path(path)
    if root.is_file():
        root = root.parent
    plan_json = root / "plan.json"
    if not plan_json.is_file():
        raise InputError(
            f"{root} is not a plan folder (no plan.json); create one with `igcs plan INPUT --out "
            f"{root}`."
        )
    try:
        raw = json.loads(plan_json.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{plan_json} is not valid JSON ({error}); re-create the plan.") from None
    where = str(plan_json)
    if raw.get("schema") != PLAN_SCHEMA:
        raise InputError(f"{where}: schema is {raw.get('schema')!r}, expected {PLAN_SCHEMA!r}.")
    version = raw.get("schema_version")
    if version != PLAN_SCHEMA_VERSION:
        raise InputError(
            f"{where}: schema_version {version!r} is not supported (this igcs reads "
            f"{PLAN_SCHEMA_VERSION}); re-create the plan with this version of igcs."
        )
    if raw.get("coordinate_system") != "LPS" or raw.get("units") != "mm":
        raise InputError(f"{where}: coordinate_system/units must be LPS/mm.")
    g = _require(raw, "geometry", where)
    geometry = ImageGeometry(
        size_ijk=tuple(g["size_ijk"]),
        origin_lps_mm=np.asarray(g["origin_lps_mm"], dtype=np.float64),
        spacing_mm=np.asarray(g["spacing_mm"], dtype=np.float64),
        direction=np.asarray(g["direction"], dtype=np.float64).reshape(3, 3),
    )
    labels = tuple(
        LabelEntry(
            name=str(e["name"]),
            value=int(e["value"]),
            color=(float(e["color"][0]), float(e["color"][1]), float(e["color"][2])),
            mesh=e.get("mesh"),
            volume_ml=e.get("volume_ml"),
        )
        for e in _require(raw, "labels", where)
    )
    fiducials = _require(raw, "fiducials", where)
    names = tuple(str(f["name"]) for f in fiducials)
    points = (
        check_points([f["position_lps_mm"] for f in fiducials], f"{where} fiducials")
        if fiducials
        else np.zeros((0, 3))
    )
    targets = tuple(
        Target(str(t["name"]), check_points(t["position_lps_mm"], f"{where} target")[0])
        for t in raw.get("targets", [])
    )
    tumour = raw.get("tumour")
    centroid = (
        check_points(tumour["centroid_lps_mm"], f"{where} tumour.centroid_lps_mm")[0]
        if tumour
        else None
    )
    volume_ml = (
        float(tumour["volume_ml"]) if tumour and tumour.get("volume_ml") is not None else None
    )
    return Plan(
        root=root.resolve(),
        geometry=geometry,
        labels=labels,
        fiducial_names=names,
        fiducials_lps_mm=points,
        targets=targets,
        tumour_centroid_lps_mm=centroid,
        tumour_volume_ml=volume_ml,
        source=dict(raw.get("source", {})),
        raw=raw,
    )
