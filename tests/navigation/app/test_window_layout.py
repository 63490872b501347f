"""The window fits 1280 x 1024 and 1600 x 1200 screens without clipping (the grabbed window and
every panel button inside them), layouts from keys are remembered, the keyboard works from the
start, snapshots and bookmarks land in the session. Under Xvfb (pytest-qt)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.conftest import IN_CI

pytestmark = pytest.mark.gui

if not os.environ.get("DISPLAY"):
    if IN_CI:
        pytest.fail("the GUI tests need an X display in CI (run them under xvfb-run)")
    pytest.skip("no X display (run under xvfb-run -a)", allow_module_level=True)

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from navigation.app.config import NavigationConfig  # noqa: E402
from navigation.app.session import NavigationSession  # noqa: E402
from navigation.app.window import NavigationWindow, WindowOptions  # noqa: E402
from navigation.app.window_layout import WINDOW_LAYOUTS  # noqa: E402
from navigation.planning.plan_scene import load_plan_scene  # noqa: E402
from navigation.tracking.recording import SessionReader, SessionWriter  # noqa: E402
from tests.navigation.app.pose_feeder import PoseFeeder  # noqa: E402
from tests.navigation.app.test_window_safety import (  # noqa: E402
    IN_FRONT,
    TIP_IN_POINTER,
    fresh_screenshot,
    pointer_at,
    pointer_drawn,
    store_fiducials,
)


def make_window(qtbot, nav_plan, tmp_path, record=None):
    scene = load_plan_scene(nav_plan)
    session = NavigationSession(
        scene,
        NavigationConfig(fle_rms_mm=0.5, pointer_tip_mm=TIP_IN_POINTER),
        recorder=None if record is None else SessionWriter(record),
    )
    options = WindowOptions(target_fps=10.0, settings_path=tmp_path / "settings.ini")
    window = NavigationWindow(session, options)
    qtbot.addWidget(window)
    window.start()
    qtbot.waitExposed(window)
    return window, session


def fully_inside(widget: QtWidgets.QWidget, window: QtWidgets.QWidget) -> bool:
    top_left = widget.mapTo(window, QtCore.QPoint(0, 0))
    return (
        top_left.x() >= 0
        and top_left.x() + widget.width() <= window.width()
        and top_left.y() >= 0
        and top_left.y() + widget.height() <= window.height()
    )


@pytest.mark.slow
@pytest.mark.parametrize("screen", [(1280, 1024), (1600, 1200)])
@pytest.mark.parametrize("layout", list(WINDOW_LAYOUTS))
def test_the_window_fits_the_screen_without_clipping(qtbot, nav_plan, tmp_path, screen, layout):
    window, session = make_window(qtbot, nav_plan, tmp_path)
    try:
        window.set_layout(layout)
        size = window.fit_to_screen(QtCore.QRect(0, 0, *screen))
        qtbot.waitUntil(lambda: window.size() == size, timeout=3000)
        QtWidgets.QApplication.processEvents()
        grab = window.grab()
        assert grab.width() <= screen[0] and grab.height() <= screen[1]
        hint = window.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 1024, hint
        # Nothing of the panel is cut off at the right: its buttons and banner are inside the
        # window and inside the panel's visible width (no horizontal scrolling).
        panel = window.side_panel
        assert fully_inside(panel, window)
        viewport_width = panel.viewport().width()
        for widget in [*window.registration_panel.buttons.values(),
                       window.registration_panel.banner]:  # fmt: skip
            left = widget.mapTo(panel.viewport(), QtCore.QPoint(0, 0)).x()
            assert left >= 0 and left + widget.width() <= viewport_width, widget
        assert window.vtk_widget.width() >= 480 and window.vtk_widget.height() >= 400
        assert fully_inside(window.vtk_widget, window)
        if WINDOW_LAYOUTS[layout].ar:
            assert window.ar_view.isVisible() and fully_inside(window.ar_view, window)
        else:
            assert not window.ar_view.isVisible()
        assert window.layout_views.arrangement == WINDOW_LAYOUTS[layout].arrangement
    finally:
        window.close()
        session.close()


def test_layout_keys_and_the_choice_is_remembered(qtbot, nav_plan, tmp_path):
    window, session = make_window(qtbot, nav_plan, tmp_path)
    assert window.layout_name == "views"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_F6)
    assert window.layout_name == "3d" and window.layout_views.arrangement == "3d"
    assert window.layout_actions["3d"].isChecked()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_L)
    assert window.layout_name == "ar" and window.ar_view.isVisible()
    window.close()
    session.close()
    again, session = make_window(qtbot, nav_plan, tmp_path)
    try:
        assert again.layout_name == "ar" and again.layout_actions["ar"].isChecked()
    finally:
        again.close()
        session.close()


def test_the_keyboard_works_from_the_start(qtbot, nav_plan, tmp_path):
    """No click needed: the window holds the focus after start and a key sent to whatever
    has the focus reaches its shortcuts."""
    window, session = make_window(qtbot, nav_plan, tmp_path)
    try:
        qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is window, timeout=3000)
        before = session.display.skin_opacity
        QTest.keyClick(QtWidgets.QApplication.focusWidget(), QtCore.Qt.Key.Key_T)
        assert session.display.skin_opacity != before
    finally:
        window.close()
        session.close()


@pytest.mark.slow
def test_snapshot_and_bookmark_go_into_the_session(qtbot, nav_plan, tmp_path):
    record = tmp_path / "sessions" / "igcs-test.igcsrec"
    window, session = make_window(qtbot, nav_plan, tmp_path, record)
    feeder = PoseFeeder(session).start()
    try:
        feeder.reference_from_pointer = pointer_at(IN_FRONT)
        store_fiducials(session, {})
        qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
        qtbot.keyClick(window, QtCore.Qt.Key.Key_A)
        qtbot.waitUntil(lambda: pointer_drawn(window), timeout=3000)
        views = fresh_screenshot(qtbot, window)
        qtbot.keyClick(window, QtCore.Qt.Key.Key_P)
        pictures = list((tmp_path / "sessions" / "igcs-test").glob("snapshot-*.png"))
        assert len(pictures) == 1, window.message.text()
        image = QtGui.QImage(str(pictures[0]))
        assert image.width() == window.width() and image.height() > window.height()
        state = json.loads(image.text("igcs-state"))
        assert state["registration"].startswith("REGISTERED: points, 6 fiducials")
        assert state["tools"]["Pointer"] == "OK"
        assert image.text("igcs-time")[:4].isdigit()
        # The views are in the picture where the window shows them (not a black GL hole).
        origin = window.vtk_widget.mapTo(window, QtCore.QPoint(0, 0))
        rows, cols = views.shape[:2]
        pixel = image.pixelColor(origin.x() + cols // 2, origin.y() + rows // 2)
        expected = views[rows // 2, cols // 2]
        assert np.abs(np.array(pixel.getRgb()[:3]) - expected).max() <= 40
        qtbot.keyClick(window, QtCore.Qt.Key.Key_B)
        assert "bookmark 1: tip at" in window.message.text()
    finally:
        feeder.close()
        window.close()
        session.close()
    events = list(SessionReader(record).events())
    snapshot = next(e.data for e in events if e.kind == "snapshot")
    assert snapshot["path"] == str(pictures[0])
    bookmark = next(e.data for e in events if e.kind == "bookmark")
    np.testing.assert_allclose(bookmark["tip_lps_mm"], IN_FRONT, atol=1e-6)
    assert bookmark["registration_verified"] is True and bookmark["note"] == "bookmark 1"
