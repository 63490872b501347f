"""Skin marker detection: what is a registration marker and what only looks like one.

A synthetic neck (1 x 1 x 3 mm voxels, CT noise, the scanner's 12-bit ceiling) carries 4 mm
markers, radiotherapy set-up BBs at the laser crosshairs and a metal screw in the couch; the
real HN-CHUS-052 planning CT carries three set-up BBs on its mask at the chin (z = -271 mm).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from navigation.imaging.loading import load_volume
from navigation.planning.body import segment_body
from navigation.planning.fiducial_detection import detect_fiducials
from navigation.planning.segmentation import CtPreset
from registration.core.geometry import ImageGeometry

pytestmark = pytest.mark.slow

SPACING = np.array([1.0, 1.0, 3.0])
SHAPE_KJI = (30, 160, 180)
ORIGIN = np.array([-90.0, -80.0, -45.0])
CEILING = 3071.0  # 12-bit CT: -1024..3071 HU


def _neck(
    markers_hu: float, radius_mm: float, seed: int
) -> tuple[np.ndarray, np.ndarray, ImageGeometry]:
    """An elliptic neck (60 x 50 mm semi-axes) with three spheres on its skin in the plane
    z = 0 mm: anterior (0, -52.5), left (+62.5, 0) and right (-62.5, 0) (LPS mm), and a
    metal screw in the air 20 mm behind the neck (y = +70 mm); blurred by the scanner's
    point spread (0.6 mm in-plane, 1 mm along z), noisy, clipped at the 12-bit ceiling."""
    geometry = ImageGeometry((SHAPE_KJI[2], SHAPE_KJI[1], SHAPE_KJI[0]), ORIGIN, SPACING)
    k, j, i = np.indices(SHAPE_KJI, dtype=np.float64)
    x, y, z = ORIGIN[0] + i * SPACING[0], ORIGIN[1] + j * SPACING[1], ORIGIN[2] + k * SPACING[2]
    body = (x / 60.0) ** 2 + (y / 50.0) ** 2 <= 1.0
    image = np.where(body, 40.0, -1000.0)
    centres = [(0.0, -52.5, 0.0), (62.5, 0.0, 0.0), (-62.5, 0.0, 0.0)]
    for cx, cy, cz in centres:
        # supersampled 4 mm sphere: each voxel holds its fraction of marker (partial volume)
        fraction = np.zeros(SHAPE_KJI)
        offsets = (np.arange(4) + 0.5) / 4 - 0.5
        for dx in offsets:
            for dy in offsets:
                for dz in offsets:
                    inside = (x + dx * SPACING[0] - cx) ** 2 + (y + dy * SPACING[1] - cy) ** 2
                    inside = inside + (z + dz * SPACING[2] - cz) ** 2 <= radius_mm**2
                    fraction += inside / 64.0
        image = image * (1 - fraction) + markers_hu * fraction
    screw = (np.abs(x) < 1.5) & (np.abs(y - 70.0) < 1.5) & (np.abs(z) < 1.5)
    image[screw] = 20000.0
    image = ndimage.gaussian_filter(image, sigma=(1.0 / SPACING[2], 0.6, 0.6))
    image += np.random.default_rng(seed).normal(0.0, 15.0, SHAPE_KJI)
    image = np.clip(np.round(image), -1024, CEILING).astype(np.int16)
    return image, body, geometry


def _detect(image: np.ndarray, body: np.ndarray, geometry: ImageGeometry):
    return detect_fiducials(
        image, geometry, threshold=2000.0, diameter_mm=4.0, outside=~body, body=body
    )


def test_markers_in_the_laser_pattern_are_kept_and_a_couch_screw_is_not():
    image, body, geometry = _neck(markers_hu=3000.0, radius_mm=2.0, seed=1)
    found = _detect(image, body, geometry)
    assert found.count == 3
    expected = np.array([(0.0, -52.5, 0.0), (62.5, 0.0, 0.0), (-62.5, 0.0, 0.0)])
    error = np.linalg.norm(found.centroids_lps_mm[:, None] - expected[None], axis=2).min(axis=0)
    assert error.max() < 0.5
    assert any("outside the body" in why and "70.0" in why for why in found.rejected)


def test_saturated_metal_at_the_laser_crosshairs_is_a_set_up_mark():
    """2 mm steel BBs saturate at the ceiling and, blurred, are as large there as 4 mm
    markers: their metal and their arrangement tell them apart."""
    image, body, geometry = _neck(markers_hu=20000.0, radius_mm=1.0, seed=2)
    found = _detect(image, body, geometry)
    assert found.count == 0
    marks = [why for why in found.rejected if "radiotherapy set-up mark" in why]
    assert len(marks) == 3


def test_real_planning_ct_set_up_marks_are_not_markers(shared_data):
    """HN-CHUS-052 has no registration markers; its only marker-sized bright blobs are the
    three set-up BBs at the chin (anterior and both sides, one slice, saturated at 2976 HU)."""
    volume = load_volume(shared_data("hn-petct-human/HN-CHUS-052/CT")).volume
    image, geometry = volume.array, volume.geometry
    preset = CtPreset()
    body = segment_body(image, geometry, threshold=preset.body_hu).region
    inside = body.to_full(geometry.shape_kji)
    found = detect_fiducials(
        image,
        geometry,
        threshold=preset.marker_hu,
        diameter_mm=preset.marker_diameter_mm,
        outside=~inside & (image > -1200),
        body=inside,
    )
    assert found.count == 0
    marks = sorted(why for why in found.rejected if "radiotherapy set-up mark" in why)
    assert len(marks) == 3
    for where in ("[-46.3, -25.5, -270.5]", "[71.4, -25.1, -271.0]", "[15.1, -96.8, -271.2]"):
        assert any(where in why for why in marks)
