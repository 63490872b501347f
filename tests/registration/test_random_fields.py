"""Smooth random fields: zero mean, unit variance, correlated over their length, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from registration.random_fields import smooth_noise


def test_unit_variance_and_correlation_over_the_length():
    rng = np.random.default_rng(3)
    points = rng.uniform(0.0, 400.0, size=(4000, 3))
    values = smooth_noise(points, 20.0, 11)
    assert abs(values.mean()) < 0.15 and values.std() == pytest.approx(1.0, abs=0.15)
    # pairs 3 mm apart move together; pairs 100 mm apart do not
    step = np.array([1.0, 0.0, 0.0])
    both = np.vstack([points, points + 3.0 * step, points + 100.0 * step])
    joint = smooth_noise(both, 20.0, 11).reshape(3, -1)
    assert np.corrcoef(joint[0], joint[1])[0, 1] > 0.9
    assert abs(np.corrcoef(joint[0], joint[2])[0, 1]) < 0.15
    # same points and seed: same values; another seed: others
    np.testing.assert_array_equal(values, smooth_noise(points, 20.0, 11))
    assert np.corrcoef(values, smooth_noise(points, 20.0, 12))[0, 1] < 0.2


def test_refuses_a_non_positive_length():
    with pytest.raises(InputError, match="length_mm"):
        smooth_noise(np.zeros((3, 3)), 0.0, 1)
