"""The transcervical wound cut into a plan's anatomy (on the phantom's plan: skin, bone,
airway and tumour labels), its regions, its round trip, and the tissue truth on it."""

from __future__ import annotations

import numpy as np
import pytest

from navigation.fluorescence.approach import (
    ApproachGeometry,
    ApproachOptions,
    _candidates,
    _wound,
    approach_geometry,
    build_approach_field,
    inside_wound,
    plan_tumour_mask,
)
from navigation.fluorescence.model_field import geometry_from_dict, mapping_field
from navigation.fluorescence.plan_masks import SmoothMask, plan_labels
from navigation.planning.plan import load_plan
from navigation.simulation.scene import TissueEvaluator, tumour_distance
from navigation.simulation.tissue import TissueModel
from registration.core.checks import InputError

pytestmark = pytest.mark.slow  # the phantom's plan and a wound: about a minute


@pytest.fixture(scope="module")
def wound(phantom_plan):
    plan = load_plan(phantom_plan)
    geometry = approach_geometry(plan)
    return plan, geometry, build_approach_field(plan, geometry)


def test_the_approach_spares_bone_from_the_tumours_side(wound):
    plan, geometry, _ = wound
    labels = plan_labels(plan)
    centroid = plan.tumour_centroid_lps_mm
    assert np.sign(geometry.approach_lps[0]) == np.sign(centroid[0])  # the tumour's side
    bone = labels.geometry.kji_to_lps(np.argwhere(labels.mask("bone")))[::5]
    chosen = inside_wound(geometry, bone).sum()
    tumour = np.asarray(plan.read_mesh("tumour").points)
    body = SmoothMask.from_mask(labels.body(), labels.geometry, sigma_mm=0.0)
    for direction in _candidates(float(np.sign(centroid[0]))):
        other = _wound(tumour, tumour.mean(axis=0), direction, body, ApproachOptions())
        if other is not None:  # no other direction removes clearly less bone
            assert chosen <= inside_wound(other, bone).sum() + 0.02 * len(bone)
    assert geometry.skin_height_mm > geometry.floor_offset_mm + 5.0


def test_floor_covered_tumour_walls_and_regions(wound):
    plan, geometry, field = wound
    mesh = field.mesh
    local = (mesh.vertices_in_image - geometry.floor_point_lps_mm) @ geometry.image_from_field()[
        :3, :3
    ]
    height, radial = local[:, 2], np.hypot(local[:, 0], local[:, 1])
    tumour = tumour_distance(plan, mesh.vertices_in_image, plan_tumour_mask(plan))
    target = field.target_mask
    # the covered tumour lies cover_mm over the plan's tumour, above the floor
    assert target.any() and np.abs(tumour[target] - geometry.cover_mm).max() < 0.6
    assert height[target].min() > -0.5
    # the floor is the plane under it, facing the camera, within the wound's radius
    floor = (np.abs(height) < 0.5) & (radial < geometry.radius_mm - 2) & ~target
    assert floor.sum() > 500
    assert (mesh.normals[floor] @ geometry.approach_lps > 0.95).mean() > 0.95
    # the background ring lies on the floor, away from the tumour
    ring = field.background_mask
    assert ring.sum() > 200 and np.abs(height[ring]).max() < 0.6
    assert tumour[ring].min() > geometry.cover_mm + 5.0
    assert radial.max() <= geometry.outer_radius_mm + 1e-4  # float32 contour grid


def test_round_trip_and_tissue_truth(wound):
    plan, geometry, field = wound
    again = geometry_from_dict(geometry.to_dict())
    assert isinstance(again, ApproachGeometry) and again.to_dict() == geometry.to_dict()
    scored = mapping_field(
        plan, geometry=again, evaluator=TissueEvaluator(plan, TissueModel(seed=2))
    )
    np.testing.assert_array_equal(scored.mesh.triangles, field.mesh.triangles)
    truth = scored.truth
    assert truth is not None and truth.true_patch.any()
    areas = scored.mesh.vertex_areas()
    target_sbr = np.average(truth.true_sbr[scored.target_mask], weights=areas[scored.target_mask])
    ring_sbr = np.average(
        truth.true_sbr[scored.background_mask], weights=areas[scored.background_mask]
    )
    assert 1.8 < target_sbr < 4.0 and 0.8 < ring_sbr < 1.3
    with pytest.raises(InputError, match="unknown field kind"):
        geometry_from_dict({**geometry.to_dict(), "kind": "transoral"})
