"""Which field and which tracer: one decision for the simulator, the app and the offline mapper.

A fluorescence scene is a field (the phantom's tissue bed, :mod:`.field`, or a transcervical
wound cut into the patient's own anatomy, :mod:`.approach`) and what glows on it (the phantom's
analytic tracer patch, or tissue with a tracer-bearing tumour under it, :mod:`.tissue`). The
simulator renders the *world* (:func:`world_scene`); the navigation app and ``igcs
fluorescence`` map onto the *model* (:func:`mapping_field`) and score it against the truth. All
three rebuild the same field from the description the simulator records in its truth JSON
(``fluorescence.field``, with ``kind`` "transcervical" for a wound; ``fluorescence.tissue`` for
the tissue model), so the mesh the map lives on is the mesh the camera saw, vertex for vertex.

The world differs from the model only where reality would: the phantom's analytic tumour vs the
plan's segmentation; the wound's small relief (rough normals) vs the plan's smooth surface.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from navigation.fluorescence.approach import (
    APPROACH_KIND,
    ApproachGeometry,
    build_approach_field,
    plan_tumour_mask,
)
from navigation.fluorescence.field import (
    FieldGeometry,
    FieldTruth,
    SurgicalField,
    TracerModel,
    build_field,
    plan_truth,
)
from navigation.fluorescence.field import world_scene as bed_world_scene
from navigation.fluorescence.plan_masks import SmoothMask
from navigation.fluorescence.tissue import TissueModel, rough_normals, tissue_emission
from navigation.planning.phantom import PhantomTruth
from navigation.planning.plan import Plan
from registration.closest_point import TriangleMeshLocator
from registration.core.checks import Float64Array, InputError
from rendering.fluorescence.metrics import MarginThresholds
from rendering.fluorescence.surface_mesh import SurfaceMesh


def geometry_from_dict(data: dict[str, Any]) -> FieldGeometry:
    """A recorded field geometry: :class:`ApproachGeometry` when ``kind`` is "transcervical",
    else the phantom's bed (:class:`FieldGeometry`)."""
    kind = data.get("kind", "bed")
    if kind == APPROACH_KIND:
        return ApproachGeometry.from_dict(data)
    if kind != "bed":
        raise InputError(f"unknown field kind {kind!r}; this igcs knows 'bed' and 'transcervical'.")
    return FieldGeometry.from_dict(data)


def mapping_field(
    plan: Plan,
    *,
    geometry: FieldGeometry | None = None,
    phantom: PhantomTruth | None = None,
    tissue: TissueModel | None = None,
    simulated: bool = False,
    thresholds: MarginThresholds | None = None,
) -> SurgicalField:
    """The mesh the map lives on, its regions and, when known, the true tracer on it: the
    phantom's (``phantom``), the tissue model's on the plan's tumour (``tissue``), or, for a
    simulated plan with neither (``simulated``), the plan's own tumour as a patch (labelled so).
    Without any, ``truth`` is None (a real session)."""
    if isinstance(geometry, ApproachGeometry):
        if phantom is not None:
            raise InputError("a transcervical field is cut into a patient's plan, not a phantom.")
        field_ = build_approach_field(plan, geometry)
    else:
        field_ = build_field(plan, truth=phantom, geometry=geometry, thresholds=thresholds)
        if phantom is not None:
            return field_
    if tissue is not None:
        return tissue_truth(field_, plan, tissue, thresholds=thresholds)
    if simulated:
        return plan_truth(field_, plan, thresholds=thresholds)
    return field_


def tissue_truth(
    field_: SurgicalField,
    plan: Plan,
    tissue: TissueModel,
    *,
    thresholds: MarginThresholds | None = None,
) -> SurgicalField:
    """``field_`` with the tissue model's true emission of the plan's tumour on its vertices.

    The true SBR is the emission over its mean on the field's background region: the same
    reference the measured SBR uses. Real tissue is never pure background near a tumour (its
    diffuse glow reaches the ring by a few per cent, the texture varies): a truth referred to
    the model's nominal background would score the choice of the background region, not the
    map. The true patch is where that SBR reaches the positive threshold."""
    limits = thresholds or MarginThresholds()
    tumour = plan_tumour_mask(plan)
    vertices = field_.mesh.vertices_in_image
    emission = tissue_emission(vertices, tumour, tissue).emission
    ring = field_.background_mask
    areas = field_.mesh.vertex_areas()
    reference = float(np.average(emission[ring], weights=areas[ring]))
    sbr = emission / reference
    truth = FieldTruth(
        tracer=tissue,
        positive_sbr=limits.positive_sbr,
        signed_distance_mm=_frozen(tumour_distance(plan, vertices, tumour)),
        emission=_frozen(emission),
        true_sbr=_frozen(sbr),
        true_patch=_frozen(sbr >= limits.positive_sbr),
        source="tissue model (subsurface diffusion) of the plan's tumour",
    )
    return replace(field_, truth=truth)


def world_scene(
    plan: Plan,
    *,
    geometry: FieldGeometry,
    phantom: PhantomTruth | None = None,
    tracer: TracerModel | None = None,
    tissue: TissueModel | None = None,
) -> tuple[SurfaceMesh, Float64Array, str]:
    """What the simulated NIR camera sees: (mesh, per-vertex emission, the tumour's source)."""
    if tissue is None and not isinstance(geometry, ApproachGeometry):
        return bed_world_scene(plan, truth=phantom, geometry=geometry, tracer=tracer)
    if tissue is None:
        raise InputError("a transcervical field is rendered with a tissue model.")
    field_ = mapping_field(plan, geometry=geometry)
    mesh = field_.mesh
    emission = tissue_emission(mesh.vertices_in_image, plan_tumour_mask(plan), tissue).emission
    world = SurfaceMesh(
        mesh.vertices_in_image,
        mesh.triangles,
        rough_normals(mesh.vertices_in_image, mesh.normals, tissue),
    )
    return world, emission, "tissue model (subsurface diffusion) of the plan's tumour"


def tumour_distance(plan: Plan, points_lps_mm: Float64Array, tumour: SmoothMask) -> Float64Array:
    """(N,) signed distance (mm, negative inside) from the plan's tumour mesh: exact closest
    points on its triangles (:class:`~registration.closest_point.TriangleMeshLocator`), the
    sign from the voxelised tumour."""
    surface = plan.read_mesh(str(plan.raw["tumour"]["label"])).triangulate()
    faces = np.asarray(surface.faces).reshape(-1, 4)[:, 1:]
    locator = TriangleMeshLocator(np.asarray(surface.points, dtype=np.float64), faces)
    distance = locator.closest(points_lps_mm).distances_mm
    return np.where(tumour.occupancy(points_lps_mm) > 0.5, -distance, distance)


def _frozen(array: np.ndarray) -> np.ndarray:
    copy = np.array(array)
    copy.setflags(write=False)
    return copy
