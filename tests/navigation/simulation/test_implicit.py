from __future__ import annotations

import numpy as np
import pytest

from navigation.simulation.implicit import (
    Capsule,
    Ellipsoid,
    SmoothUnion,
    Sphere,
    StarShape,
    inside,
    shape_from_dict,
    shape_to_dict,
    signed_distance_mm,
)
from registration.core.checks import InputError


def test_star_without_lobes_is_a_sphere():
    star = StarShape((1.0, 2.0, 3.0), 10.0, ((0.0, 0.0, 1.0),), (0.0,), (0.2,))
    volume, centroid = star.volume_and_centroid()
    assert volume == pytest.approx(4.0 / 3.0 * np.pi * 1000.0, rel=1e-10)
    np.testing.assert_allclose(centroid, [1, 2, 3], atol=1e-9)


def test_star_volume_and_centroid_match_dense_sampling():
    star = StarShape(
        (0.0, 0.0, 0.0), 8.0, ((1.0, 0.0, 0.0), (0.0, 0.6, 0.8)), (4.0, 3.0), (0.2, 0.3)
    )
    volume, centroid = star.volume_and_centroid()
    step = 0.125
    axis = (np.arange(-13.0, 13.0, step) + step / 2).astype(np.float32)
    x, y, z = axis[None, None, :], axis[None, :, None], axis[:, None, None]
    inside_mask = star.value(x, y, z) < 0
    sampled = inside_mask.sum() * step**3
    assert sampled == pytest.approx(volume, rel=2e-3)
    kk, jj, ii = np.nonzero(inside_mask)
    np.testing.assert_allclose(
        [axis[ii].mean(), axis[jj].mean(), axis[kk].mean()], centroid, atol=0.02
    )
    assert centroid[0] > 0.3  # the 4 mm lobe toward +x pulls the centroid there


def test_signed_distances_are_exact_near_the_surface():
    sphere = Sphere((5.0, -2.0, 1.0), 3.0)
    np.testing.assert_allclose(
        signed_distance_mm(sphere, [[5, -2, 5], [5, -2, 2], [9, -2, 1]]), [1, -2, 1], atol=1e-6
    )
    ellipsoid = Ellipsoid((0.0, 0.0, 0.0), (10.0, 5.0, 3.0))
    # along an axis the distance is exact; near the surface the estimate is first-order exact
    np.testing.assert_allclose(
        signed_distance_mm(ellipsoid, [[10.3, 0, 0], [0, 4.8, 0], [0, 0, 3.1]]),
        [0.3, -0.2, 0.1],
        atol=5e-3,
    )
    capsule = Capsule((0.0, 0.0, 0.0), (0.0, 0.0, 10.0), 2.0)
    assert inside(capsule, [[0, 0, 11.9], [0, 0, 12.1], [1.9, 0, 5]]).tolist() == [
        True,
        False,
        True,
    ]


def test_shapes_round_trip_through_json_dicts():
    shape = SmoothUnion(
        (Sphere((0.0, 0.0, 0.0), 5.0), Capsule((1.0, 2.0, 3.0), (4.0, 5.0, 6.0), 1.5)), 3.0
    )
    again = shape_from_dict(shape_to_dict(shape))
    points = np.random.default_rng(1).uniform(-10, 10, (50, 3))
    np.testing.assert_array_equal(
        signed_distance_mm(again, points), signed_distance_mm(shape, points)
    )
    with pytest.raises(InputError, match="unknown shape type 'Blob'"):
        shape_from_dict({"type": "Blob"})
