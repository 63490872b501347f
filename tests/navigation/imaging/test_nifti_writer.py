"""The fast compressed NIfTI writer: the file ITK writes uncompressed, in a standard gzip
stream (Python's own gzip and ITK read it back), and the SHA-256 of the bytes on disk."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import SimpleITK as sitk

from navigation.imaging.nifti_writer import write_nifti_gz


def test_nifti_gz_is_itks_plain_file_gzipped(tmp_path):
    rng = np.random.default_rng(3)
    array = rng.integers(-1024, 3000, size=(7, 33, 21), dtype=np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetOrigin((-12.5, 40.0, -300.25))
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    target = tmp_path / "image.nii.gz"
    digest = write_nifti_gz(image, target)
    sitk.WriteImage(image, str(tmp_path / "plain.nii"), False)
    assert gzip.decompress(target.read_bytes()) == (tmp_path / "plain.nii").read_bytes()
    assert digest == hashlib.sha256(target.read_bytes()).hexdigest()
    back = sitk.ReadImage(str(target))
    assert np.array_equal(sitk.GetArrayFromImage(back), array)
    assert back.GetOrigin() == image.GetOrigin()
    assert np.allclose(back.GetDirection(), image.GetDirection())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.nii.gz", "plain.nii"]
