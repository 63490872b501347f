from __future__ import annotations

import json

import jsonschema
import nrrd
import numpy as np
import pytest
import pyvista as pv
import slicerio

from navigation.cli import main
from navigation.imaging.loading import load_volume
from navigation.planning.markups import read_point_file
from navigation.planning.plan import load_plan
from navigation.planning.plan_writer import make_plan
from navigation.simulation.phantom import load_truth
from registration.core.checks import InputError


def _left_marker(truth):
    index = truth.fiducial_names.index("left zygoma")
    return truth.fiducials_lps_mm[index]


def test_plan_folder_loads_and_matches_the_truth(phantom_ct, phantom_plan):
    plan = load_plan(phantom_plan)
    truth = load_truth(phantom_ct)
    assert [e.name for e in plan.labels] == [
        "skin",
        "bone",
        "airway",
        "tumour",
        "node",
        "fiducials",
    ]
    assert plan.tumour_volume_ml == pytest.approx(truth.tumour_volume_ml, rel=0.05)
    assert plan.targets[0].name == "tumour centroid"
    np.testing.assert_allclose(
        plan.targets[0].position_lps_mm, truth.tumour_centroid_lps_mm, atol=0.5
    )
    distances = np.linalg.norm(
        plan.fiducials_lps_mm[:, None, :] - truth.fiducials_lps_mm[None, :, :], axis=2
    )
    assert len(plan.fiducial_names) == 7 and distances.min(axis=0).max() < 0.3
    raw = plan.raw
    assert raw["software_version"] and raw["source"]["kind"] == "dicom"
    assert raw["source"]["series_instance_uid"] == truth.raw["series_instance_uid"]
    files = raw["source"]["files"]
    assert len(files) == 160 and all(len(f["sha256"]) == 64 for f in files)
    assert raw["report"]["warnings"] == []
    for entry in plan.labels:
        assert plan.mesh_path(entry.name).is_file()
        assert plan.mesh_path(entry.name).with_suffix(".stl").is_file()


@pytest.mark.parametrize("name", ["fiducials", "tumour", "skin"])
def test_mesh_vertices_lie_within_half_a_voxel_of_the_analytic_surface(
    phantom_ct, phantom_plan, name
):
    plan = load_plan(phantom_plan)
    truth = load_truth(phantom_ct)
    points = np.asarray(pv.read(plan.mesh_path(name)).points)
    if name == "skin":
        # leave out the caps where the body leaves the image and the markers' bumps
        low, high = plan.geometry.extent_lps_mm[:, 2]
        keep = (points[:, 2] > low + 3) & (points[:, 2] < high - 3)
        near = np.linalg.norm(points[:, None, :] - truth.fiducials_lps_mm[None], axis=2)
        keep &= near.min(axis=1) > 6.0
        points = points[keep]
    distance = np.abs(truth.signed_distance_mm(name, points))
    half_voxel = 0.5 * plan.geometry.spacing_mm.min()
    assert distance.max() < half_voxel, (distance.max(), np.percentile(distance, 99))


def test_a_left_marker_is_at_positive_x_in_every_file(phantom_ct, phantom_plan):
    """Laterality: the marker on the patient's left zygoma is at LPS x > 0 in the mesh, the
    markups file and the Slicer segmentation (each read back independently)."""
    truth = load_truth(phantom_ct)
    left = _left_marker(truth)
    assert left[0] > 40
    plan = load_plan(phantom_plan)
    # mesh: the fiducials surface has a blob around the left marker
    points = np.asarray(pv.read(plan.mesh_path("fiducials")).points)
    blob = points[np.linalg.norm(points - left, axis=1) < 4.0]
    assert len(blob) > 20 and np.all(blob[:, 0] > 40)
    np.testing.assert_allclose(blob.mean(axis=0), left, atol=0.3)
    # markups JSON: read raw (stated LPS) and through our reader; Slicer's schema validates it
    payload = json.loads(plan.file_path("fiducials").read_text())
    markup = payload["markups"][0]
    assert markup["coordinateSystem"] == "LPS"
    positions = np.array([p["position"] for p in markup["controlPoints"]])
    assert np.linalg.norm(positions - left, axis=1).min() < 0.3
    assert read_point_file(plan.file_path("fiducials")).points_lps_mm[:, 0].max() > 40
    # .seg.nrrd with slicerio: segment names and colours kept, voxels at the left marker
    segmentation = slicerio.read_segmentation(str(plan.file_path("seg_nrrd")))
    names = [s["name"] for s in segmentation["segments"]]
    assert names == [e.name for e in plan.labels]
    for segment, entry in zip(segmentation["segments"], plan.labels, strict=True):
        np.testing.assert_allclose(segment["color"], entry.color, atol=1e-5)
    mask = slicerio.segment_mask(
        segmentation, slicerio.segment_from_name(segmentation, "fiducials")
    )
    ijk = np.argwhere(mask)
    lps = ijk @ segmentation["ijkToLPS"][:3, :3].T + segmentation["ijkToLPS"][:3, 3]
    near = lps[np.linalg.norm(lps - left, axis=1) < 3.0]
    assert len(near) > 10 and np.all(near[:, 0] > 40)
    # .seg.nrrd with pynrrd alone: space and geometry from the header fields
    data, header = nrrd.read(str(plan.file_path("seg_nrrd")))
    assert header["space"] == "left-posterior-superior"
    fid = next(n for n in range(len(names)) if header[f"Segment{n}_Name"] == "fiducials")
    layer, value = int(header[f"Segment{fid}_Layer"]), int(header[f"Segment{fid}_LabelValue"])
    directions = np.asarray(header["space directions"])[-3:]
    voxels = np.argwhere(data[layer] == value)  # (i, j, k), list axis first
    lps = voxels @ directions + np.asarray(header["space origin"])
    assert np.linalg.norm(lps - left, axis=1).min() < 1.0
    assert lps[np.linalg.norm(lps - left, axis=1) < 3.0][:, 0].min() > 40


def test_markups_validate_against_the_slicer_schema(phantom_plan, shared_data):
    schema = json.loads(shared_data("../specs/markups-schema-v1.0.3.json").read_text())
    plan = load_plan(phantom_plan)
    jsonschema.validate(json.loads(plan.file_path("fiducials").read_text()), schema)


def test_nifti_labels_match_the_segmentation(phantom_plan):
    import SimpleITK as sitk

    plan = load_plan(phantom_plan)
    image = sitk.ReadImage(str(plan.file_path("nifti")))
    np.testing.assert_allclose(image.GetOrigin(), plan.geometry.origin_lps_mm, atol=1e-4)
    labels = sitk.GetArrayFromImage(image)
    voxel_ml = float(np.prod(plan.geometry.spacing_mm)) / 1000.0
    tumour = plan.label("tumour")
    assert (labels == tumour.value).sum() * voxel_ml == pytest.approx(tumour.volume_ml)


@pytest.mark.slow
def test_an_interrupted_plan_leaves_nothing_that_loads(phantom_ct, tmp_path):
    volume = load_volume(phantom_ct / "dicom").volume
    truth = load_truth(phantom_ct)
    out = tmp_path / "plan"

    def stop_at_meshes(stage):
        if stage == "meshes":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_plan(volume, out, tumour_seed_lps_mm=truth.tumour_seed_lps_mm, on_stage=stop_at_meshes)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no half-written temporary folder either
    with pytest.raises(InputError, match="not a plan folder"):
        load_plan(out)


@pytest.mark.slow
def test_cli_errors_are_one_clear_line(phantom_ct, phantom_plan, tmp_path, capsys):
    status = main(
        ["plan", str(phantom_ct / "dicom"), "--out", str(tmp_path / "p"), "--tumour-seed=0,0,900"]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert "tumour seed (0.0, 0.0, 900.0) mm LPS lies outside the image" in error
    assert "Traceback" not in error and not (tmp_path / "p").exists()
    assert main(["plan", str(phantom_ct / "dicom"), "--out", str(phantom_plan)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["plan", str(tmp_path), "--out", str(tmp_path / "q")]) == 2
    assert (
        main(["plan", str(phantom_ct / "dicom"), "--out", str(tmp_path / "q"), "--tumour-seed=1,2"])
        == 2
    )
    assert "three numbers" in capsys.readouterr().err


def test_plan_help_explains_the_folder(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = capsys.readouterr().out
    for needle in ("labels.seg.nrrd", "fiducials.mrk.json", "LPS", "--tumour-seed", "atomically"):
        assert needle in text
