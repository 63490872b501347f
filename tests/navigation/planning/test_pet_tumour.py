"""PET-guided tumour: SUV from the headers, physiological uptake excluded, the FDG-avid primary
at a fraction of its SUVmax; on a synthetic PET/CT with known uptake and shapes."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pydicom
import pytest

from navigation.cli import main
from navigation.imaging.errors import ImagingError
from navigation.imaging.loading import load_volume
from navigation.imaging.pet import read_pet
from navigation.imaging.suv import suv_calibration
from navigation.planning.pet_options import PetOptions
from navigation.planning.pet_tumour import tumour_from_pet
from registration.core.checks import InputError
from tests.navigation.planning.petct_factory import (
    PET_SPACING,
    PetHeader,
    Scene,
    write_ct,
    write_pet,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def petct(tmp_path_factory):
    root = tmp_path_factory.mktemp("petct")
    write_ct(root / "CT")
    _, suv = write_pet(root / "PET")
    return root, load_volume(root / "CT").volume, suv


def test_suv_from_bq_per_ml_headers_and_per_slice_slopes(petct):
    root, _, suv = petct
    pet = read_pet(root / "PET")
    header = PetHeader()
    assert pet.calibration.suv_per_unit == pytest.approx(header.suv_per_bqml(), rel=1e-9)
    assert pet.calibration.reference is not None
    assert pet.calibration.reference.name == "series time"
    slopes = {pydicom.dcmread(f).RescaleSlope for f in sorted((root / "PET").iterdir())}
    assert len(slopes) > 10  # every slice has its own slope
    # 16-bit storage with a per-slice slope: SUV within 1e-4 relative of the written uptake
    np.testing.assert_allclose(pet.suv.array, suv, atol=2e-4 * suv.max())


def test_automatic_tumour_skips_brain_and_a_symmetric_pair(petct):
    root, ct, _ = petct
    scene = Scene()
    tumour = tumour_from_pet(ct, root / "PET")
    assert tumour.found == "automatic"
    statuses = [(f.status, round(f.suv_max, 1)) for f in tumour.foci]
    # the "tonsils" (SUV 12) are hotter than the tumour but bilateral: skipped as physiological
    assert statuses[0] == ("symmetric", 12.0) and ("chosen", 10.0) in statuses
    assert tumour.suv_max == pytest.approx(scene.tumour_suv, rel=1e-3)
    assert tumour.threshold_suv == pytest.approx(0.41 * tumour.suv_max)
    np.testing.assert_allclose(tumour.centroid_lps_mm, scene.tumour_centre, atol=1.0)
    sphere_ml = 4 / 3 * np.pi * scene.tumour_radius_mm**3 / 1000
    # a uniform sphere sampled at 4 mm and interpolated: the 41 % edge lies within ~1 mm of it
    assert tumour.mtv_ml == pytest.approx(sphere_ml, rel=0.25)
    assert tumour.suv_mean == pytest.approx(scene.tumour_suv, rel=0.25)
    assert tumour.excluded["brain_ml"] > 500


def test_uptake_below_the_lung_apices_is_not_a_head_and_neck_primary(tmp_path):
    scene = Scene(lungs=True, heart_suv=15.0)  # hotter than the tumour, between the lungs
    ct = load_volume(write_ct(tmp_path / "CT", scene)).volume
    folder, _ = write_pet(tmp_path / "PET", scene)
    tumour = tumour_from_pet(ct, folder)
    assert -86 < tumour.excluded["below_lung_apex_z_mm"] < -72  # lung tops at z = -70 mm
    assert all(f.peak_lps_mm[2] > -72 for f in tumour.foci)
    assert tumour.suv_max == pytest.approx(scene.tumour_suv, rel=1e-3)
    np.testing.assert_allclose(tumour.centroid_lps_mm, scene.tumour_centre, atol=1.0)


def test_seed_picks_the_focus_next_to_it_and_fraction_is_configurable(petct):
    root, ct, _ = petct
    seed = np.array([31.0, 15.0, -25.0])  # 3 mm from the left "tonsil"'s centre
    loose = tumour_from_pet(ct, root / "PET", seed_lps_mm=seed)
    tight = tumour_from_pet(ct, root / "PET", seed_lps_mm=seed, options=PetOptions(fraction=0.7))
    assert loose.found == "seed" and loose.suv_max == pytest.approx(12.0, rel=1e-3)
    np.testing.assert_allclose(loose.centroid_lps_mm, [28.0, 15.0, -25.0], atol=1.0)
    assert tight.mtv_ml < loose.mtv_ml
    with pytest.raises(InputError, match=r"between 0\.2 and 0\.9"):
        PetOptions(fraction=1.5)


def test_other_frame_of_reference_or_modality_is_refused(tmp_path, petct):
    root, ct, _ = petct
    with pytest.raises(InputError, match="modality is 'MR'"):
        tumour_from_pet(ct.with_array(ct.array, modality="MR"), root / "PET")
    folder, _ = write_pet(tmp_path / "PET", header=PetHeader(frame_uid="1.2.3.4"))
    with pytest.raises(ImagingError, match=r"FrameOfReferenceUID 1\.2\.3\.4 differs"):
        tumour_from_pet(ct, folder)


def test_decay_references_and_philips_counts(tmp_path):
    scan = dt.datetime(2024, 3, 5, 10, 0, 0)
    header = PetHeader(units="CNTS", philips_bqml_per_count=1.25, series=scan)
    folder, suv = write_pet(tmp_path / "PET", header=header)
    pet = read_pet(folder)
    assert pet.calibration.bqml_per_unit == pytest.approx(1.25)
    np.testing.assert_allclose(pet.suv.array, suv, atol=2e-4 * suv.max())
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(folder.iterdir())]
    # a series time rewritten after the scan: decayed to the earliest acquisition instead
    for ds in headers:
        ds.SeriesTime = "111111"
        ds.FrameReferenceTime = "75000"  # series reference 75 s before the acquisition
    calibration = suv_calibration(headers)
    assert calibration.reference is not None
    assert calibration.reference.name == "earliest acquisition time"
    assert calibration.suv_per_unit == pytest.approx(1.25 * header.suv_per_bqml(scan), rel=1e-9)
    (alternative,) = calibration.alternatives
    earlier = scan - dt.timedelta(seconds=75)
    assert alternative.time == earlier
    assert alternative.suv_per_bqml == pytest.approx(header.suv_per_bqml(earlier), rel=1e-9)
    # the same 75 s change the SUV by 2^(-75 / T_half): -0.79 %
    assert alternative.suv_per_bqml / calibration.reference.suv_per_bqml == pytest.approx(
        2 ** (-75 / 6586.2), rel=1e-9
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"units": "CNTS"}, "CNTS .counts. without"),
        ({"extra": {"PatientWeight": "0"}}, "PatientWeight"),
        ({"decay_correction": "NONE"}, "DecayCorrection"),
        ({"corrected": ("DECY",)}, "lacks ATTN"),
        ({"units": "PROPCPS"}, "Units .0054,1001. is 'PROPCPS'"),
    ],
)
def test_headers_without_what_suv_needs_are_refused(tmp_path, change, message):
    header = dataclasses.replace(PetHeader(), **change)
    folder, _ = write_pet(tmp_path / "PET", header=header)
    with pytest.raises(ImagingError, match=message):
        read_pet(folder)


def test_cli_plan_with_pet_and_one_line_errors(tmp_path, petct, capsys):
    root, _, _ = petct
    out = tmp_path / "plan"
    assert main(["plan", str(root / "CT"), "--pet", str(root / "PET"), "--out", str(out),
                 "--no-stl"]) == 0  # fmt: skip
    import json

    raw = json.loads((out / "plan.json").read_text())
    assert raw["tumour"]["source"] == "pet" and raw["pet"]["suv_max"] == pytest.approx(10, 1e-3)
    assert raw["files"]["pet_tumour"] == "pet_tumour.png"
    assert (out / "pet_tumour.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "PET tumour (automatic): SUVmax 10.00" in printed and "MTV" in printed
    other = tmp_path / "other"
    write_pet(other, header=PetHeader(frame_uid="1.2.3.4"))
    status = main(["plan", str(root / "CT"), "--pet", str(other), "--out", str(tmp_path / "x")])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and "FrameOfReferenceUID" in error[0]
    status = main(
        ["plan", str(root / "CT"), "--pet", str(root / "CT"), "--out", str(tmp_path / "y")]
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and "no PET series" in error[-1]
    assert PET_SPACING == (4.0, 4.0, 4.0)
