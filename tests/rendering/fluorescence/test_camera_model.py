"""The OpenCV camera model against cv2 itself, and the sampling-geometry argument."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from registration.core.checks import InputError
from rendering.fluorescence.camera_model import CameraModel
from tests.rendering import scenes


def random_points_in_view(rng, count):
    z = rng.uniform(50.0, 800.0, count)
    x = rng.uniform(-0.45, 0.45, count) * z
    y = rng.uniform(-0.36, 0.36, count) * z
    return np.stack([x, y, z], axis=1)


def test_projection_equals_cv2_project_points(rng):
    camera = scenes.camera()
    points = random_points_in_view(rng, 20000)
    reference, _ = cv2.projectPoints(
        points, np.zeros(3), np.zeros(3), camera.intrinsics.camera_matrix,
        camera.intrinsics.distortion,
    )  # fmt: skip
    difference = np.abs(camera.project_points(points) - reference.reshape(-1, 2))
    assert difference.max() < 1e-6


def test_projection_with_other_coefficients_and_skew_refused(rng):
    from registration.camera_intrinsics import CameraIntrinsics

    intrinsics = CameraIntrinsics(
        np.array([[900.0, 0.0, 320.0], [0.0, 880.0, 250.0], [0.0, 0.0, 1.0]]),
        np.array([0.2, -0.4, 0.003, 0.002, 0.3]),
        (640, 480),
    )
    camera = CameraModel(intrinsics)
    points = random_points_in_view(rng, 5000)
    reference, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), intrinsics.camera_matrix,
                                     intrinsics.distortion)  # fmt: skip
    assert np.abs(camera.project_points(points) - reference.reshape(-1, 2)).max() < 1e-6
    skewed = CameraIntrinsics(
        np.array([[900.0, 1.5, 320.0], [0.0, 880.0, 250.0], [0.0, 0.0, 1.0]]), np.zeros(5),
        (640, 480),
    )  # fmt: skip
    with pytest.raises(InputError, match=r"skew 1\.5"):
        CameraModel(skewed)


def test_undistortion_inverts_projection(rng):
    camera = scenes.camera()
    points = random_points_in_view(rng, 5000)
    normalised = camera.undistort_pixels(camera.project_points(points))
    np.testing.assert_allclose(normalised, points[:, :2] / points[:, 2:], atol=1e-9)


def test_points_behind_the_camera_have_no_pixel():
    camera = scenes.camera()
    uv = camera.project_points([[0.0, 0.0, -10.0], [1.0, 2.0, 0.5], [0.0, 0.0, 100.0]])
    assert np.isnan(uv[:2]).all()
    np.testing.assert_allclose(uv[2], camera.intrinsics.camera_matrix[:2, 2])


def test_pinhole_grid_covers_the_sensor():
    camera = scenes.camera()
    grid = camera.pinhole_grid()
    width, height = camera.image_size_px
    u, v = np.meshgrid(np.linspace(0, width - 1, 60), np.linspace(0, height - 1, 50))
    x, y = camera.undistort_pixels(np.stack([u.ravel(), v.ravel()], 1)).T
    k = camera.intrinsics.camera_matrix
    gx = k[0, 0] * x + k[0, 1] * y + k[0, 2] - grid.offset_x
    gy = k[1, 1] * y + k[1, 2] - grid.offset_y
    assert gx.min() >= 0 and gy.min() >= 0
    assert gx.max() <= grid.width - 1 and gy.max() <= grid.height - 1
    # Barrel distortion: the undistorted image is larger than the sensor.
    assert grid.width > width and grid.height > height


def test_sampling_the_raw_frame_at_the_distorted_projection_beats_undistorting_first(rng):
    """Both routes see the same geometry; undistort-then-sample interpolates twice. On a known
    smooth raw image g(u, v), sampling the raw frame at the distorted projection is closer to
    g at the true pixel than sampling the remapped frame at the pinhole projection."""
    camera = scenes.camera()
    width, height = camera.image_size_px
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)

    def g(u, v):
        return 1000.0 + 400.0 * np.sin(u / 9.0) * np.cos(v / 13.0)

    raw = g(u, v).astype(np.float32)
    undistorted = camera.undistort_frame(raw)
    points = random_points_in_view(rng, 4000) * np.array([0.8, 0.8, 1.0])
    true_uv = camera.project_points(points)
    pinhole_uv = camera.project_pinhole(points)

    def bilinear(image, uv):  # float64 (cv2.remap quantises positions to 1/32 px)
        x0, y0 = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
        fu, fv = uv[:, 0] - x0, uv[:, 1] - y0
        image = image.astype(np.float64)
        top = (1 - fu) * image[y0, x0] + fu * image[y0, x0 + 1]
        bottom = (1 - fu) * image[y0 + 1, x0] + fu * image[y0 + 1, x0 + 1]
        return (1 - fv) * top + fv * bottom

    direct = bilinear(raw, true_uv) - g(true_uv[:, 0], true_uv[:, 1])
    twice = bilinear(undistorted, pinhole_uv) - g(true_uv[:, 0], true_uv[:, 1])
    print(f"mean |error|: direct {np.abs(direct).mean():.3f}, twice {np.abs(twice).mean():.3f}")
    assert np.abs(direct).mean() < 1.0  # bilinear error only (amplitude 400)
    assert np.abs(twice).mean() < 4.0  # same geometry ...
    assert np.abs(direct).mean() < 0.6 * np.abs(twice).mean()  # ... but interpolated twice


def test_bad_input_is_refused():
    camera = scenes.camera()
    with pytest.raises(InputError, match=r"points_in_camera must have shape \(N, 3\)"):
        camera.project_points(np.zeros((4, 2)))
    with pytest.raises(InputError, match=r"pixels must have shape \(N, 2\)"):
        camera.undistort_pixels(np.zeros(4))
    with pytest.raises(InputError, match="does not exist"):
        CameraModel.load("/nonexistent/camera.json")
