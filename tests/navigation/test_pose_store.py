"""Pose store: every state transition with an injected clock, relative poses, events, threads."""

from __future__ import annotations

import threading
import time
from types import MappingProxyType

import numpy as np
import pytest

from navigation.tracking.messages import (
    IgtlMessage,
    PositionBody,
    QuaternionTrackingDataBody,
    QuaternionTrackingElement,
    StatusBody,
    StringBody,
    TrackingDataBody,
    TrackingElement,
    TransformBody,
)
from navigation.tracking.pose_store import PoseStore, PoseStoreConfig, ToolState
from navigation.tracking.pose_validation import PoseValidation, classify_matrix
from registration.core.checks import InputError
from registration.core.transforms import invert_rigid, make_rigid, random_rigid, rotation_about


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def transform_message(
    name: str,
    matrix: np.ndarray,
    clock: FakeClock,
    *,
    timestamp_s: float | None = None,
    metadata: dict[str, str] | None = None,
) -> IgtlMessage:
    return IgtlMessage(
        type="TRANSFORM",
        device_name=name,
        body=TransformBody(matrix=np.asarray(matrix, dtype=np.float64)),
        timestamp_s=clock.now + 5000.0 if timestamp_s is None else timestamp_s,
        header_version=2 if metadata else 1,
        metadata=MappingProxyType(metadata or {}),
        arrival_s=clock.now,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pose_a(rng) -> np.ndarray:
    m = random_rigid(rng, max_translation_mm=300.0)
    m[2, 3] -= 1000.0
    return m


def test_ok_pose_is_returned_as_a_read_only_snapshot(clock, pose_a):
    store = PoseStore(clock=clock)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    clock.advance(0.01)
    pose = store.pose("PointerToTracker")
    assert pose.state is ToolState.OK and pose.ok and pose.reason == ""
    np.testing.assert_array_equal(pose.matrix, pose_a)
    assert pose.age_s == pytest.approx(0.01)
    assert pose.arrival_s == pytest.approx(100.0)
    with pytest.raises(ValueError):
        pose.matrix[0, 0] = 2.0  # type: ignore[index]


def test_tool_goes_stale_within_300_ms_and_never_shows_its_old_pose(clock, pose_a):
    store = PoseStore(clock=clock)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    clock.advance(0.24)
    assert store.pose("PointerToTracker").state is ToolState.OK
    clock.advance(0.02)  # 260 ms after the last update: past the 250 ms default
    stale = store.pose("PointerToTracker")
    assert stale.state is ToolState.STALE
    assert stale.matrix is None
    assert "no update for 260 ms" in stale.reason
    events = store.update_states()
    assert [(e.name, e.previous, e.state) for e in events] == [
        ("PointerToTracker", ToolState.OK, ToolState.STALE)
    ]
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    assert store.pose("PointerToTracker").state is ToolState.OK


def test_never_received_tool_is_stale_without_a_pose(clock):
    pose = PoseStore(clock=clock).pose("ReferenceToTracker")
    assert pose.state is ToolState.STALE and pose.matrix is None
    assert pose.reason == "never received" and np.isinf(pose.age_s)


def test_out_of_view_from_plus_status_metadata(clock, pose_a):
    store = PoseStore(clock=clock)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    store.ingest(
        transform_message(
            "PointerToTracker", np.eye(4), clock, metadata={"TransformStatus": "INVALID"}
        )
    )
    pose = store.pose("PointerToTracker")
    assert pose.state is ToolState.OUT_OF_VIEW and pose.matrix is None
    assert "TransformStatus = INVALID" in pose.reason
    # A good matrix still marked not valid by the sender is out of view as well.
    store.ingest(
        transform_message("PointerToTracker", pose_a, clock, metadata={"TransformValid": "0"})
    )
    assert store.pose("PointerToTracker").state is ToolState.OUT_OF_VIEW


def test_out_of_view_from_identity_for_invalid(clock, pose_a):
    store = PoseStore(clock=clock)
    store.ingest(transform_message("PointerToTracker", np.eye(4), clock))
    pose = store.pose("PointerToTracker")
    assert pose.state is ToolState.OUT_OF_VIEW and "identity" in pose.reason
    relaxed = PoseStore(
        PoseStoreConfig(validation=PoseValidation(identity_means_out_of_view=False)), clock=clock
    )
    relaxed.ingest(transform_message("CalibrationToTracker", np.eye(4), clock))
    assert relaxed.pose("CalibrationToTracker").state is ToolState.OK


def test_out_of_view_from_status_message(clock, pose_a):
    store = PoseStore(clock=clock)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    status = IgtlMessage(
        type="STATUS",
        device_name="PointerToTracker",
        body=StatusBody(code=13, subcode=0, error_name="NotReady", message="marker hidden"),
        arrival_s=clock.now,
    )
    assert store.ingest(status)
    pose = store.pose("PointerToTracker")
    assert pose.state is ToolState.OUT_OF_VIEW and "STATUS code 13" in pose.reason
    # A STATUS about an unknown device creates no tool.
    unknown = IgtlMessage("STATUS", "Server", StatusBody(2, 0, "Err", "x"), arrival_s=clock.now)
    assert not store.ingest(unknown)
    assert store.tool_names() == ("PointerToTracker",)


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (lambda m: np.where(np.eye(4, dtype=bool), np.nan, m), "NaN or Inf"),
        (lambda m: m @ np.diag([1.01, 1.0, 1.0, 1.0]), "not rigid"),
        (lambda m: m @ np.diag([1.0, 1.002, 1.0, 1.0]), "not rigid"),
        (lambda m: m @ np.diag([1.0, 1.0, -1.0, 1.0]), "reflection"),
        (lambda m: m @ make_rigid(translation_mm=[0.0, 0.0, -8000.0]), "beyond the working volume"),
        (lambda m: np.vstack([m[:3], [0.0, 0.0, 0.1, 1.0]]), "not rigid"),
    ],
    ids=["nan", "scaled", "scaled-0.2%", "reflected", "huge-translation", "bad-bottom-row"],
)
def test_invalid_matrices(clock, pose_a, corrupt, reason):
    store = PoseStore(clock=clock)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    store.ingest(transform_message("PointerToTracker", corrupt(pose_a.copy()), clock))
    pose = store.pose("PointerToTracker")
    assert pose.state is ToolState.INVALID
    assert pose.matrix is None
    assert reason in pose.reason


def test_working_volume_is_configurable(pose_a):
    far = make_rigid(translation_mm=[0.0, 0.0, -2500.0])
    assert classify_matrix(far)[0] is ToolState.OK
    small = PoseValidation(max_translation_mm=2000.0)
    assert classify_matrix(far, validation=small)[0] is ToolState.INVALID
    store = PoseStore(PoseStoreConfig(validation=small))
    store.ingest(IgtlMessage("TRANSFORM", "FarToTracker", TransformBody(far)))
    assert "beyond the working volume (2000 mm)" in store.pose("FarToTracker").reason
    with pytest.raises(InputError, match="max_translation_mm"):
        PoseValidation(max_translation_mm=-1.0)


def test_disconnected_then_stale_until_the_next_sample(clock, pose_a):
    store = PoseStore(clock=clock)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    store.set_connected(False, "server closed the connection")
    pose = store.pose("PointerToTracker")
    assert pose.state is ToolState.DISCONNECTED and pose.matrix is None
    assert pose.reason == "server closed the connection"
    assert store.pose("NeverSeenToTracker").state is ToolState.DISCONNECTED
    clock.advance(0.05)
    store.set_connected(True)
    assert store.pose("PointerToTracker").state is ToolState.STALE  # old sample, new link
    clock.advance(0.01)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    assert store.pose("PointerToTracker").state is ToolState.OK
    states = [(e.previous, e.state) for e in store.drain_events()]
    assert states == [
        (None, ToolState.OK),
        (ToolState.OK, ToolState.DISCONNECTED),
        (ToolState.DISCONNECTED, ToolState.STALE),
        (ToolState.STALE, ToolState.OK),
    ]


def test_the_poses_that_bring_the_link_back_are_ok(clock, pose_a):
    """A client with a silence timeout declares its link up at the first message, a moment
    after that message's bytes arrived: the poses of that batch are new (after the outage),
    not 'no update since the link came back'."""
    store = PoseStore(clock=clock)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    clock.advance(0.01)
    store.set_connected(False, "no bytes for 0.50 s")
    clock.advance(2.0)
    first = transform_message("PointerToTracker", pose_a, clock)  # arrived now ...
    clock.advance(0.0005)
    store.set_connected(True)  # ... and brought the link up half a millisecond later
    store.ingest(first)
    assert store.pose("PointerToTracker").state is ToolState.OK
    states = [(e.previous, e.state) for e in store.drain_events()]
    assert states == [
        (None, ToolState.OK),
        (ToolState.OK, ToolState.DISCONNECTED),
        (ToolState.DISCONNECTED, ToolState.STALE),  # the old pose, until the new one lands
        (ToolState.STALE, ToolState.OK),
    ]


def test_relative_pose_composes_through_the_tracker(clock, rng, pose_a):
    tracker_from_reference = random_rigid(rng, max_translation_mm=200.0)
    tracker_from_reference[2, 3] -= 1100.0
    store = PoseStore(clock=clock)
    store.ingest(transform_message("ReferenceToTracker", tracker_from_reference, clock))
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    relative = store.transform("Reference", "Pointer")
    assert relative.name == "PointerToReference" and relative.ok
    expected = invert_rigid(tracker_from_reference) @ pose_a
    np.testing.assert_allclose(relative.matrix, expected, atol=1e-12)
    inverse = store.transform("Tracker", "Reference")  # direct name
    np.testing.assert_array_equal(inverse.matrix, tracker_from_reference)
    back = store.transform("Pointer", "Tracker")  # inverse of a received tool
    np.testing.assert_allclose(back.matrix, invert_rigid(pose_a), atol=1e-12)
    # One side not OK: the relative pose takes its state and says which.
    store.ingest(
        transform_message(
            "ReferenceToTracker", np.eye(4), clock, metadata={"TransformStatus": "MISSING"}
        )
    )
    hidden = store.transform("Reference", "Pointer")
    assert hidden.state is ToolState.OUT_OF_VIEW and hidden.matrix is None
    assert hidden.reason.startswith("ReferenceToTracker:")


def test_relative_pose_refused_when_samples_are_too_far_apart(clock, pose_a):
    store = PoseStore(PoseStoreConfig(max_relative_skew_s=0.05), clock=clock)
    store.ingest(
        transform_message("ReferenceToTracker", make_rigid(translation_mm=[0, 0, -900]), clock)
    )
    clock.advance(0.08)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    relative = store.transform("Reference", "Pointer")
    assert relative.state is ToolState.STALE and relative.matrix is None
    assert "80 ms apart" in relative.reason


def test_tdata_qtdata_and_position_feed_one_tool_per_element(clock):
    store = PoseStore(clock=clock)
    rotation = rotation_about([0.0, 0.0, 1.0], 90.0)
    matrix = make_rigid(rotation, [1.0, 2.0, -800.0])
    store.ingest(
        IgtlMessage(
            "TDATA",
            "Tracker",
            TrackingDataBody(
                (
                    TrackingElement("PointerToTracker", 2, matrix),
                    TrackingElement("ReferenceToTracker", 2, np.full((4, 4), np.nan)),
                )
            ),
            timestamp_s=7000.0,
            arrival_s=clock.now,
        )
    )
    assert store.pose("PointerToTracker").ok
    assert store.pose("ReferenceToTracker").state is ToolState.INVALID
    quaternion = np.array([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)])  # 90 deg about z
    store.ingest(
        IgtlMessage(
            "QTDATA",
            "Tracker",
            QuaternionTrackingDataBody(
                (
                    QuaternionTrackingElement(
                        "CameraToTracker", 2, np.array([1.0, 2.0, -800.0]), quaternion
                    ),
                    QuaternionTrackingElement("BadToTracker", 2, np.zeros(3), quaternion * 2.0),
                )
            ),
            timestamp_s=7000.1,
            arrival_s=clock.now,
        )
    )
    np.testing.assert_allclose(store.pose("CameraToTracker").matrix, matrix, atol=1e-12)
    assert store.pose("BadToTracker").state is ToolState.INVALID
    store.ingest(
        IgtlMessage(
            "POSITION",
            "NeedleToTracker",
            PositionBody(np.array([1.0, 2.0, -800.0]), quaternion),
            timestamp_s=7000.2,
            arrival_s=clock.now,
        )
    )
    np.testing.assert_allclose(store.pose("NeedleToTracker").matrix, matrix, atol=1e-12)
    store.ingest(
        IgtlMessage(
            "POSITION",
            "NeedleToTracker",
            PositionBody(np.array([1.0, 2.0, -800.0]), None),
            timestamp_s=7000.3,
            arrival_s=clock.now,
        )
    )
    assert "position-only" in store.pose("NeedleToTracker").reason
    assert not store.ingest(IgtlMessage("STRING", "Note", StringBody("hello"), arrival_s=clock.now))


def test_frozen_repeats_of_one_sample_do_not_keep_a_tool_alive(clock, pose_a):
    """A sender that keeps resending its last sample (same timestamp, same matrix) must not
    make an old pose look current."""
    store = PoseStore(clock=clock)
    for _ in range(5):
        store.ingest(transform_message("PointerToTracker", pose_a, clock, timestamp_s=42.0))
        clock.advance(0.1)
    pose = store.pose("PointerToTracker")
    assert pose.state is ToolState.STALE
    assert "repeats an old sample" in pose.reason


def test_events_reach_subscribers_and_a_failing_subscriber_is_isolated(clock, pose_a):
    store = PoseStore(clock=clock)
    seen = []

    def broken(event):
        raise RuntimeError("view crashed")

    store.subscribe(broken)
    unsubscribe = store.subscribe(seen.append)
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    clock.advance(0.3)
    store.update_states()
    unsubscribe()
    store.ingest(transform_message("PointerToTracker", pose_a, clock))
    assert [e.state for e in seen] == [ToolState.OK, ToolState.STALE]
    assert seen[1].time_s == pytest.approx(100.3)


def test_watchdog_reports_stale_with_the_real_clock(pose_a):
    store = PoseStore()
    events = []
    store.subscribe(events.append)
    store.start_watchdog(period_s=0.02)
    try:
        message = IgtlMessage(
            "TRANSFORM", "PointerToTracker", TransformBody(pose_a), arrival_s=time.monotonic()
        )
        store.ingest(message)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not any(e.state is ToolState.STALE for e in events):
            time.sleep(0.005)
    finally:
        store.stop_watchdog()
    stale = next(e for e in events if e.state is ToolState.STALE)
    assert 0.25 <= stale.time_s - message.arrival_s < 0.3


def test_thread_safety_under_a_producer_thread(pose_a, rng):
    """A producer ingests while readers query: every snapshot is internally consistent (the
    matrix is one of the sent ones, state OK has a matrix, others have none)."""
    store = PoseStore(PoseStoreConfig(stale_timeout_s=5.0))
    sent = [random_rigid(rng, max_translation_mm=500.0) for _ in range(50)]
    sent_bytes = {m.tobytes() for m in sent}
    stop = threading.Event()
    errors: list[str] = []
    produced = [0]

    def producer():
        index = 0
        while not stop.is_set():
            matrix = sent[index % len(sent)] if index % 7 else np.full((4, 4), np.nan)
            for name in ("PointerToTracker", "ReferenceToTracker"):
                store.ingest(
                    IgtlMessage(
                        "TRANSFORM", name, TransformBody(matrix), timestamp_s=1.0 + index * 1e-3
                    )
                )
            index += 1
            produced[0] = index

    def reader():
        while not stop.is_set():
            for pose in store.poses().values():
                if pose.state is ToolState.OK:
                    if pose.matrix is None or pose.matrix.tobytes() not in sent_bytes:
                        errors.append(f"bad OK snapshot {pose}")
                elif pose.matrix is not None:
                    errors.append(f"non-OK snapshot with a matrix {pose}")
            relative = store.transform("Reference", "Pointer")
            if relative.ok != (relative.matrix is not None):
                errors.append(f"inconsistent relative pose {relative}")

    threads = [threading.Thread(target=producer)] + [
        threading.Thread(target=reader) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(timeout=5.0)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert produced[0] > 100
    assert set(store.tool_names()) == {"PointerToTracker", "ReferenceToTracker"}


def test_tool_names_are_bounded(clock, pose_a, caplog):
    store = PoseStore(PoseStoreConfig(max_tools=3), clock=clock)
    for index in range(10):
        store.ingest(transform_message(f"Tool{index}ToTracker", pose_a, clock))
    assert store.tool_names() == ("Tool0ToTracker", "Tool1ToTracker", "Tool2ToTracker")
    assert sum("ignoring new ones" in r.getMessage() for r in caplog.records) == 1
    store.on_connection(False, "127.0.0.1:18944")
    assert store.pose("Tool0ToTracker").reason == "link to 127.0.0.1:18944 lost"
