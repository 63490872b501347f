"""The AR view in the window (pytest-qt under Xvfb): the AR layout (F7) shows the camera frame at
its native size with the model drawn over it from the tracked camera pose (the simulator's
stream fed offline, no sockets), and the snapshot holds it."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from tests.conftest import IN_CI

pytestmark = [pytest.mark.gui, pytest.mark.slow]

if not os.environ.get("DISPLAY"):
    if IN_CI:
        pytest.fail("the GUI tests need an X display in CI (run them under xvfb-run)")
    pytest.skip("no X display (run under xvfb-run -a)", allow_module_level=True)

from PySide6 import QtCore, QtWidgets  # noqa: E402

from navigation.app.ar_frame import camera_pose_at  # noqa: E402
from navigation.app.ar_widget import ARWidget  # noqa: E402
from navigation.app.config import NavigationConfig  # noqa: E402
from navigation.app.session import NavigationSession  # noqa: E402
from navigation.app.window import NavigationWindow, WindowOptions  # noqa: E402
from navigation.planning.plan_scene import load_plan_scene  # noqa: E402
from navigation.simulation.simulator_io import scenario_from_plan  # noqa: E402
from registration.core.transforms import apply_transform, invert_rigid  # noqa: E402
from rendering.fluorescence.camera_model import CameraModel  # noqa: E402
from rendering.pictures import grab_rgb  # noqa: E402
from tests.navigation.app.conftest import FAST, accept_true_registration  # noqa: E402


def test_the_ar_layout_shows_the_model_over_the_frame_at_native_size(qtbot, nav_plan, tmp_path):
    scenario = scenario_from_plan(nav_plan, FAST, duration_s=2.0)
    truth = scenario.truth
    now = [0.0]
    session = NavigationSession(
        load_plan_scene(nav_plan), NavigationConfig(), intrinsics=truth.intrinsics,
        cameramarker_from_camera=truth.cameramarker_from_camera, clock=lambda: now[0],
    )  # fmt: skip
    session.on_connection(True, "simulator")
    accept_true_registration(session, scenario)
    for t, message in scenario.timeline():
        if t > 1.5:
            break
        now[0] = t
        session.on_message(dataclasses.replace(message, arrival_s=t))
    options = WindowOptions(
        view_size=(1600, 1200), target_fps=5.0, settings_path=tmp_path / "settings.ini",
        snapshot_dir=tmp_path / "snapshots",
    )  # fmt: skip
    window = NavigationWindow(session, options)
    qtbot.addWidget(window)
    window.start()
    qtbot.waitExposed(window)
    view = window.ar_view
    assert isinstance(view, ARWidget) and not view.isVisible()
    size = window.fit_to_screen(QtCore.QRect(0, 0, 1600, 1200))
    qtbot.waitUntil(lambda: window.size() == size, timeout=3000)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_F7)
    qtbot.waitExposed(view)
    width, height = truth.intrinsics.image_size_px
    qtbot.waitUntil(lambda: view.width() >= width and view.height() >= height, timeout=3000)
    QtWidgets.QApplication.processEvents()
    view_w, view_h = view.GetRenderWindow().GetSize()
    assert view_w >= width and view_h >= height  # room for the frame at its native size
    view.refresh()  # (the window's frame timer may have drawn it already)
    assert view.presenter.shown_index == session.latest_frame.index
    view.GetRenderWindow().Render()
    picture = grab_rgb(view.GetRenderWindow()).astype(int)
    left, top = (view_w - width) // 2, (view_h - height) // 2  # centred, one pixel per pixel
    picture = picture[top : top + height, left : left + width]
    assert picture.max() > 50  # the frame is shown

    # The tumour's outline is drawn where the camera model projects the tumour's surface.
    frame = session.latest_frame
    pose = camera_pose_at(session, session.workflow.accepted, frame.arrival_s,
                          wait_for_later=False).image_from_camera  # fmt: skip
    tumour = session.scene.model("tumour")
    uv = CameraModel(truth.intrinsics).project_pinhole(
        apply_transform(invert_rigid(pose), np.asarray(tumour.mesh.points))
    )
    colour = np.round(np.array(tumour.color) * 255)
    drawn = np.argwhere(np.abs(picture - colour).max(axis=2) <= 30)
    assert len(drawn) > 20
    low, high = uv.min(axis=0) - 3, uv.max(axis=0) + 3
    inside = (
        (drawn[:, 1] >= low[0])
        & (drawn[:, 1] <= high[0])
        & (drawn[:, 0] >= low[1])
        & (drawn[:, 0] <= high[1])
    )
    assert inside.mean() > 0.95
    # The snapshot paints the AR view's frame into the window picture.
    path = window.snapshot()
    assert path is not None and path.is_file()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_F5)
    assert not view.isVisible()
    window.close()
    session.close()
