"""The review's logic without a window, on a copy of the phantom plan: corrections change the
plan's labels and meshes by what they say, a threshold re-runs one tissue, saving rewrites the
folder and keeps the previous one with the edit log, 3D Slicer's round trip re-imports an edit,
and the review pictures are drawn."""

from __future__ import annotations

import json
import shutil
import stat
import time

import nrrd
import numpy as np
import pytest

from navigation.planning.plan import load_plan
from navigation.planning.segmentation_import import read_seg_nrrd
from navigation.planning.tissue_thresholds import CtPreset, bone_region, near
from navigation.review import label_edits, landmarks, slicer_link, structures
from navigation.review.model import ReviewModel
from navigation.review.saving import save_review
from registration.core.checks import InputError


@pytest.fixture
def model(phantom_plan, tmp_path):
    folder = tmp_path / "plan"
    shutil.copytree(phantom_plan, folder)
    return ReviewModel.open(folder)


def test_the_model_reads_the_plan_as_written(model, phantom_plan):
    plan = load_plan(phantom_plan)
    assert [e.name for e in model.table] == [e.name for e in plan.labels]
    _grid, segments = read_seg_nrrd(phantom_plan / "labels.seg.nrrd")
    for segment in segments:
        np.testing.assert_array_equal(
            model.regions[segment.name].to_full(model.geometry.shape_kji), segment.mask
        )
    assert [m.name for m in model.landmarks] == list(plan.fiducial_names)
    assert model.preset == CtPreset() and model.modality == "CT"
    np.testing.assert_allclose(model.cursor_lps_mm, plan.tumour_centroid_lps_mm)
    status = landmarks.tre_status(model)
    assert status.tre_mm is not None and status.hint_tre_mm < status.tre_mm
    # the hint lies on the skin with air outside, away from the caps where the scan cuts it
    locator = model.skin_locator()
    closest = locator.closest(status.hint_lps_mm[None])
    assert closest.distances_mm[0] < 1e-6
    ijk = model.geometry.lps_to_ijk(status.hint_lps_mm)
    assert np.all(ijk > 2.5) and np.all(ijk < np.asarray(model.geometry.size_ijk) - 3.5)
    outside = model.geometry.lps_to_ijk(status.hint_lps_mm + 3.0 * closest.normals[0])
    i, j, k = np.rint(outside).astype(int)
    assert model.image[k, j, i] < -500.0
    # it is the best of the candidates: each lowers the TRE less
    from registration.tre import predict_tre_rms

    points = np.array([m.position_lps_mm for m in model.landmarks])
    target = model.plan.tumour_centroid_lps_mm
    with_hint = predict_tre_rms(np.vstack([points, status.hint_lps_mm]), target, fle_rms_mm=1.0)
    assert with_hint[0] == pytest.approx(status.hint_tre_mm, rel=1e-9)
    candidates = landmarks.hint_candidates(model, model.meshes["skin"])
    for candidate in candidates[:: max(1, len(candidates) // 50)]:
        other = predict_tre_rms(np.vstack([points, candidate]), target, fle_rms_mm=1.0)[0]
        assert other >= status.hint_tre_mm - 1e-12


def test_a_correction_changes_the_label_its_mesh_and_the_log(model):
    before = model.regions["tumour"]
    expected = label_edits.grow_shrink(before, model.geometry, 1.0)
    changed = structures.edit_label(model, "tumour", "margin", margin_mm=1.0)
    assert changed == expected.voxel_count - before.voxel_count > 0
    assert model.regions["tumour"].voxel_count == expected.voxel_count
    mesh = model.meshes["tumour"]
    assert mesh.volume / 1000.0 == pytest.approx(model.volume_ml("tumour"), rel=0.05)
    entry = model.edits[-1]
    assert entry["what"] == "label margin" and entry["voxels_changed"] == changed
    assert entry["label"] == "tumour" and entry["margin_mm"] == 1.0
    assert structures.edit_label(model, "tumour", "keep largest") == 0  # one island already
    with pytest.raises(InputError, match="unknown operation"):
        structures.edit_label(model, "tumour", "paint")
    with pytest.raises(InputError, match="not in this label"):
        structures.edit_label(model, "tumour", "remove island", point_lps_mm=[0.0, 0.0, 60.0])


@pytest.mark.slow
def test_a_changed_bone_threshold_re_runs_the_bone_only(model):
    skin = model.regions["skin"]
    preset = CtPreset(bone_hu=700.0)
    seconds = structures.resegment(model, "bone", preset)
    array = model.volume().array
    markers = model.regions["fiducials"]
    full = markers.to_full(model.geometry.shape_kji)
    expected = bone_region(array, model.geometry, skin, preset, exclude=near(full, (markers,)))
    np.testing.assert_array_equal(
        model.regions["bone"].to_full(model.geometry.shape_kji),
        expected.to_full(model.geometry.shape_kji),
    )
    assert model.regions["skin"] is skin and seconds < 60
    assert model.levels["bone"].threshold == 700.0
    with pytest.raises(InputError, match="thresholds of the scan"):
        structures.resegment(model, "tumour", preset)
    save_review(model)
    report = load_plan(model.plan.root).raw["report"]
    assert report["thresholds"]["bone"] == 700.0 and report["thresholds"]["marker"] == 2000.0


def test_saving_keeps_the_previous_plan_and_the_log_of_every_session(model, tmp_path):
    root = model.plan.root
    original = (root / "plan.json").read_bytes()
    landmarks.rename_landmark(model, "F1", "nasion")
    landmarks.delete_landmark(model, "F7")
    first = save_review(model)
    assert (first / "plan.json").read_bytes() == original  # the previous plan, untouched
    plan = load_plan(root)
    assert plan.fiducial_names[0] == "nasion" and "F7" not in plan.fiducial_names
    assert (root / "image.nii.gz").read_bytes() == (first / "image.nii.gz").read_bytes()
    again = ReviewModel.open(root)
    again.user = "second planner"
    structures.edit_label(again, "node", "margin", margin_mm=-1.0)
    second = save_review(again)
    assert second != first and second.is_dir() and first.is_dir()
    edits = load_plan(root).raw["edits"]
    assert [e["what"] for e in edits] == [
        "landmark renamed",
        "landmark deleted",
        "saved",
        "label margin",
        "saved",
    ]
    assert edits[3]["who"] == "second planner" and edits[4]["previous"] == second.name
    node = load_plan(root).label("node")
    assert node.volume_ml == pytest.approx(again.volume_ml("node"))
    assert not list(root.parent.glob(f".{root.name}.review-*"))  # no temporary folder left


def test_slicer_round_trip(model, tmp_path, monkeypatch):
    monkeypatch.setenv(slicer_link.SLICER_ENV, str(tmp_path / "no-slicer"))
    message = slicer_link.open_in_slicer(model)
    folder = slicer_link.edit_folder(model)
    assert "3D Slicer was not found" in message and slicer_link.SLICER_DOWNLOAD in message
    assert (folder / "labels.seg.nrrd").is_file() and (folder / "image.nii.gz").is_file()
    # a stand-in for Slicer (it cannot run here) records the command line it is given
    fake = tmp_path / "Slicer"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path / 'args.txt'}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(slicer_link.SLICER_ENV, str(fake))
    assert "3D Slicer started" in slicer_link.open_in_slicer(model)
    deadline = time.monotonic() + 30.0  # the stand-in runs in its own session
    while time.monotonic() < deadline and not (
        (tmp_path / "args.txt").exists() and (tmp_path / "args.txt").read_text()
    ):
        time.sleep(0.05)
    args = (tmp_path / "args.txt").read_text().splitlines()
    assert args[0] == "--python-code" and "loadSegmentation" in args[1]
    assert str(folder / "labels.seg.nrrd") in args[1] and "image.nii.gz" in args[1]
    # the planner's edit in Slicer: the tumour's upper half erased, saved over the file
    data, header = nrrd.read(str(folder / "labels.seg.nrrd"), index_order="C")
    index = next(n for n in range(20) if header.get(f"Segment{n}_Name") == "tumour")
    layer, value = int(header[f"Segment{index}_Layer"]), int(header[f"Segment{index}_LabelValue"])
    tumour = model.regions["tumour"]
    top = tumour.offset_kji[0] + tumour.mask.shape[0] // 2
    erased = data[top:, ..., layer] == value
    data[top:, ..., layer][erased] = 0
    nrrd.write(str(folder / "labels.seg.nrrd"), data, header, index_order="C")
    before = tumour.voxel_count
    assert slicer_link.reimport_from_slicer(model) == ["tumour"]
    assert model.regions["tumour"].voxel_count == before - int(erased.sum())
    assert model.edits[-1]["what"] == "re-imported from 3D Slicer"
    assert slicer_link.reimport_from_slicer(model) == []  # nothing changed since


@pytest.mark.slow
def test_review_pictures(model):
    from navigation.review.pictures import write_review_pictures

    files = write_review_pictures(model.plan.root)
    assert set(files) == {
        "review_axial",
        "review_coronal",
        "review_sagittal",
        "review_meshes",
        "review_overview",
    }
    from PIL import Image

    axial = np.asarray(Image.open(model.plan.root / files["review_axial"]).convert("RGB"))
    assert axial.shape == (900, 900, 3)
    # the slice cuts the tumour centroid: the tumour's red outline is drawn near the centre
    red = (axial[..., 0] > 200) & (axial[..., 1] < 80) & (axial[..., 2] < 80)
    rows, _columns = np.nonzero(red)
    assert red.sum() > 100 and abs(np.median(rows) - 450) < 150
    meshes = np.asarray(Image.open(model.plan.root / files["review_meshes"]).convert("RGB"))
    assert meshes.shape == (800, 1600, 3) and meshes.std() > 10
    json.dumps(files)


def test_plan_review_pictures_of_a_label_map_plan(tmp_path, capsys):
    """igcs plan --review-pictures lists the pictures in plan.json; a plan of label files (no
    scan) is drawn from its labels alone."""
    import SimpleITK as sitk

    from navigation.cli import main
    from navigation.imaging.volume import Volume
    from registration.core.geometry import ImageGeometry

    geometry = ImageGeometry((40, 36, 30), np.array([-20.0, -18.0, -30.0]), np.ones(3) * 1.5)
    k, j, i = np.indices(geometry.shape_kji)
    body = ((i - 20) ** 2 + (j - 18) ** 2 < 240) & (k > 2) & (k < 27)
    tumour = (i - 24) ** 2 + (j - 14) ** 2 + (k - 15) ** 2 < 20
    for name, mask in (("External", body), ("GTVp", tumour)):
        volume = Volume(mask.astype(np.uint8), geometry, "LABEL")
        sitk.WriteImage(volume.to_sitk(), str(tmp_path / f"{name}.nrrd"))
    out = tmp_path / "plan"
    assert (
        main(
            ["plan", str(tmp_path), "--labels", "--out", str(out), "--no-stl", "--review-pictures"]
        )
        == 0
    )
    assert "review pictures: review/axial.png" in capsys.readouterr().out
    files = load_plan(out).raw["files"]
    for name in ("axial", "coronal", "sagittal", "meshes", "overview"):
        assert (out / files[f"review_{name}"]).is_file()


def test_review_command_refuses_bad_input_in_one_line(tmp_path, capsys):
    from navigation.cli import main

    assert main(["review", str(tmp_path / "missing")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "is not a plan folder" in error[0]
    assert main(["review", str(tmp_path), "--fle", "-1"]) == 2
    assert "--fle must be a positive number" in capsys.readouterr().err
