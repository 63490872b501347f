"""Volumes too thin to plan on (one or two slices, a thin slab, a zero-length NIfTI axis) are
refused with one line and exit 2; ``igcs info`` shows them and says they cannot be planned."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import SimpleITK as sitk

from navigation.cli import main
from navigation.planning.plannable import MIN_EXTENT_MM, MIN_VOXELS_PER_AXIS
from tests.navigation.imaging.dicom_factory import SeriesSpec, write_series


def _one_line_error(capsys, command="plan"):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"igcs {command}: error: "), err
    return err[0]


@pytest.mark.parametrize(("count", "step_mm"), [(1, 2.5), (2, 2.5), (3, 2.5)])
def test_one_two_or_a_thin_slab_of_slices_are_not_planned(tmp_path, capsys, count, step_mm):
    spec = SeriesSpec(count=count, step_mm=step_mm, rows=40, columns=40)
    write_series(tmp_path / "ct", spec)
    out = tmp_path / "plan"
    assert main(["plan", str(tmp_path / "ct"), "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert (
        f"at least {MIN_VOXELS_PER_AXIS} voxels and {MIN_EXTENT_MM:g} mm along every axis" in line
    )
    assert f"k (slices): {count} voxel(s), {count * step_mm:.1f} mm" in line
    assert not out.exists()

    assert main(["info", str(tmp_path / "ct")]) == 0  # shown, and said to be unplannable
    assert "plannable: NO, planning needs a 3-D volume" in capsys.readouterr().out


def test_a_full_enough_series_is_plannable_in_info(tmp_path, capsys):
    write_series(tmp_path / "ct", SeriesSpec(count=9, rows=40, columns=40))
    assert main(["info", str(tmp_path / "ct")]) == 0
    assert "plannable: yes" in capsys.readouterr().out


def _nifti_with_dims(path, dims, *, gz=False):
    """A NIfTI-1 file of a 64 x 64 x 1 image whose header is then given ``dims``."""
    plain = path.with_name("tmp_one_slice.nii")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((1, 64, 64), np.int16)), str(plain))
    data = bytearray(plain.read_bytes())
    plain.unlink()
    struct.pack_into("<8h", data, 40, len(dims), *dims, *([1] * (7 - len(dims))))
    if gz:
        import gzip

        path.write_bytes(gzip.compress(bytes(data)))
    else:
        path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_a_zero_length_nifti_axis_is_refused_by_info_and_plan(tmp_path, capsys, gz):
    name = "empty.nii.gz" if gz else "empty.nii"
    path = _nifti_with_dims(tmp_path / name, (64, 64, 0), gz=gz)
    assert main(["info", str(path)]) == 2
    line = _one_line_error(capsys, "info")
    assert f"{name}: the NIfTI header gives an axis of length zero (dim [64, 64, 0])" in line
    assert main(["plan", str(path), "--out", str(tmp_path / "p"), "--modality", "ct"]) == 2
    assert "axis of length zero" in _one_line_error(capsys)


def test_a_one_slice_nifti_is_not_planned(tmp_path, capsys):
    path = _nifti_with_dims(tmp_path / "one.nii", (64, 64, 1))
    assert main(["plan", str(path), "--out", str(tmp_path / "p"), "--modality", "mr"]) == 2
    assert "k (slices): 1 voxel(s), 1.0 mm" in _one_line_error(capsys)
