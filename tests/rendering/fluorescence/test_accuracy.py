"""Region accuracy metrics (Dice, boundary error) against hand-checkable geometry."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from rendering.fluorescence.accuracy import (
    dice,
    iso_crossings,
    iso_segments,
    mean_curve_distance,
    polyline_segments,
    region_accuracy,
)
from rendering.fluorescence.surface_mesh import SurfaceMesh
from tests.rendering.scenes import grid_triangles


def plane(half_mm: float = 20.0, spacing_mm: float = 0.25) -> SurfaceMesh:
    count = round(2 * half_mm / spacing_mm) + 1
    axis = np.linspace(-half_mm, half_mm, count)
    x, y = np.meshgrid(axis, axis)
    vertices = np.stack([x, y, np.zeros_like(x)], -1).reshape(-1, 3)
    return SurfaceMesh(vertices, grid_triangles(count, count))


def circle(radius: float, centre=(0.0, 0.0), samples: int = 20000) -> np.ndarray:
    phi = np.linspace(0.0, 2 * np.pi, samples, endpoint=False)
    points = np.stack([centre[0] + radius * np.cos(phi), centre[1] + radius * np.sin(phi),
                       np.zeros_like(phi)], 1)  # fmt: skip
    return polyline_segments(points)


def test_iso_segments_of_a_linear_field_lie_on_its_level_line():
    mesh = plane()
    x = mesh.vertices_in_image[:, 0]
    segments = iso_segments(mesh.vertices_in_image, mesh.triangles, 0.3 * x + 1.0, 1.6)
    np.testing.assert_allclose(segments[..., 0], 2.0, atol=1e-12)  # 0.3 x + 1 = 1.6 at x = 2
    length = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1).sum()
    assert length == pytest.approx(40.0, rel=1e-9)  # the line across the 40 mm square
    crossings = iso_crossings(mesh.vertices_in_image, mesh.triangles, 0.3 * x + 1.0, 1.6)
    np.testing.assert_allclose(crossings[:, 0], 2.0, atol=1e-12)


def test_circle_boundaries_and_a_known_shift():
    """A disc of radius r = 8 mm on a 0.25 mm grid: its level set lies on the circle. Shifting
    it by s moves the boundary by s |cos(phi)|, mean (2 / pi) s; the overlap of the two discs
    is pi r^2 - 2 r s to first order, so Dice = 1 - 2 s / (pi r)."""
    mesh = plane()
    xy = mesh.vertices_in_image[:, :2]
    radius = 8.0
    truth = radius - np.hypot(xy[:, 0], xy[:, 1])  # >= 0 inside
    exact = region_accuracy(mesh, truth, truth, level=0.0, true_boundary=circle(radius))
    assert exact.dice == 1.0
    assert exact.boundary_error_mm < 0.02  # the linear interpolant within 0.25 mm triangles
    shift = 0.4
    moved = radius - np.hypot(xy[:, 0] - shift, xy[:, 1])
    result = region_accuracy(mesh, moved, truth, level=0.0, true_boundary=circle(radius))
    assert result.mapped_to_true_mm == pytest.approx(2 / np.pi * shift, rel=0.03)
    assert result.true_to_mapped_mm == pytest.approx(2 / np.pi * shift, rel=0.03)
    assert result.dice == pytest.approx(1 - 2 * shift / (np.pi * radius), abs=0.005)
    assert result.true_area_mm2 == pytest.approx(np.pi * radius**2, rel=0.01)


def test_unseen_boundary_counts_against_the_map_only_one_way():
    mesh = plane()
    xy = mesh.vertices_in_image[:, :2]
    truth = 8.0 - np.hypot(xy[:, 0], xy[:, 1])
    mapped = truth.copy()
    mapped[xy[:, 0] < 0] = np.nan  # the left half was never seen
    result = region_accuracy(mesh, mapped, truth, level=0.0)
    assert result.mapped_to_true_mm < 0.01  # what was mapped is right
    # The unseen half's points are nearest to the mapped half's ends, (0, +-r): chords
    # 2 r sin(a / 2) for a uniform in [0, pi / 2]; averaged with the seen half's zeros:
    # (4 r / pi) (1 - cos(pi / 4)).
    expected = 4 * 8.0 / np.pi * (1 - np.cos(np.pi / 4))
    assert result.true_to_mapped_mm == pytest.approx(expected, rel=0.01)
    assert result.dice == pytest.approx(2 * 0.5 / 1.5, abs=0.01)  # half the disc mapped


def test_dice_and_bad_inputs():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, b, weights=[3.0, 1.0, 1.0, 1.0]) == pytest.approx(2 * 3 / (4 + 4))
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert np.isnan(mean_curve_distance(np.zeros((0, 2, 3)), circle(1.0)))
    with pytest.raises(InputError, match="equal shape"):
        dice(a, b[:3])
    mesh = plane(2.0, 1.0)
    with pytest.raises(InputError, match="must have shape"):
        region_accuracy(mesh, np.zeros(3), np.zeros(3), level=0.0)
    with pytest.raises(InputError, match="true_values must be finite"):
        region_accuracy(mesh, np.zeros(25), np.full(25, np.nan), level=0.0)
