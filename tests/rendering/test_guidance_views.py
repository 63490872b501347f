"""Guidance in the views: the closest tumour point and its line, the target bull's-eye, the
predicted TRE's validity; pixels found by the marks' exact (unlit) colours."""

from __future__ import annotations

import numpy as np
import pytest

from rendering.layout import NavigationLayout
from rendering.slice_marks import CLOSEST_RGB
from rendering.target_view import target_offset
from rendering.view_state import DisplayOptions, Guidance, ViewSnapshot
from tests.rendering import synthetic_plan as plan

TIP = np.array([-20.0, -70.0, 10.0])
#: The pointer points straight back (anterior to posterior, +y): its marker body in front.
BODY = TIP + np.array([0.0, -150.0, 0.0])


@pytest.fixture(scope="module")
def layout():
    view = NavigationLayout(plan.models(), plan.volumes())
    yield view
    view.close()


def snapshot(guidance: Guidance | None, **changes) -> ViewSnapshot:
    pose = np.eye(4)
    pose[:3, 3] = BODY
    fields = dict(
        frame_index=1,
        timestamp_s=1.0,
        tool_states={"Pointer": "OK"},
        image_from_pointer=pose,
        pointer_tip_lps_mm=TIP,
        guidance=guidance,
        display=DisplayOptions(skin_opacity=0.0),
    )
    fields.update(changes)
    return ViewSnapshot(**fields)


def colour_mask(image: np.ndarray, rgb, tolerance: int = 8) -> np.ndarray:
    return (np.abs(image.astype(int) - np.round(np.array(rgb) * 255)).max(axis=2)) <= tolerance


def crop(image, layout, view):
    col0, row0, col1, row1 = layout.viewport_box(view)
    return image[row0:row1, col0:col1]


def test_target_offset_along_the_pointer():
    """Looking along +y (anterior to posterior): up is superior, right = y x z = +x."""
    offset = target_offset(np.array([3.0, 10.0, -4.0]), np.array([0.0, 2.0, 0.0]), np.zeros(3))
    np.testing.assert_allclose(offset.across, [3.0, -4.0])
    assert offset.lateral_mm == pytest.approx(5.0)
    assert offset.depth_mm == pytest.approx(-10.0)  # the tip went 10 mm past the target
    assert offset.distance_mm == pytest.approx(np.sqrt(125.0))
    down = target_offset(np.array([1.0, 0.0, 5.0]), np.array([0.0, 0.0, -1.0]), np.zeros(3))
    assert down.depth_mm == pytest.approx(5.0)  # a head-to-foot pointer: up is anterior and
    np.testing.assert_allclose(down.across, [-1.0, 0.0], atol=1e-12)  # right is patient right


def test_closest_point_is_marked_in_3d_and_in_every_slice(layout):
    # On the tumour's right front (sphere r = 12 mm), off the anterior view's line of sight.
    closest = plan.TUMOUR_CENTRE + 12.0 * np.array([-0.6, -0.8, 0.0])
    layout.render(snapshot(Guidance(8.0, 0.9, closest_point_lps_mm=closest)))
    image = layout.screenshot()
    for view in ("3d", "axial", "sagittal"):
        found = np.argwhere(colour_mask(crop(image, layout, view), CLOSEST_RGB))
        assert len(found) > 10, view
        col0, row0, _, _ = layout.viewport_box(view)
        col, row = layout.pixel_of(closest, view)
        near = np.hypot(found[:, 1] + col0 - col, found[:, 0] + row0 - row)
        assert near.min() < 9.0, view  # the ring (7 px) or the sphere around the point
    layout.render(snapshot(None))
    assert not colour_mask(crop(layout.screenshot(), layout, "3d"), CLOSEST_RGB).any()


def test_target_dot_sits_at_the_tips_offset(layout):
    """Target 6 mm to the patient's left of the pointer's axis and 20 mm ahead: seen along the
    pointer (+y), the patient's left is screen right, so the tip's dot is 6 mm left of the
    centre."""
    target = TIP + np.array([6.0, 20.0, 0.0])
    layout.render(snapshot(Guidance(20.0, 0.9, target_name="tumour centroid",
                                    target_lps_mm=target)))  # fmt: skip
    assert layout.target.offset is not None
    np.testing.assert_allclose(layout.target.offset.across, [-6.0, 0.0], atol=1e-9)
    assert layout.target.offset.depth_mm == pytest.approx(20.0)
    view = crop(layout.screenshot(), layout, "target")
    dot = np.argwhere(colour_mask(view, (0.0, 1.0, 1.0)))
    assert len(dot) > 10
    height, width = view.shape[:2]
    mm_per_px = 50.0 / height  # the view shows 25 mm either side of the centre
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    found = dot.mean(axis=0)[::-1]
    np.testing.assert_allclose((found - centre) * mm_per_px, [-6.0, 0.0], atol=0.6)
    assert "depth 20.0 mm ahead" in layout.target.numbers.GetInput()
    assert "tumour centroid" in layout.target.title.GetInput()


def test_tre_reads_not_valid_under_a_failed_registration(layout):
    layout.render(snapshot(Guidance(8.0, 0.9, tre_valid=True)))
    assert "predicted TRE at tip 0.9 mm" in layout.guidance.text
    layout.render(snapshot(Guidance(8.0, 0.9, tre_valid=False)))
    text = layout.guidance.text
    assert "NOT VALID" in text and "0.9" not in text and "8.0 mm outside" in text
