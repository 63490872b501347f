"""RTSTRUCT import: contours of known shapes rasterised on the image grid, frame of reference
checked, ROI choice; and pydicom's real structure set."""

from __future__ import annotations

import json

import cc3d
import numpy as np
import pytest

from navigation.cli import main
from navigation.imaging.loading import load_volume
from navigation.imaging.volume import Volume
from navigation.planning.rtstruct import rtstruct_structures
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry
from tests.navigation.planning.petct_factory import FRAME_UID, write_ct
from tests.navigation.planning.rtstruct_factory import (
    Roi,
    circle,
    sphere_contours,
    write_rtstruct,
)

SPHERE_CENTRE, SPHERE_RADIUS = np.array([10.0, -5.0, -40.0]), 20.0


def _image(spacing=(1.0, 1.0, 1.0), frame=FRAME_UID) -> Volume:
    geometry = ImageGeometry((120, 120, 100), np.array([-50.0, -65.0, -90.0]), np.array(spacing))
    return Volume(np.zeros(geometry.shape_kji, np.int16), geometry, "CT",
                  {"frame_of_reference_uid": frame})  # fmt: skip


@pytest.fixture
def rois():
    planes = np.arange(-70.0, -9.0, 3.0) + 0.4  # every 3 mm, between the image's 1 mm slices
    ring = [circle((-20, 20), 20, z) for z in np.arange(-80.0, -59.0, 1.0)]
    hole = [circle((-20, 20), 8, z, clockwise=True) for z in np.arange(-80.0, -59.0, 1.0)]
    islands = [
        c for z in (-20.0, -19.0) for c in (circle((30.3, 30.4), 6, z), circle((50.3, 30.4), 6, z))
    ]
    return [
        Roi("GTV", "GTV", (255, 0, 0), sphere_contours(SPHERE_CENTRE, SPHERE_RADIUS, planes)),
        Roi(
            "Ring",
            "ORGAN",
            (0, 128, 255),
            [c for pair in zip(ring, hole, strict=True) for c in pair],
        ),
        Roi("Islands", "ORGAN", (0, 255, 0), islands),
        Roi("Isocenter", "ISOCENTER", points=[np.array([0.0, 0.0, 0.0])]),
    ]


def test_sphere_ring_with_hole_and_islands(tmp_path, rois):
    file = write_rtstruct(tmp_path / "RS.dcm", rois, frame_uid=FRAME_UID)
    image = _image()
    result = rtstruct_structures(file, image, tumour_roi="gtv")
    sphere_ml = 4 / 3 * np.pi * SPHERE_RADIUS**3 / 1000
    tumour = result.regions["tumour"]
    # contours every 3 mm, image slices every 1 mm: shape-based interpolation in between
    assert tumour.volume_ml(image.geometry) == pytest.approx(sphere_ml, rel=0.02)
    np.testing.assert_allclose(tumour.centroid_lps_mm(image.geometry), SPHERE_CENTRE, atol=0.3)
    row = next(r for r in result.record["imported"] if r["name"] == "tumour")
    assert row["source"] == "GTV" and row["interpolated_slices"] > 20
    ring = result.regions["Ring"].to_full(image.geometry.shape_kji)
    ring_ml = np.pi * (20**2 - 8**2) * 21 / 1000  # 21 slices of 1 mm
    assert result.regions["Ring"].volume_ml(image.geometry) == pytest.approx(ring_ml, rel=0.02)
    centre = np.rint(image.geometry.lps_to_ijk([-20.0, 20.0, -70.0])).astype(int)
    assert not ring[centre[2], centre[1], centre[0]]  # the hole
    annulus = np.rint(image.geometry.lps_to_ijk([-6.0, 20.0, -70.0])).astype(int)
    assert ring[annulus[2], annulus[1], annulus[0]]
    islands = result.regions["Islands"]
    assert islands.volume_ml(image.geometry) == pytest.approx(2 * 2 * np.pi * 36 / 1000, rel=0.05)
    assert cc3d.connected_components(islands.mask, connectivity=6).max() == 2
    assert result.colors["Ring"] == pytest.approx((0.0, 128 / 255, 1.0))
    assert [s["name"] for s in result.record["skipped"]] == ["Isocenter"]


def test_contours_on_image_slices_are_taken_as_drawn(tmp_path, rois):
    file = write_rtstruct(tmp_path / "RS.dcm", rois[1:2], frame_uid=FRAME_UID)
    image = _image()
    result = rtstruct_structures(file, image)
    (row,) = result.record["imported"]
    assert row["interpolated_slices"] == 0 and row["planes"] == 21 and row["contours"] == 42


@pytest.mark.slow
def test_frame_of_reference_and_roi_names_are_checked(tmp_path, rois):
    file = write_rtstruct(tmp_path / "RS.dcm", rois, frame_uid="1.2.3.999")
    with pytest.raises(InputError, match=r"frame of reference 1\.2\.3\.999, not the image's"):
        rtstruct_structures(file, _image())
    file = write_rtstruct(tmp_path / "RS2.dcm", rois, frame_uid=FRAME_UID)
    with pytest.raises(InputError, match=r"no ROI 'PTV' \(for the tumour\); ROIs: 'GTV', 'Ring'"):
        rtstruct_structures(file, _image(), tumour_roi="PTV")
    with pytest.raises(InputError, match="'Isocenter' has no closed planar contours"):
        rtstruct_structures(file, _image(), node_roi="Isocenter")
    with pytest.raises(InputError, match="no FrameOfReferenceUID"):
        rtstruct_structures(file, _image(frame=""))
    with pytest.raises(InputError, match="not an RT structure set"):
        rtstruct_structures(write_ct(tmp_path / "CT") / "ct000.dcm", _image())


def test_pydicom_structure_set(shared_data):
    """pydicom's rtstruct.dcm (no preamble, implicit VR): a 400 x 300 mm box on three planes
    10 mm apart and two isocentre points."""
    file = shared_data("dicom-edge-pydicom/rtstruct.dcm")
    geometry = ImageGeometry(
        (90, 70, 14), np.array([-247.5, -177.5, -212.5]), np.array([5, 5, 3.0])
    )
    frame = {"frame_of_reference_uid": "1.2.826.0.1.3680043.8.498.2010020400001.2"}
    image = Volume(np.zeros(geometry.shape_kji, np.int16), geometry, "CT", frame)
    result = rtstruct_structures(file, image)
    # each plane stands for a 10 mm slab: 3 x 10 mm x 400 x 300 mm = 3600 ml
    assert result.regions["patient"].volume_ml(geometry) == pytest.approx(3600.0)
    assert sorted(s["name"] for s in result.record["skipped"]) == ["Isocenter 1", "Isocenter 2"]
    assert result.colors["patient"] == pytest.approx((220 / 255, 160 / 255, 120 / 255))


@pytest.mark.slow
def test_cli_plan_with_rtstruct(tmp_path, rois, capsys):
    ct = write_ct(tmp_path / "CT")
    # the GTV sphere, the ring and the islands all lie inside the synthetic CT's grid
    file = write_rtstruct(tmp_path / "RS.dcm", rois[:3], frame_uid=FRAME_UID)
    out = tmp_path / "plan"
    args = ["--tumour-roi", "GTV", "--node-roi", "islands", "--out", str(out), "--no-stl"]
    assert main(["plan", str(ct), "--rtstruct", str(file), *args]) == 0
    raw = json.loads((out / "plan.json").read_text())
    labels = {e["name"]: e for e in raw["labels"]}
    assert raw["tumour"]["source"] == "rtstruct" and labels["tumour"]["value"] == 4
    assert labels["node"]["value"] == 5 and labels["node"]["volume_ml"] > 0.2
    assert [t["name"] for t in raw["targets"]] == ["tumour centroid", "node centroid"]
    assert "Ring" in labels and labels["Ring"]["mesh"] and labels["Ring"]["value"] >= 7
    volume = load_volume(ct).volume
    assert raw["geometry"] == volume.geometry.to_dict()
    assert "RTSTRUCT" in capsys.readouterr().out
    status = main(["plan", str(ct), "--rtstruct", str(file), "--tumour-roi", "PTV", "--out",
                   str(tmp_path / "x")])  # fmt: skip
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and "no ROI 'PTV'" in error[0]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("rtplan.dcm", "not an RT structure set .Modality 'RTPLAN'"),
        ("rtdose.dcm", "not an RT structure set .Modality 'RTDOSE'"),
        ("rtplan_truncated.dcm", "not an RT structure set|not a readable DICOM file"),
        ("CT_small.dcm", "not an RT structure set .Modality 'CT'"),
        ("README.txt", "not an RT structure set|not a readable DICOM file"),
    ],
)
def test_other_pydicom_files_are_refused_as_structure_sets(shared_data, name, message):
    with pytest.raises(InputError, match=message):
        rtstruct_structures(shared_data(f"dicom-edge-pydicom/{name}"), _image())
