from __future__ import annotations

import numpy as np
import pydicom
import pytest

from navigation.imaging.loading import load_volume
from navigation.simulation.phantom import load_truth, make_phantom
from registration.core.checks import InputError

pytestmark = pytest.mark.slow


def test_dicom_headers_describe_an_axial_hfs_ct(phantom_ct):
    files = sorted((phantom_ct / "dicom").glob("*.dcm"))
    assert len(files) == 160
    first, second = (pydicom.dcmread(f) for f in files[:2])
    truth = load_truth(phantom_ct)
    for ds in (first, second):
        assert ds.Modality == "CT" and ds.PatientPosition == "HFS"
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.PixelSpacing] == [1.0, 1.0]
        assert float(ds.SliceThickness) == 1.0
        assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
        assert ds.SeriesInstanceUID == truth.raw["series_instance_uid"]
        assert ds.FrameOfReferenceUID == truth.raw["frame_of_reference_uid"]
        assert all(
            part.isdigit() and len(ds.SOPInstanceUID) <= 64 for part in ds.SOPInstanceUID.split(".")
        )
    assert first.SOPInstanceUID != second.SOPInstanceUID
    np.testing.assert_allclose(
        [float(v) for v in first.ImagePositionPatient], [-127.5, -127.5, -95]
    )
    np.testing.assert_allclose(
        np.subtract(
            [float(v) for v in second.ImagePositionPatient],
            [float(v) for v in first.ImagePositionPatient],
        ),
        [0, 0, 1],
    )


def test_series_reads_back_with_the_truth_geometry_and_hu(phantom_ct):
    loaded = load_volume(phantom_ct / "dicom")
    truth = load_truth(phantom_ct)
    geometry = loaded.volume.geometry
    assert geometry.size_ijk == truth.geometry.size_ijk
    np.testing.assert_allclose(geometry.origin_lps_mm, truth.geometry.origin_lps_mm)
    np.testing.assert_allclose(geometry.direction, np.eye(3))
    array = loaded.volume.array

    def hu_at(point):
        i, j, k = np.rint(geometry.lps_to_ijk(point)).astype(int)
        return float(array[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2].mean())

    assert hu_at([0, -120, 0]) == pytest.approx(-1000, abs=25)  # air in front of the face
    assert hu_at(truth.tumour_seed_lps_mm) == pytest.approx(120, abs=15)  # enhancing tumour
    for centre in truth.fiducials_lps_mm:
        assert hu_at(centre) > 1500  # bright markers (partial volume at the 3x3x3 edges)


def test_truth_is_anatomically_plausible_and_left_right_asymmetric(phantom_ct):
    truth = load_truth(phantom_ct)
    names, points = truth.fiducial_names, truth.fiducials_lps_mm
    assert 6 <= len(names) <= 8
    left = [p for n, p in zip(names, points, strict=True) if "left" in n]
    right = [p for n, p in zip(names, points, strict=True) if "right" in n]
    assert left and right and all(p[0] > 20 for p in left) and all(p[0] < -20 for p in right)
    # non-coplanar: the centred layout has a third singular value well above zero
    assert np.linalg.svd(points - points.mean(axis=0), compute_uv=False)[2] > 15.0
    # markers sit on the skin: centre radius + 0.5 mm outside it (the distance estimate is
    # first order in the smooth blends of the head, neck and face)
    np.testing.assert_allclose(truth.signed_distance_mm("skin", points), 2.5, atol=0.4)
    assert np.all(truth.inside("skin", [truth.tumour_seed_lps_mm, truth.node_centroid_lps_mm]))
    assert truth.inside("tumour", truth.tumour_seed_lps_mm)[0]
    # the node is in the left neck only; its mirror image is not a node
    assert truth.node_centroid_lps_mm[0] > 20
    mirrored = truth.node_centroid_lps_mm * [-1, 1, 1]
    assert not truth.inside("node", mirrored)[0]
    # tumour 2-3 cm across, left of the midline, inside the oral cavity / tongue base
    tumour = truth.shape("tumour")
    directions = np.random.default_rng(0).normal(size=(4000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = tumour.radius(directions[:, 0], directions[:, 1], directions[:, 2])
    extent = (directions * radii[:, None]).max(axis=0) - (directions * radii[:, None]).min(axis=0)
    assert 20.0 <= extent.max() <= 30.0
    assert truth.tumour_centroid_lps_mm[0] > 3
    assert 4.0 < truth.tumour_volume_ml < 12.0
    assert truth.signed_distance_mm("bone", truth.tumour_centroid_lps_mm)[0] > 15


def test_phantom_is_deterministic(phantom_ct):
    from navigation.imaging.series_writer import SeriesInfo
    from navigation.simulation.phantom_anatomy import build_anatomy

    truth = load_truth(phantom_ct)
    again = build_anatomy(0)
    np.testing.assert_array_equal(again.fiducials_lps_mm, truth.fiducials_lps_mm)
    assert again.structures["tumour"] == truth.shape("tumour")
    assert build_anatomy(1).structures["tumour"] != truth.shape("tumour")
    info = SeriesInfo.deterministic(
        "igcs-phantom/CT/0/small",
        modality="CT",
        patient_name="",
        patient_id="",
        series_description="",
    )
    assert info.series_instance_uid == truth.raw["series_instance_uid"]


def test_mr_is_t1_like(phantom_mr):
    truth = phantom_mr.truth
    geometry, array = phantom_mr.volume.geometry, phantom_mr.volume.array

    def value_at(point):
        i, j, k = np.rint(geometry.lps_to_ijk(point)).astype(int)
        return float(array[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2].mean())

    air = value_at([0, -120, 0])
    tumour = value_at(truth.tumour_seed_lps_mm)
    muscle = value_at(truth.tumour_seed_lps_mm + np.array([0, 0, 25]))  # tongue above the tumour
    assert air < 50 < muscle < tumour  # T1-like: air dark, enhancing tumour above muscle
    assert phantom_mr.volume.modality == "MR"
    with pytest.raises(InputError, match="modality must be CT or MR"):
        make_phantom(modality="PET")
