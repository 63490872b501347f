"""Tissue emission: a tracer under the surface reads exp(-mu_eff depth) (diffusion theory),
the perfusion texture has the stated mean and spread, the relief tilts normals as stated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from navigation.fluorescence.plan_masks import SmoothMask
from navigation.simulation.tissue import (
    TissueModel,
    TissueOptics,
    background_texture,
    rough_normals,
    subsurface_sensitivity,
    tissue_emission,
)
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry

pytestmark = pytest.mark.slow  # FFT convolutions over a 100 mm slab


@pytest.fixture(scope="module")
def slab():
    """A 100 x 100 x 50 mm block of tumour (top face at z = 0) on a 1 mm grid: to the kernel's
    reach (~20 mm) it is a half-space."""
    geometry = ImageGeometry(
        size_ijk=(160, 160, 100),
        origin_lps_mm=np.array([-80.0, -80.0, -70.0]),
        spacing_mm=np.ones(3),
        direction=np.eye(3),
    )
    z = -70.0 + np.arange(100)
    mask = np.zeros((100, 160, 160), dtype=bool)
    mask[(z > -50.0) & (z < 0.0)] = True
    mask[:, :, :30] = mask[:, :, 130:] = False
    mask[:, :30, :] = mask[:, 130:, :] = False
    return SmoothMask.from_mask(mask, geometry, sigma_mm=0.0)


def test_a_buried_tracer_fades_as_exp_minus_mu_eff_depth(slab):
    model = TissueModel(texture_cv=0.0)
    mu = model.optics.effective_attenuation_per_mm
    assert mu == pytest.approx(math.sqrt(3 * 0.03 * 1.03), rel=1e-9)
    depths = np.array([0.0, 2.0, 4.0, 6.0])
    # mask voxels end at z = -1 (centres), their faces at -0.5: depth from the face
    points = np.column_stack([np.zeros(4), np.zeros(4), depths - 0.5])
    sensitivity = subsurface_sensitivity(points, slab, model)
    assert sensitivity[0] == pytest.approx(1.0, abs=0.08)
    np.testing.assert_allclose(
        sensitivity[1:] / sensitivity[0], np.exp(-mu * depths[1:]), rtol=0.12
    )
    # a point far from any tumour reads nothing
    assert subsurface_sensitivity(np.array([[0.0, 0.0, 60.0]]), slab, model)[0] < 1e-6


def test_emission_is_background_plus_contrast_times_sensitivity(slab):
    model = TissueModel(texture_cv=0.0, tumour_to_normal=6.0, background=0.2)
    points = np.array([[0.0, 0.0, -0.5], [0.0, 0.0, 40.0]])
    result = tissue_emission(points, slab, model)
    np.testing.assert_allclose(result.emission, 0.2 * (1.0 + 5.0 * result.sensitivity))
    assert result.emission[1] == pytest.approx(0.2, rel=1e-6)


def test_texture_mean_spread_and_relief(rng):
    points = rng.uniform(-100.0, 100.0, size=(20000, 3))
    model = TissueModel(texture_cv=0.2, texture_length_mm=4.0, seed=3, roughness_deg=10.0)
    texture = background_texture(points, model)
    assert texture.mean() == pytest.approx(1.0, abs=0.03)
    assert texture.std() / texture.mean() == pytest.approx(0.2, rel=0.2)
    np.testing.assert_array_equal(texture, background_texture(points, model))
    normals = np.tile([0.0, 0.0, 1.0], (len(points), 1))
    tilted = rough_normals(points, normals, model)
    np.testing.assert_allclose(np.linalg.norm(tilted, axis=1), 1.0)
    angle = np.degrees(np.arccos(np.clip(tilted[:, 2], -1, 1)))
    assert np.sqrt(np.mean(angle**2)) == pytest.approx(10.0, rel=0.25)


def test_model_round_trip_and_refusals():
    model = TissueModel(tumour_to_normal=4.0, optics=TissueOptics(0.02, 0.8), seed=9)
    assert TissueModel.from_dict(model.to_dict()) == model
    with pytest.raises(InputError, match="tumour_to_normal"):
        TissueModel(tumour_to_normal=0.5)
    with pytest.raises(InputError, match="malformed"):
        TissueModel.from_dict({"background": 0.2})
