"""The surgical field the NIR camera sees, and where the tracer truly is on it.

**What the camera sees.** The tumour lies in the oral tongue / tongue base, about 50 mm under
the skin: from outside, the skin occludes it completely. Fluorescence is imaged once the
surgeon has exposed it, so we model the *exposed* field, simply:

- a **tissue bed**: the plane perpendicular to the approach direction through the point
  ``floor_offset_mm`` (default 4 mm) from the plan's tumour centroid towards the camera, as a
  disc of ``radius_mm`` (default 29 mm) around the tumour's axis;
- the **tumour's exposed dome**: the part of the tumour above that plane, bulging out of it.

Everything between the bed and the camera (skin, fat, muscle, the rest of the head on that
side) has been removed; the camera sees only the bed and the dome. Geometrically the field is
the zero level set of ``min(height above the bed, signed distance to the tumour)`` (the union of
the half-space under the bed and the tumour), contoured by VTK's flying edges on a grid aligned
with the bed (``spacing_mm``, default 0.5 mm) and clipped to the disc: one connected open
surface, normals pointing out of the tissue towards the camera.

**Approach.** Lateral, from the tumour's side: +x (the patient's left, LPS) when the tumour's
centroid lies left of the skin mesh's centroid, else -x; set ``FieldOptions.approach_lps`` for
another exposure. For the phantom (tumour centroid left of the midline, x = 9..15 mm over
seeds) the bed plane then lies lateral to the airway (|x| <= 8.5 mm) and clear of the mandible
and skull base, so the whole disc is soft tissue (tested against the phantom's truth for 20
seeds). An anterior exposure would cut through the nasal airway.

**Model and truth.** The mapping mesh (the model the map lives on) takes the tumour from the
plan's tumour mesh (signed distance by ``vtkImplicitPolyDataDistance``). Where the tracer truly
is on it (:class:`FieldTruth`) is not the clinical path's to know: an evaluator from outside
gives it (:mod:`navigation.fluorescence.evaluation`; a simulation's or phantom's truth files,
:mod:`navigation.simulation.tracer`).

**Regions.** Quantification: target = the vertices on the plan's tumour dome (the tumour label
on the model); background = the bed ring 6-14 mm from it along the surface (geodesic).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from navigation.planning.plan import Plan
from registration.core.checks import Float64Array, InputError, check_points, check_positive
from registration.core.transforms import apply_transform, invert_rigid
from rendering.fluorescence.metrics import ring_mask
from rendering.fluorescence.surface_mesh import SurfaceMesh

SignedDistance = Callable[[Float64Array], Float64Array]


@dataclass(frozen=True)
class FieldOptions:
    """How the exposed field is built (module docstring).

    approach_lps : unit direction (LPS) from the bed towards the camera; None: lateral, on the
        tumour's side.
    floor_offset_mm : the bed's height above the tumour centroid along the approach.
    radius_mm : radius of the bed disc around the tumour's axis.
    spacing_mm : contouring grid step (about the mesh's edge length).
    ring_mm : (inner, outer) geodesic distances of the background ring from the tumour dome.
    """

    approach_lps: tuple[float, float, float] | None = None
    floor_offset_mm: float = 4.0
    radius_mm: float = 29.0
    spacing_mm: float = 0.5
    ring_mm: tuple[float, float] = (6.0, 14.0)

    def __post_init__(self) -> None:
        check_positive(self.radius_mm, "radius_mm")
        check_positive(self.spacing_mm, "spacing_mm")
        if not math.isfinite(self.floor_offset_mm):
            raise InputError(f"floor_offset_mm must be finite; got {self.floor_offset_mm}.")
        inner, outer = self.ring_mm
        if not 0.0 <= inner < outer < self.radius_mm:
            raise InputError(
                f"ring_mm must satisfy 0 <= inner < outer < radius_mm ({self.radius_mm}); "
                f"got {self.ring_mm}."
            )


@dataclass(frozen=True)
class FieldGeometry:
    """The bed plane: ``centre_lps_mm`` (the plan's tumour centroid), ``approach_lps`` (unit,
    towards the camera), the bed at ``floor_offset_mm`` along it, a disc of ``radius_mm``."""

    centre_lps_mm: Float64Array
    approach_lps: Float64Array
    floor_offset_mm: float
    radius_mm: float
    spacing_mm: float

    def __post_init__(self) -> None:
        centre = check_points(self.centre_lps_mm, "centre_lps_mm")[0]
        approach = check_points(self.approach_lps, "approach_lps")[0]
        norm = float(np.linalg.norm(approach))
        if norm < 1e-9:
            raise InputError("approach_lps must be a non-zero direction.")
        object.__setattr__(self, "centre_lps_mm", centre)
        object.__setattr__(self, "approach_lps", approach / norm)

    @property
    def floor_point_lps_mm(self) -> Float64Array:
        """(3,) the bed's centre (LPS mm)."""
        return self.centre_lps_mm + self.floor_offset_mm * self.approach_lps

    def image_from_field(self) -> Float64Array:
        """(4, 4) rigid: field frame (origin at the bed's centre, z = approach) to image LPS."""
        z = self.approach_lps
        helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
        x = np.cross(helper, z)
        x /= np.linalg.norm(x)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, np.cross(z, x), z
        pose[:3, 3] = self.floor_point_lps_mm
        return pose

    def height_mm(self, points_lps_mm: ArrayLike) -> Float64Array:
        """(N,) signed height of LPS points above the bed plane, mm."""
        points = check_points(points_lps_mm, "points_lps_mm")
        return (points - self.floor_point_lps_mm) @ self.approach_lps

    def radial_distance_mm(self, points_lps_mm: ArrayLike) -> Float64Array:
        """(N,) distance of LPS points from the field's axis (through the tumour centroid along
        the approach), mm: the bed's rim is at ``radius_mm``."""
        points = check_points(points_lps_mm, "points_lps_mm") - self.centre_lps_mm
        along = points @ self.approach_lps
        return np.linalg.norm(points - along[:, np.newaxis] * self.approach_lps, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "centre_lps_mm": self.centre_lps_mm.tolist(),
            "approach_lps": self.approach_lps.tolist(),
            "floor_offset_mm": self.floor_offset_mm,
            "radius_mm": self.radius_mm,
            "spacing_mm": self.spacing_mm,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldGeometry:
        try:
            return cls(
                np.asarray(data["centre_lps_mm"], dtype=np.float64),
                np.asarray(data["approach_lps"], dtype=np.float64),
                float(data["floor_offset_mm"]),
                float(data["radius_mm"]),
                float(data["spacing_mm"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"field geometry is incomplete or malformed: {error}") from None


class EmissionModel(Protocol):
    """What a report reads of the model that made the true emission: its background level (the
    emission of normal tissue) and its parameters."""

    @property
    def background(self) -> float: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FieldTruth:
    """The true tracer on the mapping mesh's vertices, as an evaluator knows it (``source`` says
    from what: a phantom's analytic tumour, a tissue model, the plan's own tumour).

    tracer : the emission model (:class:`EmissionModel`: the simulation's tracer patch or
        tissue).
    signed_distance_mm : (N,) the tumour's signed distance at each vertex (negative inside).
    emission : (N,) true relative emission. true_sbr : (N,) emission / tracer background.
    true_patch : (N,) bool, true_sbr >= positive_sbr.
    """

    tracer: EmissionModel
    positive_sbr: float
    signed_distance_mm: Float64Array
    emission: Float64Array
    true_sbr: Float64Array
    true_patch: np.ndarray
    source: str


@dataclass(frozen=True)
class SurgicalField:
    """The mapping mesh and its quantification regions (see the module docstring).

    mesh : the field surface, LPS mm, normals towards the camera side.
    geometry : the bed.
    target_mask : (N,) bool, vertices on the tumour dome. background_mask : (N,) bool, the ring.
    target_region, background_region : the regions in words (for reports).
    tumour_source : where the tumour surface came from.
    truth : the true tracer on these vertices, when known.
    """

    mesh: SurfaceMesh
    geometry: FieldGeometry
    target_mask: np.ndarray
    background_mask: np.ndarray
    target_region: str
    background_region: str
    tumour_source: str
    truth: FieldTruth | None = field(default=None)


def field_geometry(plan: Plan, options: FieldOptions | None = None) -> FieldGeometry:
    """The bed for ``plan``: around its tumour centroid, lateral on the tumour's side unless
    ``options.approach_lps`` says otherwise. Raises InputError when the plan has no tumour."""
    opts = options or FieldOptions()
    if plan.tumour_centroid_lps_mm is None:
        raise InputError(
            f"plan {plan.root} has no tumour: the fluorescence field is built around it "
            "(plan with --tumour-seed or a tumour label)."
        )
    centre = np.asarray(plan.tumour_centroid_lps_mm, dtype=np.float64)
    if opts.approach_lps is not None:
        approach = np.asarray(opts.approach_lps, dtype=np.float64)
    else:
        midline = _body_centre(plan)
        approach = np.array([1.0 if centre[0] >= midline[0] else -1.0, 0.0, 0.0])
    return FieldGeometry(centre, approach, opts.floor_offset_mm, opts.radius_mm, opts.spacing_mm)


def plan_tumour_distance(plan: Plan) -> tuple[SignedDistance, Float64Array, str]:
    """The plan's tumour mesh as a signed distance function (vtkImplicitPolyDataDistance,
    negative inside), its vertices (K, 3) LPS mm, and a description."""
    import vtk

    label = (plan.raw.get("tumour") or {}).get("label")
    if not label:
        raise InputError(f"plan {plan.root} has no tumour label; cannot build the field.")
    path = plan.mesh_path(str(label))
    surface = (
        plan.read_mesh(str(label))
        .triangulate()
        .compute_normals(point_normals=True, cell_normals=True, auto_orient_normals=True)
    )
    implicit = vtk.vtkImplicitPolyDataDistance()
    implicit.SetInput(surface)

    def distance(points: Float64Array) -> Float64Array:
        from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

        values = vtk.vtkDoubleArray()
        implicit.FunctionValue(numpy_to_vtk(np.ascontiguousarray(points), deep=True), values)
        return np.asarray(vtk_to_numpy(values), dtype=np.float64)

    return distance, np.asarray(surface.points, dtype=np.float64), f"plan tumour mesh {path.name}"


def build_field(
    plan: Plan,
    *,
    options: FieldOptions | None = None,
    geometry: FieldGeometry | None = None,
) -> SurgicalField:
    """The mapping mesh of ``plan`` with its target/background masks; ``truth`` None (a plan
    alone does not know where the tracer is: an evaluator adds it,
    :func:`navigation.fluorescence.evaluation.evaluated`).

    geometry : the bed to use (e.g. the one a simulation recorded); default
        :func:`field_geometry` of the plan.
    """
    opts = options or FieldOptions()
    bed = geometry or field_geometry(plan, opts)
    distance, tumour_points, source = plan_tumour_distance(plan)
    mesh = contour_field(bed, distance, tumour_points)
    on_tumour = distance(mesh.vertices_in_image) < bed.height_mm(mesh.vertices_in_image)
    if not on_tumour.any():
        raise InputError(
            f"the plan's tumour does not reach the bed {bed.floor_offset_mm} mm above its "
            "centroid; lower FieldOptions.floor_offset_mm."
        )
    inner, outer = opts.ring_mm
    ring = ring_mask(mesh, on_tumour, inner_mm=inner, outer_mm=outer, geodesic=True)
    return SurgicalField(
        mesh=mesh,
        geometry=bed,
        target_mask=frozen(on_tumour),
        background_mask=frozen(ring),
        target_region=f"tumour dome ({source}), {int(on_tumour.sum())} vertices",
        background_region=(
            f"tissue bed ring {inner:g}-{outer:g} mm from the tumour dome (geodesic), "
            f"{int(ring.sum())} vertices"
        ),
        tumour_source=source,
    )


def contour_field(
    geometry: FieldGeometry, tumour_distance: SignedDistance, tumour_points_lps_mm: ArrayLike
) -> SurfaceMesh:
    """The zero level set of ``min(height above the bed, tumour signed distance)`` over the bed
    disc (flying edges on a bed-aligned grid), as a :class:`SurfaceMesh` in LPS mm with normals
    towards the approach side.

    tumour_points_lps_mm : (K, 3) points spanning the tumour (its vertices or box corners): the
        tumour's distance is evaluated only within their bounding box plus 3 mm.
    """
    import pyvista as pv

    s = geometry.spacing_mm
    image_from_field = geometry.image_from_field()
    tumour_points = check_points(tumour_points_lps_mm, "tumour_points_lps_mm")
    tumour = apply_transform(invert_rigid(image_from_field), tumour_points)
    margin = 3.0
    half = geometry.radius_mm + 2 * s
    n = math.ceil(half / s)
    uv = np.arange(-n, n + 1) * s
    top = max(float(tumour[:, 2].max()), 0.0) + margin
    # Heights at half steps: the bed (height 0) falls midway between samples, never on one.
    w = (np.arange(-3, math.ceil(top / s) + 1) + 0.5) * s
    values = np.broadcast_to(w[:, None, None], (w.size, uv.size, uv.size)).copy()
    low, high = tumour.min(axis=0) - margin, tumour.max(axis=0) + margin
    iu = np.flatnonzero((uv >= low[0]) & (uv <= high[0]))
    iv = np.flatnonzero((uv >= low[1]) & (uv <= high[1]))
    iw = np.flatnonzero((w >= low[2]) & (w <= high[2]))
    if iu.size and iv.size and iw.size:
        gw, gv, gu = np.meshgrid(w[iw], uv[iv], uv[iu], indexing="ij")
        points = apply_transform(image_from_field, np.stack([gu, gv, gw], -1).reshape(-1, 3))
        block = tumour_distance(points).reshape(gw.shape)
        sub = np.ix_(iw, iv, iu)
        values[sub] = np.minimum(values[sub], block)
    grid = pv.ImageData(
        dimensions=(uv.size, uv.size, w.size), spacing=(s, s, s), origin=(uv[0], uv[0], w[0])
    )
    grid.point_data["field"] = values.ravel()  # (w, v, u) C order: u varies fastest, as VTK's x
    surface = grid.contour([0.0], scalars="field", method="flying_edges")
    if surface.n_points == 0:
        raise InputError("the field surface is empty; check the field geometry.")
    surface.point_data["radius"] = np.hypot(surface.points[:, 0], surface.points[:, 1])
    surface = surface.clip_scalar(scalars="radius", value=geometry.radius_mm).triangulate()
    surface = surface.clean()
    faces = np.asarray(surface.faces).reshape(-1, 4)[:, 1:]
    vertices = apply_transform(image_from_field, np.asarray(surface.points, dtype=np.float64))
    mesh = SurfaceMesh(vertices, faces)
    facing = mesh.normals @ geometry.approach_lps
    if np.median(facing) < 0:  # the bed faces the camera: flip the winding if it does not
        mesh = SurfaceMesh(vertices, faces[:, ::-1].copy())
    return mesh


def _body_centre(plan: Plan) -> Float64Array:
    """The skin mesh's vertex centroid (LPS mm), or the image's centre without one."""
    try:
        return np.asarray(plan.read_mesh("skin").points, dtype=np.float64).mean(axis=0)
    except (InputError, OSError, ValueError):
        extent = np.asarray(plan.geometry.extent_lps_mm, dtype=np.float64)
        return extent.mean(axis=0)


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only copy of ``array`` (the field's masks and truths are shared by threads)."""
    copy = np.array(array)
    copy.setflags(write=False)
    return copy
