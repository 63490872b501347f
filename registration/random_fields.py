"""Smooth Gaussian random fields sampled at points: spatially correlated noise.

Used where errors are not independent from point to point: the shift of the skin between the
scan and surgery under a swept pointer (:mod:`registration.combined_tre`, the simulator), the
perfusion texture and relief of tissue (:mod:`navigation.fluorescence.tissue`). White noise on a
grid of a quarter of the correlation length (trilinear sampling then keeps ~97 % of the
variance), filtered by a Gaussian (scipy's ``gaussian_filter``) and
normalised to unit variance over the grid, sampled at the points by trilinear interpolation
(``map_coordinates``): a zero-mean, unit-variance field whose correlation falls to about 1/e
over ``length_mm`` (Gaussian covariance, kernel sigma ``length_mm / 2``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter, map_coordinates

from registration.checks import Float64Array, check_points, check_positive


def smooth_noise(
    points_lps_mm: ArrayLike, length_mm: float, rng: np.random.Generator | int
) -> Float64Array:
    """(N,) unit-variance Gaussian random field of correlation ``length_mm`` at (N, 3) points
    (mm); ``rng`` a generator or a seed (same points and seed, same values)."""
    points = check_points(points_lps_mm, "points_lps_mm")
    check_positive(length_mm, "length_mm")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    step = length_mm / 4.0
    low = np.floor(points.min(axis=0) / step - 4) * step
    high = np.ceil(points.max(axis=0) / step + 4) * step
    shape = tuple(int(n) for n in np.round((high - low) / step) + 1)
    noise = gaussian_filter(generator.standard_normal(shape), length_mm / step / 2.0)
    noise /= max(float(noise.std()), 1e-12)
    index = ((points - low) / step).T
    return np.asarray(map_coordinates(noise, index, order=1, mode="nearest"), dtype=np.float64)
