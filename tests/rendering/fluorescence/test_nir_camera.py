"""The synthetic NIR camera: determinism, excitation fall-off, noise, saturation, truth."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from registration.core.transforms import invert_rigid
from rendering.fluorescence.nir_camera import (
    NirSensorModel,
    glowing_patch_emission,
    image_from_camera_looking_at,
    render_nir_frame,
)
from tests.rendering import scenes


@pytest.fixture(scope="module")
def plane():
    vertices, triangles, normals = scenes.bump_surface(4.0, half_size_mm=200.0)
    vertices[:, 2] = 0.0
    normals[:] = (0.0, 0.0, 1.0)
    return scenes.placed_mesh(vertices, triangles, normals, np.eye(4))


def pose_at(distance, tilt_deg=0.0):
    a = np.radians(tilt_deg)
    position = distance * np.array([np.sin(a), 0.0, np.cos(a)])
    return image_from_camera_looking_at(position, (0, 0, 0), up_in_image=(0, -1, 0))


@pytest.mark.slow
def test_deterministic_for_a_seed(plane):
    emission = np.ones(plane.vertex_count)
    sensor = NirSensorModel(supersample=1)
    a = render_nir_frame(plane, emission, scenes.camera(), pose_at(300), sensor=sensor, seed=3)
    b = render_nir_frame(plane, emission, scenes.camera(), pose_at(300), sensor=sensor, seed=3)
    c = render_nir_frame(plane, emission, scenes.camera(), pose_at(300), sensor=sensor, seed=4)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert (a.pixels != c.pixels).mean() > 0.5
    assert a.pixels.dtype == np.uint16 and a.pixels.shape == (1024, 1280)


def test_excitation_falls_with_distance_and_incidence(plane):
    """Centre pixel, noise-free: (r0/r)^2 from 200 to 400 mm is a factor 4; at 60 deg the
    Lambertian incidence halves it."""
    sensor = NirSensorModel(supersample=1, psf_sigma_px=0.0)
    emission = np.ones(plane.vertex_count)
    camera = scenes.camera()
    cx, cy = (round(float(c)) for c in camera.intrinsics.camera_matrix[:2, 2])

    def centre(pose):
        frame = render_nir_frame(plane, emission, camera, pose, sensor=sensor)
        return frame.expected_dn[cy, cx] - sensor.dark_level_dn

    near, far, tilted = centre(pose_at(200)), centre(pose_at(400)), centre(pose_at(300, 60))
    assert near / far == pytest.approx(4.0, rel=1e-3)
    assert near == pytest.approx(2000.0 * (300 / 200) ** 2, rel=1e-3)
    assert tilted == pytest.approx(1000.0, rel=3e-3)  # the pixel is 0.3 px off the axis


def test_noise_statistics_and_saturation(plane):
    """In the flat centre, variance = mean / (electrons per count) + read noise^2 (+ 1/12 for
    rounding); a large gain saturates at 4095."""
    sensor = NirSensorModel(supersample=1, gain_dn=1000.0, psf_sigma_px=0.0)
    camera = scenes.camera()
    frame = render_nir_frame(plane, np.ones(plane.vertex_count), camera, pose_at(300),
                             sensor=sensor, seed=9)  # fmt: skip
    patch = frame.pixels[462:562, 590:690].astype(float)
    expected = frame.expected_dn[462:562, 590:690]
    residual = patch - expected
    signal = expected.mean() - sensor.dark_level_dn
    predicted = signal / sensor.electrons_per_dn + sensor.read_noise_dn**2 + 1 / 12
    assert residual.var() == pytest.approx(predicted, rel=0.08)
    bright = render_nir_frame(plane, np.ones(plane.vertex_count), camera, pose_at(300),
                              sensor=NirSensorModel(supersample=1, gain_dn=1e5))  # fmt: skip
    assert bright.pixels.max() == 4095 and (bright.pixels == 4095).mean() > 0.5


def test_ground_truth_vertex_per_pixel(plane):
    camera = scenes.camera()
    pose = pose_at(300, 20)
    frame = render_nir_frame(plane, np.ones(plane.vertex_count), camera, pose,
                             sensor=NirSensorModel(supersample=1), with_truth=True)  # fmt: skip
    truth = frame.vertex_seen
    assert truth is not None and (truth >= 0).mean() > 0.99
    rows, columns = np.mgrid[0:1024:37, 0:1280:41]
    vertex = truth[rows, columns].ravel()
    points = plane.vertices_in_image[vertex]
    uv = camera.project_points(points @ invert_rigid(pose)[:3, :3].T + invert_rigid(pose)[:3, 3])
    offset = np.linalg.norm(uv - np.stack([columns.ravel(), rows.ravel()], 1), axis=1)
    footprint_px = 4.0 / (300 / 1500)  # 4 mm mesh spacing at 300 mm, f = 1500 px
    assert offset.max() < footprint_px  # the nearest corner of the triangle seen


def test_glowing_patch_and_bad_emission(plane):
    np.testing.assert_allclose(
        glowing_patch_emission([-50.0, 0.0, 50.0], peak=1.0, background=0.2, blur_mm=1.0),
        [1.0, 0.6, 0.2], atol=1e-12,
    )  # fmt: skip
    with pytest.raises(InputError, match="emission must be finite, >= 0"):
        render_nir_frame(plane, -np.ones(plane.vertex_count), scenes.camera(), pose_at(300))
    with pytest.raises(InputError, match="parallel to the viewing direction"):
        image_from_camera_looking_at((0, 0, 300), (0, 0, 0), up_in_image=(0, 0, 1))


def test_specular_peak_and_ambient_subtraction(plane):
    """On a plane seen head-on at the reference distance the specular highlight adds
    specular_dn at the centre (normal incidence), cos(20 deg)^60 of it at 20 deg; pulsed
    subtraction removes the ambient light's mean but keeps its shot noise."""
    emission = np.ones(plane.vertex_count)
    camera = scenes.camera()
    cx, cy = (round(float(c)) for c in camera.intrinsics.camera_matrix[:2, 2])
    base = NirSensorModel(supersample=1, psf_sigma_px=0.0)
    shiny = NirSensorModel(supersample=1, psf_sigma_px=0.0, specular_dn=1000.0)
    flat = render_nir_frame(plane, emission, camera, pose_at(300), sensor=base).expected_dn
    glint = render_nir_frame(plane, emission, camera, pose_at(300), sensor=shiny).expected_dn
    assert glint[cy, cx] - flat[cy, cx] == pytest.approx(1000.0, rel=1e-3)
    tilted = render_nir_frame(plane, emission, camera, pose_at(300, 20), sensor=shiny)
    tilted_flat = render_nir_frame(plane, emission, camera, pose_at(300, 20), sensor=base)
    excess = tilted.expected_dn[cy, cx] - tilted_flat.expected_dn[cy, cx]
    assert excess == pytest.approx(1000.0 * np.cos(np.radians(20.0)) ** 60, rel=0.02)
    lit = NirSensorModel(supersample=1, psf_sigma_px=0.0, ambient_dn=800.0)
    pulsed = NirSensorModel(
        supersample=1, psf_sigma_px=0.0, ambient_dn=800.0, ambient_subtraction=True
    )
    region = np.s_[cy - 20 : cy + 20, cx - 20 : cx + 20]
    plain = render_nir_frame(plane, emission, camera, pose_at(300), sensor=base, seed=2)
    bright = render_nir_frame(plane, emission, camera, pose_at(300), sensor=lit, seed=2)
    cancelled = render_nir_frame(plane, emission, camera, pose_at(300), sensor=pulsed, seed=2)
    assert bright.pixels[region].mean() - plain.pixels[region].mean() == pytest.approx(
        800, rel=0.02
    )
    assert cancelled.pixels[region].mean() == pytest.approx(plain.pixels[region].mean(), abs=3.0)
    assert cancelled.pixels[region].std() > 1.3 * plain.pixels[region].std()


def test_tissue_sensor_scales_with_exposure():
    from rendering.fluorescence.nir_camera import tissue_sensor

    short, long = tissue_sensor(exposure_ms=10.0), tissue_sensor(exposure_ms=40.0)
    assert long.gain_dn == pytest.approx(4 * short.gain_dn)
    assert long.specular_dn == pytest.approx(4 * short.specular_dn)
    assert short.ambient_subtraction and short.exposure_ms == 10.0
    with pytest.raises(InputError, match="exposure_ms"):
        tissue_sensor(exposure_ms=0.0)
