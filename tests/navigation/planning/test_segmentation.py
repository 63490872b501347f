from __future__ import annotations

import numpy as np
import pytest

from navigation.imaging.loading import load_volume
from navigation.imaging.volume import Volume
from navigation.planning.region_growing import grow_region
from navigation.planning.segmentation import segment_volume
from navigation.simulation.phantom import load_truth
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def segmented(phantom_ct):
    volume = load_volume(phantom_ct / "dicom").volume
    truth = load_truth(phantom_ct)
    segmentation = segment_volume(
        volume,
        tumour_seed_lps_mm=truth.tumour_seed_lps_mm,
        node_seed_lps_mm=truth.node_centroid_lps_mm,
        expected_fiducials=len(truth.fiducial_names),
    )
    return volume, truth, segmentation


def _matched(found, truth_points):
    distances = np.linalg.norm(found[:, None, :] - truth_points[None, :, :], axis=2)
    return distances.min(axis=0)


def test_every_fiducial_is_found_to_a_fraction_of_a_voxel(segmented):
    _volume, truth, segmentation = segmented
    fiducials = segmentation.fiducials
    assert fiducials.count == len(truth.fiducial_names) == 7
    errors = _matched(fiducials.centroids_lps_mm, truth.fiducials_lps_mm)
    assert errors.max() < 0.3, errors
    assert segmentation.warnings == ()


def test_tumour_and_node_volumes_match_the_truth(segmented):
    _volume, truth, segmentation = segmented
    tumour, node = segmentation.tumour, segmentation.node
    assert tumour.volume_ml == pytest.approx(truth.tumour_volume_ml, rel=0.05)
    assert np.linalg.norm(tumour.centroid_lps_mm - truth.tumour_centroid_lps_mm) < 0.5
    assert node.volume_ml == pytest.approx(truth.node_volume_ml, rel=0.08)
    # the window sits halfway between tumour (120 HU) and tongue muscle (40 HU)
    assert tumour.lower == pytest.approx(80, abs=8)
    assert not tumour.touches_search_box


def test_ct_presets_find_body_bone_and_airway(segmented):
    volume, truth, segmentation = segmented
    geometry = volume.geometry
    for name in ("skin", "bone", "airway"):
        region = segmentation.regions[name]
        kji = np.argwhere(region.mask)[:: max(region.voxel_count // 4000, 1)]
        points = geometry.kji_to_lps(kji + np.asarray(region.offset_kji))
        inside = truth.inside(name, points)
        # voxel centres labelled inside are inside the analytic structure (up to the edge)
        near_edge = np.abs(truth.signed_distance_mm(name, points)) < 1.0
        assert (inside | near_edge).mean() > 0.995, name
    # the CT table is not body; the airway is inside the body and holds air
    assert segmentation.regions["skin"].to_full(geometry.shape_kji)[:, 240:, :].sum() == 0
    airway = segmentation.mask("airway")
    assert np.all(segmentation.mask("skin")[airway])
    assert volume.array[airway].mean() < -900
    # the label map paints later rows over the skin
    labels = segmentation.label_map()
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4, 5, 6}


def test_seed_outside_the_volume_is_a_clear_error(segmented):
    volume, _truth, _segmentation = segmented
    with pytest.raises(InputError, match=r"tumour seed \(0.0, 0.0, 500.0\) mm LPS lies outside"):
        segment_volume(volume, tumour_seed_lps_mm=[0.0, 0.0, 500.0])
    with pytest.raises(InputError, match=r"node seed .* lies outside the image"):
        segment_volume(volume, node_seed_lps_mm=[300.0, 0.0, 0.0])


def test_region_growing_on_a_blurred_sphere_is_unbiased():
    """A 10 mm sphere of 200 in a background of 100 on an anisotropic, rotated grid."""
    geometry = ImageGeometry(
        (60, 50, 40),
        np.array([-20.0, -15.0, -30.0]),
        np.array([0.7, 0.8, 1.2]),
        np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    )
    kji = np.indices(geometry.shape_kji).reshape(3, -1).T
    points = geometry.kji_to_lps(kji)
    centre = geometry.ijk_to_lps([30, 25, 20])
    distance = np.linalg.norm(points - centre, axis=1) - 10.0
    fraction = np.clip(0.5 - distance / 0.9, 0, 1).reshape(geometry.shape_kji)
    image = 100.0 + 100.0 * fraction + np.random.default_rng(3).normal(0, 5, geometry.shape_kji)
    grown = grow_region(image.astype(np.float32), geometry, centre + np.array([2, 1, -1]))
    assert grown.volume_ml == pytest.approx(4.0 / 3.0 * np.pi * 1.0, rel=0.03)
    np.testing.assert_allclose(grown.centroid_lps_mm, centre, atol=0.15)
    assert grown.lower == pytest.approx(150, abs=6)


def test_mr_body_tumour_and_markers(phantom_mr):
    truth = phantom_mr.truth
    segmentation = segment_volume(phantom_mr.volume, tumour_seed_lps_mm=truth.tumour_seed_lps_mm)
    assert [e.name for e in segmentation.table] == ["skin", "tumour", "fiducials"]
    assert segmentation.tumour.volume_ml == pytest.approx(truth.tumour_volume_ml, rel=0.05)
    assert segmentation.volume_ml("skin") == pytest.approx(2800, rel=0.03)
    errors = _matched(segmentation.fiducials.centroids_lps_mm, truth.fiducials_lps_mm)
    assert segmentation.fiducials.count == 7 and errors.max() < 0.3


def test_label_maps_are_refused_by_segment_volume():
    labels = Volume(
        np.zeros((4, 4, 4), np.uint8), ImageGeometry((4, 4, 4), np.zeros(3), np.ones(3)), "LABEL"
    )
    with pytest.raises(InputError, match="needs a CT or MR volume"):
        segment_volume(labels)


def test_label_map_of_a_few_slices_is_those_slices_of_the_whole_map():
    from navigation.planning.segmentation import segmentation_from_label_map

    rng = np.random.default_rng(5)
    labels = np.zeros((9, 6, 7), dtype=np.uint8)
    labels[1:7, 1:5, 2:6] = rng.integers(0, 4, size=(6, 4, 4))
    geometry = ImageGeometry(
        size_ijk=(7, 6, 9), origin_lps_mm=np.zeros(3), spacing_mm=np.array([1.0, 1.0, 2.0])
    )
    segmentation = segmentation_from_label_map(Volume(labels, geometry, "LABEL"))
    whole = segmentation.label_map()
    assert np.array_equal(whole, labels)
    for start, stop in ((0, 9), (0, 2), (2, 5), (6, 9), (8, 12), (4, 4)):
        part = segmentation.label_map(slice(start, stop))
        assert part.dtype == whole.dtype
        assert np.array_equal(part, whole[start:stop])
