from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from navigation.imaging.volume import Volume
from registration.core.checks import InputError
from registration.core.transforms import rotation_about


def test_sitk_round_trip_keeps_geometry_and_index_mapping():
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # (k, j, i)
    image = sitk.GetImageFromArray(array)
    image.SetOrigin((-100.0, 20.0, 35.0))
    image.SetSpacing((0.5, 0.75, 3.0))
    image.SetDirection(tuple(rotation_about([0, 0, 1], 30.0).ravel()))
    volume = Volume.from_sitk(image, modality="CT")
    assert volume.geometry.size_ijk == (6, 5, 4)
    for ijk in ([0, 0, 0], [5, 4, 3], [2, 1, 3]):
        expected = image.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk])
        np.testing.assert_allclose(volume.geometry.ijk_to_lps(ijk), expected, atol=1e-12)
        i, j, k = ijk
        assert volume.array[k, j, i] == array[k, j, i]
    back = volume.to_sitk()
    assert back.GetOrigin() == image.GetOrigin()
    np.testing.assert_allclose(back.GetDirection(), image.GetDirection(), atol=1e-15)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), array)


def test_shape_mismatch_refused():
    volume = Volume.from_sitk(sitk.Image(3, 4, 5, sitk.sitkUInt8))
    with pytest.raises(InputError, match="does not match"):
        Volume(np.zeros((3, 4, 5)), volume.geometry)
