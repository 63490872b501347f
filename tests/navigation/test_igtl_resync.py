"""Resynchronisation under stress: linear cost, over-cap messages of undecoded types skipped by
their size, false locks on look-alike headers undone, legitimate large bodies untouched.

CPU is measured with ``time.thread_time`` (this thread only), with margins for a shared
machine; the figures per MiB are in ``benchmarks/bench_igtl_stress.py``.
"""

from __future__ import annotations

import socket
import struct
import time

import numpy as np

from navigation.tracking import igtl_wire as wire
from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_framing import IgtlFramer
from navigation.tracking.igtl_transport import IgtlClient
from navigation.tracking.messages import IgtlMessage, ImageBody, TransformBody
from tests.navigation.igtl_samples import rigid

CHUNK = 64 * 1024


def poses(count: int, start: int = 0) -> list[bytes]:
    return [
        encode_message(
            IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(rigid(i)), 1.7e9 + i)
        )
        for i in range(start, start + count)
    ]


def feed_chunks(framer: IgtlFramer, data: bytes, cpu_budget_s: float) -> tuple[list, float]:
    """Feed ``data`` in socket-sized chunks; stop early once over the CPU budget."""
    out: list = []
    started = time.thread_time()
    for offset in range(0, len(data), CHUNK):
        out += framer.feed(data[offset : offset + CHUNK])
        if time.thread_time() - started > cpu_budget_s:
            break
    return out, time.thread_time() - started


def look_alike_garbage(size: int, rng: np.random.Generator) -> bytes:
    """Bytes full of version marks, most followed by a capital letter, the rest of a header
    wrong: every few bytes a candidate to test (the worst case for a header scan)."""
    pieces = (b"\x00\x01T", b"\x00\x01", b"\x00\x01IM", b"xy", b"\x00")
    chosen = rng.integers(0, len(pieces), size // 2)
    return b"".join(pieces[i] for i in chosen)[:size]


def polydata(body_size: int) -> bytes:
    """A message of a type we do not decode (POLYDATA), body of small big-endian integers
    (point ids, as a mesh carries: full of ``00 01`` / ``00 02`` pairs)."""
    body = (np.arange(body_size // 2) % 3).astype(">u2").tobytes()
    return wire.pack_header(1, "POLYDATA", "Skin", 1.7e9, body) + body


def test_an_over_cap_message_of_an_undecoded_type_is_skipped_by_its_declared_size():
    big = polydata(20 * 1024 * 1024)  # over the 16 MiB cap for undecoded types
    after = poses(3)
    framer = IgtlFramer()
    out, cpu = feed_chunks(framer, poses(1, 100)[0] + big + b"".join(after), cpu_budget_s=5.0)
    assert [m.timestamp_s for m in out] == [1.7e9 + i for i in (100, 0, 1, 2)]
    counters = framer.counters
    assert counters.skipped_messages == 1 and counters.bad_headers == 0
    assert counters.skipped_bytes == len(big)
    assert cpu < 2.0, f"{cpu:.2f} s of CPU to skip 20 MiB"
    assert framer.buffered == 0


def test_resynchronising_through_1_mib_of_look_alike_garbage_is_linear(rng):
    garbage = look_alike_garbage(1024 * 1024, rng)
    framer = IgtlFramer()
    out, cpu = feed_chunks(framer, b"".join(poses(2)) + garbage + b"".join(poses(3, 2)), 5.0)
    assert [m.timestamp_s for m in out] == [1.7e9 + i for i in range(5)]
    assert framer.counters.skipped_bytes == len(garbage)
    assert cpu < 2.0, f"{cpu:.2f} s of CPU for 1 MiB of garbage"


def test_random_garbage_costs_milliseconds_per_mib(rng):
    garbage = rng.integers(0, 256, 4 * 1024 * 1024, dtype=np.uint8).tobytes()
    framer = IgtlFramer()
    out, cpu = feed_chunks(framer, garbage + poses(1)[0], 5.0)
    assert len(out) == 1 and cpu < 0.5


def fake_image_header(body_size: int = 300_000_000) -> bytes:
    """58 bytes that look like an IMAGE header claiming a body of a few hundred MB."""
    return struct.pack(">H12s20sQQQ", 1, b"IMAGE", b"NIRCamera", 0, body_size, 0)


def test_a_fake_in_range_header_in_sync_does_not_swallow_the_valid_traffic():
    valid = poses(477)
    framer = IgtlFramer()
    out, _ = feed_chunks(framer, valid[0] + fake_image_header() + b"".join(valid[1:]), 5.0)
    assert len(out) == 477  # nothing swallowed
    assert framer.counters.false_locks == 1 and framer.counters.skipped_bytes == 58


def test_a_fake_header_met_while_resynchronising_does_not_swallow_the_traffic(rng):
    junk = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    valid = poses(477)
    for fake in (
        fake_image_header(),
        # a v1 POINT list of 2 MB: in range, and nothing in its content can confirm it
        struct.pack(">H12s20sQQQ", 1, b"POINT", b"Fiducials", 0, 136 * 15000, 0),
        # an undecoded type over the cap: skipped by size, so also on probation
        struct.pack(">H12s20sQQQ", 1, b"POLYDATA", b"Skin", 0, 2**40, 0),
    ):
        framer = IgtlFramer()
        out, _ = feed_chunks(framer, junk + fake + b"".join(valid), 5.0)
        assert len(out) == 477, fake[2:14]
        assert framer.buffered == 0


def test_legitimate_large_bodies_are_not_mistaken_for_false_locks(rng):
    frame = rng.integers(0, 4096, (1024, 1280), dtype=np.uint16)
    image = IgtlMessage("IMAGE", "NIRCamera", ImageBody(frame[np.newaxis], np.eye(4)))
    mesh = polydata(3 * 1024 * 1024)  # under the cap: delivered raw
    for version in (1, 2):
        stream = encode_message(image, header_version=version) + mesh + poses(1)[0]
        framer = IgtlFramer()
        out, _ = feed_chunks(framer, stream, 10.0)
        assert [m.type for m in out] == ["IMAGE", "POLYDATA", "TRANSFORM"]
        np.testing.assert_array_equal(out[0].body.pixels[0], frame)
        assert out[1].body == mesh[wire.HEADER_SIZE :]
        assert framer.counters.skipped_bytes == framer.counters.bad_crc == 0


def test_through_a_socket_valid_traffic_resumes_within_a_second_of_its_arrival():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = IgtlClient("127.0.0.1", listener.getsockname()[1]).start()
        peer, _ = listener.accept()
        try:
            peer.sendall(poses(1)[0] + fake_image_header())
            time.sleep(0.1)
            sent_at = time.monotonic()
            peer.sendall(b"".join(poses(50, 1)))
            first = client.get(timeout=2.0)
            second = client.get(timeout=2.0)
            assert first.timestamp_s == 1.7e9 and second.timestamp_s == 1.7e9 + 1
            assert second.arrival_s - sent_at < 1.0
        finally:
            client.stop()
            peer.close()
