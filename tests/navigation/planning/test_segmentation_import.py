"""Slicer .seg.nrrd import: our own layered output round-trips exactly, Slicer's own files are
read, segment names and SNOMED codes map to our labels, and our files carry the terminology."""

from __future__ import annotations

import json
from pathlib import Path

import nrrd
import numpy as np
import pytest
import slicerio

from navigation.cli import main
from navigation.imaging.loading import load_volume
from navigation.planning.label_files import write_seg_nrrd
from navigation.planning.labels import canonical_entry
from navigation.planning.plan import LabelEntry, load_plan
from navigation.planning.regions import RegionMask
from navigation.planning.segmentation import Segmentation
from navigation.planning.segmentation_import import read_seg_nrrd, segmentation_structures
from navigation.planning.terminology import label_for_segment
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry
from tests.navigation.planning.petct_factory import write_ct

SLICER_DATA = Path(slicerio.__file__).parent / "data"  # files saved by 3D Slicer itself


def _segmentation() -> Segmentation:
    geometry = ImageGeometry(
        (40, 30, 20), np.array([-20.0, 10.0, -5.0]), np.array([0.8, 0.9, 2.0]),
        np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
    )  # fmt: skip
    k, j, i = np.indices(geometry.shape_kji)
    body = (i - 20) ** 2 + (j - 15) ** 2 < 140
    tumour = (i - 22) ** 2 + (j - 14) ** 2 + (k - 10) ** 2 < 20
    bone = body & (i < 12)
    table = (canonical_entry("skin"), canonical_entry("bone"), canonical_entry("tumour"),
             LabelEntry("Parotid L", 9, (0.2, 0.4, 0.6)))  # fmt: skip
    masks = {"skin": body, "bone": bone, "tumour": tumour, "Parotid L": body & (j > 24)}
    regions = {name: RegionMask.from_full(mask) for name, mask in masks.items()}
    return Segmentation(geometry, table, regions, "CT")


def test_our_layered_seg_nrrd_round_trips_exactly(tmp_path):
    segmentation = _segmentation()
    write_seg_nrrd(tmp_path / "labels.seg.nrrd", segmentation)
    assert nrrd.read_header(str(tmp_path / "labels.seg.nrrd"))["kinds"][0] == "list"  # layered
    grid, segments = read_seg_nrrd(tmp_path / "labels.seg.nrrd")
    assert grid.size_ijk == segmentation.geometry.size_ijk
    np.testing.assert_allclose(grid.lps_from_ijk, segmentation.geometry.lps_from_ijk, atol=1e-9)
    assert [(s.name, s.value) for s in segments] == [(e.name, e.value) for e in segmentation.table]
    for segment, entry in zip(segments, segmentation.table, strict=True):
        assert segment.color == pytest.approx(entry.color, abs=1e-6)
        np.testing.assert_array_equal(segment.mask, segmentation.mask(entry.name))


def test_terminology_written_for_slicer(tmp_path):
    write_seg_nrrd(tmp_path / "labels.seg.nrrd", _segmentation())
    read = slicerio.read_segmentation(str(tmp_path / "labels.seg.nrrd"), skip_voxels=True)
    terms = {s["name"]: s.get("terminology") for s in read["segments"]}
    assert terms["skin"]["type"] == ["SCT", "39937001", "Skin"]
    assert terms["bone"]["type"] == ["SCT", "272673000", "Bone"]
    assert terms["tumour"]["category"] == ["SCT", "49755003", "Morphologically Altered Structure"]
    assert terms["tumour"]["type"] == ["SCT", "108369006", "Neoplasm"]
    assert terms["Parotid L"] is None
    header = nrrd.read_header(str(tmp_path / "labels.seg.nrrd"))
    assert header["Segment0_Tags"] == (
        "Segmentation.Status:completed|TerminologyEntry:Segmentation category and type - 3D "
        "Slicer General Anatomy list~SCT^85756007^Tissue~SCT^39937001^Skin~^^~Anatomic codes - "
        "DICOM master list~^^~^^|"
    )


@pytest.mark.parametrize("name", ["Segmentation.seg.nrrd", "SegmentationOverlapping.seg.nrrd"])
def test_files_saved_by_slicer_are_read(name):
    file = SLICER_DATA / name
    reference = slicerio.read_segmentation(str(file))
    grid, segments = read_seg_nrrd(file)
    assert [s.name for s in segments] == [s["name"] for s in reference["segments"]]
    for segment in segments:
        expected = slicerio.segment_mask(reference, segment.name)  # (i, j, k)
        np.testing.assert_array_equal(segment.mask, expected.transpose(2, 1, 0))
    np.testing.assert_allclose(grid.lps_from_ijk, reference["ijkToLPS"], atol=1e-9)


def test_names_and_codes_map_to_our_labels():
    neoplasm = {"type": ["SCT", "108369006", "Neoplasm"]}
    assert label_for_segment("Segment_1", neoplasm) == "tumour"
    assert label_for_segment("GTV-p", None) == "tumour"
    assert label_for_segment("Tumor", None) == "tumour"
    assert label_for_segment("GTVn", None) == "node"
    assert label_for_segment("External", None) == "skin"
    assert label_for_segment("Parotid L", None) is None


@pytest.mark.slow
def test_plan_from_its_own_segmentation_and_an_edited_one(tmp_path, capsys):
    ct = write_ct(tmp_path / "CT")
    first = tmp_path / "first"
    assert main(["plan", str(ct), "--out", str(first), "--tumour-box",
                 "10,-22,-62,34,2,-38", "--no-stl"]) == 0  # fmt: skip
    again = tmp_path / "again"
    assert main(["plan", str(ct), "--segmentation", str(first / "labels.seg.nrrd"), "--out",
                 str(again), "--no-stl"]) == 0  # fmt: skip
    a, b = load_plan(first), load_plan(again)
    assert [(e.name, e.value, e.color) for e in a.labels] == [
        (e.name, e.value, e.color) for e in b.labels
    ]
    _, ours = read_seg_nrrd(first / "labels.seg.nrrd")
    _, theirs = read_seg_nrrd(again / "labels.seg.nrrd")
    for x, y in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(x.mask, y.mask)
    assert b.raw["segmentation_import"]["grid"] == "same"
    # a planner's edit in Slicer: the tumour renamed "GTVp" and cropped to a box of the grid
    data, header = nrrd.read(str(first / "labels.seg.nrrd"), index_order="C")
    n = next(i for i in range(20) if header.get(f"Segment{i}_Name") == "tumour")
    header[f"Segment{n}_Name"] = "GTVp"
    header[f"Segment{n}_Tags"] = "Segmentation.Status:completed|"
    box = data[10:60, 20:70, 25:75]
    header["space origin"] = load_volume(ct).volume.geometry.ijk_to_lps([25, 20, 10])
    edited = tmp_path / "edited.seg.nrrd"
    nrrd.write(str(edited), box, {k: v for k, v in header.items() if k != "sizes"},
               index_order="C")  # fmt: skip
    third = tmp_path / "third"
    assert main(["plan", str(ct), "--segmentation", str(edited), "--out", str(third),
                 "--no-stl"]) == 0  # fmt: skip
    raw = json.loads((third / "plan.json").read_text())
    assert raw["segmentation_import"]["grid"] == "box"
    rows = {r["source"]: r["name"] for r in raw["segmentation_import"]["imported"]}
    assert rows["GTVp"] == "tumour" and raw["tumour"]["source"] == "segmentation_import"
    assert raw["tumour"]["volume_ml"] == pytest.approx(a.tumour_volume_ml, rel=1e-9)
    capsys.readouterr()
    bad = tmp_path / "bad.seg.nrrd"
    bad.write_text("not a segmentation")
    status = main(["plan", str(ct), "--segmentation", str(bad), "--out", str(tmp_path / "x")])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and "not a readable 3D Slicer segmentation" in error[0]
    with pytest.raises(InputError, match="does not exist"):
        segmentation_structures(tmp_path / "missing.seg.nrrd", load_volume(ct).volume)


@pytest.mark.slow
def test_one_source_per_structure(tmp_path, capsys):
    ct = write_ct(tmp_path / "CT")
    segmentation = _segmentation()
    write_seg_nrrd(tmp_path / "s.seg.nrrd", segmentation)
    cases = [
        (["--pet", str(ct), "--tumour-box", "0,0,0,1,1,1"], "--tumour-box grows the tumour"),
        (["--pet", str(ct), "--pet-fraction", "1.5"], "between 0.2 and 0.9"),
        (["--tumour-roi", "GTV"], "choose contours of --rtstruct"),
        (["--labels", "--fiducials", str(tmp_path / "s.seg.nrrd")], "Drop --labels"),
        (["--segmentation", str(tmp_path / "missing.seg.nrrd")], "does not exist"),
    ]
    for extra, message in cases:
        status = main(["plan", str(ct), "--out", str(tmp_path / "x"), *extra])
        error = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and len(error) == 1 and message in error[0], (extra, error)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_segmentation_on_another_grid_is_resampled(tmp_path):
    """A segmentation saved on a coarser, shifted grid (e.g. made on a resampled volume): placed
    by nearest voxel on the planning grid, said so."""
    ct = load_volume(write_ct(tmp_path / "CT")).volume
    coarse = ImageGeometry((30, 30, 30), np.array([-41.3, -52.7, -75.1]), np.array([3.0, 3.0, 3.0]))
    k, j, i = np.indices(coarse.shape_kji)
    centre_lps = np.array([-2.0, -10.0, -30.0])
    centre = coarse.lps_to_ijk(centre_lps)
    ball = (i - centre[0]) ** 2 + (j - centre[1]) ** 2 + (k - centre[2]) ** 2 <= 5.0**2
    table = (LabelEntry("GTV", 1, (1.0, 0.0, 0.0)),)
    saved = Segmentation(coarse, table, {"GTV": RegionMask.from_full(ball)}, "CT")
    write_seg_nrrd(tmp_path / "coarse.seg.nrrd", saved)
    imported = segmentation_structures(tmp_path / "coarse.seg.nrrd", ct)
    assert imported.record["grid"] == "resampled"
    region = imported.regions["tumour"]
    sphere_ml = 4 / 3 * np.pi * 15.0**3 / 1000  # radius 5 voxels of 3 mm
    assert region.volume_ml(ct.geometry) == pytest.approx(sphere_ml, rel=0.1)
    np.testing.assert_allclose(region.centroid_lps_mm(ct.geometry), centre_lps, atol=1.0)
