"""The NIR scene: what the simulated camera sees, and the tissue model's truth on the map's mesh.

A fluorescence scene is a field (the phantom's tissue bed,
:mod:`navigation.fluorescence.field`, or a transcervical wound cut into the patient's own
anatomy, :mod:`navigation.fluorescence.approach`) and what glows on it (the phantom's analytic
tracer patch, :mod:`.tracer`, or tissue with a tracer-bearing tumour under it, :mod:`.tissue`).
The simulator renders the *world* (:func:`world_scene`); the navigation app and ``igcs
fluorescence`` map onto the *model* (:func:`navigation.fluorescence.model_field.mapping_field`)
and, given an evaluator (:class:`TissueEvaluator` here, :mod:`.tracer`'s for the phantom),
score it against the truth. All rebuild the same field from the description the simulator
records in its truth JSON (``fluorescence.field``; ``fluorescence.tissue`` for the tissue model).

The world differs from the model only where reality would: the phantom's analytic tumour vs the
plan's segmentation; the wound's small relief (rough normals) vs the plan's smooth surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from navigation.fluorescence.approach import ApproachGeometry, plan_tumour_mask
from navigation.fluorescence.field import FieldGeometry, FieldTruth, SurgicalField, frozen
from navigation.fluorescence.model_field import mapping_field
from navigation.fluorescence.plan_masks import SmoothMask
from navigation.planning.plan import Plan
from navigation.simulation.phantom import PhantomTruth
from navigation.simulation.tissue import TissueModel, rough_normals, tissue_emission
from navigation.simulation.tracer import TracerModel
from navigation.simulation.tracer import world_scene as bed_world_scene
from registration.closest_point import TriangleMeshLocator
from registration.core.checks import Float64Array, InputError
from rendering.fluorescence.metrics import MarginThresholds
from rendering.fluorescence.surface_mesh import SurfaceMesh


@dataclass(frozen=True)
class TissueEvaluator:
    """The tissue model's true emission of the plan's tumour, as the evaluation hook's truth
    (:class:`~navigation.fluorescence.evaluation.FieldEvaluator`).

    The true SBR is the emission over its mean on the field's background region: the same
    reference the measured SBR uses. Real tissue is never pure background near a tumour (its
    diffuse glow reaches the ring by a few per cent, the texture varies): a truth referred to
    the model's nominal background would score the choice of the background region, not the
    map. The true patch is where that SBR reaches the positive threshold."""

    plan: Plan
    tissue: TissueModel

    def truth_on(self, field_: SurgicalField, thresholds: MarginThresholds) -> FieldTruth:
        tumour = plan_tumour_mask(self.plan)
        vertices = field_.mesh.vertices_in_image
        emission = tissue_emission(vertices, tumour, self.tissue).emission
        ring = field_.background_mask
        areas = field_.mesh.vertex_areas()
        reference = float(np.average(emission[ring], weights=areas[ring]))
        sbr = emission / reference
        return FieldTruth(
            tracer=self.tissue,
            positive_sbr=thresholds.positive_sbr,
            signed_distance_mm=frozen(tumour_distance(self.plan, vertices, tumour)),
            emission=frozen(emission),
            true_sbr=frozen(sbr),
            true_patch=frozen(sbr >= thresholds.positive_sbr),
            source="tissue model (subsurface diffusion) of the plan's tumour",
        )


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
