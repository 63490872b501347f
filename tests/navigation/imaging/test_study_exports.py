"""A whole study as hospitals export it: the image series beside non-image objects (dose
report pages, a dose SR, RT objects, a DICOMDIR). Discovery lists and skips what is not a
volume, never raises on it, and ``--series`` and the DICOMDIR path still work."""

from __future__ import annotations

import pytest
from pydicom.fileset import FileSet

from navigation.cli import main
from navigation.imaging.dicom_choice import choose_stack
from navigation.imaging.dicom_discovery import discover_dicom
from navigation.imaging.loading import ImagingError, load_volume
from tests.navigation.imaging.dicom_factory import (
    SeriesSpec,
    write_dose_report_pages,
    write_non_image,
    write_series,
)


def _study(folder):
    spec = SeriesSpec(count=6, description="HEAD STD")
    write_series(folder / "ct", spec)
    pages = write_dose_report_pages(folder / "report", spec, pages=2)
    for kind in ("SR", "RTSTRUCT", "RTPLAN"):
        write_non_image(folder / "other", spec, kind)
    (folder / "other" / "notes.bin").write_bytes(b"\x00\x01garbage" * 50)
    return spec, pages


def test_study_with_dose_report_pages_sr_and_rt_objects_loads_the_ct(tmp_path, capsys):
    spec, pages = _study(tmp_path / "study")
    loaded = load_volume(tmp_path / "study")
    assert loaded.volume.metadata["series_instance_uid"] == spec.series_uid
    assert loaded.volume.geometry.size_ijk == (32, 32, 6)
    others = "\n".join(loaded.report.others)
    # the two dose report pages: one entry, named, with why they are not a volume
    assert "'Dose Report': 2 file(s) (dose_page1.dcm, dose_page2.dcm)" in others
    assert "(Secondary Capture Image Storage) has no ImagePositionPatient" in others
    assert "SR: structured report (no image)" in others
    assert "RTSTRUCT: RT structure set" in others and "RTPLAN: RT plan" in others
    assert "notes.bin: no DICOM preamble or header" in others

    # --series of the CT works with them present; of the report, a one-line refusal
    assert main(["info", str(tmp_path / "study"), "--series", spec.series_uid]) == 0
    assert spec.series_uid in capsys.readouterr().out
    report_uid = discover_dicom(pages[0]).stacks[0].series_instance_uid
    assert main(["info", str(tmp_path / "study"), "--series", report_uid]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "dose_page1.dcm (Secondary Capture Image Storage)" in error[0]


def test_dicomdir_of_such_a_study_stands_for_its_folder(tmp_path):
    spec, _pages = _study(tmp_path / "export")
    fileset = FileSet()
    for path in sorted((tmp_path / "export").rglob("*.dcm")):
        fileset.add(path)
    fileset.write(tmp_path / "media")  # a DICOMDIR tree as on a CD: PT000000/ST000000/...
    dicomdir = tmp_path / "media" / "DICOMDIR"
    assert dicomdir.is_file()
    loaded = load_volume(dicomdir)
    assert loaded.volume.metadata["series_instance_uid"] == spec.series_uid
    assert any("DICOMDIR is a DICOMDIR index" in w for w in loaded.report.warnings)
    assert load_volume(dicomdir, series_uid=spec.series_uid).volume.geometry.size_ijk[2] == 6
    assert main(["info", str(dicomdir)]) == 0


def test_discovery_never_raises_on_a_folder_of_odd_files(shared_data):
    """All ~125 odd files of the pydicom edge set in one folder tree: every one is either in
    a stack or listed with its reason, and a volume is chosen."""
    root = shared_data("dicom-edge-pydicom")
    discovery = discover_dicom(root)
    in_stacks = sum(s.count + len(s.broken) for s in discovery.stacks)
    assert in_stacks + len(discovery.others) == discovery.file_count >= 120
    assert all(f.reason for f in discovery.others)
    choice = choose_stack(discovery)
    assert choice.stack.first.modality == "CT" and not choice.stack.problem
    assert len(choice.others) > 20


@pytest.mark.slow
def test_a_real_study_folder_with_ct_pet_dose_and_plan(shared_data, capsys):
    """HN-CHUS-052 as a whole: CT chosen for planning, PET, RTDOSE and RTPLAN listed."""
    study = shared_data("hn-petct-human/HN-CHUS-052")
    assert main(["info", str(study)]) == 0
    out = capsys.readouterr().out
    chosen = next(line for line in out.splitlines() if line.startswith("chosen:"))
    assert "CT series #3 'Merged': 132 file(s) in CT" in chosen
    assert "PT series" in out and "not CT/MR" in out
    assert "RTDOSE/1-1.dcm: RTDOSE: RT dose grid" in out and "RTPLAN/1-1.dcm: RTPLAN" in out


def test_files_that_break_a_header_rule_are_listed_not_raised(tmp_path, monkeypatch):
    """A failure nobody foresaw while classifying one file lists that file and goes on."""
    from navigation.imaging import dicom_discovery

    spec = SeriesSpec(count=9)
    paths = write_series(tmp_path / "ct", spec)
    real = dicom_discovery.read_header

    def flaky(path):
        if path == paths[4]:
            raise RuntimeError("a decoder bug")
        return real(path)

    monkeypatch.setattr(dicom_discovery, "read_header", flaky)
    discovery = discover_dicom(tmp_path / "ct")
    assert [f.path for f in discovery.others] == [paths[4]]
    assert "cannot be classified (RuntimeError: a decoder bug)" in discovery.others[0].reason
    with pytest.raises(ImagingError, match="missing slice"):  # the gap it leaves is seen
        load_volume(tmp_path / "ct", allow_resampling=False)
