"""Rasteriser: band splitting never changes the buffer, and the bands share the work."""

from __future__ import annotations

import numpy as np
import pytest

from rendering.fluorescence.rasterizer import _balanced_tops, rasterize, rasterize_into


def _screen_triangles(rng, count, width, height, *, rows=None):
    """Random small triangles in screen coordinates (gx, gy, 1/z), within ``rows`` if given."""
    low, high = rows or (0, height)
    centres = np.stack(
        [
            rng.uniform(0, width, count),
            rng.uniform(low, high, count),
            rng.uniform(0.002, 0.01, count),
        ],
        axis=1,
    )
    corners = centres[:, np.newaxis, :] + rng.normal(0.0, [3.0, 3.0, 0.0005], (count, 3, 3))
    return corners.reshape(-1, 3), np.arange(3 * count, dtype=np.int64).reshape(count, 3)


@pytest.mark.slow
def test_any_number_of_bands_gives_the_same_buffer(rng):
    grid, triangles = _screen_triangles(rng, 3000, 160, 120)
    reference = np.empty((120, 160), dtype=np.int64)
    boxes = np.empty((len(triangles), 4), dtype=np.int32)
    rasterize_into.kernel(grid, triangles, reference, boxes, 1)
    assert (reference != 0).mean() > 0.5  # the scene covers most pixels
    for bands in (2, 3, 7):
        packed = np.full((120, 160), 12345, dtype=np.int64)  # stale content is cleared
        rasterize_into(grid, triangles, packed, boxes, bands)
        np.testing.assert_array_equal(packed, reference)
    inverse_depth, triangle_id, _ = rasterize(grid, triangles, 160, 120)
    np.testing.assert_array_equal(triangle_id, np.where(reference == 0, -1, reference & 0xFFFFFFFF))
    assert (inverse_depth[triangle_id >= 0] > 0).all() and (
        inverse_depth[triangle_id < 0] == 0
    ).all()


def test_bands_split_where_the_vertices_are(rng):
    """A mesh that fills only the top fifth of the image: equal-height bands would give one
    thread everything; the balanced borders put half of the vertices in each band."""
    grid, _ = _screen_triangles(rng, 4000, 200, 500, rows=(10, 100))
    tops = _balanced_tops(grid, 500, 2)
    assert tops[0] == 0 and tops[2] == 500
    below = (grid[::8, 1] < tops[1]).mean()
    assert abs(below - 0.5) < 0.02, (tops, below)
    # Vertices behind the camera (NaN) and off the grid are ignored.
    grid[::3] = np.nan
    grid[1::3, 1] += 1000.0
    sampled = grid[::8, 1]
    on_grid = sampled[np.isfinite(sampled) & (sampled < 500)]
    assert abs((on_grid < _balanced_tops(grid, 500, 2)[1]).mean() - 0.5) < 0.03
