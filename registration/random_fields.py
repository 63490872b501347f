"""Smooth Gaussian random fields sampled at points: spatially correlated noise.

Used where errors are not independent from point to point: the shift of the skin between the
scan and surgery under a swept pointer (:mod:`registration.combined_tre`, the simulator), the
perfusion texture and relief of tissue (:mod:`navigation.simulation.tissue`). White noise
on a grid of a quarter of the correlation length (trilinear sampling then keeps ~97 % of the
variance), filtered by a Gaussian (scipy's ``gaussian_filter``, zero outside a margin of four
kernel sigmas) and normalised by the filter's own gain (its squared weights' sum), sampled at
the points by trilinear interpolation (``map_coordinates``): a zero-mean, unit-variance field
whose correlation falls to about 1/e over ``length_mm`` (Gaussian covariance, kernel sigma
``length_mm / 2``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter, map_coordinates

from registration.core.checks import Float64Array, check_points, check_positive


def smooth_noise(
    points_lps_mm: ArrayLike, length_mm: float, rng: np.random.Generator | int
) -> Float64Array:
    """(N,) unit-variance Gaussian random field of correlation ``length_mm`` at (N, 3) points
    (mm); ``rng`` a generator or a seed (same points and seed, same values)."""
    points = check_points(points_lps_mm, "points_lps_mm")
    check_positive(length_mm, "length_mm")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    step = length_mm / 4.0
    sigma = length_mm / step / 2.0  # kernel sigma in cells
    margin = int(np.ceil(4.0 * sigma)) + 2  # no point sees the grid's edge
    low = np.floor(points.min(axis=0) / step - margin) * step
    high = np.ceil(points.max(axis=0) / step + margin) * step
    shape = tuple(int(n) for n in np.round((high - low) / step) + 1)
    noise = gaussian_filter(generator.standard_normal(shape), sigma, mode="constant")
    # The filtered field's variance is the kernel's sum of squares (a delta's filtered image):
    # normalising by it, not by the grid's spread, gives unit variance wherever the points are.
    size = 2 * margin + 1
    delta = np.zeros((size, size, size))
    delta[margin, margin, margin] = 1.0
    noise /= float(np.sqrt(np.sum(gaussian_filter(delta, sigma, mode="constant") ** 2)))
    index = ((points - low) / step).T
    return np.asarray(map_coordinates(noise, index, order=1, mode="nearest"), dtype=np.float64)
