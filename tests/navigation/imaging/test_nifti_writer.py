"""The fast compressed NIfTI writer: byte for byte the file ITK writes uncompressed (its
header made from the first slice, the voxels from the array), in a standard gzip stream
(Python's own gzip and ITK read it back), and the SHA-256 of the bytes on disk."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
import SimpleITK as sitk

from navigation.imaging import nifti_writer
from navigation.imaging.nifti_writer import write_nifti_gz, write_nifti_gz_slabs
from navigation.imaging.volume import Volume
from registration.core.geometry import ImageGeometry

_OBLIQUE = np.array([[0.0, 0.8, 0.6], [-1.0, 0.0, 0.0], [0.0, -0.6, 0.8]])


@pytest.mark.parametrize(
    ("dtype", "shape", "direction", "whole", "slab"),
    [
        (np.int16, (7, 33, 21), np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0, 0, 1.0]]), 0, 0),
        (np.uint8, (1, 5, 4), np.eye(3), False, 0),
        (np.float32, (12, 8, 9), _OBLIQUE, False, 0),
        (np.uint8, (12, 8, 9), _OBLIQUE, False, 5),  # given in slabs of 5, 5 and 2 slices
        (np.int16, (5, 6, 7), _OBLIQUE, True, 0),  # ITK's plain file whole (the fallback)
        (np.int16, (5, 6, 7), _OBLIQUE, True, 2),
    ],
)
def test_nifti_gz_is_itks_plain_file_gzipped(
    tmp_path, monkeypatch, dtype, shape, direction, whole, slab
):
    rng = np.random.default_rng(3)
    array = (rng.random(shape) * 4000 - 1024).astype(dtype)
    geometry = ImageGeometry(
        size_ijk=shape[::-1],
        origin_lps_mm=np.array([-12.5, 40.0, -300.25]),
        spacing_mm=np.array([0.7, 0.9, 2.5]),
        direction=direction,
    )
    volume = Volume(array, geometry, "CT")
    if whole:
        monkeypatch.setattr(nifti_writer, "_header", lambda *_args: None)
    target = tmp_path / "image.nii.gz"
    if slab:
        slabs = (array[k : k + slab] for k in range(0, shape[0], slab))
        digest = write_nifti_gz_slabs(geometry, "CT", slabs, target, level=1)
    else:
        digest = write_nifti_gz(volume, target, level=1)
    image = volume.to_sitk()
    sitk.WriteImage(image, str(tmp_path / "plain.nii"), False)
    assert gzip.decompress(target.read_bytes()) == (tmp_path / "plain.nii").read_bytes()
    assert digest == hashlib.sha256(target.read_bytes()).hexdigest()
    back = sitk.ReadImage(str(target))
    assert np.array_equal(sitk.GetArrayFromImage(back), array)
    assert back.GetOrigin() == image.GetOrigin()
    assert np.allclose(back.GetDirection(), image.GetDirection())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.nii.gz", "plain.nii"]
