"""SBR, CNR, rings and margin flags on hand-checkable data."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from rendering.fluorescence.metrics import (
    CLOSE,
    NEGATIVE,
    POSITIVE,
    UNSEEN,
    MarginThresholds,
    margin_flags,
    quantify,
    ring_mask,
)
from tests.rendering import scenes


def test_sbr_and_cnr_by_hand():
    values = np.array([10.0, 14.0, 4.0, 6.0, np.nan, 5.0])
    target = np.array([True, True, False, False, False, False])
    background = np.array([False, False, True, True, True, False])
    q = quantify(values, target, background, target_region="tumour", background_region="mucosa")
    assert q.target_mean == 12.0 and q.background_mean == 5.0
    assert q.background_std == 1.0
    assert q.sbr == pytest.approx(2.4) and q.cnr == pytest.approx(7.0)
    assert q.background_seen_fraction == pytest.approx(2 / 3)
    assert (q.target_region, q.background_region) == ("tumour", "mucosa")
    weighted = quantify(values, target, background, target_region="t", background_region="b",
                        vertex_areas=np.array([3.0, 1.0, 1.0, 1.0, 1.0, 1.0]))  # fmt: skip
    assert weighted.target_mean == pytest.approx(11.0)


def test_flags_follow_the_thresholds():
    values = np.array([2.0, 1.49, 1.5, 1.99, 2.0, np.nan]) * 100.0
    np.testing.assert_array_equal(
        margin_flags(values, 100.0), [POSITIVE, NEGATIVE, CLOSE, CLOSE, POSITIVE, UNSEEN]
    )
    strict = MarginThresholds(positive_sbr=2.7, close_sbr=2.0, source="Warram 2015")
    np.testing.assert_array_equal(
        margin_flags(values, 100.0, thresholds=strict),
        [CLOSE, NEGATIVE, NEGATIVE, NEGATIVE, CLOSE, UNSEEN],
    )
    assert "tracer- and device-specific" in MarginThresholds().source
    with pytest.raises(InputError, match="must be >= close_sbr"):
        MarginThresholds(positive_sbr=1.2, close_sbr=1.5)


def test_rings_on_a_plane():
    """On a flat 0.5 mm grid, the disc of radius 5 mm is its vertices within 5 mm, so the
    distance d of a vertex at radius r to the nearest disc vertex is in [r - 5, r - 4.5]:
    the Euclidean ring 3 <= d <= 6 contains the annulus 8-10.5 mm and lies within 7.5-11 mm.
    The geodesic (Dijkstra) ring can only be narrower: paths are at most ~3 % longer."""
    vertices, triangles, normals = scenes.bump_surface(0.5, half_size_mm=20.0)
    vertices[:, 2] = 0.0
    normals[:] = (0, 0, 1)
    mesh = scenes.placed_mesh(vertices, triangles, normals, np.eye(4))
    radius = np.linalg.norm(vertices[:, :2], axis=1)
    disc = radius <= 5.0
    euclidean = ring_mask(mesh, disc, inner_mm=3.0, outer_mm=6.0, geodesic=False)
    assert euclidean[(radius >= 8.0) & (radius <= 10.5)].all()
    assert not euclidean[(radius < 7.5) | (radius > 11.0)].any()
    geodesic = ring_mask(mesh, disc, inner_mm=3.0, outer_mm=6.0)
    assert geodesic[(radius >= 8.0 * 1.03) & (radius <= 10.5 / 1.03)].all()
    assert not geodesic[(radius < 7.5) | (radius > 11.0)].any()


def test_bad_regions_are_refused():
    values = np.ones(4)
    target = np.array([True, False, False, False])
    with pytest.raises(InputError, match="overlap"):
        quantify(values, target, target, target_region="t", background_region="b")
    with pytest.raises(InputError, match=r"background region \(ring\)"):
        quantify(np.array([1.0, np.nan, np.nan, np.nan]), target, ~target, target_region="t",
                 background_region="ring")  # fmt: skip
    with pytest.raises(InputError, match=r"target_mask must be a boolean array of shape \(4,\)"):
        quantify(values, np.ones(4), ~target, target_region="t", background_region="b")
