"""Session recording and replay: round trips, torn records, kill -9, the CLI, timing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest

from navigation.cli import main
from navigation.tracking.igtl_transport import IgtlClient, IgtlServer
from navigation.tracking.messages import IgtlMessage, ImageBody, StringBody, TransformBody
from navigation.tracking.recording import (
    RecordedMessage,
    SessionEvent,
    SessionReader,
    SessionWriter,
)
from navigation.tracking.replay import replay_session
from registration.core.checks import InputError
from tests.navigation.igtl_samples import sample_messages
from tests.navigation.test_igtl_codec import assert_same
from tests.navigation.test_igtl_transport import ROOT, free_port, wait_for


def transform(index: int) -> IgtlMessage:
    matrix = np.eye(4)
    matrix[0, 3] = index
    return IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(matrix), 1000.0 + index)


def test_messages_and_events_round_trip_in_order(tmp_path):
    path = tmp_path / "session.igcsrec"
    samples = sample_messages()
    with SessionWriter(path) as writer:
        writer.write_event("app_started", {"version": "0.1"}, arrival_s=0.5)
        for index, message in enumerate(samples):
            writer.write(message, 1.0 + index, source="127.0.0.1:18944")
        writer.write(samples[0], 99.0, direction="out")
        writer.write_event("registration", {"fre_mm": 0.35, "image_from_tracker": np.eye(4)})
    reader = SessionReader(path)
    received = list(reader)
    assert [t for t, _ in received] == [1.0 + i for i in range(len(samples))]
    for (arrival_s, message), sent in zip(received, samples, strict=True):
        assert_same(message, sent)
        assert message.arrival_s == arrival_s
    records = list(reader.records())
    assert isinstance(records[0], SessionEvent) and records[0].data == {"version": "0.1"}
    assert isinstance(records[-2], RecordedMessage) and records[-2].direction == "out"
    assert records[1].source == "127.0.0.1:18944"
    assert records[-1].kind == "registration" and records[-1].data["fre_mm"] == 0.35
    assert np.allclose(records[-1].data["image_from_tracker"], np.eye(4))
    assert reader.unreadable_bytes == 0
    assert abs(reader.created_unix_s - time.time()) < 60


def test_existing_sessions_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "s.igcsrec"
    SessionWriter(path).close()
    with pytest.raises(FileExistsError, match="already exists"):
        SessionWriter(path)
    (tmp_path / "other.bin").write_bytes(b"not a session at all, clearly")
    with pytest.raises(InputError, match="not an igcs session recording"):
        SessionReader(tmp_path / "other.bin")


def test_a_torn_last_record_is_ignored_at_every_cut(tmp_path):
    path = tmp_path / "s.igcsrec"
    with SessionWriter(path) as writer:
        for index in range(3):
            writer.write(transform(index), float(index))
    data = path.read_bytes()
    last_record = len(data) - (len(data) - 28) // 3
    for cut in range(last_record, len(data)):
        path.write_bytes(data[:cut])
        reader = SessionReader(path)
        assert [m.body.matrix[0, 3] for _, m in reader] == [0.0, 1.0]
        assert reader.unreadable_bytes == cut - last_record
    path.write_bytes(data)
    assert len(list(SessionReader(path))) == 3


def test_reading_and_writing_use_constant_memory(tmp_path):
    path = tmp_path / "frames.igcsrec"
    frame = np.zeros((512, 640), np.uint16)
    tracemalloc.start()
    with SessionWriter(path, fsync_interval_s=None) as writer:
        for index in range(60):  # 60 frames of 640 KB: 39 MB on disk
            writer.write(IgtlMessage("IMAGE", "NIR", ImageBody(frame + index, np.eye(4))), index)
    write_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    count = sum(int(m.body.pixels[0, 0, 0] == t) for t, m in SessionReader(path))
    read_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 60 and path.stat().st_size > 39e6
    assert write_peak < 5e6 and read_peak < 5e6  # a few frames' worth, not the session


def streaming_server(stop: threading.Event) -> tuple[IgtlServer, threading.Thread]:
    server = IgtlServer(port=0).start()

    def stream() -> None:
        index = 0
        while not stop.is_set():
            if server.connected:
                server.send(transform(index))
                index += 1
            stop.wait(0.002)

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    return server, thread


def test_recording_survives_kill_9_mid_stream(tmp_path):
    path = tmp_path / "crash.igcsrec"
    stop = threading.Event()
    server, thread = streaming_server(stop)
    recorder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "navigation",
            "record",
            f"127.0.0.1:{server.port}",
            "--out",
            str(path),
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: path.exists() and len(list(SessionReader(path))) > 200, timeout=20)
        readable_before = len(list(SessionReader(path)))
        os.kill(recorder.pid, signal.SIGKILL)
        recorder.wait()
    finally:
        stop.set()
        thread.join()
        server.stop()
    reader = SessionReader(path)
    indices = [int(m.body.matrix[0, 3]) for _, m in reader]
    assert len(indices) >= readable_before
    assert indices == list(range(len(indices)))  # every message up to the kill, in order
    events = list(reader.events())
    assert events[0].kind == "record_started" and events[1].data["connected"] is True
    assert recorder.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_record_cli_then_replay_with_the_original_timing(tmp_path, capsys):
    path = tmp_path / "cli.igcsrec"
    stop = threading.Event()
    server, thread = streaming_server(stop)
    try:
        assert (
            main(["record", f"127.0.0.1:{server.port}", "--out", str(path), "--duration", "1"]) == 0
        )
    finally:
        stop.set()
        thread.join()
        server.stop()
    assert "recorded" in capsys.readouterr().err
    recorded = list(SessionReader(path))
    assert len(recorded) > 100
    assert main(["record", "127.0.0.1:1", "--out", str(path), "--duration", "0.1"]) == 2
    assert "already exists" in capsys.readouterr().err

    # Replay through the library at speed 2 and check the intervals.
    replay_server = IgtlServer(port=0).start()
    client = IgtlClient("127.0.0.1", replay_server.port).start()
    try:
        assert client.wait_connected(5) and replay_server.wait_connected(5)
        stats = replay_session(path, replay_server, speed=2.0)
        received = [client.get(timeout=5) for _ in recorded]
    finally:
        client.stop()
        replay_server.stop()
    assert stats.messages == len(recorded) and stats.max_late_s < 0.25  # a loaded 2-core CI
    recorded_span = recorded[-1][0] - recorded[0][0]
    replayed_span = received[-1].arrival_s - received[0].arrival_s
    assert replayed_span == pytest.approx(recorded_span / 2, abs=0.1)
    for (_, original), replayed in zip(recorded, received, strict=True):
        np.testing.assert_array_equal(original.body.matrix, replayed.body.matrix)
    # restamped: intervals kept, first timestamp = the wall clock at the start
    assert received[0].timestamp_s == pytest.approx(time.time() - replayed_span, abs=2.0)
    assert received[-1].timestamp_s - received[0].timestamp_s == pytest.approx(
        recorded[-1][1].timestamp_s - recorded[0][1].timestamp_s, abs=1e-3
    )


def test_replay_cli_serves_a_client(tmp_path):
    path = tmp_path / "s.igcsrec"
    with SessionWriter(path) as writer:
        for index in range(20):
            writer.write(IgtlMessage("STRING", "S", StringBody(str(index))), index * 0.01)
    port = free_port()
    replayer = subprocess.Popen(
        [sys.executable, "-m", "navigation", "replay", str(path), "--port", str(port)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = IgtlClient("127.0.0.1", port).start()
    try:
        texts = [client.get(timeout=20).body.text for _ in range(20)]
    finally:
        client.stop()
        _, stderr = replayer.communicate(timeout=20)
    assert texts == [str(i) for i in range(20)]
    assert replayer.returncode == 0 and "replayed 20 messages" in stderr
