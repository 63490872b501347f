"""``igcs plan`` on a cohort: several patients planned on Dask (or one after the other), one
table at the end; a failed patient is a row with its reason and the others finish."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from navigation.cli import main
from navigation.planning.plan import load_plan


def _head(path, radius_mm):
    """A small CT (HU, 2 mm voxels): a soft-tissue ball with a bony core, in air."""
    k, j, i = np.indices((30, 48, 48))
    r = np.sqrt(((i - 23.5) * 2.0) ** 2 + ((j - 23.5) * 2.0) ** 2 + ((k - 14.5) * 2.0) ** 2)
    array = np.where(r <= radius_mm, 40, -1000).astype(np.int16)
    array[r <= radius_mm / 3] = 700
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(image, str(path))
    return 4 / 3 * np.pi * radius_mm**3 / 1000.0  # ml


@pytest.fixture
def cohort(tmp_path):
    folder = tmp_path / "patients"
    folder.mkdir()
    volumes = {"anna": _head(folder / "anna.nii.gz", 22.0), "ben": _head(folder / "ben.nrrd", 18.0)}
    (folder / "carl.nii").write_bytes(b"not an image at all" * 20)  # the bad one
    return folder, volumes


def _table(out):
    with open(out / "cohort.csv", newline="") as handle:
        rows = {row["patient"]: row for row in csv.DictReader(handle)}
    assert json.loads((out / "cohort.json").read_text())["patients"][0]["patient"] == "anna"
    return rows


@pytest.mark.slow
def test_a_folder_of_patients_on_a_local_dask_cluster(cohort, tmp_path, capsys):
    folder, volumes = cohort
    out = tmp_path / "plans"
    status = main(["plan", str(folder), "--cohort", "--out", str(out), "--workers", "2"])
    assert status == 2  # one patient failed
    printed = capsys.readouterr().out
    assert "2 of 3 patients planned; 1 failed" in printed
    rows = _table(out)
    assert [rows[n]["status"] for n in ("anna", "ben", "carl")] == ["planned", "planned", "failed"]
    assert "carl.nii: cannot be read as nifti" in rows["carl"]["error"]
    for name, volume in volumes.items():
        plan = load_plan(out / name)
        assert plan.label("skin").volume_ml == pytest.approx(volume, rel=0.08)
        assert float(rows[name]["skin_ml"]) == pytest.approx(plan.label("skin").volume_ml)
    assert not (out / "carl").exists()


def test_a_list_file_planned_here_one_after_the_other(cohort, tmp_path, capsys):
    folder, _volumes = cohort
    listing = tmp_path / "cohort.txt"
    listing.write_text("# the study's patients\npatients/anna.nii.gz\n\npatients/carl.nii\n")
    out = tmp_path / "plans"
    args = ["plan", str(listing), "--cohort", "--out", str(out), "--workers", "0", "--no-stl"]
    assert main(args) == 2
    rows = _table(out)
    assert list(rows) == ["anna", "carl"] and rows["anna"]["status"] == "planned"
    assert "1 of 2 patients planned" in capsys.readouterr().out
    # several INPUTs without --cohort are a cohort too
    assert main(["plan", str(folder / "anna.nii.gz"), str(folder / "ben.nrrd"), "--out",
                 str(tmp_path / "two"), "--workers", "0", "--no-stl"]) == 0  # fmt: skip
    assert set(_table_names(tmp_path / "two")) == {"anna", "ben"}


def _table_names(out):
    return [row["patient"] for row in csv.DictReader(open(out / "cohort.csv", newline=""))]


def test_per_patient_options_are_refused_for_a_cohort(cohort, tmp_path, capsys):
    folder, _volumes = cohort
    args = ["plan", str(folder), "--cohort", "--out", str(tmp_path / "p"), "--tumour-seed=1,2,3"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tumour-seed names one patient's anatomy" in err[0]
