"""The slice views under the mouse and keys (pytest-qt under Xvfb): window/level, zoom, pan.

The plan is the phantom CT planned by ``igcs plan`` (it keeps its image); no tracker is
needed: the slices show the tumour centroid, frozen.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from navigation.app.slice_mouse import ZOOM_STEP, panned, zoomed
from rendering.view_state import DisplayOptions
from tests.conftest import IN_CI


def test_zoom_and_pan_arithmetic():
    display = DisplayOptions()
    assert zoomed(display, 200.0, 2.0).slice_field_of_view_mm == pytest.approx(100.0)
    assert zoomed(display, 12.0, 4.0).slice_field_of_view_mm == pytest.approx(10.0)  # floor
    moved = panned(display, np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), 5.0, -2.0)
    assert moved.slice_pan_lps_mm == pytest.approx((-5.0, 0.0, 2.0))


gui = pytest.mark.gui
if not os.environ.get("DISPLAY"):
    if IN_CI:
        pytest.fail("the GUI tests need an X display in CI (run them under xvfb-run)")
    pytest.skip("no X display (run under xvfb-run -a)", allow_module_level=True)

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from navigation.app.session import NavigationSession  # noqa: E402
from navigation.app.window import NavigationWindow, WindowOptions  # noqa: E402
from navigation.planning.plan_scene import load_plan_scene  # noqa: E402
from rendering.window_level import CT_BONE, CT_SOFT_TISSUE  # noqa: E402

pytestmark = pytest.mark.slow


def centre_of(window: NavigationWindow, view: str) -> QtCore.QPoint:
    """The widget point at the centre of a view."""
    x0, y0, x1, y1 = window.layout_views.renderers[view].GetViewport()
    size = window.vtk_widget.size()
    return QtCore.QPoint(
        round((x0 + x1) / 2 * size.width()), round((1 - (y0 + y1) / 2) * size.height())
    )


def drag(qtbot, widget, button, start: QtCore.QPoint, delta: QtCore.QPoint, modifier=None):
    modifiers = modifier or QtCore.Qt.KeyboardModifier.NoModifier
    qtbot.mousePress(widget, button, modifiers, start)
    for step in range(1, 5):
        qtbot.mouseMove(widget, start + delta * (step / 4))
    qtbot.mouseRelease(widget, button, modifiers, start + delta)


def wheel(widget, at: QtCore.QPoint, notches: int) -> None:
    event = QtGui.QWheelEvent(
        QtCore.QPointF(at), QtCore.QPointF(widget.mapToGlobal(at)), QtCore.QPoint(),
        QtCore.QPoint(0, 120 * notches), QtCore.Qt.MouseButton.NoButton,
        QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QtWidgets.QApplication.sendEvent(widget, event)


@gui
def test_mouse_and_keys_in_the_slice_views(qtbot, phantom_plan):
    scene = load_plan_scene(phantom_plan)
    session = NavigationSession(scene)
    window = NavigationWindow(session, WindowOptions(view_size=(960, 768), target_fps=10.0))
    qtbot.addWidget(window)
    window.start()
    qtbot.waitExposed(window)
    widget = window.vtk_widget
    layout = window.layout_views
    window.loop.tick()
    assert layout.slices["axial"].window == CT_SOFT_TISSUE
    assert "FROZEN" in (layout.slices["axial"].frozen_reason or "")

    # Left drag right over the axial view: the window widens by the drag's share of the span.
    width = window.slice_mouse._view_size("axial")[0]
    drag(qtbot, widget, QtCore.Qt.MouseButton.LeftButton, centre_of(window, "axial"),
         QtCore.QPoint(round(width / 4), 0))  # fmt: skip
    changed = session.display.window_level
    span = scene.volumes.value_span
    assert changed is not None and changed.name == "custom"
    assert changed.window == pytest.approx(CT_SOFT_TISSUE.window + span / 4, rel=0.05)
    assert changed.level == pytest.approx(CT_SOFT_TISSUE.level)
    window.loop.tick()
    assert layout.slices["coronal"].window == changed  # one window for the three views

    # W cycles the presets: after a custom window, the first preset; then bone.
    qtbot.keyClick(window, QtCore.Qt.Key.Key_W)
    assert session.display.window_level == CT_SOFT_TISSUE
    qtbot.keyClick(window, QtCore.Qt.Key.Key_W)
    assert session.display.window_level == CT_BONE and "bone" in window.message.text()

    # The wheel over the coronal view zooms in from the whole volume, centred on the point.
    window.loop.tick()
    shown = layout.slices["coronal"].mm_per_pixel * layout.renderers["coronal"].GetSize()[1]
    wheel(widget, centre_of(window, "coronal"), 2)
    assert session.display.slice_field_of_view_mm == pytest.approx(shown / ZOOM_STEP**2, rel=1e-6)

    # Middle drag pans: a point under the mouse moves with it.
    window.loop.tick()
    focus = scene.focus_lps_mm
    before = np.array(layout.pixel_of(focus, "axial"))
    ratio = layout.window_size[0] / widget.width()  # render window pixels per widget pixel
    drag(qtbot, widget, QtCore.Qt.MouseButton.MiddleButton, centre_of(window, "axial"),
         QtCore.QPoint(40, -30))  # fmt: skip
    window.loop.tick()
    after = np.array(layout.pixel_of(focus, "axial"))
    np.testing.assert_allclose(after - before, np.array([40, -30]) * ratio, atol=2.0)

    # A drag over the 3-D view is VTK's (the camera turns), not a window change.
    level = session.display.window_level
    drag(qtbot, widget, QtCore.Qt.MouseButton.LeftButton, centre_of(window, "3d"),
         QtCore.QPoint(60, 0))  # fmt: skip
    assert session.display.window_level == level

    # Home: the whole volume again, no pan; G cycles the target view's aim.
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Home)
    assert session.display.slice_field_of_view_mm is None
    assert session.display.slice_pan_lps_mm == (0.0, 0.0, 0.0)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_G)
    assert session.display.target == scene.plan.targets[0].name
    window.close()
    session.close()
