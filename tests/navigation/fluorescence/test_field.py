"""The exposed surgical field on the phantom and its fluorescence truth, against the phantom's
analytic anatomy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from navigation.fluorescence.field import FieldOptions, build_field, field_geometry
from navigation.planning.plan import load_plan
from navigation.simulation.evaluation import find_phantom_truth
from navigation.simulation.phantom import _truth, phantom_geometry
from navigation.simulation.tracer import TracerModel
from registration.core.checks import InputError
from tests.navigation.plan_factory import write_plan

pytestmark = pytest.mark.slow


def test_the_field_is_the_exposed_bed_and_the_tumour_dome(phantom_scene):
    field, truth = phantom_scene.field, phantom_scene.truth
    mesh, geometry = field.mesh, field.geometry
    vertices = mesh.vertices_in_image
    # Lateral exposure from the patient's left (+x): the tumour is left of the midline.
    np.testing.assert_allclose(geometry.approach_lps, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(geometry.centre_lps_mm, phantom_scene.plan.tumour_centroid_lps_mm)
    height = geometry.height_mm(vertices)
    bed = ~field.target_mask
    away = field.truth.signed_distance_mm > 1.0  # off the crease where bed and dome meet
    assert np.abs(height[bed & away]).max() < 1e-6  # the bed is the plane
    assert np.abs(height[bed]).max() < 0.25
    assert height.min() > -0.05 and 5.0 < height.max() < 12.0  # the dome rises out of it
    assert geometry.radial_distance_mm(vertices).max() <= geometry.radius_mm + 1e-6
    assert (mesh.normals[bed] @ geometry.approach_lps > 0.99).mean() > 0.98  # facing the camera
    edges = np.linalg.norm(vertices[mesh.triangles[:, 0]] - vertices[mesh.triangles[:, 1]], axis=1)
    assert edges.mean() < 0.7  # about the 0.5 mm grid
    # Every field vertex is soft tissue of the phantom: inside the body, not in bone or airway.
    assert truth.inside("skin", vertices).all()
    assert not truth.inside("bone", vertices).any()
    assert not truth.inside("airway", vertices).any()
    # The model's dome is the plan's tumour: within the segmentation error of the true surface;
    # the world's dome is the analytic surface itself.
    dome = np.abs(truth.signed_distance_mm("tumour", vertices[field.target_mask]))
    print(f"model dome vs true tumour surface: mean {dome.mean():.3f} mm, max {dome.max():.3f}")
    assert dome.mean() < 0.25 and dome.max() < 1.0
    world = phantom_scene.world
    world_dome = world.vertices_in_image[geometry.height_mm(world.vertices_in_image) > 0.3]
    assert np.abs(truth.signed_distance_mm("tumour", world_dome)).max() < 0.05


def test_the_true_tracer_patch(phantom_scene):
    field = phantom_scene.field
    truth = field.truth
    assert truth is not None and truth.source == "phantom truth (analytic tumour)"
    tracer = truth.tracer
    # erfcinv(0.5) = 0.476936: the positive edge 2 + sqrt(2) * 0.476936 mm from the tumour.
    assert tracer.distance_at_sbr_mm(2.0) == pytest.approx(2.0 + math.sqrt(2) * 0.476936, abs=1e-5)
    # The dome glows at the peak; the background ring at the background.
    assert truth.emission[field.target_mask].min() > 0.95 * tracer.peak
    ring = truth.emission[field.background_mask]
    assert ring.max() < 1.003 * tracer.background and ring.mean() < 1.0002 * tracer.background
    assert truth.true_patch[field.target_mask].all()
    band = truth.true_patch & ~field.target_mask
    d = truth.signed_distance_mm[band]
    assert d.min() > -0.5 and d.max() <= tracer.distance_at_sbr_mm(2.0) + 1e-9
    np.testing.assert_array_equal(
        truth.true_patch, truth.signed_distance_mm <= tracer.distance_at_sbr_mm(2.0)
    )
    areas = field.mesh.vertex_areas()
    print(f"true patch {areas[truth.true_patch].sum():.0f} mm^2, tumour dome "
          f"{areas[field.target_mask].sum():.0f} mm^2")  # fmt: skip
    # Regions: disjoint, the ring 6-14 mm from the dome along the bed.
    assert not (field.target_mask & field.background_mask).any()
    assert "ring 6-14 mm" in field.background_region


def test_the_bed_is_soft_tissue_for_every_seed():
    """The lateral bed disc around each seed's tumour misses bone and airway and stays inside
    the body (sampled on a 1 mm grid over the disc)."""
    geometry = phantom_geometry("small")
    options = FieldOptions()
    u, v = np.meshgrid(*(np.arange(-options.radius_mm, options.radius_mm + 0.5, 1.0),) * 2)
    disc = np.hypot(u, v) <= options.radius_mm
    for seed in range(20):
        truth = _truth(seed, "CT", geometry)
        centre = truth.tumour_centroid_lps_mm
        assert centre[0] > 5.0  # left of the midline: the approach is +x
        x = centre[0] + options.floor_offset_mm
        points = np.stack([np.full(disc.sum(), x), centre[1] + u[disc], centre[2] + v[disc]], 1)
        points = points[~truth.inside("tumour", points)]
        assert truth.inside("skin", points).all(), seed
        assert not truth.inside("bone", points).any(), seed
        assert not truth.inside("airway", points).any(), seed


def test_phantom_truth_is_found_next_to_the_plan_source(phantom_plan, phantom_ct, tmp_path):
    plan = load_plan(phantom_plan)
    assert find_phantom_truth(plan) == (phantom_ct / "truth.json").resolve()
    payload = json.loads((phantom_plan / "plan.json").read_text())
    payload["source"]["series_instance_uid"] = "1.2.3"  # another series: not this truth
    other = tmp_path / "other"
    other.mkdir()
    (other / "plan.json").write_text(json.dumps(payload))
    assert find_phantom_truth(load_plan(other)) is None


def test_bad_field_requests_are_refused(tmp_path, phantom_scene):
    with pytest.raises(InputError, match=r"ring_mm must satisfy 0 <= inner < outer < radius_mm"):
        FieldOptions(radius_mm=10.0)
    with pytest.raises(InputError, match="peak > background > 0"):
        TracerModel(peak=0.1, background=0.2)
    with pytest.raises(InputError, match="does not reach the bed"):
        build_field(phantom_scene.plan, options=FieldOptions(floor_offset_mm=30.0))
    folder = write_plan(tmp_path / "plan")
    payload = json.loads((folder / "plan.json").read_text())
    payload["tumour"] = None
    (folder / "plan.json").write_text(json.dumps(payload))
    with pytest.raises(InputError, match="has no tumour"):
        field_geometry(load_plan(folder))
