"""Sampling one frame onto a mesh: bilinear values, dark/flat, mask, saturation, unseen."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from rendering.fluorescence.nir_camera import image_from_camera_looking_at
from rendering.fluorescence.projection import FrameProjector
from rendering.fluorescence.radiometry import ExcitationCorrection, RadiometricCalibration
from tests.rendering import scenes

WIDTH, HEIGHT = 1280, 1024


def plane_and_pose(distance=300.0, half_size=150.0, spacing=3.0):
    vertices, triangles, normals = scenes.bump_surface(spacing, half_size_mm=half_size)
    vertices[:, 2] = 0.0
    normals[:] = (0.0, 0.0, 1.0)
    mesh = scenes.placed_mesh(vertices, triangles, normals, np.eye(4))
    pose = image_from_camera_looking_at((0, 0, distance), (0, 0, 0), up_in_image=(0, -1, 0))
    return mesh, pose


@pytest.mark.slow
def test_bilinear_sampling_with_dark_and_flat_is_exact_on_linear_images():
    """A frame linear in (u, v) is sampled exactly by bilinear interpolation; dark and flat
    are applied at the same place; no excitation correction at r0 = distance, normal view."""
    mesh, pose = plane_and_pose()
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    dark = 90.0 + 0.01 * u
    flat = np.full((HEIGHT, WIDTH), 0.8)
    signal = 100.0 + 0.5 * u + 0.25 * v
    frame = signal * 0.8 + dark
    calibration = RadiometricCalibration(dark_frame=dark, flat_field=flat, saturation_level=1e9)
    projector = FrameProjector(mesh, scenes.camera(), calibration=calibration,
                               excitation=ExcitationCorrection(min_cos=1.0))  # fmt: skip
    sample = projector.project(frame, pose)
    seen = sample.sampled
    uv = sample.visibility.pixels_uv[seen]
    assert seen.sum() > 3000
    expected = 100.0 + 0.5 * uv[:, 0] + 0.25 * uv[:, 1]
    np.testing.assert_allclose(sample.linear_values[seen], expected, rtol=1e-9)
    factor = (sample.visibility.distance_mm[seen] / 300.0) ** 2
    np.testing.assert_allclose(sample.values[seen], expected * factor, rtol=1e-9)


def test_mask_saturation_and_unseen_vertices():
    mesh, pose = plane_and_pose()
    frame = np.full((HEIGHT, WIDTH), 1000, dtype=np.uint16)
    frame[:, 900:] = 4095
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[:, :300] = True
    projector = FrameProjector(mesh, scenes.camera())
    sample = projector.project(frame, pose, timestamp_s=3.5, mask=mask)
    u = sample.visibility.pixels_uv[:, 0]
    visible = sample.visibility.visible
    assert sample.masked[visible & (u < 298)].all()
    assert np.isnan(sample.values[sample.masked]).all()
    assert (sample.weights[~sample.sampled] == 0).all()
    assert sample.saturated[visible & (u > 901)].all()
    assert not sample.saturated[visible & (u > 305) & (u < 898)].any()
    # The 300 mm plane is wider than the view: vertices outside it are never given a value.
    outside = ~visible
    assert outside.sum() > 1000 and np.isnan(sample.values[outside]).all()
    # Saturated samples weigh little, unsaturated ones near the centre weigh about 1.
    v = sample.visibility.pixels_uv[:, 1]
    centre = visible & (np.abs(u - 640) < 50) & (np.abs(v - 512) < 50)
    assert sample.weights[centre].min() > 0.95
    assert sample.weights[sample.saturated].max() < 0.02


def test_bad_frames_are_refused():
    mesh, pose = plane_and_pose(spacing=10.0)
    projector = FrameProjector(mesh, scenes.camera())
    with pytest.raises(
        InputError, match=r"frame must be a single-channel \(H, W\) = \(1024, 1280\)"
    ):
        projector.project(np.zeros((1024, 1280, 3)), pose)
    with pytest.raises(InputError, match="mask must have the frame's shape"):
        projector.project(np.zeros((1024, 1280)), pose, mask=np.zeros((10, 10), dtype=bool))
    calibration = RadiometricCalibration(dark_frame=np.zeros((10, 10)))
    with pytest.raises(InputError, match=r"dark_frame has shape \(10, 10\)"):
        FrameProjector(mesh, scenes.camera(), calibration=calibration).project(
            np.zeros((1024, 1280)), pose
        )
    with pytest.raises(InputError, match="flat_field must be a 2-D"):
        RadiometricCalibration(flat_field=np.zeros((4, 4)))
    with pytest.raises(InputError, match=r"min_cos must be in \(0, 1\]"):
        ExcitationCorrection(min_cos=0.0)


def test_excitation_correction_formula():
    correction = ExcitationCorrection(reference_distance_mm=300.0, min_cos=0.25)
    values = correction.apply([100.0, 100.0, 100.0], [300.0, 600.0, 300.0], [1.0, 0.5, 0.1])
    np.testing.assert_allclose(values, [100.0, 100.0 * 4 / 0.5, 100.0 / 0.25])
    cubic = ExcitationCorrection(distance_exponent=3.0, cos_exponent=2.0)
    np.testing.assert_allclose(cubic.factor([150.0], [0.5]), [0.125 / 0.25])
