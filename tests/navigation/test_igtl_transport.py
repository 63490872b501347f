"""OpenIGTLink client and server on real loopback sockets: delivery, faults, shutdown."""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_transport import IgtlClient, IgtlServer, NotConnectedError
from navigation.tracking.messages import (
    IgtlMessage,
    ImageBody,
    RequestBody,
    StringBody,
    TransformBody,
)
from tests.navigation.igtl_samples import sample_messages
from tests.navigation.test_igtl_codec import assert_same

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll ``condition`` until true; returns the time it took, fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.001)
    return time.monotonic() - start


@pytest.fixture
def no_thread_leaks():
    before = set(threading.enumerate())
    yield
    wait_for(lambda: set(threading.enumerate()) <= before, timeout=2.0)


@pytest.fixture
def server(no_thread_leaks):
    srv = IgtlServer(port=0).start()
    yield srv
    srv.stop()


def connected_client(server: IgtlServer, **options) -> IgtlClient:
    client = IgtlClient("127.0.0.1", server.port, **options).start()
    assert client.wait_connected(5) and server.wait_connected(5)
    return client


def test_every_type_both_ways_every_message_in_order(server):
    hello = IgtlMessage("GET_STATUS", "", RequestBody("GET", "STATUS"), header_version=2)
    client = connected_client(server, header_version=2, requests_on_connect=(hello,))
    try:
        assert server.get(timeout=5).header_version == 2  # now the server may answer in v2
        samples = sample_messages()
        for message in samples:
            server.send(message, header_version=message.header_version)
            client.send(message, header_version=message.header_version)
        for message in samples:
            for received in (client.get(timeout=5), server.get(timeout=5)):
                assert_same(received, message)
                assert received.arrival_s <= time.monotonic()
        # Same device name, different types, many samples: all of them, in order.
        for index in range(500):
            server.send(IgtlMessage("TRANSFORM", "X", TransformBody(np.eye(4)), index + 1.0))
            if index % 100 == 0:
                server.send(IgtlMessage("STRING", "X", StringBody(f"note {index}")))
        received = [client.get(timeout=5) for _ in range(505)]
        stamps = [m.timestamp_s for m in received if m.type == "TRANSFORM"]
        assert stamps == [i + 1.0 for i in range(500)]
        assert [m.body.text for m in received if m.type == "STRING"] == [
            f"note {i}" for i in range(0, 500, 100)
        ]
        assert server.counters.messages_sent == len(samples) + 505
    finally:
        client.stop()


def test_full_resolution_frames_arrive_exactly(server):
    client = connected_client(server)
    try:
        frame = np.random.default_rng(5).integers(0, 65535, (1024, 1280), dtype=np.uint16)
        for _ in range(3):
            server.send(IgtlMessage("IMAGE", "NIRCamera", ImageBody(frame, np.eye(4))))
        for _ in range(3):
            np.testing.assert_array_equal(client.get(timeout=5).body.pixels[0], frame)
    finally:
        client.stop()


def test_header_split_across_segments_with_gaps(server):
    data = encode_message(IgtlMessage("TRANSFORM", "Split", TransformBody(np.eye(4))))
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = 0
        for cut in (1, 13, 40, 57, 58, 59, 80, len(data)):
            sock.sendall(data[sent:cut])
            sent = cut
            # each piece is read and buffered by the server before the next one is sent
            wait_for(lambda sent=sent: server.counters.framing.bytes_in == sent)
            if cut < len(data):
                with pytest.raises(queue.Empty):
                    server.get(timeout=0.02)
        assert server.get(timeout=5).device_name == "Split"


def test_queue_full_drops_oldest_and_counts(server):
    client = connected_client(server, queue_size=10)
    try:
        for index in range(100):
            server.send(IgtlMessage("STRING", "S", StringBody(str(index))))
        wait_for(lambda: client.counters.queue_dropped == 90)  # counted as the 100th arrives
        assert [client.get(timeout=5).body.text for _ in range(10)] == [
            str(i) for i in range(90, 100)
        ]
        assert client.drain() == [] and client.counters.queue_dropped == 90
    finally:
        client.stop()


def test_callbacks_get_every_message_and_a_failing_callback_is_counted(server):
    seen: list[str] = []

    def on_message(message: IgtlMessage) -> None:
        seen.append(message.body.text)
        if message.body.text == "boom":
            raise RuntimeError("consumer bug")

    client = connected_client(server, on_message=on_message)
    try:
        for text in ("a", "boom", "b"):
            server.send(IgtlMessage("STRING", "S", StringBody(text)))
        wait_for(lambda: len(seen) == 3)
        assert seen == ["a", "boom", "b"] and client.counters.callback_errors == 1
        with pytest.raises(RuntimeError, match="queue is disabled"):
            client.get(timeout=0)
    finally:
        client.stop()


def test_header_version_two_is_negotiated_like_plus(server):
    status = IgtlMessage(
        "TRANSFORM", "ToolToTracker", TransformBody(np.eye(4)), metadata={"TransformStatus": "OK"}
    )
    v1_client = connected_client(server)
    v2_client = IgtlClient(
        "127.0.0.1",
        server.port,
        header_version=2,
        requests_on_connect=(IgtlMessage("GET_STATUS", "", RequestBody("GET", "STATUS")),),
    ).start()
    try:
        assert v2_client.wait_connected(5)
        assert server.get(timeout=5).header_version == 2  # the v2 client's request
        assert server.send(status) == 2
        from_v1, from_v2 = v1_client.get(timeout=5), v2_client.get(timeout=5)
        assert from_v1.header_version == 1 and dict(from_v1.metadata) == {}
        assert from_v2.header_version == 2 and from_v2.metadata["TransformStatus"] == "OK"
    finally:
        v1_client.stop()
        v2_client.stop()


def test_server_binds_loopback_and_refuses_unexpected_hosts(no_thread_leaks):
    with IgtlServer(port=0, allowed_hosts=("127.0.0.2",)) as srv:
        assert srv.address[0] == "127.0.0.1"
        with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as refused:
            refused.settimeout(2)
            assert refused.recv(1) == b""  # closed at once
        assert srv.counters.refused == 1 and not srv.connected
        allowed = socket.socket()
        allowed.bind(("127.0.0.2", 0))
        allowed.connect(("127.0.0.1", srv.port))
        wait_for(lambda: srv.connected)
        assert srv.clients[0].startswith("127.0.0.2:")
        allowed.close()
    with IgtlServer(port=0, allowed_hosts=("::1",)) as srv:
        client = IgtlClient("127.0.0.1", srv.port, reconnect=False).start()
        wait_for(lambda: srv.counters.refused == 1)
        client.stop()


SERVER_SCRIPT = """
import sys, time
import numpy as np
from navigation.tracking.igtl_transport import IgtlServer
from navigation.tracking.messages import IgtlMessage, TransformBody
server = IgtlServer(port=int(sys.argv[1])).start()
print("READY", flush=True)
while True:
    server.send(IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(np.eye(4))))
    time.sleep(0.01)
"""


def start_server_process(port: int) -> tuple[subprocess.Popen, float]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "READY"
    return process, time.monotonic()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_server_killed_and_restarted(no_thread_leaks):
    port = free_port()
    events: list[tuple[bool, float]] = []
    process, _ = start_server_process(port)
    client = IgtlClient(
        "127.0.0.1", port, on_connection=lambda up, peer: events.append((up, time.monotonic()))
    ).start()
    try:
        assert client.wait_connected(5)
        client.get(timeout=5)
        process.kill()  # SIGKILL: no goodbye from the server
        killed_at = time.monotonic()
        process.wait()
        wait_for(lambda: not client.connected)
        down = next(t for up, t in events if not up)
        assert down - killed_at < 1.0
        with pytest.raises(NotConnectedError):
            client.send(IgtlMessage("STRING", "S", StringBody("x")))
        time.sleep(1.5)  # the server stays away for a while (stimulus, not a wait)
        assert not client.connected
        process, back_at = start_server_process(port)
        assert client.wait_connected(5)
        up_again = next(t for up, t in events if up and t > back_at)
        assert up_again - back_at < 1.0
        client.drain()
        assert client.get(timeout=5).device_name == "PointerToTracker"
    finally:
        client.stop()
        process.kill()
        process.wait()
    assert client.counters.connects >= 2 and client.counters.disconnects >= 2


def test_peer_closing_mid_body_is_a_clean_disconnect(no_thread_leaks):
    data = encode_message(IgtlMessage("STRING", "S", StringBody("never complete")))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        events: list[bool] = []
        client = IgtlClient(
            "127.0.0.1",
            listener.getsockname()[1],
            reconnect=False,
            on_connection=lambda up, peer: events.append(up),
        ).start()
        peer, _ = listener.accept()
        peer.sendall(data[:70])
        wait_for(lambda: client.counters.framing.bytes_in == 70)
        peer.close()
        wait_for(lambda: events == [True, False])
        started = time.monotonic()
        client.stop()
        assert time.monotonic() - started < 1.0
    assert client.counters.framing.messages == 0 and client.drain() == []


def test_silence_timeout_drops_a_mute_peer_and_reconnects(no_thread_leaks):
    """A mute peer (what the kernel's handshake gives for a frozen server) is dropped after the
    silence and reconnected, and never shows the link up; a peer that speaks is up from its
    first message and down after the silence that follows."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        events: list[tuple[bool, float]] = []
        client = IgtlClient(
            "127.0.0.1",
            listener.getsockname()[1],
            silence_timeout_s=0.3,
            on_connection=lambda up, peer: events.append((up, time.monotonic())),
        ).start()
        first, _ = listener.accept()
        began = time.monotonic()
        second, _ = listener.accept()  # the mute link was dropped, and it came back
        assert time.monotonic() - began >= 0.3
        assert events == [] and not client.connected and not client.wait_connected(0.0)
        assert client.counters.silence_disconnects == 1
        pose = IgtlMessage("TRANSFORM", "ToolToTracker", TransformBody(np.eye(4)), 1.0)
        second.sendall(encode_message(pose))
        wait_for(lambda: len(events) == 2)  # up at the message, down after the silence
        assert [up for up, _ in events] == [True, False]
        assert 0.3 <= events[1][1] - events[0][1] < 1.0
        assert client.drain()[0].device_name == "ToolToTracker"
        client.stop()
        first.close()
        second.close()


def test_stop_is_fast_with_connected_peers_and_leaves_no_threads(no_thread_leaks):
    server = IgtlServer(port=0).start()
    clients = [connected_client(server) for _ in range(3)]
    wait_for(lambda: len(server.clients) == 3)
    started = time.monotonic()
    server.stop()
    for client in clients:
        client.stop()
    assert time.monotonic() - started < 1.0
