"""Fuzz: >= 10,000 malformed streams; no crash, no hang, bounded memory, recovery.

Each case is a malformed stream ``junk`` built from real messages (random bytes, truncations,
bit flips, huge sizes, v1/v2 mix-ups, bad UTF-8, corrupt metadata, NaN matrices, unknown types)
fed in random splits. Recovery is the framer's documented guarantee: once the body its current
header claims is complete (``awaiting`` bytes, bounded by the type's cap), the next good
message arrives intact. Most cases drive the framer directly; a few hundred go through a real
socket to an :class:`IgtlServer`.
"""

from __future__ import annotations

import logging
import socket
import struct
import time

import numpy as np
import pytest

from navigation.tracking import igtl_wire as wire
from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_framing import IgtlFramer
from navigation.tracking.igtl_transport import IgtlServer
from navigation.tracking.messages import IgtlMessage, StringBody, TransformBody
from tests.navigation.igtl_samples import sample_messages

CASES = 10_500
SOCKET_CASES = 300
SENTINEL = encode_message(IgtlMessage("STRING", "Sentinel", StringBody("still in sync")))
_SAMPLES = [encode_message(m) for m in sample_messages()] + [
    encode_message(m, header_version=2) for m in sample_messages()[:8]
]
_MAX_BUFFER = max(wire.body_cap(t, 2) for t in ("TRANSFORM", "STRING", "TDATA", "POINT")) + 2**16


def _with_body(template: bytes, body: bytes, *, version: int | None = None) -> bytes:
    """``template``'s header over ``body`` with a correct size and CRC (a well-formed frame)."""
    header = wire.parse_header(template)
    return (
        wire.pack_header(version or header.version, header.type, header.device_name, 0.0, body)
        + body
    )


def _mutate(rng: np.random.Generator, kind: int) -> bytes:
    sample = _SAMPLES[rng.integers(len(_SAMPLES))]
    body = sample[wire.HEADER_SIZE :]
    match kind:
        case 0:  # random bytes
            return rng.integers(0, 256, rng.integers(0, 400), dtype=np.uint8).tobytes()
        case 1:  # truncation
            return sample[: rng.integers(0, len(sample))]
        case 2:  # bit flips anywhere (header or body)
            data = bytearray(sample)
            for _ in range(rng.integers(1, 4)):
                data[rng.integers(len(data))] ^= 1 << rng.integers(8)
            return bytes(data)
        case 3:  # bad CRC only
            data = bytearray(sample)
            data[50] ^= 0xFF
            return bytes(data)
        case 4:  # huge or oversize body sizes
            data = bytearray(sample)
            sizes = [2**63, 2**64 - 1, 2**32, len(body) + 1, 10**9]
            size = sizes[rng.integers(len(sizes))]
            data[42:50] = struct.pack(">Q", size)
            return bytes(data)
        case 5:  # v1/v2 mix-ups with a correct CRC
            header = wire.parse_header(sample)
            return _with_body(sample, body, version=3 - header.version)
        case 6:  # bad UTF-8 in a STRING or a metadata value
            text = b"ok \xff\xfe\xc3"
            if rng.integers(2):
                return _with_body(_SAMPLES[10], struct.pack(">HH", 106, len(text)) + text)
            meta = struct.pack(">HHHI", 1, 3, 106, len(text)) + b"key" + text
            extended = struct.pack(">HHII", 12, 10, 3 + len(text), 0)
            return _with_body(_SAMPLES[1], extended + body[12:60] + meta, version=2)
        case 7:  # corrupt metadata lengths
            if not wire.parse_header(sample).version == 2:
                sample = _SAMPLES[1]
            body = bytearray(sample[wire.HEADER_SIZE :])
            offset = [2, 4, 6, len(body) - 5][rng.integers(4)]
            body[offset] ^= 1 << rng.integers(8)
            return _with_body(sample, bytes(body), version=2)
        case 8:  # NaN/Inf matrices (well-formed: must be delivered, flagged by NaN values)
            matrix = np.eye(4)
            matrix[rng.integers(3), rng.integers(4)] = rng.choice([np.nan, np.inf, -np.inf])
            return encode_message(IgtlMessage("TRANSFORM", "NaNTool", TransformBody(matrix)))
        case 9:  # unknown or garbage type names with a correct CRC
            name = rng.choice([b"FOO_BAR", b"bad type", b"\xff\xfe", b"", b"RTS_X"])
            header = bytearray(sample[: wire.HEADER_SIZE])
            header[2:14] = name.ljust(12, b"\0")[:12]
            return bytes(header) + body
        case _:  # several malformed pieces back to back
            return b"".join(_mutate(rng, int(k)) for k in rng.integers(0, 10, 3))


def _feed_in_random_splits(framer: IgtlFramer, data: bytes, rng: np.random.Generator) -> list:
    cuts = np.sort(rng.integers(0, len(data) + 1, rng.integers(0, 4)))
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        out += framer.feed(data[start:end])
        assert framer.buffered <= _MAX_BUFFER
    return out


def _recover(framer: IgtlFramer) -> tuple[list, int]:
    """Complete any claimed body, then send the sentinel until it arrives (at most 3 times).

    Returns the messages and the number of sentinels lost. With nothing left buffered the
    first sentinel must arrive; bytes of a header cut short (a stream truncated inside a
    header, then continued) may take the next message's bytes as their own, so that message
    can be lost, as in any TCP framing; the stream is back in sync right after.
    """
    out: list = []
    for attempt in range(3):
        out += framer.feed(bytes(framer.awaiting))
        clean = framer.buffered == 0
        out += framer.feed(SENTINEL)
        if out and out[-1].device_name == "Sentinel":
            return out, attempt
        assert not clean, "a sentinel after a clean buffer was lost"
    raise AssertionError("the stream did not resynchronise within 3 messages")


@pytest.fixture(autouse=True)
def quiet_drop_warnings(caplog):
    """Each dropped message is logged (5 per link); thousands of links here would flood."""
    caplog.set_level(logging.ERROR, logger="navigation.tracking")


@pytest.mark.slow
def test_ten_thousand_malformed_streams_never_crash_hang_or_desynchronise():
    rng = np.random.default_rng(20261125)
    start = time.monotonic()
    kinds_seen = np.zeros(11, int)
    nan_delivered = lost_sentinels = 0
    for case in range(CASES):
        kind = case % 11
        junk = _mutate(rng, kind)
        framer = IgtlFramer()
        out = _feed_in_random_splits(framer, junk, rng)
        recovered, lost = _recover(framer)
        out += recovered
        lost_sentinels += lost
        assert out[-1].body == StringBody("still in sync")
        kinds_seen[kind] += 1
        if kind == 8:
            assert out[0].device_name == "NaNTool" and not np.isfinite(out[0].body.matrix).all()
            nan_delivered += 1
    assert kinds_seen.min() > 900 and nan_delivered > 900
    assert lost_sentinels < CASES // 20, lost_sentinels  # only after streams cut in a header
    assert time.monotonic() - start < 60


def test_splits_at_every_offset_of_a_malformed_stream_recover():
    rng = np.random.default_rng(7)
    junk = _mutate(rng, 2) + _mutate(rng, 4) + _mutate(rng, 5)
    stream = junk + SENTINEL
    expected = [m.device_name for m in IgtlFramer().feed(stream)]
    for cut in range(len(stream) + 1):
        framer = IgtlFramer()
        out = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert [m.device_name for m in out] == expected


@pytest.fixture
def server():
    srv = IgtlServer(port=0, queue_size=100_000).start()
    yield srv
    srv.stop()


def test_malformed_streams_through_a_real_socket(server):
    rng = np.random.default_rng(99)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mirror = IgtlFramer()  # the same framing locally tells how much the server awaits
        for case in range(SOCKET_CASES):
            junk = _mutate(rng, case % 11)
            expected = mirror.feed(junk)
            tail = b""
            for _ in range(3):  # as _recover: filler, sentinel, until the sentinel is out
                filler = bytes(mirror.awaiting)
                expected += mirror.feed(filler) + mirror.feed(SENTINEL)
                tail += filler + SENTINEL
                if expected and expected[-1].device_name == "Sentinel":
                    break
            sock.sendall(junk + tail)
            received = [server.get(timeout=5) for _ in expected]
            assert [m.device_name for m in received] == [m.device_name for m in expected]
            assert received[-1].device_name == "Sentinel"
    assert server.counters.framing.messages == mirror.counters.messages
    assert server.counters.framing.bad_crc == mirror.counters.bad_crc > 0
    assert server.counters.framing.resyncs == mirror.counters.resyncs > 0
