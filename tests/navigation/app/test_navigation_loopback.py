"""The app against the real simulator on loopback OpenIGTLink, views rendered offscreen (EGL).

Truth comes from the simulator: the pointer's tip rests exactly on the touched fiducial during
each dwell (no dropout falls in a dwell), so the pixel it must be drawn at is
``layout.pixel_of(truth.fiducials_touched_in_image[i])``.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from navigation.app.config import NavigationConfig
from navigation.app.render_loop import RenderLoop
from navigation.app.session import NavigationSession
from navigation.planning.plan_scene import load_plan_scene
from navigation.simulation.simulator_io import scenario_from_plan
from rendering.layout import SLICE_NAMES, NavigationLayout
from tests.navigation.app.conftest import FAST, accept_true_registration, wait_for
from tests.rendering.test_layout import centroid

pytestmark = pytest.mark.slow

VIEWS = ("3d", *SLICE_NAMES)


def cyan_mask(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(int)
    return (rgb[..., 0] < 60) & (rgb[..., 1] > 200) & (rgb[..., 2] > 200)


def crop(image: np.ndarray, layout: NavigationLayout, view: str) -> np.ndarray:
    col0, row0, col1, row1 = layout.viewport_box(view)
    return image[row0:row1, col0:col1]


def tip_centroid(image: np.ndarray, layout: NavigationLayout, view: str) -> np.ndarray | None:
    """Where the tip is drawn (the 3-D glyph's centroid, the slices' cross-hair crossing)."""
    mask = cyan_mask(crop(image, layout, view))
    if mask.sum() < 10:
        return None
    return centroid(mask, layout, view)


@pytest.fixture
def live(nav_plan, serve):
    """A session connected to the simulator streaming the fast scenario, an offscreen layout
    and a render loop; the registration in force is the simulator's true one."""
    scene = load_plan_scene(nav_plan)
    # No dropouts: the only tool that stops is the one the test stops.
    steady = dataclasses.replace(FAST, out_of_view_count=0, stall_count=0)
    scenario = scenario_from_plan(nav_plan, steady, duration_s=8.0)
    served = serve(scenario)
    threads_before = set(threading.enumerate())
    session = NavigationSession(scene, NavigationConfig(fle_rms_mm=0.3))
    session.set_display(skin_opacity=0.0)  # nothing in front of the tip
    layout = NavigationLayout(list(scene.models), scene.volumes, window_size=(1280, 1024))
    loop = RenderLoop(session, layout, target_fps=12.0)
    client = session.connect("127.0.0.1", served.server.port)
    assert served.server.wait_connected(5.0)
    accept_true_registration(session, scenario)
    served.start()
    assert client.wait_connected(5.0)  # the link counts as up from its first message
    yield scenario, served, session, layout, loop
    loop.close()
    layout.close()
    session.close()
    served.close()
    wait_for(
        lambda: not [t for t in threading.enumerate() if t not in threads_before and t.is_alive()],
        2.0,
        "the session's threads to end",
    )


def test_tip_drawn_at_its_true_pixel_then_stale_within_300_ms(live):
    scenario, served, session, layout, loop = live
    truth = scenario.truth
    start, end = truth.dwell_intervals_s[0]
    wait_for(lambda: served.scenario_time() > start + 0.3, 10.0, "the first dwell")
    checked = 0
    while served.scenario_time() < end - 0.2 and checked < 3:
        record = loop.tick()
        frame = loop.last_frame
        assert frame is not None and frame.snapshot.pointer_ok, frame.snapshot.tool_states
        image = layout.screenshot()
        true_tip = truth.fiducials_touched_in_image[0]
        for view in VIEWS:
            expected = np.array(layout.pixel_of(true_tip, view))
            found = tip_centroid(image, layout, view)
            assert found is not None, f"no tip drawn in the {view} view"
            assert np.linalg.norm(found - expected) <= 2.0, (view, found, expected)
        assert np.isfinite(record.latency_ms) and 0 < record.latency_ms < 1000
        checked += 1
        loop.wait_next()
    assert checked >= 1
    assert "OK" in layout.status.badge_text("Pointer")
    assert "mm" in layout.guidance.text

    # The simulator stops sending the pointer (the rest keeps streaming).
    served.drop_pointer.set()
    wait_for(lambda: np.isfinite(served.last_pointer_sent_s), 1.0, "a pointer message")
    time.sleep(0.05)  # let the send that may be in flight finish
    last_sent = served.last_pointer_sent_s
    shown_stale_at = None
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        record = loop.tick()
        if "STALE" in layout.status.badge_text("Pointer"):
            shown_stale_at = record.presented_s
            break
        loop.wait_next()
    assert shown_stale_at is not None, "the pointer badge never read STALE"
    delay = shown_stale_at - last_sent
    assert delay <= 0.300, f"STALE shown {delay * 1000:.0f} ms after the last pointer message"
    image = layout.screenshot()
    for view in VIEWS:
        assert cyan_mask(crop(image, layout, view)).sum() == 0, f"tip still drawn in {view}"
    guidance = layout.guidance.text
    assert "STALE" in guidance and "mm" not in guidance
    assert not any(ch.isdigit() for ch in guidance)
    snapshot = loop.last_frame.snapshot
    assert snapshot.image_from_pointer is None and snapshot.guidance is None
    # The badge may go STALE first through the relative pose (pointer and reference samples
    # more than 100 ms apart); the pointer's own STALE event follows at the stale limit.
    wait_for(
        lambda: session.status().state_changes.get("PointerToTracker", {}).get("STALE", 0) >= 1,
        1.0,
        "the pointer's STALE event",
    )
