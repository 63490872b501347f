"""The background recorder: the bytes as received, never waiting, drops counted and said in the
file. A stalled disk is a pipe nobody reads in place of the file's descriptor."""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_framing import IgtlFramer
from navigation.tracking.messages import IgtlMessage, ImageBody, TransformBody
from navigation.tracking.recorder_thread import BackgroundRecorder
from navigation.tracking.recording import (
    RecordedMessage,
    SessionEvent,
    SessionReader,
    SessionWriter,
)
from tests.navigation.test_igtl_codec import assert_same


def received(messages: list[IgtlMessage]) -> list[IgtlMessage]:
    """The messages as a link delivers them: decoded, carrying their bytes."""
    return IgtlFramer().feed(b"".join(encode_message(m) for m in messages))


def test_the_bytes_as_received_are_written_without_encoding_again(tmp_path):
    message = IgtlMessage(
        "TRANSFORM", "T", TransformBody(np.eye(4)), 1.7e9, 2, {"TransformStatus": "OK"}, 9
    )
    (incoming,) = received([message])
    assert incoming.wire is not None
    with BackgroundRecorder(SessionWriter(tmp_path / "s.igcsrec")) as recorder:
        assert recorder.write(incoming)
    data = (tmp_path / "s.igcsrec").read_bytes()
    assert incoming.wire.header + incoming.wire.body in data
    (record,) = SessionReader(tmp_path / "s.igcsrec").messages()
    assert_same(record.message, message)


def test_a_full_queue_drops_without_waiting_and_the_file_says_so(tmp_path):
    frame = np.zeros((1, 256, 200), np.uint16)  # 100 KiB frames
    frames = received([IgtlMessage("IMAGE", "Cam", ImageBody(frame, np.eye(4)))] * 60)
    path = tmp_path / "gap.igcsrec"
    writer = SessionWriter(path)
    recorder = BackgroundRecorder(writer, max_bytes=1024 * 1024)
    original = os.dup(writer._fd)
    read_end, write_end = os.pipe()
    os.dup2(write_end, writer._fd)  # the disk stops answering
    os.close(write_end)
    started = time.monotonic()
    kept = [recorder.write(m) for m in frames]
    poses = received([IgtlMessage("TRANSFORM", "P", TransformBody(np.eye(4)))] * 50)
    assert all(recorder.write(m) for m in poses)  # frames are dropped before any pose
    recorder.write_event("registration_accepted", {"fre_mm": 0.4})  # never dropped
    took = time.monotonic() - started
    counts = recorder.counts

    def catch_up() -> None:
        while chunk := os.read(read_end, 1 << 20):
            os.write(original, chunk)

    pump = threading.Thread(target=catch_up)
    pump.start()  # the disk answers again
    assert recorder.flush(30)
    os.dup2(original, writer._fd)
    pump.join(30)
    os.close(original)
    os.close(read_end)
    final = recorder.close()
    assert took < 0.5  # 61 calls, none waited for the stalled disk
    assert 5 <= sum(kept) <= 15 and counts.dropped == len(frames) - sum(kept)
    assert final.dropped == counts.dropped and final.written == sum(kept) + 50 + 1  # + the event
    records = list(SessionReader(path).records())
    assert sum(isinstance(r, RecordedMessage) for r in records) == sum(kept) + 50
    events = [r for r in records if isinstance(r, SessionEvent)]
    assert [e.kind for e in events] == ["registration_accepted", "recording_gap"]
    assert events[1].data["dropped_messages"] == counts.dropped
    assert events[1].data["dropped_bytes"] == counts.dropped * frames[0].wire.size
