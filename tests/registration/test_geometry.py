from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry
from registration.core.transforms import rotation_about


def test_lps_from_ijk_hand_checked():
    # Columns run toward patient left (+x), rows toward posterior (+y), slices superior (+z).
    g = ImageGeometry((4, 3, 2), origin_lps_mm=[-10.0, 5.0, 100.0], spacing_mm=[0.5, 0.8, 2.5])
    np.testing.assert_allclose(g.ijk_to_lps([3, 2, 1]), [-8.5, 6.6, 102.5])
    assert g.shape_kji == (2, 3, 4)
    np.testing.assert_allclose(g.kji_to_lps([[1, 2, 3]]), [[-8.5, 6.6, 102.5]])


def test_oblique_round_trip(rng):
    direction = rotation_about([1, 2, 3], 17.0)
    g = ImageGeometry(
        (64, 64, 30), origin_lps_mm=[1.0, 2.0, 3.0], spacing_mm=[0.7, 0.7, 3.0], direction=direction
    )
    ijk = rng.uniform(0, 60, size=(50, 3))
    np.testing.assert_allclose(g.lps_to_ijk(g.ijk_to_lps(ijk)), ijk, atol=1e-10)
    np.testing.assert_allclose(g.ijk_from_lps @ g.lps_from_ijk, np.eye(4), atol=1e-12)
    # Moving one slice moves spacing_k along the third direction column.
    step = g.ijk_to_lps([0, 0, 1]) - g.ijk_to_lps([0, 0, 0])
    np.testing.assert_allclose(step, 3.0 * direction[:, 2])


def test_contains_and_extent():
    g = ImageGeometry((10, 10, 10), origin_lps_mm=[0, 0, 0], spacing_mm=[1, 1, 1])
    assert g.contains_lps([[0, 0, 0], [9.4, 9.4, 9.4], [9.6, 0, 0], [-1, 0, 0]]).tolist() == [
        True,
        True,
        False,
        False,
    ]
    np.testing.assert_allclose(g.extent_lps_mm, [[0, 0, 0], [9, 9, 9]])


def test_refuses_bad_geometry():
    with pytest.raises(InputError, match="spacing_mm must be positive"):
        ImageGeometry((2, 2, 2), origin_lps_mm=[0, 0, 0], spacing_mm=[1, 0, 1])
    with pytest.raises(InputError, match="orthonormal"):
        ImageGeometry(
            (2, 2, 2),
            origin_lps_mm=[0, 0, 0],
            spacing_mm=[1, 1, 1],
            direction=np.diag([1.0, 2.0, 1.0]),
        )
