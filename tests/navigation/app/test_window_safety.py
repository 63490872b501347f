"""The window's safety behaviour under Xvfb (pytest-qt), fed by a tracker stand-in thread:

- a registration 40 mm off (or with a swapped pair) never reaches the green state by keys;
  the override dialog cannot be confirmed by keys either; the override path shows red
  (banner, the 3-D view's UNVERIFIED label), draws the pointer in the untrusted colour, shows
  no predicted TRE and is in the session recording;
- the red border (pointer lost) and the margin band appear in the window's pixels within
  300 ms of the state change.

Needs an X display (``make test`` runs pytest under ``xvfb-run``): skipped without one locally,
a failure in CI.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tests.conftest import IN_CI

pytestmark = pytest.mark.gui

if not os.environ.get("DISPLAY"):
    if IN_CI:
        pytest.fail("the GUI tests need an X display in CI (run them under xvfb-run)")
    pytest.skip("no X display (run under xvfb-run -a)", allow_module_level=True)

from PySide6 import QtCore  # noqa: E402

from navigation.app.config import NavigationConfig  # noqa: E402
from navigation.app.session import NavigationSession  # noqa: E402
from navigation.app.window import NavigationWindow, WindowOptions  # noqa: E402
from navigation.planning.plan_scene import load_plan_scene  # noqa: E402
from navigation.tracking.fiducial_collection import CollectedFiducial  # noqa: E402
from navigation.tracking.recording import SessionReader, SessionWriter  # noqa: E402
from registration.core.transforms import apply_transform, invert_rigid, make_rigid  # noqa: E402
from tests.navigation.app.pose_feeder import PoseFeeder  # noqa: E402
from tests.navigation.app.test_navigation_loopback import crop, cyan_mask  # noqa: E402
from tests.navigation.plan_factory import ORIGIN_HEAD  # noqa: E402

TIP_IN_POINTER = (0.0, 0.0, -100.0)
#: The true registration of the tests.
IMAGE_FROM_REFERENCE = make_rigid(
    Rotation.from_euler("xyz", [10.0, -5.0, 20.0], degrees=True).as_matrix(), (15.0, -30.0, 40.0)
)
TUMOUR = np.array(ORIGIN_HEAD.tumour_centre_lps_mm)
#: Where the tests hold the tip: in front of the face, seen by the anterior camera.
IN_FRONT = np.array([0.0, -140.0, 0.0])


def alarm_red(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(int)
    return (rgb[..., 0] > 190) & (rgb[..., 1] < 40) & (rgb[..., 2] < 40)


def orange_mask(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(int)
    return (rgb[..., 0] > 220) & (rgb[..., 1] > 60) & (rgb[..., 1] < 130) & (rgb[..., 2] < 40)


def pointer_at(tip_lps_mm: np.ndarray) -> np.ndarray:
    """reference_from_pointer putting the tip at an image point."""
    tip_in_reference = apply_transform(invert_rigid(IMAGE_FROM_REFERENCE), tip_lps_mm)
    return make_rigid(translation_mm=tip_in_reference - np.asarray(TIP_IN_POINTER))


def store_fiducials(session: NavigationSession, offsets: dict[int, tuple[float, float, float]]):
    planned = session.scene.plan.fiducials_lps_mm
    in_reference = apply_transform(invert_rigid(IMAGE_FROM_REFERENCE), planned)
    for index, offset in offsets.items():
        in_reference[index] += offset
    for index, point in enumerate(in_reference):
        collected = CollectedFiducial(point, 0.05, 0.1, 20, np.nan, np.nan)
        session.store_fiducial(collected, index, source="test")


@pytest.fixture
def window_session(qtbot, nav_plan, tmp_path):
    """(window, session, feeder, recording path); closed after the test."""
    scene = load_plan_scene(nav_plan)
    record = tmp_path / "session.igcsrec"
    config = NavigationConfig(fle_rms_mm=0.5, pointer_tip_mm=TIP_IN_POINTER)
    session = NavigationSession(scene, config, recorder=SessionWriter(record))
    options = WindowOptions(
        view_size=(1100, 860), target_fps=15.0, settings_path=tmp_path / "settings.ini"
    )
    window = NavigationWindow(session, options)
    qtbot.addWidget(window)
    window.start()
    qtbot.waitExposed(window)
    feeder = PoseFeeder(session).start()
    feeder.reference_from_pointer = pointer_at(IN_FRONT)
    yield window, session, feeder, record
    feeder.close()
    window.close()
    session.close()


def pointer_drawn(window) -> bool:
    frame = window.loop.last_frame
    return frame is not None and frame.snapshot.pointer_ok


def banner(window) -> tuple[str, str]:
    window.refresh_panels()
    return window.registration_panel.banner.text(), window.registration_panel.banner.styleSheet()


def wait_until(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def fresh_screenshot(qtbot, window) -> np.ndarray:
    """A screenshot of a frame rendered after this call."""
    frames = window.loop.stats().frames
    qtbot.waitUntil(lambda: window.loop.stats().frames >= frames + 2, timeout=3000)
    return window.layout_views.screenshot()


@pytest.mark.parametrize(
    "offsets",
    [{5: (40.0, 0.0, 0.0)}, "swap"],
    ids=["40mm-off", "swapped-pair"],
)
def test_a_refused_registration_never_turns_green_by_keys(qtbot, window_session, offsets):
    window, session, _feeder, record = window_session
    if offsets == "swap":
        store_fiducials(session, {})
        state = session.workflow.state()
        first, second = state.rows[0].collected, state.rows[3].collected
        session.store_fiducial(second, 0, source="test")  # type: ignore[arg-type]
        session.store_fiducial(first, 3, source="test")  # type: ignore[arg-type]
    else:
        store_fiducials(session, offsets)
    keys = QtCore.Qt.Key
    for key in (keys.Key_R, keys.Key_A, keys.Key_Return, keys.Key_Space, keys.Key_Y, keys.Key_A):
        qtbot.keyClick(window, key)
    result = session.workflow.result
    assert result is not None and not result.verified
    assert session.workflow.accepted is None
    text, style = banner(window)
    assert text == "NOT REGISTERED" and "#1b8a1b" not in style
    assert not window.registration_panel.buttons["accept"].isEnabled()
    assert window.registration_panel.buttons["override"].isEnabled()
    assert "NOT VALID" in window.registration_panel.candidate.text()
    assert "NOT ACCEPTED" in window.message.text()

    # The override dialog opens with O but keys alone only cancel it.
    qtbot.keyClick(window, keys.Key_O)
    dialog = window.override_dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.confirm_button.isEnabled()
    assert "FRE" in dialog.findChildren(type(window.message))[1].text()
    qtbot.keyClick(dialog, keys.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2000)
    assert session.workflow.accepted is None

    # No frame ever drew the pointer: nothing is in force.
    image = fresh_screenshot(qtbot, window)
    assert cyan_mask(crop(image, window.layout_views, "3d")).sum() == 0
    assert window.loop.last_frame.snapshot.placement_note is not None
    window.close()
    session.close()
    events = list(SessionReader(record).events())
    refused = [e.data for e in events if e.kind == "registration_refused"]
    assert len(refused) == 2 and not refused[0]["checks"]["passed"]
    assert not [e for e in events if e.kind == "registration_accepted"]


@pytest.mark.slow
def test_the_override_path_keeps_a_red_unverified_state(qtbot, window_session):
    window, session, feeder, record = window_session
    store_fiducials(session, {5: (40.0, 0.0, 0.0)})
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
    layout = window.layout_views
    top = fresh_screenshot(qtbot, window)
    col0, row0, col1, row1 = layout.viewport_box("3d")
    band = slice(row0, row0 + (row1 - row0) // 4)
    assert alarm_red(top[band, col0:col1]).sum() == 0  # nothing in force, no label yet

    qtbot.keyClick(window, QtCore.Qt.Key.Key_O)
    dialog = window.override_dialog
    qtbot.mouseClick(dialog.understood, QtCore.Qt.MouseButton.LeftButton)
    assert dialog.confirm_button.isEnabled()
    dialog.reason_edit.setText("landmark checked by hand")
    qtbot.mouseClick(dialog.confirm_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: session.workflow.accepted is not None, timeout=2000)

    accepted = session.workflow.accepted
    assert not accepted.verified and accepted.tre_at_tumour_predicted_mm is None
    text, style = banner(window)
    assert text.startswith("UNVERIFIED REGISTRATION") and "#c01010" in style
    assert "predicted TRE at tumour: NOT VALID" in window.registration_panel.numbers.text()
    assert "Landmark check" in window.registration_panel.landmark.text()

    # The views: a red UNVERIFIED label at the top of the 3-D view, the tip drawn orange (not
    # the trusted cyan), and no TRE number in the guidance strip.
    qtbot.waitUntil(lambda: pointer_drawn(window), timeout=3000)
    image = fresh_screenshot(qtbot, window)
    assert "registration" in layout.alarms.shown
    assert layout.alarms.shown["registration"].startswith("UNVERIFIED REGISTRATION")
    assert alarm_red(image[band, col0:col1]).sum() > 500
    view = crop(image, layout, "3d")
    assert cyan_mask(view).sum() == 0 and orange_mask(view).sum() > 10
    assert "NOT VALID" in layout.guidance.text and "TRE at tip 0" not in layout.guidance.text

    # Landmark check: the tip on F1 (the true position) is 0 mm off under the true transform
    # but the overridden registration puts it elsewhere: the check says so.
    planned = session.scene.plan.fiducials_lps_mm
    feeder.reference_from_pointer = pointer_at(planned[0])
    qtbot.wait(200)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_V)
    assert "landmark check" in window.message.text()

    window.close()
    session.close()
    events = list(SessionReader(record).events())
    kinds = [e.kind for e in events]
    assert "registration_override" in kinds and "landmark_check" in kinds
    override = next(e for e in events if e.kind == "registration_override").data
    assert override["reason"] == "landmark checked by hand"
    assert override["risks"] and override["risks"][0].startswith("FRE ")
    accepted_event = next(e for e in events if e.kind == "registration_accepted").data
    assert accepted_event["verified"] is False
    assert accepted_event["tre_at_tumour_predicted_mm"] is None
    warnings = [e.data for e in events if e.kind == "warning"]
    assert any(w["kind"] == "unverified_registration" and w["active"] for w in warnings)


def _first_frame_showing(window, seen, timeout_s: float = 3.0) -> float:
    """Render frame after frame (the window's timer stopped, so every frame is looked at)
    until the window's pixels show ``seen(image)``; returns that frame's presentation time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = window.loop.tick()
        if seen(window.layout_views.screenshot()):
            return record.presented_s
    pytest.fail("the warning never appeared in the pixels")


def test_red_border_and_margin_band_appear_within_300_ms(qtbot, window_session):
    window, session, feeder, record = window_session
    layout = window.layout_views
    store_fiducials(session, {})
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_A)
    assert session.workflow.state().in_use_verified

    def border(image: np.ndarray) -> bool:
        col0, row0, col1, row1 = layout.viewport_box("3d")
        edges = np.concatenate(
            [
                image[row0 + 2 : row1 - 2, col0 + 1 : col0 + 5].reshape(-1, 3),
                image[row0 + 2 : row1 - 2, col1 - 5 : col1 - 1].reshape(-1, 3),
            ]
        )
        return alarm_red(edges).mean() > 0.95

    def band(image: np.ndarray) -> bool:
        height = image.shape[0]
        strip = image[height - 8 : height - 2, :]
        return alarm_red(strip).mean() > 0.6

    # Tracked and 30 mm from the tumour: neither warning.
    feeder.move_pointer(pointer_at(TUMOUR + np.array([0.0, -40.0, 0.0])))
    qtbot.waitUntil(lambda: pointer_drawn(window), timeout=3000)
    image = fresh_screenshot(qtbot, window)
    assert not border(image) and not band(image)

    # From here on every frame is rendered by the test and looked at.
    window._render_timer.stop()
    window._render_timer.timeout.disconnect()
    changes: list = []
    unsubscribe = session.store.subscribe(changes.append)

    # Into the margin (tip 2 mm outside the 10 mm tumour): the full-width band. The state
    # changes when the first pose inside the margin arrives.
    feeder.move_pointer(pointer_at(TUMOUR + np.array([0.0, -12.0, 0.0])))
    wait_until(lambda: np.isfinite(feeder.moved_s), 2.0)
    shown = _first_frame_showing(window, band)
    assert shown - feeder.moved_s <= 0.300, f"band after {(shown - feeder.moved_s) * 1e3:.0f} ms"
    assert layout.alarms.shown["margin"].startswith("MARGIN   tip 2.")

    # The pointer stream stops: the pose store's watchdog finds it STALE (the state change);
    # the red border with the tool's name and the time since its last good pose follows.
    feeder.drop_pointer.set()
    time.sleep(0.03)
    last = feeder.last_pointer_s
    shown = _first_frame_showing(window, border)

    # A frame reads the pose's age itself, so the border can be drawn a moment before the
    # state change is published (by the next frame's re-evaluation, which this test no longer
    # runs): re-evaluate as that frame would, then compare.
    def stale_times() -> list[float]:
        session.store.update_states()
        return [
            e.time_s for e in changes if e.name == "PointerToTracker" and e.state.name == "STALE"
        ]

    wait_until(lambda: bool(stale_times()), 2.0)
    unsubscribe()
    went_stale = stale_times()[0]
    assert shown - went_stale <= 0.300, f"border {(shown - went_stale) * 1e3:.0f} ms after STALE"
    print(f"border {(shown - last) * 1e3:.0f} ms after the last pointer message")
    assert layout.alarms.shown["tracking"].startswith("POINTER STALE - no good pose for 0.")
    assert not band(layout.screenshot())  # no margin warning without a tracked tip

    window.close()
    session.close()
    warnings = [e.data for e in SessionReader(record).events() if e.kind == "warning"]
    margin = [w for w in warnings if w["kind"] == "margin"]
    assert margin[0]["active"] and margin[0]["distance_mm"] == pytest.approx(2.0, abs=0.3)
    assert margin[-1]["active"] is False
    lost = [w for w in warnings if w["kind"] == "tracking_lost" and w["tool"] == "Pointer"]
    assert lost[-1]["active"] and lost[-1]["state"] == "STALE"
