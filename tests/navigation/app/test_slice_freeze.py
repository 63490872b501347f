"""The slices follow the tip while it can drive them, and otherwise stay where it left them with
a "FROZEN" overlay: never blank, never jumping to a default position."""

from __future__ import annotations

import time

import numpy as np
import pytest

from navigation.app.config import NavigationConfig
from navigation.app.render_loop import RenderLoop
from navigation.app.session import NavigationSession
from navigation.planning.plan_scene import load_plan_scene
from navigation.tracking.fiducial_collection import CollectedFiducial
from registration.core.transforms import make_rigid
from rendering.layout import SLICE_NAMES, NavigationLayout
from rendering.slice_marks import FROZEN_BACKGROUND
from tests.navigation.app.conftest import wait_for
from tests.navigation.app.test_render_loop import TIP, TRACKER_FROM_REFERENCE, pose_message


@pytest.fixture
def rig(nav_plan):
    """A session registered with identity (reference frame = image frame), a small layout."""
    scene = load_plan_scene(nav_plan)
    session = NavigationSession(scene, NavigationConfig(pointer_tip_mm=TIP))
    session.on_connection(True, "test")
    for index, point in enumerate(scene.plan.fiducials_lps_mm):
        session.store_fiducial(CollectedFiducial(point, 0.0, 0.0, 20, 0.0, 0.0), index, source="t")
    session.register()
    session.accept()
    layout = NavigationLayout(list(scene.models), scene.volumes, window_size=(640, 512))
    loop = RenderLoop(session, layout, target_fps=20.0, sync_to_tracker_s=0)
    yield session, layout, loop
    loop.close()
    layout.close()
    session.close()


def send_tip(session: NavigationSession, tip: np.ndarray) -> None:
    now = time.monotonic()
    pointer = TRACKER_FROM_REFERENCE @ make_rigid(translation_mm=tip - np.array(TIP))
    session.on_message(pose_message("ReferenceToTracker", TRACKER_FROM_REFERENCE, now))
    session.on_message(pose_message("PointerToTracker", pointer, now))


def slice_depths(layout: NavigationLayout) -> dict[str, float]:
    """Each view's slice plane, as its position along the view's axis (mm)."""
    return {
        name: float(view.lps_from_slice[:3, 3] @ view.lps_from_slice[:3, 2])
        for name, view in layout.slices.items()
    }


def frozen_banner_pixels(layout: NavigationLayout, view: str) -> int:
    col0, row0, col1, row1 = layout.viewport_box(view)
    region = layout.screenshot()[row0:row1, col0:col1].astype(int)
    red = np.round(np.array(FROZEN_BACKGROUND) * 255)
    return int((np.abs(region - red).max(axis=2) <= 2).sum())


def test_slices_hold_the_last_tip_with_a_frozen_overlay(rig):
    session, layout, loop = rig
    first = np.array([10.0, -40.0, -20.0])
    send_tip(session, first)
    loop.tick()
    assert all(view.frozen_reason is None for view in layout.slices.values())
    held = slice_depths(layout)
    assert held == pytest.approx(
        {name: float(first @ view.view.towards_viewer) for name, view in layout.slices.items()},
        abs=1e-6,
    )
    assert all(frozen_banner_pixels(layout, view) == 0 for view in SLICE_NAMES)

    # The pointer goes quiet: STALE within the stale limit; the slices stay, frozen.
    wait_for(lambda: session.frame(frame_index=0).snapshot.pointer_state == "STALE", 2.0, "STALE")
    loop.tick()
    for name, view in layout.slices.items():
        assert view.frozen_reason == "FROZEN: Pointer not tracked (STALE)"
        assert frozen_banner_pixels(layout, name) > 500, name
        col0, row0, col1, row1 = layout.viewport_box(name)
        assert layout.screenshot()[row0:row1, col0:col1].max() > 100  # not blank
    assert slice_depths(layout) == pytest.approx(held, abs=1e-6)

    # Tracked again but outside the scan: still held, with the reason.
    send_tip(session, np.array([400.0, -40.0, -20.0]))
    loop.tick()
    assert loop.last_frame is not None and loop.last_frame.snapshot.pointer_ok
    assert {view.frozen_reason for view in layout.slices.values()} == {
        "FROZEN: tip outside the scan"
    }
    assert slice_depths(layout) == pytest.approx(held, abs=1e-6)

    # Back in the scan: the slices follow again, from the new tip.
    second = np.array([-15.0, -30.0, 5.0])
    send_tip(session, second)
    loop.tick()
    assert all(view.frozen_reason is None for view in layout.slices.values())
    assert slice_depths(layout)["axial"] == pytest.approx(-5.0, abs=1e-6)  # seen from below
    assert all(frozen_banner_pixels(layout, view) == 0 for view in SLICE_NAMES)
