"""The warnings nobody can miss, in the pixels of the offscreen views: the red border naming
the lost tool, the full-width margin band, the UNVERIFIED label, the untrusted tip colour; and
the 3-D-only arrangement."""

from __future__ import annotations

import numpy as np
import pytest

from rendering.layout import LAYOUTS, NavigationLayout
from rendering.scene3d import UNTRUSTED_TIP_RGB
from rendering.view_state import (
    Guidance,
    RegistrationStatus,
    TrackingAlarm,
)
from tests.rendering import synthetic_plan as plan
from tests.rendering.test_layout import NO_SKIN, TIP, snapshot


def alarm_red(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(int)
    return (rgb[..., 0] > 190) & (rgb[..., 1] < 40) & (rgb[..., 2] < 40)


def colour_mask(image: np.ndarray, rgb: tuple[float, float, float], tolerance: int = 12):
    target = np.round(np.asarray(rgb) * 255).astype(int)
    return (np.abs(image.astype(int) - target) <= tolerance).all(axis=-1)


@pytest.fixture(scope="module")
def layout():
    view = NavigationLayout(plan.models(), plan.volumes(), window_size=(1000, 800))
    yield view
    view.close()


def border_fraction(image: np.ndarray, layout: NavigationLayout) -> float:
    col0, row0, col1, row1 = layout.viewport_box("3d")
    edges = np.concatenate(
        [
            image[row0 + 2 : row1 - 2, col0 + 1 : col0 + 6].reshape(-1, 3),
            image[row0 + 2 : row1 - 2, col1 - 6 : col1 - 1].reshape(-1, 3),
            image[row0 + 1 : row0 + 6, col0 + 2 : col1 - 2].reshape(-1, 3),
            image[row1 - 6 : row1 - 1, col0 + 2 : col1 - 2].reshape(-1, 3),
        ]
    )
    return float(alarm_red(edges).mean())


def test_lost_tracking_draws_a_red_border_naming_the_tool_and_the_time(layout):
    layout.render(snapshot())
    assert border_fraction(layout.screenshot(), layout) < 0.05
    assert layout.alarms.shown == {}
    alarms = (TrackingAlarm("Pointer", "STALE", 1.37), TrackingAlarm("Reference", "OUT_OF_VIEW"))
    layout.render(snapshot("STALE", image_from_pointer=None, pointer_tip_lps_mm=None,
                           tracking_alarms=alarms))  # fmt: skip
    image = layout.screenshot()
    assert border_fraction(image, layout) > 0.97
    assert layout.alarms.shown["tracking"] == (
        "POINTER STALE - no good pose for 1.4 s\nREFERENCE OUT OF VIEW - never tracked"
    )
    # The label is large and inside the 3-D view.
    box = [0.0] * 4
    layout.alarms.tracking_label.GetBoundingBox(layout.alarms.renderer, box)
    col0, _, col1, _ = layout.viewport_box("3d")
    assert box[3] - box[2] > 50  # two lines of ~30 px type (4 % of the window height)
    assert box[1] - box[0] <= 0.92 * (col1 - col0) + 1
    # Tracking back: the border goes.
    layout.render(snapshot())
    assert border_fraction(layout.screenshot(), layout) < 0.05


def test_margin_warning_is_a_full_width_red_band_with_the_distance(layout):
    layout.render(snapshot(guidance=Guidance(3.2, 0.9, True, 5.0)))
    image = layout.screenshot()
    height, width, _ = image.shape
    strip = image[height - 8 : height - 2, :]
    assert alarm_red(strip).mean() > 0.9  # the whole width, not only the guidance strip
    assert alarm_red(image[height - 40 : height - 2, width - 60 : width - 2]).mean() > 0.9
    assert layout.alarms.shown["margin"] == "MARGIN   tip 3.2 mm outside the tumour   (< 5 mm)"
    layout.render(snapshot(guidance=Guidance(-1.5, 0.9, True, 5.0)))
    assert "1.5 mm INSIDE" in layout.alarms.shown["margin"]
    layout.render(snapshot(guidance=Guidance(23.5, 0.9, False, 5.0)))
    image = layout.screenshot()
    assert alarm_red(image[image.shape[0] - 8 : image.shape[0] - 2, :]).mean() < 0.05


def test_unverified_registration_label_untrusted_tip_and_no_tre(layout):
    status = RegistrationStatus(
        False, "UNVERIFIED REGISTRATION (override): FRE 40.10 mm > alarm 1.35 mm (F6 suspect)"
    )
    layout.render(snapshot(registration=status, display=NO_SKIN, guidance=Guidance(23.5, None)))
    image = layout.screenshot()
    col0, row0, col1, row1 = layout.viewport_box("3d")
    top = image[row0 : row0 + (row1 - row0) // 5, col0:col1]
    assert alarm_red(top).sum() > 2000
    shown = layout.alarms.shown["registration"]
    assert shown.startswith("UNVERIFIED REGISTRATION (override)\nFRE 40.10")
    assert "NOT VALID" in layout.guidance.text
    tip = layout.pixel_of(TIP, "3d")
    assert tip is not None
    x, y = round(tip[0]), round(tip[1])
    assert colour_mask(image[y - 2 : y + 3, x - 2 : x + 3], UNTRUSTED_TIP_RGB).any()
    verified = RegistrationStatus(True, "registered: points, 6 fiducials, FRE 0.30 mm")
    layout.render(snapshot(registration=verified, display=NO_SKIN))
    assert "registration" not in layout.alarms.shown
    assert "TRE at tip 0.9 mm" in layout.guidance.text


def test_three_d_only_arrangement_gives_the_3d_view_the_full_width(layout):
    try:
        layout.set_arrangement("3d")
        layout.render(snapshot(display=NO_SKIN))
        col0, _, col1, _ = layout.viewport_box("3d")
        assert (col0, col1) == (0, 1000)
        assert not layout.renderers["axial"].GetDraw()
        tip = layout.pixel_of(TIP, "3d")
        assert tip is not None and 0 <= tip[0] < 1000
    finally:
        layout.set_arrangement("views")
    assert layout.renderers["axial"].GetDraw() and set(LAYOUTS) == {"views", "3d"}
