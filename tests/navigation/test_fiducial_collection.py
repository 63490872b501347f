"""Fiducial collection: known tip offset and poses, noise, moving pointer, dropouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from navigation.tracking.fiducial_collection import (
    FiducialCollectionError,
    FiducialCollector,
    average_still_tip,
    find_still_periods,
    tip_positions,
)
from navigation.tracking.pose_store import ToolPose, ToolState
from registration.core.checks import InputError
from registration.core.transforms import make_rigid, random_rigid, rotation_about

TIP_IN_POINTER = np.array([108.565, 7.774, 2.539])  # the PLUS stylus calibration's offset


def poses_touching(point, count, rng, *, jitter_mm=0.0):
    """Poses of a pointer pivoting about its tip held on ``point`` (reference frame)."""
    out = []
    for _ in range(count):
        rotation = random_rigid(rng, max_angle_deg=30.0)[:3, :3]
        translation = point - rotation @ TIP_IN_POINTER + rng.normal(0.0, jitter_mm, 3)
        out.append(make_rigid(rotation, translation))
    return np.array(out)


def snapshot(matrix, t, state=ToolState.OK):
    matrix = np.array(matrix)
    matrix.setflags(write=False)
    return ToolPose(
        "PointerToReference",
        state,
        matrix if state is ToolState.OK else None,
        t,
        t,
        0.0,
        "" if state is ToolState.OK else "hidden",
    )


def test_tip_positions_are_exact_for_known_poses(rng):
    point = np.array([10.0, -20.0, 30.0])
    np.testing.assert_allclose(
        tip_positions(poses_touching(point, 5, rng), TIP_IN_POINTER),
        np.tile(point, (5, 1)),
        atol=1e-12,
    )
    rotation = rotation_about([0, 0, 1], 90.0)
    pose = make_rigid(rotation, [1.0, 2.0, 3.0])
    # The tip (108.565, 7.774, 2.539) rotated 90 deg about z is (-7.774, 108.565, 2.539).
    np.testing.assert_allclose(
        tip_positions(pose[np.newaxis], TIP_IN_POINTER)[0], [1 - 7.774, 2 + 108.565, 3 + 2.539]
    )


def test_average_over_a_still_window_with_jitter(rng):
    point = np.array([50.0, 60.0, -70.0])
    sigma = 0.15  # per-axis jitter, mm
    result = average_still_tip(
        poses_touching(point, 400, rng, jitter_mm=sigma), TIP_IN_POINTER, max_spread_mm=0.5
    )
    # Mean error ~ sigma * sqrt(3 / 400) = 0.013 mm; the RMS spread is sigma * sqrt(3).
    assert np.linalg.norm(result.position_in_reference - point) < 0.05
    assert result.spread_mm == pytest.approx(sigma * math.sqrt(3), rel=0.1)
    assert result.sample_count == 400 and result.max_deviation_mm > result.spread_mm


def test_moving_pointer_is_refused(rng):
    poses = poses_touching(np.zeros(3), 20, rng)
    poses[:, 0, 3] += np.linspace(0.0, 5.0, 20)  # slides 5 mm along x during the window
    with pytest.raises(FiducialCollectionError, match=r"pointer moved: tip spread 1\.\d+ mm"):
        average_still_tip(poses, TIP_IN_POINTER, max_spread_mm=0.5)
    with pytest.raises(InputError, match=r"shape \(N, 4, 4\)"):
        average_still_tip(np.eye(4), TIP_IN_POINTER)


def test_collector_averages_live_snapshots(rng):
    point = np.array([1.0, 2.0, 3.0])
    collector = FiducialCollector(TIP_IN_POINTER, window_samples=20, max_spread_mm=0.5)
    with pytest.raises(FiducialCollectionError, match="no pose received yet"):
        collector.collect()
    poses = poses_touching(point, 30, rng, jitter_mm=0.05)
    for index, pose in enumerate(poses[:10]):
        collector.add(snapshot(pose, 10.0 + index / 30))
    with pytest.raises(FiducialCollectionError, match="only 10 of 20"):
        collector.collect()
    for index, pose in enumerate(poses[10:], start=10):
        collector.add(snapshot(pose, 10.0 + index / 30))
        collector.add(snapshot(pose, 10.0 + index / 30))  # a repeated snapshot counts once
    result = collector.collect()
    assert result.sample_count == 20
    assert np.linalg.norm(result.position_in_reference - point) < 0.1
    assert result.start_s == pytest.approx(10.0 + 10 / 30)
    assert result.spread_mm == pytest.approx(collector.spread_mm)


def test_collector_refuses_after_a_dropout_and_after_a_gap(rng):
    collector = FiducialCollector(TIP_IN_POINTER, window_samples=5, max_gap_s=0.25)
    poses = poses_touching(np.zeros(3), 12, rng)
    for index in range(5):
        collector.add(snapshot(poses[index], index * 0.05))
    collector.add(snapshot(None, 0.3, ToolState.OUT_OF_VIEW))
    with pytest.raises(FiducialCollectionError, match="pointer is OUT_OF_VIEW: hidden"):
        collector.collect()
    for index in range(5, 8):
        collector.add(snapshot(poses[index], 0.3 + index * 0.05))
    collector.add(snapshot(poses[8], 2.0))  # 1.3 s gap: the window restarts
    assert collector.sample_count == 1


def test_collector_refuses_a_moving_pointer(rng):
    collector = FiducialCollector(TIP_IN_POINTER, window_samples=10, max_spread_mm=0.5)
    for index in range(10):
        pose = make_rigid(translation_mm=[index * 0.5, 0.0, 0.0])
        collector.add(snapshot(pose, index * 0.03))
    with pytest.raises(FiducialCollectionError, match="pointer moved"):
        collector.collect()


def test_find_still_periods_on_a_synthetic_path(rng):
    """Still at A for 2 s, move 100 mm in 1 s, still at B for 1.5 s, moving, still 0.5 s."""
    rate = 30.0
    segments = [
        np.tile([0.0, 0.0, 0.0], (60, 1)),
        np.linspace([0.0, 0.0, 0.0], [100.0, 0.0, 0.0], 30),
        np.tile([100.0, 0.0, 0.0], (45, 1)),
        np.linspace([100.0, 0.0, 0.0], [100.0, 80.0, 0.0], 30),
        np.tile([100.0, 80.0, 0.0], (15, 1)),
    ]
    points = np.vstack(segments) + rng.normal(0.0, 0.02, (180, 3))
    times = np.arange(len(points)) / rate
    periods = find_still_periods(times, points, max_speed_mm_s=5.0, min_duration_s=1.0)
    assert len(periods) == 2
    np.testing.assert_allclose(periods[0].mean, [0, 0, 0], atol=0.05)
    np.testing.assert_allclose(periods[1].mean, [100, 0, 0], atol=0.05)
    assert periods[0].duration_s == pytest.approx(59 / rate, abs=0.05)
    points[70] = np.nan
    assert len(find_still_periods(times, points, min_duration_s=1.0)) == 2
    with pytest.raises(InputError, match="strictly increasing"):
        find_still_periods(times[::-1], points)
