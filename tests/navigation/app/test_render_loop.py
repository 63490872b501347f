"""The render loop's measurements: latency from a known arrival, stalls and slow frames flagged
and recorded, newest state wins."""

from __future__ import annotations

import time

import numpy as np
import pytest

from navigation.app.config import NavigationConfig
from navigation.app.render_loop import RenderLoop
from navigation.app.session import NavigationSession
from navigation.planning.plan_scene import load_plan_scene
from navigation.tracking.fiducial_collection import CollectedFiducial
from navigation.tracking.messages import IgtlMessage, TransformBody
from navigation.tracking.recording import SessionReader, SessionWriter
from registration.core.transforms import make_rigid
from rendering.layout import NavigationLayout
from tests.navigation.app.conftest import wait_for

TIP = (0.0, 0.0, -160.0)
#: Where the reference is in the tracker (not identity: PLUS's placeholder for "not seen").
TRACKER_FROM_REFERENCE = make_rigid(translation_mm=(10.0, 20.0, -1000.0))


def pose_message(name: str, matrix: np.ndarray, arrival_s: float) -> IgtlMessage:
    return IgtlMessage("TRANSFORM", name, TransformBody(matrix), arrival_s=arrival_s)


@pytest.fixture
def rig(nav_plan, tmp_path):
    """A session (registration = identity: reference frame = image frame) with a recorder,
    a small offscreen layout and a render loop."""
    scene = load_plan_scene(nav_plan)
    recorder = SessionWriter(tmp_path / "s.igcsrec")
    session = NavigationSession(scene, NavigationConfig(pointer_tip_mm=TIP), recorder=recorder)
    session.on_connection(True, "test")
    for index, point in enumerate(scene.plan.fiducials_lps_mm):
        session.store_fiducial(CollectedFiducial(point, 0.0, 0.0, 20, 0.0, 0.0), index, source="t")
    session.register()
    session.accept()
    layout = NavigationLayout(list(scene.models), scene.volumes, window_size=(480, 384))
    loop = RenderLoop(session, layout, target_fps=20.0, slow_frame_s=0.5, sync_to_tracker_s=0)
    yield session, layout, loop, tmp_path / "s.igcsrec"
    loop.close()
    layout.close()
    session.close()


def test_latency_is_presentation_minus_the_newest_arrival(rig):
    session, _, loop, _ = rig
    arrival = time.monotonic()
    tip = np.array([30.0, -60.0, 0.0])
    pointer = TRACKER_FROM_REFERENCE @ make_rigid(translation_mm=tip - np.array(TIP))
    session.on_message(pose_message("ReferenceToTracker", TRACKER_FROM_REFERENCE, arrival - 0.01))
    session.on_message(pose_message("PointerToTracker", pointer, arrival))
    record = loop.tick()
    frame = loop.last_frame
    assert frame is not None and frame.snapshot.pointer_ok
    np.testing.assert_allclose(frame.tip_lps_mm, tip, atol=1e-9)
    assert frame.newest_arrival_s == arrival  # the newer of the two poses drawn
    assert record.latency_ms == pytest.approx((record.presented_s - arrival) * 1000.0)
    assert (
        record.frame_ms
        <= record.latency_ms
        < record.frame_ms + 1000.0 * (record.start_s - arrival) + 1e-6
    )
    # Newest wins: two more samples before the next frame; only the last is drawn.
    session.on_message(pose_message("ReferenceToTracker", TRACKER_FROM_REFERENCE, time.monotonic()))
    for x in (40.0, 50.0):
        moved = TRACKER_FROM_REFERENCE @ make_rigid(
            translation_mm=np.array([x, -60.0, 0.0]) - np.array(TIP)
        )
        session.on_message(pose_message("PointerToTracker", moved, time.monotonic()))
    loop.tick()
    assert loop.last_frame.tip_lps_mm[0] == pytest.approx(50.0)
    stats = loop.stats()
    assert stats.frames == 2 and stats.latency_samples == 2 and stats.snapshot_ms_p50 < 50


def test_a_stalled_loop_is_flagged_and_recorded(rig):
    session, _, loop, path = rig
    loop.start_watchdog(threshold_s=0.2, period_s=0.02)
    loop.tick()
    wait_for(lambda: loop.stats().stalls == 1, 2.0, "the stall to be flagged")
    time.sleep(0.1)
    loop.tick()  # the display comes back
    wait_for(lambda: loop.stats().longest_stall_ms > 250.0, 2.0, "the stall's length")
    loop.slow_frame_s = 1e-6  # every frame is now "slow"
    loop.tick()
    assert loop.stats().slow_frames == 1
    loop.stop_watchdog()
    session.close()
    kinds = [e.data["kind"] for e in SessionReader(path).events() if e.kind == "render_stall"]
    assert kinds == ["stalled", "resumed", "slow_frame"]
