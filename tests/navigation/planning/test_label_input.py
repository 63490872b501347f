"""igcs plan --labels: our own layered labels.seg.nrrd comes back identical, label files are
named by what they mean (tumour.nrrd, GTV*.nrrd), clashes and foreign layouts refused."""

from __future__ import annotations

import json

import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from navigation.cli import main
from navigation.imaging.volume import Volume
from navigation.planning.label_input import read_label_files
from navigation.planning.plan import load_plan
from navigation.planning.segmentation_import import read_seg_nrrd
from registration.core.geometry import ImageGeometry

pytestmark = pytest.mark.slow


def test_our_labels_seg_nrrd_round_trips_through_plan_labels(phantom_plan, tmp_path, capsys):
    source = phantom_plan / "labels.seg.nrrd"
    assert nrrd.read_header(str(source))["kinds"][0] == "list"  # layered: skin overlaps the rest
    out = tmp_path / "again"
    assert main(["plan", str(source), "--labels", "--out", str(out), "--no-stl"]) == 0
    assert "read 6 labels" in capsys.readouterr().out
    first, again = load_plan(phantom_plan), load_plan(out)
    assert [(e.name, e.value) for e in again.labels] == [(e.name, e.value) for e in first.labels]
    for a, b in zip(first.labels, again.labels, strict=True):
        assert b.color == pytest.approx(a.color, abs=1e-6)
        assert b.volume_ml == pytest.approx(a.volume_ml, rel=1e-12)
    grid_a, ours = read_seg_nrrd(source)
    grid_b, theirs = read_seg_nrrd(out / "labels.seg.nrrd")
    np.testing.assert_allclose(grid_b.lps_from_ijk, grid_a.lps_from_ijk, atol=1e-9)
    assert [(s.name, s.value, s.layer) for s in theirs] == [
        (s.name, s.value, s.layer) for s in ours
    ]
    for x, y in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(x.mask, y.mask)
    assert again.raw["tumour"]["volume_ml"] == pytest.approx(first.tumour_volume_ml, rel=1e-12)
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labels.nii.gz"))),
        sitk.GetArrayFromImage(sitk.ReadImage(str(phantom_plan / "labels.nii.gz"))),
    )


def _write(path, mask, geometry, value=1):
    Volume((mask * value).astype(np.uint8), geometry, "LABEL")
    sitk.WriteImage(Volume((mask * value).astype(np.uint8), geometry, "LABEL").to_sitk(), str(path))


def _masks():
    geometry = ImageGeometry((30, 24, 20), np.array([-10.0, 5.0, 2.0]), np.array([1.0, 1.2, 2.0]))
    k, j, i = np.indices(geometry.shape_kji)
    return geometry, {
        "tumour": (i - 10) ** 2 + (j - 12) ** 2 + (k - 10) ** 2 < 25,
        "node": (i - 22) ** 2 + (j - 8) ** 2 + (k - 6) ** 2 < 9,
        "jaw": (j > 18) & (i > 4) & (i < 26),
    }


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("tumour.nrrd", "GTVn1.nii.gz", "Mandible.nrrd"), ("tumour", "node", "Mandible")),
        (("GTV_70.nrrd", "GTV-N_L.nrrd", "Mandible.mha"), ("tumour", "node", "Mandible")),
        (("Tumor.nii.gz", "lymph node.nrrd", "jaw.nrrd"), ("tumour", "node", "jaw")),
    ],
)
def test_label_files_are_named_by_what_they_mean(tmp_path, capsys, names, expected):
    geometry, masks = _masks()
    for name, mask in zip(names, masks.values(), strict=True):
        _write(tmp_path / name, mask, geometry, value=7)
    volume, segmentation = read_label_files(tmp_path)
    by_name = {e.name: e for e in segmentation.table}
    assert sorted(by_name) == sorted(expected)
    assert by_name["tumour"].value == 4 and by_name["node"].value == 5  # canonical values
    assert by_name["tumour"].color == pytest.approx((0.902, 0.157, 0.157))
    other = next(e for e in segmentation.table if e.name not in ("tumour", "node"))
    assert other.value == 1  # the lowest value free
    for (name, mask), label in zip(masks.items(), ("tumour", "node", other.name), strict=True):
        np.testing.assert_array_equal(segmentation.mask(label), mask, err_msg=name)
    assert np.count_nonzero(volume.array == 4) == masks["tumour"].sum()
    out = tmp_path / "plan"
    assert main(["plan", str(tmp_path), "--labels", "--out", str(out), "--no-stl"]) == 0
    printed = capsys.readouterr().out
    assert f"node <- {names[1].split('.')[0]!r} ({names[1]})" in printed
    raw = json.loads((out / "plan.json").read_text())
    assert raw["tumour"]["volume_ml"] == pytest.approx(masks["tumour"].sum() * 2.4 / 1000)
    rows = {r["name"]: r["file"] for r in raw["label_files"]["structures"]}
    assert rows["tumour"] == names[0]


def test_two_files_meaning_the_tumour_are_refused(tmp_path, capsys):
    geometry, masks = _masks()
    _write(tmp_path / "tumour.nrrd", masks["tumour"], geometry)
    _write(tmp_path / "GTVp.nrrd", masks["node"], geometry)
    status = main(["plan", str(tmp_path), "--labels", "--out", str(tmp_path / "p")])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1
    assert "GTVp.nrrd ('GTVp') and tumour.nrrd ('tumour') both mean 'tumour'" in error[0]


def test_a_layered_file_not_named_seg_nrrd_is_explained(phantom_plan, tmp_path, capsys):
    data, header = nrrd.read(str(phantom_plan / "labels.seg.nrrd"))
    nrrd.write(str(tmp_path / "layers.nrrd"), data, header)
    status = main(["plan", str(tmp_path / "layers.nrrd"), "--labels", "--out", str(tmp_path / "p")])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1
    assert "components per voxel" in error[0] and "*.seg.nrrd" in error[0]
