"""Incremental framing: any TCP split, bad CRC, huge sizes, resynchronisation, counters."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np

from navigation.tracking import igtl_wire as wire
from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.igtl_framing import IgtlFramer
from navigation.tracking.messages import IgtlMessage, StringBody, TransformBody
from tests.navigation.igtl_samples import sample_messages
from tests.navigation.test_igtl_codec import assert_same


def stream_of_samples() -> tuple[list[IgtlMessage], bytes]:
    messages = sample_messages()
    return messages, b"".join(encode_message(m) for m in messages)


def test_split_at_every_offset_gives_every_message_once():
    messages = [sample_messages()[i] for i in (1, 4, 6, 11, 12)]  # v2 TRANSFORM, TDATA, ...
    stream = b"".join(encode_message(m) for m in messages)
    for cut in range(len(stream) + 1):
        framer = IgtlFramer()
        out = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert [m.device_name for m in out] == [m.device_name for m in messages], cut
    assert framer.counters.messages == len(messages)
    assert framer.counters.bad_crc == framer.counters.skipped_bytes == 0


def test_one_byte_at_a_time_and_random_chunks(rng):
    messages, stream = stream_of_samples()
    framer = IgtlFramer()
    out = []
    for index in range(len(stream)):
        out += framer.feed(stream[index : index + 1])
    for received, sent in zip(out, messages, strict=True):
        assert_same(received, sent)
    cuts = np.sort(rng.integers(0, len(stream), 40))
    framer = IgtlFramer()
    out = [
        m
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)
        for m in framer.feed(stream[a:b])
    ]
    assert len(out) == len(messages)


def test_bad_crc_drops_that_message_and_rescans_its_bytes():
    first, second, third = (
        encode_message(IgtlMessage("STRING", f"S{i}", StringBody(f"text {i}"))) for i in range(3)
    )
    corrupt = bytearray(second)
    corrupt[-1] ^= 0x40
    framer = IgtlFramer()
    out = framer.feed(first + bytes(corrupt) + third)
    assert [m.device_name for m in out] == ["S0", "S2"]
    # A bad CRC may mean a bad size: the message's bytes are scanned, not trusted.
    assert framer.counters.bad_crc == 1 and framer.counters.skipped_bytes == len(second)


def test_huge_body_size_is_refused_without_allocating_and_the_stream_resyncs():
    good = encode_message(IgtlMessage("TRANSFORM", "T", TransformBody(np.eye(4))))
    for claimed in (2**63, 2**64 - 1, 49, wire.body_cap("IMAGE", 2) + 1):
        huge = bytearray(good)
        huge[2:11] = b"IMAGE\0\0\0\0" if claimed > 49 else huge[2:11]
        huge[42:50] = struct.pack(">Q", claimed)
        tracemalloc.start()
        framer = IgtlFramer()
        out = framer.feed(bytes(huge) + bytes(1_000_000) + good)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert [m.device_name for m in out] == ["T"]
        assert framer.counters.oversize == 1 and framer.counters.resyncs == 1
        assert peak < 8_000_000  # the 1 MB of filler, a few copies; never the claim
        assert framer.buffered == 0


def test_garbage_before_and_between_messages_is_skipped_and_counted(rng):
    good = encode_message(IgtlMessage("STRING", "S", StringBody("hello")))
    junk = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    framer = IgtlFramer()
    out = framer.feed(junk + good + junk + good)
    assert [m.body.text for m in out] == ["hello", "hello"]
    counters = framer.counters
    assert counters.skipped_bytes == 2 * len(junk) and counters.resyncs >= 2


def test_mixed_up_header_versions_are_dropped_and_the_next_message_arrives():
    v2 = encode_message(IgtlMessage("STRING", "A", StringBody("x"), header_version=2))
    body = v2[wire.HEADER_SIZE :]
    as_v1 = wire.pack_header(1, "STRING", "A", 0.0, body) + body  # v1 header over a v2 body
    good = encode_message(IgtlMessage("STRING", "B", StringBody("y")))
    framer = IgtlFramer()
    out = framer.feed(as_v1 + good)
    # A v2 body read as v1 STRING: encoding 12, length 5 -> "bytes are not valid" or misread;
    # ours refuses it as malformed rather than delivering a wrong string.
    assert [m.device_name for m in out] == ["B"]
    assert framer.counters.malformed == 1


def test_unknown_types_pass_through_raw_and_are_counted():
    raw = encode_message(IgtlMessage("NDARRAY", "N", b"\x00\x01payload"))
    framer = IgtlFramer()
    (message,) = framer.feed(raw)
    assert message.body == b"\x00\x01payload" and framer.counters.unknown_types == 1


def test_arrival_time_is_the_feed_that_completed_the_message():
    good = encode_message(IgtlMessage("STRING", "S", StringBody("hello")))
    framer = IgtlFramer()
    assert framer.feed(good[:30], arrival_s=1.0) == []
    (message,) = framer.feed(good[30:], arrival_s=2.5)
    assert message.arrival_s == 2.5
