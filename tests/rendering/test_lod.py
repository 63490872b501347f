"""Level of detail: decimation to a budget, and per-vertex values carried honestly."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from registration.core.checks import InputError
from rendering.lod import MIN_TRIANGLES_PER_MESH, decimate, split_budget


@pytest.fixture(scope="module")
def sphere():
    return pv.Sphere(radius=50.0, theta_resolution=300, phi_resolution=200)  # ~119k triangles


def test_decimation_meets_the_budget_and_keeps_the_shape(sphere):
    display = decimate(sphere, 10_000)
    assert 9_000 <= display.triangle_count <= 10_000
    radii = np.linalg.norm(np.asarray(display.mesh.points), axis=1)
    assert np.abs(radii - 50.0).max() < 0.5  # chord error of a 10k-triangle sphere ~0.2 mm
    assert display.mesh.point_data["Normals"].shape == (display.mesh.n_points, 3)


def test_small_meshes_are_not_decimated(sphere):
    small = pv.Sphere(radius=5.0)
    display = decimate(small, 10_000)
    assert display.display_from_source is None and display.triangle_count == small.n_cells
    values = np.arange(small.n_points, dtype=float)
    assert np.array_equal(display.transfer(values), values)


def test_transfer_never_colours_an_unseen_vertex(sphere):
    display = decimate(sphere, 10_000)
    x = np.asarray(sphere.points)[:, 0]
    values = np.where(x < 0.0, np.nan, 1.0 + x / 50.0)  # seen only on the +x half
    carried = display.transfer(values)
    owner = display.display_from_source
    # Every display vertex that absorbed an unseen vertex is unseen.
    absorbed_unseen = np.zeros(display.mesh.n_points, bool)
    absorbed_unseen[owner[np.isnan(values)]] = True
    assert np.isnan(carried[absorbed_unseen]).all()
    # Far from the boundary the seen side keeps its values: the cluster maximum, within one
    # cluster's extent of the display vertex's own position.
    display_x = np.asarray(display.mesh.points)[:, 0]
    far_seen = display_x > 5.0
    assert not np.isnan(carried[far_seen]).any()
    assert np.abs(carried[far_seen] - (1.0 + display_x[far_seen] / 50.0)).max() < 0.1
    assert np.isnan(carried[display_x < -1.0]).all()


def test_transfer_keeps_a_small_positive_spot(sphere):
    display = decimate(sphere, 5_000)
    values = np.zeros(sphere.n_points)
    values[1234] = 5.0  # one full-resolution vertex
    assert display.transfer(values).max() == 5.0


def test_transfer_refuses_the_wrong_length(sphere):
    display = decimate(sphere, 5_000)
    with pytest.raises(InputError, match="one entry per mesh vertex"):
        display.transfer(np.zeros(10))


def test_budget_is_shared_by_size_and_small_meshes_are_kept():
    assert split_budget([1000, 500], 10_000) == [1000, 500]
    shares = split_budget([400_000, 100_000, 1_500], 100_000)
    assert shares[2] == 1_500
    assert abs(sum(shares) - 100_000) <= 2
    assert shares[0] == pytest.approx(4 * shares[1], rel=0.01)
    assert min(split_budget([10**6] * 10, 1_000)) == MIN_TRIANGLES_PER_MESH


def test_bad_meshes_are_refused():
    with pytest.raises(InputError, match="no surface triangles"):
        decimate(pv.PolyData(np.random.default_rng(0).random((10, 3))), 100, name="cloud")
    with pytest.raises(InputError, match=r"must be a pyvista\.PolyData"):
        decimate(pv.ImageData(dimensions=(3, 3, 3)), 100)
    with pytest.raises(InputError, match="max_triangles must be >= 4"):
        decimate(pv.Sphere(), 2)


def test_a_misplaced_collapse_is_put_back_on_the_surface(sphere):
    """A display vertex thrown metres off (as a near-singular quadric does on real scans) goes
    back onto the source vertex nearest its merged vertices' centroid; the others stay."""
    from rendering.lod import STRAY_MM, _pin_strays

    display = decimate(sphere, 2_000)
    placed = np.asarray(display.mesh.points, dtype=np.float64)
    mapping = display.display_from_source
    thrown = placed.copy()
    thrown[7] = [0.0, 0.0, 12_000.0]
    source = np.asarray(sphere.points, dtype=np.float64)
    fixed = _pin_strays(source, thrown, mapping)
    np.testing.assert_array_equal(np.delete(fixed, 7, axis=0), np.delete(placed, 7, axis=0))
    merged = source[mapping == 7]
    assert np.linalg.norm(fixed[7] - merged.mean(axis=0)) < 2.0  # on its own patch
    assert np.min(np.linalg.norm(source - fixed[7], axis=1)) == 0.0  # a source vertex
    assert np.min(np.linalg.norm(source - placed[7], axis=1)) < STRAY_MM  # valid ones kept
