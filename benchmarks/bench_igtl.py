"""OpenIGTLink transport benchmark: igcs' client against pyigtl's, same sender, same run.

A sender process (plain sockets, messages encoded once; the header timestamp, which the CRC
does not cover, is patched with ``time.monotonic()`` at each send) streams to a client in this
process. Latency is delivery time (our ``on_message`` callback; pyigtl's receive function
returning) minus that send time: socket to delivery, both processes on CLOCK_MONOTONIC.

Measured: TRANSFORM messages/s ingested (flood), p50/p99 latency with the sender paced at
1000 and 5000 messages/s, 1280x1024 uint16 IMAGE frames/s (flood), and CRC-64 of one frame.

Run: ``python benchmarks/bench_igtl.py`` (about 30 s).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyigtl  # noqa: E402

from navigation.tracking import igtl_wire as wire  # noqa: E402
from navigation.tracking.igtl_codec import decode_message, encode_message  # noqa: E402
from navigation.tracking.igtl_transport import IgtlClient  # noqa: E402
from navigation.tracking.messages import IgtlMessage, ImageBody, TransformBody  # noqa: E402

SENDER = r"""
import socket, struct, sys, time
sys.path.insert(0, sys.argv[5])
import numpy as np
from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.messages import IgtlMessage, ImageBody, TransformBody
kind, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
if kind == "transform":
    message = IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(np.eye(4)), 1.0)
else:
    frame = np.random.default_rng(0).integers(0, 4096, (1024, 1280), dtype=np.uint16)
    message = IgtlMessage("IMAGE", "NIRCamera", ImageBody(frame, np.eye(4)), 1.0)
data = bytearray(encode_message(message))
listener = socket.create_server(("127.0.0.1", int(sys.argv[4])))
print("READY", flush=True)
sock, _ = listener.accept()
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
start = time.monotonic()
for index in range(count):
    if rate > 0:  # sleep (not spin) until due: the sender must not take a core from the receiver
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    now = time.monotonic()
    seconds = int(now)
    data[34:42] = struct.pack(">Q", (seconds << 32) | int((now - seconds) * 4294967296.0))
    sock.sendall(data)
sock.recv(1)  # wait for the receiver to close
"""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_sender(kind: str, count: int, rate: float) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SENDER, kind, str(count), str(rate), str(port), str(ROOT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "READY"
    return process, port


class Recorder:
    """Collects (arrival, latency) per delivered message; ``done`` after ``count``."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.arrivals = np.zeros(count)
        self.latencies = np.zeros(count)
        self.received = 0
        self.done = threading.Event()

    def __call__(self, sent_s: float) -> None:
        if self.received < self.count:
            now = time.monotonic()
            self.arrivals[self.received] = now
            self.latencies[self.received] = now - sent_s
            self.received += 1
            if self.received == self.count:
                self.done.set()


def timeout(count: int, rate: float) -> float:
    return 30.0 + (count / rate if rate > 0 else 0.0)


def with_igcs(kind: str, count: int, rate: float) -> Recorder:
    recorder = Recorder(count)
    process, port = run_sender(kind, count, rate)
    client = IgtlClient("127.0.0.1", port, on_message=lambda m: recorder(m.timestamp_s))
    client.start()
    recorder.done.wait(timeout(count, rate))
    client.stop()
    process.wait()
    return recorder


def with_pyigtl(kind: str, count: int, rate: float) -> Recorder:
    recorder = Recorder(count)
    name = "PointerToTracker" if kind == "transform" else "NIRCamera"

    class CountingClient(pyigtl.OpenIGTLinkClient):  # type: ignore[misc]
        def _receive_message_from_socket(self, sock):  # type: ignore[no-untyped-def]
            received = super()._receive_message_from_socket(sock)
            if received:
                with self.lock_incoming_messages:
                    message = self.incoming_messages.get(name)
                recorder(message.timestamp)
            return received

    process, port = run_sender(kind, count, rate)
    client = CountingClient("127.0.0.1", port)
    recorder.done.wait(timeout(count, rate))
    client.stop()
    process.wait()
    return recorder


def throughput(recorder: Recorder) -> float:
    if recorder.received < 2:
        return 0.0
    span = recorder.arrivals[recorder.received - 1] - recorder.arrivals[0]
    return (recorder.received - 1) / span


def percentiles_ms(recorder: Recorder) -> tuple[float, float]:
    latencies = recorder.latencies[: recorder.received] * 1e3
    return float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99))


def best_of(repeats: int, run: Callable[[], Recorder]) -> Recorder:
    return max((run() for _ in range(repeats)), key=throughput)


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    for label, client in (("igcs", with_igcs), ("pyigtl 0.3.4", with_pyigtl)):
        flood = best_of(2, lambda c=client: c("transform", 20_000, 0))
        rows.append(
            (
                f"TRANSFORM ingest, flood ({label})",
                f"{throughput(flood):,.0f} msg/s",
                f"{flood.received}/20000 delivered",
            )
        )
        for rate in (1000, 5000):
            paced = client("transform", 5 * rate, rate)
            p50, p99 = percentiles_ms(paced)
            rows.append(
                (
                    f"TRANSFORM latency at {rate}/s ({label})",
                    f"p50 {p50:.3f} ms, p99 {p99:.3f} ms",
                    f"{paced.received}/{5 * rate} delivered",
                )
            )
        frames = client("image", 150, 0)
        p50, _ = percentiles_ms(frames)
        rows.append(
            (
                f"IMAGE 1280x1024 uint16, flood ({label})",
                f"{throughput(frames):.1f} frames/s",
                f"{frames.received}/150 delivered",
            )
        )
    frame = np.random.default_rng(0).integers(0, 4096, (1024, 1280), dtype=np.uint16)
    data = encode_message(IgtlMessage("IMAGE", "NIRCamera", ImageBody(frame, np.eye(4))))
    body = data[wire.HEADER_SIZE :]
    header = wire.parse_header(data)
    timings = {}
    for name, function in (
        ("CRC-64 of one frame (fastcrc)", lambda: wire.crc64(body)),
        ("CRC-64 of one frame (crcmod, pyigtl's)", lambda: pyigtl.messages.CRC64(body)),
        ("decode one frame (after CRC)", lambda: decode_message(header, body)),
        (
            "encode one frame",
            lambda: encode_message(IgtlMessage("IMAGE", "N", ImageBody(frame, np.eye(4)))),
        ),
        (
            "encode one TRANSFORM",
            lambda: encode_message(IgtlMessage("TRANSFORM", "T", TransformBody(np.eye(4)))),
        ),
    ):
        repeats = 20
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        timings[name] = (time.perf_counter() - start) / repeats
        rows.append((name, f"{timings[name] * 1e3:.3f} ms", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'result':<32}  note")
    print("-" * (width + 50))
    for name, result, note in rows:
        print(f"{name.ljust(width)}  {result:<32}  {note}")


if __name__ == "__main__":
    main()
