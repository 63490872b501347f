"""Pixel tests: the slice views show the plan's CT through the tip, windowed, laterality right.

The plan is the phantom CT planned by ``igcs plan`` (cortical bone 1100 HU, markers 3000 HU,
soft tissue at 40 HU, plus noise); the layout renders offscreen and the grey at the tip's pixel is
compared with the grey the window puts on the CT voxels around the tip.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import maximum_filter, minimum_filter

from navigation.planning.plan_scene import load_plan_scene
from navigation.simulation.phantom import load_truth
from rendering.layout import SLICE_NAMES, NavigationLayout
from rendering.view_state import DisplayOptions, ViewSnapshot
from rendering.window_level import CT_BONE, CT_SOFT_TISSUE, WindowLevel

pytestmark = pytest.mark.slow

#: A wide window under which cortical bone is mid-grey, not saturated.
WIDE = WindowLevel(4000.0, 1000.0, "wide")


@pytest.fixture(scope="module")
def scene(phantom_plan):
    return load_plan_scene(phantom_plan)


@pytest.fixture(scope="module")
def layout(scene):
    view = NavigationLayout(list(scene.models), scene.volumes, window_size=(1280, 1024))
    yield view
    view.close()


def _uniform_voxel(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """(k, j, i) of a voxel whose 3x3x3 neighbourhood lies within [low, high] HU (so the
    interpolated grey near it is the voxel's)."""
    inside = (minimum_filter(image, size=3) >= low) & (maximum_filter(image, size=3) <= high)
    found = np.argwhere(inside)
    assert len(found), f"no voxel with a uniform neighbourhood in [{low}, {high}] HU"
    return found[len(found) // 2]


def _snapshot(tip: np.ndarray, window: WindowLevel | None, **changes) -> ViewSnapshot:
    pose = np.eye(4)
    pose[:3, 3] = tip + np.array([0.0, -120.0, 60.0])
    fields = dict(
        frame_index=1,
        timestamp_s=1.0,
        tool_states={"Pointer": "OK"},
        image_from_pointer=pose,
        pointer_tip_lps_mm=tip,
        display=DisplayOptions(skin_opacity=0.0, window_level=window),
    )
    fields.update(changes)
    return ViewSnapshot(**fields)


def _grey_at(layout: NavigationLayout, point: np.ndarray, view: str, *, size: int = 3) -> float:
    """Mean grey of the size x size pixels at a point's pixel in a slice view."""
    col, row = (round(v) for v in layout.pixel_of(point, view))
    half = size // 2
    patch = layout.screenshot()[row - half : row + half + 1, col - half : col + half + 1]
    return float(patch.astype(float).mean())


def _expected(window: WindowLevel, values: np.ndarray) -> float:
    return float(np.clip((values.mean() - window.low) / window.window * 255.0, 0, 255))


@pytest.mark.parametrize("view", SLICE_NAMES)
def test_a_bone_voxel_is_bright_at_the_tips_pixel_and_the_window_changes_it(scene, layout, view):
    image = scene.volumes.background
    geometry = scene.volumes.geometry
    kji = _uniform_voxel(image, 800.0, 1500.0)
    tip = geometry.kji_to_lps(kji[np.newaxis])[0]
    around = image[tuple(slice(c - 1, c + 2) for c in kji)]
    greys = {}
    for window in (CT_SOFT_TISSUE, CT_BONE, WIDE):
        layout.render(_snapshot(tip, window))
        greys[window.name] = _grey_at(layout, tip, view)
        assert greys[window.name] == pytest.approx(_expected(window, around), abs=12), window
    assert greys["soft tissue"] > 240  # bone is white in the soft-tissue window
    assert greys["wide"] < greys["bone"] - 60  # a wider window greys it
    soft = _uniform_voxel(image, 0.0, 90.0)  # soft tissue: mid-grey at L 40, black at L 400
    point = geometry.kji_to_lps(soft[np.newaxis])[0]
    layout.render(_snapshot(point, CT_SOFT_TISSUE))
    assert 60 < _grey_at(layout, point, view) < 200
    layout.render(_snapshot(point, CT_BONE))
    assert _grey_at(layout, point, view) < 70


def test_left_marker_is_bright_on_the_screen_right_with_letters(phantom_ct, scene, layout):
    """Radiological convention on the real grey image: the marker on the patient's left
    zygoma (LPS x > 0) is drawn bright right of the one on the right zygoma, in the axial
    and coronal views, whose edges read R (left) and L (right)."""
    truth = load_truth(phantom_ct)
    left = truth.fiducials_lps_mm[truth.fiducial_names.index("left zygoma")]
    right = truth.fiducials_lps_mm[truth.fiducial_names.index("right zygoma")]
    assert left[0] > 0 > right[0]
    for view in ("axial", "coronal"):
        for marker in (left, right):
            layout.render(_snapshot(marker, CT_BONE, tool_states={"Pointer": "STALE"},
                                    slice_hold_lps_mm=marker))  # fmt: skip
            assert _grey_at(layout, marker, view, size=1) > 200, view  # markers: 3 mm
        assert layout.pixel_of(left, view)[0] > layout.pixel_of(right, view)[0] + 50
        letters = layout.slices[view].letters.letters
        assert (letters["left"], letters["right"]) == ("R", "L"), view
