"""SLERP + linear pose interpolation with refusal of extrapolation and gaps."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from registration.core.transforms import (
    make_rigid,
    random_rigid,
    rotation_about,
    rotation_error_deg,
)
from registration.pose_interpolation import PoseTrack, compose_camera_pose


def test_midpoint_of_a_known_rotation_and_translation():
    axis = np.array([1.0, 2.0, -0.5])
    start = make_rigid(rotation_about(axis, 10.0), [0.0, 0.0, 0.0])
    end = make_rigid(rotation_about(axis, 50.0), [10.0, -20.0, 30.0])
    track = PoseTrack(np.array([1.0, 1.1]), np.stack([start, end]), max_gap_s=0.15)
    quarter = track.at(1.025)
    np.testing.assert_allclose(quarter[:3, :3], rotation_about(axis, 20.0), atol=1e-12)
    assert rotation_error_deg(track.at(1.05), make_rigid(rotation_about(axis, 30.0))) < 1e-5
    np.testing.assert_allclose(quarter[:3, 3], [2.5, -5.0, 7.5], atol=1e-12)
    np.testing.assert_allclose(track.at(1.1), end, atol=1e-12)
    np.testing.assert_allclose(track.at(1.0), start, atol=1e-12)


def test_many_samples_and_vectorised_queries(rng):
    times = np.cumsum(rng.uniform(0.01, 0.02, 50))
    poses = np.stack([random_rigid(rng, max_angle_deg=20) for _ in times])
    track = PoseTrack(times, poses, max_gap_s=0.05)
    queries = rng.uniform(times[0], times[-1], 200)
    batch = track.at_many(queries)
    for query, pose in zip(queries[:10], batch[:10], strict=True):
        np.testing.assert_allclose(track.at(query), pose, atol=1e-12)
    np.testing.assert_allclose(track.at_many(times), poses, atol=1e-9)


def test_holds_the_end_within_the_extrapolation_limit_and_refuses_beyond():
    poses = np.stack([np.eye(4), make_rigid(translation_mm=[1.0, 0, 0])])
    track = PoseTrack(np.array([0.0, 0.02]), poses, max_extrapolation_s=0.01)
    np.testing.assert_allclose(track.at(0.029), poses[1])
    np.testing.assert_allclose(track.at(-0.005), poses[0])
    with pytest.raises(InputError, match=r"extrapolation is limited to 0\.01 s"):
        track.at(0.031)
    with pytest.raises(InputError, match=r"track covers \[0.000000, 0.020000\]"):
        track.at(-0.5)


def test_refuses_to_interpolate_across_a_gap():
    poses = np.stack([np.eye(4), np.eye(4), np.eye(4)])
    track = PoseTrack(np.array([0.0, 0.01, 0.5]), poses, max_gap_s=0.1)
    track.at(0.005)
    track.at(0.5)  # on a sample: fine even next to the gap
    with pytest.raises(InputError, match=r"0\.490 s gap"):
        track.at(0.2)


def test_bad_tracks_are_refused():
    with pytest.raises(InputError, match="strictly increasing"):
        PoseTrack(np.array([0.0, 0.0]), np.stack([np.eye(4), np.eye(4)]))
    with pytest.raises(InputError, match=r"shape \(K, 4, 4\)"):
        PoseTrack(np.array([0.0, 1.0]), np.eye(4)[np.newaxis])
    bad = np.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(InputError, match=r"a_from_b\[1\] is not rigid"):
        PoseTrack(np.array([0.0, 1.0]), np.stack([np.eye(4), bad]))


def test_compose_camera_pose_chain(rng):
    image_from_tracker = random_rigid(rng)
    tracker_from_marker = random_rigid(rng)
    marker_from_camera = random_rigid(rng)
    point_in_camera = np.array([1.0, -2.0, 300.0, 1.0])
    chained = compose_camera_pose(
        image_from_tracker=image_from_tracker,
        tracker_from_cameramarker=tracker_from_marker,
        cameramarker_from_camera=marker_from_camera,
    )
    expected = image_from_tracker @ (tracker_from_marker @ (marker_from_camera @ point_in_camera))
    np.testing.assert_allclose(chained @ point_in_camera, expected, atol=1e-9)
    with pytest.raises(InputError, match="cameramarker_from_camera is a reflection"):
        compose_camera_pose(
            image_from_tracker=np.eye(4),
            tracker_from_cameramarker=np.eye(4),
            cameramarker_from_camera=np.diag([1.0, 1.0, -1.0, 1.0]),
        )
