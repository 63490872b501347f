"""Shared validation of arrays at public boundaries.

Every check names the argument, says what was expected, what arrived and what to do, and raises
:class:`InputError` (a ``ValueError``), never an ``AssertionError`` or a library traceback.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Float64Array = NDArray[np.float64]


class InputError(ValueError):
    """Bad input at a public boundary; the message says what was wrong and what to do."""


def check_finite(values: ArrayLike, name: str) -> Float64Array:
    """Return ``values`` as a float64 array, refusing NaN or Inf.

    Raises
    ------
    InputError
        If any element is NaN or infinite, naming ``name`` and the first offending index.
    """
    array = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            f"{name} contains NaN or Inf (first at index {first}); "
            "remove or re-acquire the invalid values."
        )
    return array


def check_points(points: ArrayLike, name: str, *, min_count: int = 1) -> Float64Array:
    """Return ``points`` as a finite float64 array of shape (N, 3), N >= ``min_count``.

    A single point of shape (3,) is accepted as (1, 3).
    """
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} must be numeric (N, 3) points in mm; got {error}.") from None
    if array.ndim == 1 and array.shape == (3,):
        array = array[np.newaxis, :]
    if array.ndim != 2 or array.shape[1] != 3:
        raise InputError(f"{name} must have shape (N, 3) (x, y, z in mm); got shape {array.shape}.")
    if array.shape[0] < min_count:
        raise InputError(f"{name} needs at least {min_count} points; got {array.shape[0]}.")
    return check_finite(array, name)


def check_matrix(matrix: ArrayLike, name: str, shape: tuple[int, ...]) -> Float64Array:
    """Return ``matrix`` as a finite float64 array of exactly ``shape``."""
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} must be a numeric array of shape {shape}; got {error}.") from None
    if array.shape != shape:
        raise InputError(f"{name} must have shape {shape}; got {array.shape}.")
    return check_finite(array, name)


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a finite float > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive number; got {value!r}.") from None
    if not np.isfinite(number) or number <= 0:
        raise InputError(f"{name} must be a positive finite number; got {value!r}.")
    return number
