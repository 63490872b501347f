"""Per-vertex fusion: weighted mean, max, count, last seen, reset."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from rendering.fluorescence.fusion import FluorescenceMap
from rendering.fluorescence.projection import FrameSample

pytestmark = pytest.mark.slow


def sample(values, weights, t, saturated=None):
    values = np.asarray(values, dtype=float)
    return FrameSample(
        values=values,
        linear_values=values / 2.0,
        weights=np.asarray(weights, dtype=float),
        saturated=np.zeros(values.shape, bool) if saturated is None else np.asarray(saturated),
        masked=np.zeros(values.shape, bool),
        visibility=None,  # type: ignore[arg-type]
        timestamp_s=t,
    )


def test_weighted_mean_max_count_and_last_seen():
    fmap = FluorescenceMap(4)
    fmap.fuse(sample([10.0, 20.0, np.nan, 5.0], [1.0, 1.0, 0.0, 0.0], 1.0))
    fmap.fuse(sample([40.0, np.nan, np.nan, 7.0], [3.0, 0.0, 0.0, 0.0], 2.0, [1, 0, 0, 0]))
    fused = fmap.snapshot()
    np.testing.assert_allclose(fused.mean, [(10 + 3 * 40) / 4, 20.0, np.nan, 6.0])
    np.testing.assert_allclose(fused.linear_mean, [(5 + 3 * 20) / 4, 10.0, np.nan, 3.0])
    np.testing.assert_allclose(fused.maximum, [40.0, 20.0, np.nan, 7.0])
    np.testing.assert_array_equal(fused.count, [2, 1, 0, 2])
    np.testing.assert_array_equal(fused.saturated_count, [1, 0, 0, 0])
    np.testing.assert_allclose(fused.last_seen_s, [2.0, 1.0, np.nan, 2.0])
    np.testing.assert_array_equal(fused.seen, [True, True, False, True])
    assert fmap.frame_count == 2
    with pytest.raises(ValueError, match="read-only"):
        fused.mean[0] = 1.0
    fmap.reset()
    assert not fmap.snapshot().seen.any() and fmap.frame_count == 0


def test_a_sample_of_another_mesh_is_refused():
    with pytest.raises(InputError, match="belongs to another mesh"):
        FluorescenceMap(3).fuse(sample([1.0, 2.0], [1.0, 1.0], 0.0))
    with pytest.raises(InputError, match="vertex_count must be positive"):
        FluorescenceMap(0)
