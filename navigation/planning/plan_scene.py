"""What the navigation views show of a plan: its surfaces, its label map and its tumour.

The I/O edge of the app's static content: reads the plan folder's meshes (``meshes/*.vtp``,
LPS mm, with pyvista), its label map (``labels.nii.gz``) and its planning image
(``image.nii.gz``, both through :func:`navigation.imaging.image_files.read_image_file`,
SimpleITK, geometry in LPS mm) once, and hands the views :class:`~rendering.scene3d.SurfaceModel`
s and :class:`~rendering.slice_views.SliceVolumes`, the guidance its tumour
:class:`~rendering.guidance.SurfaceDistance`, and surface registration the skin triangles.

The image is checked before it is shown: its SHA-256 must be the one ``plan.json`` recorded
(a file replaced by another patient's scan is refused) and its grid must be the label map's.
A plan made before the image was kept still loads: the slice views then draw the labels alone
and say so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv

from navigation.imaging.errors import ImagingError
from navigation.imaging.image_files import read_image_file
from navigation.imaging.volume import Volume
from navigation.planning.plan import Plan, load_plan, read_plan_mesh
from navigation.planning.plan_input import sha256_file
from registration.core.checks import Float64Array, InputError
from registration.core.geometry import ImageGeometry
from rendering.guidance import SurfaceDistance
from rendering.lod import triangles_of
from rendering.scene3d import SurfaceModel
from rendering.slice_views import SliceVolumes

log = logging.getLogger(__name__)

#: Plan label name -> display role (label names of ``navigation.planning.labels``).
ROLE_OF_LABEL = {"skin": "skin", "bone": "bone", "tumour": "tumour", "node": "node"}
#: Labels drawn half transparent in 3-D (they would hide what is behind them).
TRANSLUCENT_LABELS = {"airway": 0.5}
LABEL_MAP_FILE = "labels.nii.gz"
#: Labels not drawn over the grey image in the slice views (the scan shows them itself).
SHOWN_BY_THE_SCAN = frozenset({"skin", "bone"})


@dataclass(frozen=True, eq=False)
class SkinSurface:
    """The skin mesh for surface (ICP) registration, image LPS mm.

    vertices : (V, 3) float. triangles : (T, 3) int vertex indices. normals : (V, 3) unit.
    """

    vertices: Float64Array
    triangles: np.ndarray
    normals: Float64Array


@dataclass(frozen=True, eq=False)
class PlanScene:
    """A plan read for navigation (all positions image LPS mm).

    plan : the plan folder's content.
    models : the surfaces drawn in 3-D, one per label with a mesh.
    volumes : the label map cut by the slice views.
    tumour : signed distance to the tumour surface (None without a closed tumour mesh).
    tumour_model : name of the tumour's model (the fluorescence map lives on it), or None.
    skin : the skin surface for surface registration, or None.
    focus_lps_mm : (3,) where the slices cut while the pointer is not placed: the tumour
        centroid, else the centre of the planning volume.
    """

    plan: Plan
    models: tuple[SurfaceModel, ...]
    volumes: SliceVolumes
    tumour: SurfaceDistance | None
    tumour_model: str | None
    skin: SkinSurface | None
    focus_lps_mm: Float64Array

    @property
    def tumour_target_lps_mm(self) -> Float64Array | None:
        """(3,) the tumour centroid (where the TRE at the tumour is predicted), or None."""
        return self.plan.tumour_centroid_lps_mm

    def model(self, name: str) -> SurfaceModel:
        for model in self.models:
            if model.name == name:
                return model
        raise InputError(f"the plan has no model {name!r}.")


def load_plan_scene(plan: Plan | str | Path) -> PlanScene:
    """Read a plan folder's meshes and label map for the navigation views.

    Raises :class:`InputError` naming the file when the plan has no label map or no meshes.
    """
    loaded = plan if isinstance(plan, Plan) else load_plan(plan)
    models = []
    meshes: dict[str, pv.PolyData] = {}
    for entry in loaded.labels:
        if entry.mesh is None:
            continue
        mesh = read_plan_mesh(loaded.root / entry.mesh)
        meshes[entry.name] = mesh
        models.append(
            SurfaceModel(
                entry.name,
                mesh,
                entry.color,
                role=ROLE_OF_LABEL.get(entry.name, "other"),
                opacity=TRANSLUCENT_LABELS.get(entry.name, 1.0),
            )
        )
    if not models:
        raise InputError(f"plan {loaded.root} has no meshes; re-create it with igcs plan.")
    volumes = _slice_volumes(loaded)
    tumour_label = (loaded.raw.get("tumour") or {}).get("label")
    tumour = None
    tumour_model = None
    if tumour_label and tumour_label in meshes:
        tumour_model = str(tumour_label)
        try:
            tumour = SurfaceDistance(meshes[tumour_model], name=f"tumour mesh {tumour_model!r}")
        except InputError as error:
            log.warning("no distance guidance: %s", error)
    skin = _skin_surface(meshes["skin"]) if "skin" in meshes else None
    focus = loaded.tumour_centroid_lps_mm
    if focus is None:
        geometry = loaded.geometry
        centre_ijk = (np.asarray(geometry.size_ijk, dtype=np.float64) - 1.0) / 2.0
        focus = (geometry.lps_from_ijk @ np.append(centre_ijk, 1.0))[:3]
    return PlanScene(
        plan=loaded,
        models=tuple(models),
        volumes=volumes,
        tumour=tumour,
        tumour_model=tumour_model,
        skin=skin,
        focus_lps_mm=np.asarray(focus, dtype=np.float64),
    )


def _slice_volumes(plan: Plan) -> SliceVolumes:
    files = plan.raw.get("files") or {}
    path = plan.root / files["nifti"] if "nifti" in files else plan.root / LABEL_MAP_FILE
    if not path.is_file():
        raise InputError(
            f"plan {plan.root} has no label map ({path.name}); the slice views need it. "
            "Re-create the plan with igcs plan."
        )
    volume = _read_plan_volume(path, "label map")
    if not np.issubdtype(volume.array.dtype, np.integer):
        raise InputError(f"{path} holds {volume.array.dtype} values; a label map is integer.")
    image, modality = _planning_image(plan, volume.geometry)
    if image is None:  # labels alone: every label filled faintly and outlined
        colors = {entry.value: entry.color for entry in plan.labels}
        return SliceVolumes(volume.geometry, volume.array, colors)
    # Over the scan, the structures it shows itself (skin, bone) are not drawn, the others
    # only outlined: the grey values stay the patient's own.
    colors = {e.value: e.color for e in plan.labels if e.name not in SHOWN_BY_THE_SCAN}
    return SliceVolumes(
        volume.geometry,
        volume.array,
        colors,
        background=image,
        modality=modality,
        label_fill_opacity=0.0,
    )


def _planning_image(plan: Plan, grid: ImageGeometry) -> tuple[np.ndarray | None, str]:
    """The plan's image on the label map's grid and its modality, or (None, "") for a plan
    without one (logged: the slice views show the labels alone)."""
    path = plan.image_path
    if path is None:
        log.warning(
            "plan %s keeps no image (made by an igcs that did not store it): the slice views "
            "show the labels only; re-create the plan with igcs plan to see the scan",
            plan.root,
        )
        return None, ""
    if not path.is_file():
        raise InputError(
            f"plan {plan.root} lists the image {path.name} but the file is missing; copy the "
            "whole plan folder or re-create the plan with igcs plan."
        )
    expected = plan.image_sha256
    if expected is not None and sha256_file(path) != expected:
        raise InputError(
            f"{path} is not the image this plan was made from (its SHA-256 differs from "
            "plan.json's); restore the plan's own file or re-create the plan with igcs plan."
        )
    volume = _read_plan_volume(path, "image")
    if not same_grid(volume.geometry, grid):
        raise InputError(
            f"{path} is not on the label map's grid; re-create the plan with igcs plan."
        )
    modality = str((plan.raw.get("image") or {}).get("modality") or plan.source.get("modality"))
    return volume.array, modality


def _read_plan_volume(path: Path, what: str) -> Volume:
    try:
        return read_image_file(path).volume
    except ImagingError as error:
        raise InputError(f"cannot read the plan's {what} {path}: {error}") from None


def same_grid(a: ImageGeometry, b: ImageGeometry, *, tolerance_mm: float = 1e-3) -> bool:
    """Whether two grids have the same size and place their voxels within ``tolerance_mm``."""
    if tuple(a.size_ijk) != tuple(b.size_ijk):
        return False
    corners = np.array([[0, 0, 0], [n - 1 for n in a.size_ijk]], dtype=np.float64)
    return bool(np.abs(a.ijk_to_lps(corners) - b.ijk_to_lps(corners)).max() <= tolerance_mm) and (
        np.allclose(a.direction, b.direction, atol=1e-5)
    )


def _skin_surface(mesh: pv.PolyData) -> SkinSurface:
    vertices, triangles, normals = outward_normals(mesh, "skin mesh")
    return SkinSurface(vertices, triangles, normals)


def outward_normals(mesh: pv.PolyData, name: str) -> tuple[Float64Array, np.ndarray, Float64Array]:
    """Vertices (V, 3), triangles (T, 3) and unit vertex normals (V, 3) pointing out of a
    surface, vertices in the mesh's order (per-vertex data stay aligned).

    VTK's ``vtkPolyDataNormals`` makes the winding consistent; the outward side is then chosen
    by the sign of the enclosed volume (divergence theorem: positive for outward winding), which
    works for any closed surface (VTK's own auto-orientation failed on a UV ellipsoid's poles).
    A vertex whose normal vanishes (a degenerate fan) gets the direction away from the centroid.
    """
    consistent = mesh.compute_normals(
        point_normals=True,
        cell_normals=False,
        consistent_normals=True,
        auto_orient_normals=False,
        split_vertices=False,
    )
    vertices = np.asarray(consistent.points, dtype=np.float64)
    triangles = triangles_of(consistent, name)
    normals = np.array(consistent.point_data["Normals"], dtype=np.float64)
    corners = vertices[triangles]
    volume = float(
        np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum()
    )
    if volume < 0:
        normals = -normals
    zero = np.linalg.norm(normals, axis=1) < 1e-9
    if zero.any():
        away = vertices[zero] - vertices.mean(axis=0)
        normals[zero] = away / np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-9)
    return vertices, triangles, normals
