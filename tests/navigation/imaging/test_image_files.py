"""NIfTI, NRRD and MetaImage reading: geometry against the headers read independently."""

from __future__ import annotations

import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from navigation.imaging.loading import ImagingError, load_volume
from registration.core.transforms import rotation_about


@pytest.mark.slow
def test_nrrd_label_map_geometry_equals_header(shared_data):
    path = shared_data("hn-oar-segmentations/0522c0017/Mandible.nrrd")
    data, header = nrrd.read(str(path), index_order="C")
    assert header["space"] == "left-posterior-superior"
    loaded = load_volume(path)
    geometry = loaded.volume.geometry
    np.testing.assert_allclose(geometry.origin_lps_mm, header["space origin"], atol=1e-9)
    # pynrrd: row a of "space directions" is the LPS step of index axis a (i, j, k).
    np.testing.assert_allclose(geometry.lps_from_ijk[:3, :3], header["space directions"].T)
    np.testing.assert_array_equal(loaded.volume.array, data)
    assert geometry.size_ijk == (512, 512, 156) and data.sum() > 1000
    assert loaded.report.kind == "nrrd" and loaded.report.files == (path,)
    assert loaded.report.warnings == ()


def test_nrrd_header_over_raw_slices(shared_data):
    folder = shared_data("vtk-head-volumes/headsq")
    header = nrrd.read_header(str(folder / "quarter.nhdr"))
    loaded = load_volume(folder / "quarter.nhdr")
    volume = loaded.volume
    assert volume.geometry.size_ijk == (64, 64, 93)
    np.testing.assert_allclose(volume.geometry.spacing_mm, header["spacings"])
    for k in (0, 46, 92):
        raw = np.fromfile(folder / f"quarter.{k + 1}", dtype="<i2").reshape(64, 64)
        np.testing.assert_array_equal(volume.array[k], raw)
    assert len(loaded.report.files) == 94  # the header and its 93 data files
    assert any("laterality is NOT guaranteed" in w for w in loaded.report.warnings)


def test_metaimage_header_and_raw(shared_data):
    path = shared_data("vtk-head-volumes/HeadMRVolume.mhd")
    loaded = load_volume(path)
    raw = np.fromfile(path.with_suffix(".raw"), dtype=np.uint8).reshape(42, 62, 48)
    np.testing.assert_array_equal(loaded.volume.array, raw)
    np.testing.assert_allclose(loaded.volume.geometry.spacing_mm, [4.0, 4.0, 4.0])
    assert loaded.report.kind == "mha"
    assert [p.name for p in loaded.report.files] == ["HeadMRVolume.mhd", "HeadMRVolume.raw"]


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_written_geometry_round_trips(tmp_path, suffix):
    array = (np.arange(5 * 6 * 7, dtype=np.int16) - 100).reshape(5, 6, 7)
    image = sitk.GetImageFromArray(array)
    image.SetOrigin((-30.5, 12.25, 101.0))
    image.SetSpacing((0.9, 1.1, 2.5))
    direction = rotation_about([1.0, 2.0, 3.0], 25.0)
    image.SetDirection(tuple(direction.ravel()))
    path = tmp_path / f"volume{suffix}"
    sitk.WriteImage(image, str(path))
    loaded = load_volume(path)
    geometry = loaded.volume.geometry
    np.testing.assert_allclose(geometry.origin_lps_mm, [-30.5, 12.25, 101.0], atol=1e-4)
    np.testing.assert_allclose(geometry.spacing_mm, [0.9, 1.1, 2.5], atol=1e-6)
    np.testing.assert_allclose(geometry.direction, direction, atol=1e-5)
    np.testing.assert_array_equal(loaded.volume.array, array)


def test_bad_image_files_refused(tmp_path):
    four_d = sitk.Image([4, 4, 4, 3], sitk.sitkInt16)
    sitk.WriteImage(four_d, str(tmp_path / "series.nii.gz"))
    with pytest.raises(ImagingError, match=r"series\.nii\.gz is a 4-D image"):
        load_volume(tmp_path / "series.nii.gz")
    vector = sitk.Image([4, 4, 4], sitk.sitkVectorFloat32, 3)
    sitk.WriteImage(vector, str(tmp_path / "field.mha"))
    with pytest.raises(ImagingError, match=r"field\.mha has 3 components per voxel"):
        load_volume(tmp_path / "field.mha")
    (tmp_path / "broken.nrrd").write_bytes(b"NRRD0004\ntype: nonsense\n\n")
    with pytest.raises(ImagingError, match=r"broken\.nrrd"):
        load_volume(tmp_path / "broken.nrrd")
    sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkUInt8), str(tmp_path / "ok.nii"))
    with pytest.raises(ImagingError, match="series_uid applies to DICOM only"):
        load_volume(tmp_path / "ok.nii", series_uid="1.2.3")
