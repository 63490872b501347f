"""igcs plan's CT thresholds as options (recorded in plan.json), the fiducial warnings (too few
for a registration, blobs at the image border) and the tumour box that holds the tumour."""

from __future__ import annotations

import json

import numpy as np
import pytest

from navigation.cli import main
from navigation.imaging.loading import load_volume
from navigation.imaging.volume import Volume
from navigation.planning.fiducial_detection import detect_fiducials
from navigation.planning.meshing import mesh_region
from navigation.planning.region_growing import grow_region
from navigation.planning.segmentation import (
    grown_level,
    registration_point_warning,
    segment_volume,
)
from navigation.planning.tissue_thresholds import CtPreset
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def phantom_volume(phantom_ct):
    return load_volume(phantom_ct / "dicom").volume


def test_thresholds_change_the_labels_and_are_recorded(phantom_volume):
    default = segment_volume(phantom_volume)
    assert default.thresholds == {
        "units": "HU",
        "body": -500.0,
        "bone": 300.0,
        "airway": -500.0,
        "marker": 2000.0,
        "changed_from_default": [],
    }
    raised = segment_volume(phantom_volume, preset=CtPreset(bone_hu=1000.0, body_hu=-200.0))
    array = phantom_volume.array
    bone = raised.mask("bone")
    assert bone.any() and array[bone].min() > 1000.0
    body = raised.mask("skin")
    assert bone.sum() < 0.8 * default.mask("bone").sum()
    assert raised.thresholds["bone"] == 1000.0 and raised.thresholds["body"] == -200.0
    assert raised.thresholds["changed_from_default"] == ["body", "bone"]
    # the body at -200 HU lies inside the body at -500 HU
    assert body.sum() < default.mask("skin").sum() and not (body & ~default.mask("skin")).any()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--bone-hu", "-600"], "must rise body < bone < marker"),
        (["--marker-hu", "200"], "must rise body < bone < marker"),
        (["--airway-hu", "400"], "airway threshold"),
        (["--bone-hu", "nan"], "finite"),
    ],
)
def test_inconsistent_thresholds_are_refused_in_one_line(
    phantom_ct, tmp_path, capsys, options, message
):
    status = main(["plan", str(phantom_ct / "dicom"), "--out", str(tmp_path / "p"), *options])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and message in error[0]
    assert not (tmp_path / "p").exists()


def test_ct_thresholds_are_refused_for_mr_and_label_maps(phantom_mr, tmp_path, capsys):
    import SimpleITK as sitk

    mr = tmp_path / "mr.nii.gz"  # NIfTI has no modality: said with --modality
    sitk.WriteImage(phantom_mr.volume.to_sitk(), str(mr))
    status = main(
        ["plan", str(mr), "--modality", "mr", "--out", str(tmp_path / "p"), "--bone-hu", "500"]
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and "--bone-hu set CT thresholds" in error[0]
    assert "HU; INPUT is MR" in error[0]
    status = main(["plan", str(mr), "--labels", "--out", str(tmp_path / "q"), "--body-hu", "-300"])
    assert status == 2 and "--body-hu" in capsys.readouterr().err


def test_plan_json_records_the_thresholds_used(tmp_path):
    from tests.navigation.planning.petct_factory import write_ct

    ct = write_ct(tmp_path / "CT")
    assert (
        main(
            [
                "plan",
                str(ct),
                "--out",
                str(tmp_path / "p"),
                "--no-stl",
                "--marker-hu",
                "2500",
                "--bone-hu",
                "250",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "p" / "plan.json").read_text())["report"]
    assert report["thresholds"]["marker"] == 2500.0 and report["thresholds"]["bone"] == 250.0
    assert report["thresholds"]["body"] == -500.0
    assert report["thresholds"]["changed_from_default"] == ["bone", "marker"]


def _marker_volume(centres_kji, shape=(40, 60, 60)):
    """Air with a body block and 4 mm bright balls (3000 HU) at the given voxel centres."""
    geometry = ImageGeometry(shape[::-1], np.zeros(3), np.ones(3))
    k, j, i = np.indices(shape)
    array = np.full(shape, -1000.0, dtype=np.float32)
    array[:, 20:, :] = 40.0  # the body below row 20
    for centre in centres_kji:
        ball = (k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2 <= 2.2**2
        array[ball] = 3000.0
    return Volume(array, geometry, "CT")


def test_a_marker_cut_by_the_image_border_is_not_taken_and_said_so():
    volume = _marker_volume([(20, 18, 30), (0, 18, 10), (20, 18, 59)])
    outside = volume.array < -900
    found = detect_fiducials(volume.array, volume.geometry, threshold=2000.0, outside=outside)
    assert found.count == 1
    np.testing.assert_allclose(found.centroids_lps_mm[0], [30, 18, 20], atol=0.05)
    border = [r for r in found.rejected if "image border" in r]
    assert len(border) == 2
    segmentation = segment_volume(volume)
    (warning,) = [w for w in segmentation.warnings if "image border" in w]
    assert warning.startswith("2 marker-like blob(s) at the image border were not taken")


def test_too_few_fiducials_warn_and_the_plan_is_written(tmp_path, capsys):
    volume = _marker_volume([(20, 18, 30), (10, 18, 15)])
    from navigation.planning.plan_writer import make_plan

    plan = make_plan(volume, tmp_path / "p", write_stl=False)
    report = plan.raw["report"]
    assert report["registration_points"] == {"count": 2, "kind": "fiducial markers", "minimum": 3}
    (warning,) = [w for w in report["warnings"] if "at least 3" in w]
    assert warning.startswith("only 2 fiducial markers: paired-point registration needs")
    assert registration_point_warning(0, "fiducial markers").startswith("no fiducial markers: ")
    assert registration_point_warning(3, "fiducial markers") is None
    assert "igcs review PLAN" in warning and "--fiducials" in warning


def _tilted_volume():
    """A CT-like block of uniform tissue (60 HU) much larger than any box, on a grid tilted
    18.5 deg about the patient's left-right axis (as a gantry-tilted stack), 0.8 x 0.8 x 3 mm."""
    tilt = np.radians(18.5)
    direction = np.array(
        [[1.0, 0.0, 0.0], [0.0, np.cos(tilt), np.sin(tilt)], [0.0, -np.sin(tilt), np.cos(tilt)]]
    )
    geometry = ImageGeometry(
        (90, 90, 30), np.array([-36.0, -30.0, -20.0]), np.array([0.8, 0.8, 3.0]), direction
    )
    noise = np.random.default_rng(5).normal(0, 5, geometry.shape_kji)
    return Volume((60.0 + noise).astype(np.float32), geometry, "CT")


def _inside(points, box, tolerance=1e-6):
    return np.all((points >= box[0] - tolerance) & (points <= box[1] + tolerance), axis=1)


def test_the_tumour_box_holds_the_tumour_on_a_tilted_grid():
    volume = _tilted_volume()
    box = np.array([[-10.0, -5.0, 5.0], [15.0, 20.0, 25.0]])
    grown = grow_region(volume.array, volume.geometry, box.mean(axis=0), box_lps_mm=box)
    kji = np.argwhere(grown.region.mask) + np.asarray(grown.region.offset_kji)
    centres = volume.geometry.kji_to_lps(kji)
    assert _inside(centres, box).all()
    assert grown.touches_search_box  # uniform tissue reaches the box: reported as a leak
    # with a window holding all the tissue, the region is every voxel centre inside the box
    grown = grow_region(
        volume.array, volume.geometry, box.mean(axis=0), box_lps_mm=box, window=(0.0, 120.0)
    )
    assert grown.window_given and (grown.lower, grown.upper) == (0.0, 120.0)
    all_kji = np.indices(volume.geometry.shape_kji).reshape(3, -1).T
    in_box = _inside(volume.geometry.kji_to_lps(all_kji), box).sum()
    assert grown.region.voxel_count == in_box
    mesh = mesh_region(grown.region, volume.geometry, image=volume.array, level=grown_level(grown))
    assert _inside(np.asarray(mesh.points), box, tolerance=1e-3).all()
    assert mesh.is_manifold
    assert mesh.volume == pytest.approx(25 * 25 * 20, rel=0.05)  # the box, 12.5 ml


def test_a_box_without_the_seed_and_a_bad_window_are_refused():
    volume = _tilted_volume()
    box = np.array([[-10.0, -5.0, 5.0], [15.0, 20.0, 25.0]])
    with pytest.raises(InputError, match="lies outside the tumour box"):
        grow_region(volume.array, volume.geometry, [0.0, 30.0, 10.0], box_lps_mm=box)
    with pytest.raises(InputError, match="lower <= upper"):
        grow_region(volume.array, volume.geometry, [0.0, 5.0, 10.0], window=(90.0, 30.0))
    with pytest.raises(InputError, match="outside the window"):
        grow_region(volume.array, volume.geometry, [0.0, 5.0, 10.0], window=(500.0, 900.0))


@pytest.mark.slow
def test_the_tumour_box_holds_the_tumour_on_the_real_tilted_head_ct(shared_data, tmp_path):
    """The real gantry-tilted head CT with the box of the report (10..35 x 5..30 x 25..45 mm
    LPS), which used to give a tumour spanning z 14.6-54.6 mm."""
    folder = shared_data("ct-head-human-gantrytilt/GE")
    out = tmp_path / "plan"
    assert (
        main(
            ["plan", str(folder), "--out", str(out), "--no-stl", "--tumour-box", "10,5,25,35,30,45"]
        )
        == 0
    )
    from navigation.planning.plan import load_plan

    plan = load_plan(out)
    box = np.array([[10.0, 5.0, 25.0], [35.0, 30.0, 45.0]])
    mesh = plan.read_mesh("tumour")
    assert _inside(np.asarray(mesh.points), box, tolerance=1e-3).all()
    bounds = np.asarray(mesh.bounds).reshape(3, 2)
    assert bounds[2, 0] >= 25.0 - 1e-3 and bounds[2, 1] <= 45.0 + 1e-3
    import SimpleITK as sitk

    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labels.nii.gz")))
    centres = plan.geometry.kji_to_lps(np.argwhere(labels == plan.label("tumour").value))
    assert len(centres) and _inside(centres, box).all()
    assert plan.raw["report"]["tumour"]["box_lps_mm"] == box.tolist()
