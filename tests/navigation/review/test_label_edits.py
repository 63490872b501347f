"""Label corrections change a synthetic label by the voxel counts geometry says they must."""

from __future__ import annotations

import numpy as np
import pytest

from navigation.planning.regions import RegionMask
from navigation.review.label_edits import (
    changed_voxels,
    clip_to_box,
    grow_shrink,
    keep_largest_island,
    remove_island_at,
    remove_small_islands,
    threshold_range,
)
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry

SHAPE = (40, 40, 40)


def _grid(spacing=(1.0, 1.0, 1.0), direction=None):
    return ImageGeometry(
        (40, 40, 40), np.array([-20.0, -20.0, -20.0]), np.array(spacing),
        np.eye(3) if direction is None else direction,
    )  # fmt: skip


def _label():
    """A 10^3 cube (1000 voxels), a 3^3 island (27) and a 2^3 island (8), apart."""
    full = np.zeros(SHAPE, dtype=bool)
    full[10:20, 10:20, 10:20] = True
    full[30:33, 30:33, 30:33] = True
    full[2:4, 30:32, 5:7] = True
    return RegionMask.from_full(full)


def test_islands():
    geometry, label = _grid(), _label()
    assert label.voxel_count == 1035
    assert keep_largest_island(label).voxel_count == 1000
    # 1 mm^3 voxels: under 0.01 ml drops the 8-voxel island only, under 0.03 ml both
    assert remove_small_islands(label, geometry, 0.01).voxel_count == 1027
    assert remove_small_islands(label, geometry, 0.03).voxel_count == 1000
    assert remove_small_islands(label, geometry, 0.0).voxel_count == 1035
    removed = remove_island_at(label, (31, 31, 31))
    assert removed.voxel_count == 1008
    assert not removed.to_full(SHAPE)[30:33, 30:33, 30:33].any()
    assert changed_voxels(label, removed, SHAPE) == 27
    with pytest.raises(InputError, match="not in this label"):
        remove_island_at(label, (0, 0, 0))
    # two cubes touching at an edge only are two islands (6-connectivity)
    edge = np.zeros(SHAPE, dtype=bool)
    edge[0:2, 0:2, 0:2] = edge[2:4, 2:4, 0:2] = True
    assert keep_largest_island(RegionMask.from_full(edge)).voxel_count == 8


def test_threshold_range_keeps_the_voxels_in_the_range():
    label = _label()
    image = np.broadcast_to(np.arange(40, dtype=np.float32), SHAPE)  # value = i
    kept = threshold_range(label, image, 12.0, 15.0)
    assert kept.voxel_count == 10 * 10 * 4  # the cube's columns i = 12..15
    assert threshold_range(label, image, 30.0, 40.0).voxel_count == 27  # the 3^3 island
    with pytest.raises(InputError, match="low <= high"):
        threshold_range(label, image, 5.0, 1.0)


def test_margin_grow_and_shrink():
    geometry = _grid()
    full = np.zeros(SHAPE, dtype=bool)
    full[10:20, 10:20, 10:20] = True
    cube = RegionMask.from_full(full)
    assert cube.voxel_count == 1000
    # 1 mm on 1 mm voxels: each face gains a 10 x 10 slab (edge voxels are sqrt(2) mm away)
    assert grow_shrink(cube, geometry, 1.0).voxel_count == 1000 + 6 * 100
    # 1.5 mm also takes the edge voxels (12 edges of 10), not the corners (sqrt(3) mm)
    assert grow_shrink(cube, geometry, 1.5).voxel_count == 1000 + 600 + 120
    # shrinking 1 mm drops the voxels 1 mm from the outside: the cube's shell
    assert grow_shrink(cube, geometry, -1.0).voxel_count == 8**3
    assert grow_shrink(cube, geometry, -2.0).voxel_count == 6**3
    assert grow_shrink(cube, geometry, 0.0) is cube
    # anisotropic voxels (k 3 mm): 2 mm reaches two voxels along i and j and the in-plane
    # diagonal (1, 1) (sqrt(2) mm), none along k: each 10 x 10 slice gains 4 x 2 x 10 + 4
    thick = _grid(spacing=(1.0, 1.0, 3.0))
    assert grow_shrink(cube, thick, 2.0).voxel_count == 10 * (100 + 80 + 4)
    # growth stops at the image's edge
    corner = RegionMask.from_full(np.pad(np.ones((2, 2, 2), bool), ((0, 38), (0, 38), (0, 38))))
    assert grow_shrink(corner, geometry, 1.0).voxel_count == 8 + 3 * 4


def test_clip_by_a_box_counts_the_voxel_centres_inside():
    geometry, label = _grid(), _label()
    # voxel centres x (i) from -20 + i: the cube spans i 10..19 -> x -10..-1
    box = np.array([[-10.0, -10.0, -10.0], [-6.0, -1.0, -1.0]])  # x -10..-6: 5 columns
    assert clip_to_box(label, geometry, box).voxel_count == 5 * 10 * 10
    assert clip_to_box(label, geometry, box[::-1]).voxel_count == 500  # corners in any order
    # on a grid rotated 90 deg about z (i along -y, j along +x), LPS = (-20 + j, -20 - i,
    # -20 + k): the cube's columns i = 10..14 lie at y -34..-30
    rotated = _grid(direction=np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    kept = clip_to_box(label, rotated, np.array([[-10.0, -34.0, -10.0], [-1.0, -30.0, -1.0]]))
    assert kept.voxel_count == 500
    with pytest.raises(InputError, match="two opposite corners"):
        clip_to_box(label, geometry, np.zeros((3, 3)))
