"""The fused fluorescence map: per-vertex state that grows as the camera sweeps.

One source of truth. :class:`FluorescenceMap` accumulates frame samples
(:class:`~rendering.fluorescence.projection.FrameSample`):
a weighted mean of the corrected values (and of the linear values, for raw reporting), the
maximum, the number of frames that sampled each vertex, how many of those were saturated, and
the last time each vertex was seen. Vertices never sampled stay NaN ("unseen") and must never be
coloured. Views read :meth:`FluorescenceMap.snapshot` (an immutable copy) and hold no state.

Fluorescence on the surface means "fluorophore within a few millimetres under the surface"
(NIR-I light escapes from about 5 mm deep); the map carries no depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

from registration.core.checks import Float64Array, InputError
from rendering.fluorescence.projection import FrameSample
from rendering.fluorescence.rasterizer import serialized


@dataclass(frozen=True)
class FusedFluorescence:
    """An immutable copy of the map's per-vertex state.

    Attributes
    ----------
    mean : (N,) float, weighted mean of corrected values; NaN where unseen.
    linear_mean : (N,) float, weighted mean of dark/flat-corrected values before the excitation
        correction; NaN where unseen.
    maximum : (N,) float, largest corrected sample; NaN where unseen.
    count : (N,) int, frames that sampled the vertex.
    saturated_count : (N,) int, of which saturated.
    last_seen_s : (N,) float, timestamp of the latest sample; NaN where unseen.
    weight_sum : (N,) float, total fusion weight (confidence).
    """

    mean: Float64Array
    linear_mean: Float64Array
    maximum: Float64Array
    count: np.ndarray
    saturated_count: np.ndarray
    last_seen_s: Float64Array
    weight_sum: Float64Array

    @property
    def seen(self) -> np.ndarray:
        """(N,) bool, vertices with a fused value."""
        return np.isfinite(self.mean)


class FluorescenceMap:
    """Per-vertex fusion of fluorescence samples over frames (mutable; see module docstring).

    vertex_count : N, the number of vertices of the mesh the samples belong to.
    """

    def __init__(self, vertex_count: int) -> None:
        if int(vertex_count) < 1:
            raise InputError(f"vertex_count must be positive; got {vertex_count}.")
        self._n = int(vertex_count)
        self.reset()

    @property
    def vertex_count(self) -> int:
        return self._n

    @property
    def frame_count(self) -> int:
        """Frames fused since the last reset."""
        return self._frames

    def reset(self) -> None:
        """Forget everything: all vertices unseen."""
        n = self._n
        self._weighted = np.zeros(n)
        self._weighted_linear = np.zeros(n)
        self._weights = np.zeros(n)
        self._plain = np.zeros(n)
        self._plain_linear = np.zeros(n)
        self._maximum = np.full(n, -np.inf)
        self._count = np.zeros(n, dtype=np.int64)
        self._saturated = np.zeros(n, dtype=np.int64)
        self._last_seen = np.full(n, np.nan)
        self._frames = 0

    def fuse(self, sample: FrameSample) -> None:
        """Add one frame's samples (vertices with NaN values or zero weight are skipped for
        the mean; every sampled vertex counts for max, count and last-seen)."""
        if sample.values.shape != (self._n,):
            raise InputError(
                f"the sample has {sample.values.shape[0]} vertices but the map has {self._n}; "
                "it belongs to another mesh."
            )
        _accumulate(
            sample.values, sample.linear_values, sample.weights, sample.saturated,
            float(sample.timestamp_s), self._weighted, self._weighted_linear, self._weights,
            self._plain, self._plain_linear, self._maximum, self._count, self._saturated,
            self._last_seen,
        )  # fmt: skip
        self._frames += 1

    def snapshot(self) -> FusedFluorescence:
        """The current per-vertex state as an immutable copy."""
        has_weight = self._weights > 0
        seen = self._count > 0
        mean = np.full(self._n, np.nan)
        linear = np.full(self._n, np.nan)
        mean[has_weight] = self._weighted[has_weight] / self._weights[has_weight]
        linear[has_weight] = self._weighted_linear[has_weight] / self._weights[has_weight]
        # Seen only with zero weight (exactly at an image edge or the grazing cut): plain mean.
        zero_weight = seen & ~has_weight
        mean[zero_weight] = self._plain[zero_weight] / self._count[zero_weight]
        linear[zero_weight] = self._plain_linear[zero_weight] / self._count[zero_weight]
        maximum = np.where(seen, self._maximum, np.nan)
        arrays = (
            mean,
            linear,
            maximum,
            self._count.copy(),
            self._saturated.copy(),
            self._last_seen.copy(),
            self._weights.copy(),
        )
        for array in arrays:
            array.setflags(write=False)
        return FusedFluorescence(*arrays)


@serialized
@numba.njit(parallel=True, cache=True)
def _accumulate(values, linear, weights, saturated, timestamp, weighted, weighted_linear,
                weight_sum, plain, plain_linear, maximum, count, saturated_count,
                last_seen):  # fmt: skip
    for i in prange(values.shape[0]):
        value = values[i]
        if not np.isfinite(value):
            continue
        w = weights[i]
        weighted[i] += w * value
        weighted_linear[i] += w * linear[i]
        weight_sum[i] += w
        plain[i] += value
        plain_linear[i] += linear[i]
        maximum[i] = max(maximum[i], value)
        count[i] += 1
        saturated_count[i] += saturated[i]
        last_seen[i] = timestamp
