"""The link under stress on real loopback sockets: a client that stops reading, descriptors
above 1023, a stream of bytes that never makes a message."""

from __future__ import annotations

import os
import resource
import socket
import threading
import time

import numpy as np
import pytest

from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_transport import IgtlClient, IgtlServer
from navigation.tracking.messages import IgtlMessage, ImageBody, StringBody, TransformBody
from tests.navigation.test_igtl_transport import no_thread_leaks, wait_for  # noqa: F401


def stream(server: IgtlServer, stop: threading.Event, seconds: float) -> None:
    """1000 TRANSFORM/s and 30 fps 1280x1024 uint16 IMAGE frames, for ``seconds``."""
    frame = np.random.default_rng(1).integers(0, 4096, (1, 1024, 1280), dtype=np.uint16)
    image = IgtlMessage("IMAGE", "NIRCamera", ImageBody(frame, np.eye(4)))
    start = time.monotonic()
    index = 0
    while not stop.is_set() and time.monotonic() - start < seconds:
        pose = IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(np.eye(4)), index + 1.0)
        server.send(pose)
        if index % 33 == 0:
            server.send(image)
        index += 1
        delay = start + index / 1000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)


@pytest.mark.slow
def test_one_client_that_stops_reading_delays_no_other_client(no_thread_leaks, caplog):  # noqa: F811
    server = IgtlServer(port=0, send_timeout_s=1.0).start()
    arrivals: list[float] = []
    good = IgtlClient(
        "127.0.0.1",
        server.port,
        on_message=lambda m: arrivals.append(m.arrival_s) if m.type == "TRANSFORM" else None,
    ).start()
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", server.port))  # and never reads
    stop = threading.Event()
    try:
        assert good.wait_connected(5) and server.wait_connected(5, count=2)
        producer = threading.Thread(target=stream, args=(server, stop, 4.0))
        started = time.monotonic()
        producer.start()
        producer.join()
        sent_for = time.monotonic() - started
        time.sleep(0.3)
    finally:
        stop.set()
        good.stop()
        server.stop()
        stalled.close()
    gaps = np.diff([started, *arrivals])
    assert len(arrivals) > 0.8 * 1000 * sent_for, f"{len(arrivals)} of ~{1000 * sent_for:.0f}"
    assert gaps.max() < 0.5, f"the good client waited {gaps.max():.2f} s for a pose"
    counters = server.counters
    assert counters.slow_peers == 1  # the stalled one, dropped once its send timed out
    assert "not reading" in caplog.text


@pytest.fixture
def descriptors_above_1023():
    """Use up descriptors so that the next sockets get numbers above 1023 (a long session or
    a GUI with many files open); restores the limit afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"the hard descriptor limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    fillers = []
    while not fillers or fillers[-1] < 1030:
        fillers.append(os.open(os.devnull, os.O_RDONLY))
    yield
    for fd in fillers:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_sockets_with_descriptors_above_1023_work(descriptors_above_1023):
    server = IgtlServer(port=0).start()
    client = IgtlClient("127.0.0.1", server.port).start()
    try:
        assert client.wait_connected(5) and server.wait_connected(5)
        for index in range(20):
            server.send(IgtlMessage("STRING", "S", StringBody(str(index))))
        texts = [client.get(timeout=5).body.text for _ in range(20)]
        client.send(IgtlMessage("STRING", "Back", StringBody("up")))
        assert server.get(timeout=5).body.text == "up"
        assert client._connection is not None and client._connection.sock.fileno() > 1023
    finally:
        client.stop()
        server.stop()
    assert texts == [str(i) for i in range(20)]
    assert client.counters.connects == 1 and client.counters.disconnects == 1


def test_bytes_that_never_make_a_valid_message_count_as_silence(no_thread_leaks):  # noqa: F811
    garbage = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    events: list[tuple[bool, float]] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = IgtlClient(
            "127.0.0.1",
            listener.getsockname()[1],
            silence_timeout_s=0.4,
            on_connection=lambda up, _peer: events.append((up, time.monotonic())),
        ).start()
        peer, _ = listener.accept()
        peer.sendall(encode_message(IgtlMessage("STRING", "S", StringBody("hello"))))
        stop = threading.Event()

        def babble() -> None:
            while not stop.is_set():
                try:
                    peer.sendall(garbage)
                except OSError:
                    return
                time.sleep(0.01)

        talker = threading.Thread(target=babble)
        talker.start()
        try:
            wait_for(lambda: len(events) >= 2, timeout=5)
            assert 0.4 <= events[1][1] - events[0][1] < 1.0
            assert "no valid message" in client.disconnect_reason
            assert client.counters.silence_disconnects == 1
        finally:
            stop.set()
            talker.join()
            client.stop()
            peer.close()
