"""A real head and neck cancer patient (HN-CHUS-052, Head-Neck-PET-CT): plan its CT with its PET.

Independent checks, with pydicom and pynrrd only: the PET tumour lies in the region that the
radiotherapy plan dosed to >= 95 % of its 70 Gy prescription (RTDOSE), and its SUVmax is the
scanner's own SUV (Philips private SUV scale factor) at the PET's own voxels.
"""

from __future__ import annotations

import json

import nrrd
import numpy as np
import pydicom
import pytest
from scipy import ndimage

from navigation.cli import main

pytestmark = pytest.mark.slow
PRESCRIPTION_GY = 70.0


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    from tests.conftest import shared_data_path

    folder = shared_data_path("hn-petct-human/HN-CHUS-052")
    out = tmp_path_factory.mktemp("hn") / "plan"
    status = main(["plan", str(folder / "CT"), "--pet", str(folder / "PET"), "--out", str(out),
                   "--no-stl"])  # fmt: skip
    assert status == 0
    return folder, out, json.loads((out / "plan.json").read_text())


def _tumour_voxels_lps(out) -> np.ndarray:
    """LPS centres of the tumour segment's voxels, read from labels.seg.nrrd with pynrrd."""
    data, header = nrrd.read(str(out / "labels.seg.nrrd"), index_order="C")
    n = next(i for i in range(64) if header.get(f"Segment{i}_Name") == "tumour")
    layer, value = int(header[f"Segment{n}_Layer"]), int(header[f"Segment{n}_LabelValue"])
    block = data[..., layer] if data.ndim == 4 else data
    kji = np.argwhere(block == value)
    directions = np.asarray(header["space directions"], dtype=float)[-3:]  # rows: i, j, k
    return header["space origin"] + kji[:, ::-1] @ directions


def test_plan_has_anatomy_and_a_pet_tumour(patient):
    _, out, raw = patient
    names = {entry["name"]: entry for entry in raw["labels"]}
    for label in ("skin", "bone", "airway", "tumour"):
        assert names[label]["mesh"] and (out / names[label]["mesh"]).is_file()
    assert raw["tumour"]["source"] == "pet" and raw["pet"]["found"] == "automatic"
    pet = raw["pet"]
    assert pet["threshold_suv"] == pytest.approx(0.41 * pet["suv_max"], rel=1e-3)
    assert 20 < pet["mtv_ml"] < 120 and pet["suv_max"] > pet["suv_mean"] > pet["threshold_suv"]
    assert raw["targets"][0]["name"] == "tumour centroid"
    excluded = pet["excluded"]
    assert excluded["brain_ml"] > 1000  # the whole brain's uptake, cerebellum included
    assert -420 < excluded["below_lung_apex_z_mm"] < -340  # lung apices above the CT's bottom
    assert (out / raw["files"]["pet_tumour"]).is_file()


def test_pet_tumour_lies_in_the_high_dose_region(patient):
    folder, out, _ = patient
    dose = pydicom.dcmread(next((folder / "RTDOSE").iterdir()))
    ct = pydicom.dcmread(next((folder / "CT").iterdir()), stop_before_pixels=True)
    assert dose.FrameOfReferenceUID == ct.FrameOfReferenceUID
    assert [float(v) for v in dose.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    grid_gy = dose.pixel_array * float(dose.DoseGridScaling)  # (frames, rows, columns)
    origin = np.array(dose.ImagePositionPatient, dtype=float)
    row_mm, column_mm = (float(v) for v in dose.PixelSpacing)
    offsets = np.array(dose.GridFrameOffsetVector, dtype=float)
    assert np.allclose(np.diff(offsets), offsets[1] - offsets[0])
    points = _tumour_voxels_lps(out)
    index = np.stack(
        [
            (points[:, 2] - origin[2] - offsets[0]) / (offsets[1] - offsets[0]),
            (points[:, 1] - origin[1]) / row_mm,
            (points[:, 0] - origin[0]) / column_mm,
        ]
    )
    at_tumour = ndimage.map_coordinates(grid_gy, index, order=1, cval=0.0)
    covered = float(np.mean(at_tumour >= 0.95 * PRESCRIPTION_GY))
    assert grid_gy.max() == pytest.approx(80.4, abs=0.1)
    assert covered >= 0.95, f"only {covered:.1%} of the PET tumour gets >= 66.5 Gy"


def test_suv_max_is_the_scanners_own_suv(patient):
    folder, out, raw = patient
    slices = [pydicom.dcmread(f) for f in sorted((folder / "PET").iterdir())]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    scanner_suv = np.stack(
        [
            (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
            * float(ds[0x7053, 0x1000].value)
            for ds in slices
        ]
    )
    # the PET voxels whose centres fall in the tumour label (nearest CT voxel of the label)
    points = _tumour_voxels_lps(out)
    first = np.array(slices[0].ImagePositionPatient, dtype=float)
    pixel = float(slices[0].PixelSpacing[0])
    step = float(slices[1].ImagePositionPatient[2]) - first[2]
    candidates = np.unique(np.rint((points - first) / [pixel, pixel, step]).astype(int), axis=0)
    centres = first + candidates * [pixel, pixel, step]
    header = nrrd.read_header(str(out / "labels.seg.nrrd"))
    ct_origin = np.asarray(header["space origin"], dtype=float)
    spacing = np.abs(np.diag(np.asarray(header["space directions"], dtype=float)[-3:]))
    labelled = {tuple(v) for v in np.rint((points - ct_origin) / spacing).astype(int)}
    inside = [tuple(v) in labelled for v in np.rint((centres - ct_origin) / spacing).astype(int)]
    i, j, k = candidates[np.array(inside)].T
    expected = float(scanner_suv[k, j, i].max())
    assert raw["pet"]["suv_max"] == pytest.approx(expected, rel=0.01)
    readings = {r["name"]: r for r in raw["pet"]["suv_calibration"]["decay_references"]}
    used = readings["earliest acquisition time"]
    assert used["used"] and used["ratio_to_scanner_suv"] == pytest.approx(1.0, abs=0.001)
    series_reference = readings["acquisition time - frame reference time"]
    assert series_reference["ratio_to_scanner_suv"] == pytest.approx(0.9928, abs=0.0005)
