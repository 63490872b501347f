"""Replay and serve in the header version each client negotiated; PLUS ``.igs.mha`` replay.

A header-v1-only client (Debian's libOpenIGTLink 1.11 is one) reads a v2 body as if it were
v1: the 12-byte extended header shifts every value, and the CRC, which covers the whole body,
still passes. So a server must send each client the version it negotiated, whatever version a
message was recorded with (the C++ client itself is run in ``test_igtl_interop.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from navigation.tracking.igtl_transport import IgtlClient, IgtlServer
from navigation.tracking.messages import (
    IgtlMessage,
    ImageBody,
    RequestBody,
    StringBody,
    TransformBody,
)
from navigation.tracking.plus_sequence import read_plus_sequence
from navigation.tracking.pose_store import PoseStore, ToolState
from navigation.tracking.recording import SessionWriter
from navigation.tracking.replay import replay_session
from tests.navigation.igtl_samples import rigid
from tests.navigation.simulator_process import run_simulate

HELLO_V2 = IgtlMessage("GET_STATUS", "", RequestBody("GET", "STATUS"), header_version=2)
PLUS_FILES = (
    "tracking-plus/EightLandmarkPointsTrackedForPhantomRegistration.igs.mha",
    "tracking-plus/TransformInterpolationTest.igs.mha",
    "tracking-plus/WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha",
)


def v2_session(path: Path) -> list[IgtlMessage]:
    """A session as recorded from a v2 (PLUS-like) stream: v2 poses with their status, two of
    them INVALID (the 8th an all-zero matrix, the 16th PLUS's identity placeholder), v2 IMAGE
    and STRING. Returns the messages written."""
    frame = np.arange(64 * 80, dtype=np.uint16).reshape(1, 64, 80)
    messages = []
    for index in range(30):
        status = "INVALID" if index in (7, 15) else "OK"
        matrix = {7: np.zeros((4, 4)), 15: np.eye(4)}.get(index, rigid(index))
        messages.append(
            IgtlMessage(
                "TRANSFORM",
                "PointerToTracker",
                TransformBody(matrix),
                1_700_000_000.0 + index / 50,
                header_version=2,
                metadata={"TransformStatus": status},
                message_id=index,
            )
        )
        if index % 10 == 0:
            messages.append(
                IgtlMessage(
                    "IMAGE", "Camera", ImageBody(frame, np.eye(4)), 1_700_000_000.0, 2, {}, index
                )
            )
            messages.append(IgtlMessage("STRING", "Note", StringBody(f"n{index}"), 0.0, 2))
    with SessionWriter(path) as writer:
        for index, message in enumerate(messages):
            writer.write(message, index * 0.002)
    return messages


def test_replay_sends_v1_to_a_v1_client_and_v2_to_a_v2_client(tmp_path):
    recorded = v2_session(tmp_path / "v2.igcsrec")
    server = IgtlServer(port=0).start()
    v1 = IgtlClient("127.0.0.1", server.port).start()
    v2 = IgtlClient(
        "127.0.0.1", server.port, header_version=2, requests_on_connect=(HELLO_V2,)
    ).start()
    try:
        assert v1.wait_connected(5) and v2.wait_connected(5) and server.wait_connected(5, count=2)
        assert server.get(timeout=5).type == "GET_STATUS"  # the v2 client has spoken v2
        stats = replay_session(tmp_path / "v2.igcsrec", server, speed=4.0)
        from_v1: list[IgtlMessage] = []
        from_v2: list[IgtlMessage] = []
        deadline = time.monotonic() + 10
        while (len(from_v1) < len(recorded) - 1 or len(from_v2) < len(recorded)) and (
            time.monotonic() < deadline
        ):
            from_v1 += v1.drain()
            from_v2 += v2.drain()
            time.sleep(0.01)
        time.sleep(0.1)  # nothing more may come
        from_v1 += v1.drain()
        from_v2 += v2.drain()
    finally:
        v1.stop()
        v2.stop()
        server.stop()
    assert stats.messages == len(recorded)
    # The v1 client: every message in header v1, poses exact; of the INVALID ones only PLUS's
    # identity placeholder, which a v1 client recognises, not the all-zero matrix.
    assert {m.header_version for m in from_v1} == {1}
    assert all(not m.metadata and m.message_id == 0 for m in from_v1)
    poses_v1 = [m for m in from_v1 if m.type == "TRANSFORM"]
    expected = [m for m in recorded if m.type == "TRANSFORM" and m.message_id != 7]
    assert len(poses_v1) == len(expected) == 29
    for got, sent in zip(poses_v1, expected, strict=True):
        np.testing.assert_array_equal(got.body.matrix, sent.body.matrix)
    assert [m.type for m in from_v1].count("IMAGE") == 3
    assert [m.body.text for m in from_v1 if m.type == "STRING"] == ["n0", "n10", "n20"]
    # metadata or a message id dropped: 29 poses, the 2 images with ids 10 and 20
    assert stats.v1_withheld == 1 and stats.v1_fields_dropped == 29 + 2
    # The v2 client: v2 with the metadata and message ids, the INVALID one included.
    assert {m.header_version for m in from_v2} == {2} and len(from_v2) == len(recorded)
    statuses = [m.metadata["TransformStatus"] for m in from_v2 if m.type == "TRANSFORM"]
    assert statuses.count("INVALID") == 2 and len(statuses) == 30
    assert [m.message_id for m in from_v2 if m.type == "TRANSFORM"] == list(range(30))


def run_replay(arguments: list[str], client_options: dict, timeout_s: float):
    """``igcs replay --port 0 ARGUMENTS`` in a process, one client; its messages and stderr."""
    received: list[IgtlMessage] = []
    lines = run_simulate(
        arguments, received.append, timeout_s, command_name="replay", **client_options
    )
    return received, "".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("name", PLUS_FILES, ids=lambda n: Path(n).name.split(".")[0])
def test_igcs_replay_serves_a_plus_recording_with_its_timestamps_and_statuses(shared_data, name):
    path = shared_data(name)
    sequence = read_plus_sequence(path)
    names = sequence.transform_names
    expected = sum(len(f.transforms) for f in sequence.frames)
    duration = sequence.timestamps_s[-1] - sequence.timestamps_s[0]
    speed = max(1.0, duration / 3.0)
    received, stderr = run_replay(
        [str(path), "--speed", f"{speed:g}", "--keep-timestamps"],
        {"header_version": 2, "requests_on_connect": (HELLO_V2,)},
        timeout_s=60,
    )
    assert f"PLUS sequence {path.name}" in stderr
    poses = [m for m in received if m.type == "TRANSFORM"]
    assert len(poses) == expected
    for transform in names:
        got = [m for m in poses if m.device_name == transform]
        frames = [f for f in sequence.frames if transform in f.transforms]
        assert len(got) == len(frames)
        truth = np.array([f.transforms[transform] for f in frames])
        matrices = np.array([m.body.matrix for m in got])
        finite = np.isfinite(truth).all(axis=(1, 2))
        # exact up to the wire's float32
        np.testing.assert_array_equal(matrices[finite], truth[finite].astype(np.float32))
        assert [m.metadata["TransformStatus"] for m in got] == [
            f.statuses[transform] for f in frames
        ]
        stamps = np.array([m.timestamp_s for m in got])
        np.testing.assert_allclose(stamps, [f.timestamp_s for f in frames], atol=1e-6)
    images = [m for m in received if m.type == "IMAGE"]
    assert len(images) == sum(f.image is not None for f in sequence.frames)


@pytest.mark.slow
def test_igcs_replay_of_plus_to_a_v1_client_sends_its_invalid_frame_as_the_placeholder(
    shared_data,
):
    """The file's one INVALID probe frame carries PLUS's identity placeholder: a v1 client
    gets it as PLUS would send it (our pose store: OUT_OF_VIEW), nothing else is lost."""
    path = shared_data(PLUS_FILES[1])
    sequence = read_plus_sequence(path)
    invalid = [
        (f.index, name) for f in sequence.frames for name, status in f.statuses.items()
        if status != "OK"
    ]  # fmt: skip
    assert invalid == [(7, "ProbeToTracker")]  # the file's one INVALID probe frame
    expected = sum(len(f.transforms) for f in sequence.frames)
    received, stderr = run_replay([str(path), "--speed", "5"], {}, timeout_s=60)
    poses = [m for m in received if m.type == "TRANSFORM"]
    assert {m.header_version for m in received} == {1}
    assert len(poses) == expected and "0 messages with a status other than OK withheld" in stderr
    probe = np.array([m.body.matrix for m in poses if m.device_name == "ProbeToTracker"])
    truth = np.array([f.transforms["ProbeToTracker"] for f in sequence.frames])
    np.testing.assert_array_equal(probe, truth.astype(np.float32))
    np.testing.assert_array_equal(probe[7], np.eye(4))
    now = [0.0]
    store = PoseStore(connected=True, clock=lambda: now[0])
    for message in poses[:15]:  # up to the invalid probe frame, at its arrival
        now[0] = message.arrival_s
        store.ingest(message)
    assert store.pose("ProbeToTracker").state is ToolState.OUT_OF_VIEW
    # restamped: intervals kept
    stamps = np.array([m.timestamp_s for m in poses if m.device_name == "ReferenceToTracker"])
    np.testing.assert_allclose(np.diff(stamps), np.diff(sequence.timestamps_s), atol=1e-6)
    assert abs(stamps[0] - time.time()) < 120
