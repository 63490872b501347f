"""Plans of real data: expert head and neck label maps and a real tilted head CT."""

from __future__ import annotations

import nrrd
import numpy as np
import pytest
import pyvista as pv

from navigation.cli import main
from navigation.planning.plan import load_plan

pytestmark = pytest.mark.slow


def _plan(args, out):
    assert main([*args, "--out", str(out)]) == 0
    return load_plan(out)


def test_plan_of_real_organ_label_maps(shared_data, tmp_path):
    folder = shared_data("hn-oar-segmentations/0522c0017")
    plan = _plan(["plan", str(folder), "--labels", "--no-stl"], tmp_path / "oar")
    names = [e.name for e in plan.labels]
    assert len(names) == 21 and "Mandible" in names
    # geometry from the NRRD header, read independently with pynrrd
    header = nrrd.read_header(str(folder / "Mandible.nrrd"))
    np.testing.assert_allclose(plan.geometry.origin_lps_mm, header["space origin"], atol=1e-3)
    np.testing.assert_allclose(
        plan.geometry.direction * plan.geometry.spacing_mm,
        np.asarray(header["space directions"]).T,
        atol=1e-6,
    )
    assert header["space"] == "left-posterior-superior"
    data, _ = nrrd.read(str(folder / "Mandible.nrrd"))
    voxels = np.argwhere(data > 0)  # (i, j, k)
    voxel_lps = voxels @ np.asarray(header["space directions"]) + header["space origin"]
    mandible = pv.read(plan.mesh_path("Mandible"))
    low, high = np.array(mandible.bounds).reshape(3, 2).T
    # the mesh wraps the labelled voxels (within a voxel) and has an adult mandible's size
    np.testing.assert_allclose(low, voxel_lps.min(axis=0), atol=2.6)
    np.testing.assert_allclose(high, voxel_lps.max(axis=0), atol=2.6)
    width, depth, height = high - low
    assert 85 < width < 135 and 60 < depth < 110 and 40 < height < 110
    assert plan.label("Mandible").volume_ml == pytest.approx(51.0, rel=0.05)
    # laterality: the left parotid is on the patient's left (+x), the right one at -x
    left = np.asarray(pv.read(plan.mesh_path("Parotid-Lt")).points).mean(axis=0)
    right = np.asarray(pv.read(plan.mesh_path("Parotid-Rt")).points).mean(axis=0)
    assert left[0] > 30 and right[0] < -30
    assert plan.raw["source"]["modality"] == "LABEL" and len(plan.raw["source"]["files"]) == 21


def test_plan_of_a_real_tilted_head_ct(shared_data, tmp_path):
    folder = shared_data("ct-head-human-gantrytilt/GE")
    plan = _plan(["plan", str(folder)], tmp_path / "ge")
    source = plan.raw["source"]
    assert source["resampled"] and any("gantry tilt" in w for w in source["warnings"])
    assert len(source["files"]) == 28
    assert plan.raw["report"]["fiducials_found"] == 0  # no markers on this patient
    skin = pv.read(plan.mesh_path("skin"))
    bone = pv.read(plan.mesh_path("bone"))
    assert skin.n_open_edges == 0
    bone_low, bone_high = np.array(bone.bounds).reshape(3, 2).T
    skin_low, skin_high = np.array(skin.bounds).reshape(3, 2).T
    assert np.all(bone_low >= skin_low - 1) and np.all(bone_high <= skin_high + 1)
    width, depth, height = bone_high - bone_low
    # the skull alone: the head holder's shells at x = +-100 mm are not bone (they were, and
    # the skin wrapped them: 200 mm wide)
    assert 140 < width < 165 and 150 < depth < 200 and 100 < height < 200
    assert skin_high[0] < 95  # the holder's left shell is gone from the skin
    assert 300 < plan.label("bone").volume_ml < 900
    # no bone outside the skin
    assert float(np.max(bone.compute_implicit_distance(skin)["implicit_distance"])) < 1.0
    removed = plan.raw["report"]["removed_from_body"]
    sides = {o["where"] for o in removed["objects"] if o["kind"] == "support touching the body"}
    assert {"left", "right"} <= sides and 60 < removed["volume_ml"] < 150
    # orientation: the face is anterior (-y); its most anterior skin point is near the midline
    points = np.asarray(skin.points)
    nose = points[np.argmin(points[:, 1])]
    assert abs(nose[0]) < 35 and nose[1] < -90


@pytest.mark.slow
def test_plan_of_a_real_head_and_neck_ct_without_table_and_mask(shared_data, tmp_path):
    """HN-CHUS-052: a radiotherapy planning CT with couch, head rest, thermoplastic mask and
    shoulders in the field. The skin is closed and the patient's only; the couch and head rest
    are reported as removed; no bone lies outside the skin."""
    folder = shared_data("hn-petct-human/HN-CHUS-052/CT")
    plan = _plan(["plan", str(folder), "--no-stl"], tmp_path / "hn")
    skin = pv.read(plan.mesh_path("skin"))
    bone = pv.read(plan.mesh_path("bone"))
    assert skin.n_open_edges == 0
    # decimated to the target and still closed (a flat fin left by the edge collapses kept
    # it at its 582 000 contour triangles)
    assert skin.n_cells <= 150_000
    low, high = np.array(skin.bounds).reshape(3, 2).T
    # the couch top lies at y = +150..+160 mm under the back, its frame down to y = +277 mm;
    # the patient's back rests on it (was: the skin wrapped couch and head rest, y up to +278)
    assert high[1] < 156 and high[0] - low[0] < 520  # shoulder to shoulder, not couch width
    assert 9000 < plan.label("skin").volume_ml < 14000
    assert float(np.max(bone.compute_implicit_distance(skin)["implicit_distance"])) < 1.0
    assert plan.label("airway").volume_ml < 1500  # trachea, pharynx, lungs' apices; not the couch
    removed = plan.raw["report"]["removed_from_body"]
    couch = removed["objects"][0]
    assert couch["kind"] == "support touching the body" and couch["where"] == "posterior"
    assert couch["volume_ml"] > 1500 and couch["bbox_lps_mm"][1][1] > 250
    # no registration markers: the set-up BBs at the chin are not taken for them
    assert plan.raw["report"]["fiducials_found"] == 0
    rejected = plan.raw["report"]["fiducials_rejected"]
    assert sum("radiotherapy set-up mark" in why for why in rejected) == 3
