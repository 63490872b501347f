"""``igcs plan`` on NIfTI, NRRD and MetaImage files: the modality from --modality, the file
(MetaImage header, dcm2niix sidecar) or the Hounsfield units; never a guessed MR."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import SimpleITK as sitk

from navigation.cli import main
from navigation.imaging.loading import load_volume
from navigation.planning.plan import load_plan
from tests.conftest import IN_CI

pytestmark = pytest.mark.slow


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("igcs plan: error: "), err
    return err[0]


@pytest.fixture(scope="module")
def phantom_nifti(phantom_ct, tmp_path_factory):
    """The small phantom CT (HU) as a NIfTI file with no sidecar: only its values say CT."""
    path = tmp_path_factory.mktemp("nifti") / "phantom_ct.nii.gz"
    sitk.WriteImage(load_volume(phantom_ct / "dicom").volume.to_sitk(), str(path))
    return path


def test_a_ct_nifti_in_hu_is_planned_as_ct(phantom_nifti, phantom_ct, tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(["plan", str(phantom_nifti), "--out", str(out), "--no-stl"]) == 0
    assert "modality CT (inferred CT from its Hounsfield units" in capsys.readouterr().out
    plan = load_plan(out)
    assert plan.source["modality"] == "CT" and plan.source["format"] == "nifti"
    assert {"skin", "bone", "airway"} <= {e.name for e in plan.labels}
    reference = load_plan(_dicom_plan(phantom_ct, tmp_path))
    assert plan.label("skin").volume_ml == pytest.approx(reference.label("skin").volume_ml, 1e-6)
    assert plan.label("bone").volume_ml == pytest.approx(reference.label("bone").volume_ml, 1e-6)


def _dicom_plan(phantom_ct, tmp_path):
    out = tmp_path / "dicom_plan"
    assert main(["plan", str(phantom_ct / "dicom"), "--out", str(out), "--no-stl"]) == 0
    return out


def test_sidecar_and_metaimage_header_state_the_modality(tmp_path):
    mr = sitk.GetImageFromArray(np.random.default_rng(1).integers(0, 900, (24, 30, 30), np.int16))
    sitk.WriteImage(mr, str(tmp_path / "t1.nii.gz"))
    (tmp_path / "t1.json").write_text(json.dumps({"Modality": "MR", "ConversionSoftware": "x"}))
    volume = load_volume(tmp_path / "t1.nii.gz").volume
    assert volume.modality == "MR" and volume.metadata["modality_source"] == "sidecar"

    sitk.WriteImage(mr, str(tmp_path / "t1.mha"))
    text = (
        (tmp_path / "t1.mha")
        .read_bytes()
        .replace(b"ElementDataFile", b"Modality = MET_MOD_MR\nElementDataFile", 1)
    )
    (tmp_path / "t1.mha").write_bytes(text)
    volume = load_volume(tmp_path / "t1.mha").volume
    assert (
        volume.modality == "MR"
        and "MetaImage Modality = MET_MOD_MR" in volume.metadata["modality_reason"]
    )


def test_raw_ct_values_are_not_guessed_and_not_taken_as_hu(shared_data, tmp_path, capsys):
    """VTK's headsq: a real head CT stored 0..3926 (no rescale to HU). Not guessed as MR,
    and refused as CT because its values are not Hounsfield units."""
    path = shared_data("vtk-head-volumes/headsq/quarter.nhdr")
    assert main(["plan", str(path), "--out", str(tmp_path / "p")]) == 2
    line = _one_line_error(capsys)
    assert "cannot tell whether quarter.nhdr is a CT or an MR" in line
    assert "Pass --modality ct (values in HU) or --modality mr" in line
    assert main(["plan", str(path), "--out", str(tmp_path / "p"), "--modality", "CT"]) == 2
    assert "have no air below -500 HU: they are not Hounsfield units" in _one_line_error(capsys)
    assert not (tmp_path / "p").exists()


def test_a_real_mr_metaimage_plans_when_said_to_be_mr(shared_data, tmp_path):
    path = shared_data("vtk-head-volumes/HeadMRVolume.mhd")
    out = tmp_path / "mr"
    assert main(["plan", str(path), "--out", str(out), "--modality", "mr", "--no-stl"]) == 0
    plan = load_plan(out)
    assert plan.source["modality"] == "MR"
    assert 1000 < plan.label("skin").volume_ml < 6000  # a head


def test_a_label_map_given_as_an_image_is_pointed_to_labels(tmp_path, capsys):
    labels = np.zeros((30, 40, 40), np.uint8)
    labels[5:25, 10:30, 10:30] = 1
    labels[10:20, 15:25, 15:25] = 2
    sitk.WriteImage(sitk.GetImageFromArray(labels), str(tmp_path / "labels.nrrd"))
    assert main(["plan", str(tmp_path / "labels.nrrd"), "--out", str(tmp_path / "p")]) == 2
    assert "3 distinct integer values, like a label map (plan label maps with --labels)" in (
        _one_line_error(capsys)
    )


def test_modality_contradicting_a_dicom_series_is_refused(phantom_ct, tmp_path, capsys):
    args = ["plan", str(phantom_ct / "dicom"), "--out", str(tmp_path / "p"), "--modality", "mr"]
    assert main(args) == 2
    assert "--modality mr contradicts the series' own DICOM Modality 'CT'" in (
        _one_line_error(capsys)
    )


@pytest.mark.slow
def test_dcm2niix_output_of_a_real_ct_plans(shared_data, tmp_path):
    """The conversion the multi-frame refusal advises: dcm2niix's NIfTI (and its sidecar)."""
    if shutil.which("dcm2niix") is None:  # scripts/apt-packages.txt installs it
        (pytest.fail if IN_CI else pytest.skip)("dcm2niix is not installed (apt install dcm2niix)")
    folder = shared_data("ct-head-human-gantrytilt/GE")
    subprocess.run(
        ["dcm2niix", "-z", "y", "-o", str(tmp_path), "-f", "ct", str(folder)],
        check=True,
        capture_output=True,
    )
    converted = sorted(tmp_path.glob("ct*.nii.gz"))[-1]  # the tilt-corrected one
    out = tmp_path / "plan"
    assert main(["plan", str(converted), "--out", str(out), "--no-stl"]) == 0
    plan = load_plan(out)
    assert plan.source["modality"] == "CT"
    assert 300 < plan.label("bone").volume_ml < 900
