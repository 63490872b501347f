"""One client's send queue: lossless while the client reads (even when our sender thread is
late on a busy machine), newest-wins poses and bounded frames once a send to it is blocked."""

from __future__ import annotations

import time

from navigation.tracking.igtl_send_queue import SendQueue


def test_a_late_sender_thread_drops_nothing():
    queue = SendQueue(behind_s=0.05)
    for index in range(100):
        assert queue.put("TRANSFORM", "PointerToTracker", b"pose %d" % index)
    time.sleep(0.2)  # our thread did not get to send: not the client's fault
    assert queue.put("TRANSFORM", "PointerToTracker", b"pose 100")
    assert not queue.behind and queue.pending == 101
    assert [queue.get(0) for _ in range(101)] == [b"pose %d" % i for i in range(101)]
    assert queue.counts.coalesced == 0


def test_a_client_that_does_not_read_gets_the_newest_poses_and_few_frames():
    queue = SendQueue(behind_s=0.05, max_images=2)
    queue.put("STRING", "Note", b"note")
    queue.sending(True)  # a send to the client is blocked: its buffers are full
    time.sleep(0.1)
    for index in range(50):
        queue.put("TRANSFORM", "PointerToTracker", b"pointer %d" % index)
        queue.put("TRANSFORM", "ReferenceToTracker", b"reference %d" % index)
        queue.put("IMAGE", "Camera", b"frame %d" % index)
    assert queue.behind
    queue.sending(False)
    sent = []
    while (data := queue.get(0)) is not None:
        sent.append(data)
    assert sent[0] == b"note"  # never dropped
    assert b"pointer 49" in sent and b"reference 49" in sent
    assert sum(d.startswith(b"pointer") for d in sent) < 5
    assert [d for d in sent if d.startswith(b"frame")] == [b"frame 48", b"frame 49"]
    counts = queue.counts
    assert counts.images_dropped == 48 and counts.coalesced >= 90 and counts.fell_behind == 1
