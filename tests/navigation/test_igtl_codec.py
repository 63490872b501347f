"""OpenIGTLink codec: round trips of every type, byte-exact against pyigtl, spec details."""

from __future__ import annotations

import dataclasses
import math
import struct

import numpy as np
import pyigtl
import pytest

from navigation.tracking import igtl_wire as wire
from navigation.tracking.igtl_codec import MalformedMessage, decode_message, encode_message
from navigation.tracking.messages import (
    IgtlMessage,
    ImageBody,
    PointBody,
    PointElement,
    PositionBody,
    StatusBody,
    StringBody,
    TransformBody,
)
from registration.core.checks import InputError
from tests.navigation.igtl_samples import TIMESTAMP_S, rigid, sample_messages


def decode_bytes(data: bytes) -> IgtlMessage:
    header = wire.parse_header(data)
    body = data[wire.HEADER_SIZE :]
    assert header.body_size == len(body)
    assert wire.crc64(body) == header.crc
    return decode_message(header, body)


def assert_same(a: object, b: object) -> None:
    """Deep equality of decoded messages (arrays compared exactly, NaN equal to NaN)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b)
        for field in dataclasses.fields(a):
            if field.compare and field.name != "arrival_s":
                assert_same(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    elif isinstance(a, tuple | list):
        assert len(a) == len(b)  # type: ignore[arg-type]
        for x, y in zip(a, b, strict=True):  # type: ignore[call-overload]
            assert_same(x, y)
    elif hasattr(a, "items"):
        assert dict(a) == dict(b)  # type: ignore[call-overload]
    else:
        assert a == b


@pytest.mark.parametrize("message", sample_messages(), ids=lambda m: f"{m.type}-{m.device_name}")
def test_every_type_round_trips(message):
    decoded = decode_bytes(encode_message(message))
    assert_same(decoded, message)
    assert math.isnan(decoded.arrival_s)
    # Decoded arrays are read-only: a consumer cannot corrupt what others share.
    for array in arrays_in(decoded.body):
        assert not array.flags.writeable


def arrays_in(value: object) -> list[np.ndarray]:
    if isinstance(value, np.ndarray):
        return [value]
    if dataclasses.is_dataclass(value):
        return [a for f in dataclasses.fields(value) for a in arrays_in(getattr(value, f.name))]
    if isinstance(value, tuple):
        return [a for item in value for a in arrays_in(item)]
    return []


def test_crc64_is_ecma182_as_in_the_spec():
    assert wire.crc64(b"123456789") == 0x6C40DF5F0B497347
    from pyigtl.messages import CRC64

    data = np.random.default_rng(3).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    assert wire.crc64(data) == CRC64(data)


def test_transform_bytes_equal_pyigtl():
    matrix = rigid(7)
    ours = encode_message(IgtlMessage("TRANSFORM", "StylusToTracker", TransformBody(matrix), 12.5))
    theirs = pyigtl.TransformMessage(matrix, timestamp=12.5, device_name="StylusToTracker")
    assert ours == theirs.pack()


def test_v2_metadata_bytes_equal_pyigtl_and_decode():
    matrix = rigid(8)
    theirs = pyigtl.TransformMessage(matrix, timestamp=TIMESTAMP_S, device_name="PointerToTracker")
    theirs.header_version = 2
    theirs.metadata = {"TransformStatus": "INVALID", "Key": "value"}
    theirs.message_id = 77
    ours = encode_message(
        IgtlMessage(
            "TRANSFORM",
            "PointerToTracker",
            TransformBody(matrix),
            TIMESTAMP_S,
            header_version=2,
            metadata={"TransformStatus": "INVALID", "Key": "value"},
            message_id=77,
        )
    )
    assert ours == theirs.pack()
    decoded = decode_bytes(ours)
    assert decoded.metadata["TransformStatus"] == "INVALID"
    assert decoded.message_id == 77 and decoded.header_version == 2


def test_image_point_string_bytes_equal_pyigtl():
    pixels = np.random.default_rng(1).integers(0, 4000, (1, 6, 8), dtype=np.uint16)
    world = np.diag([0.2, 0.2, 1.0, 1.0])
    world[:3, 3] = [1.0, 2.0, 3.0]
    ours = encode_message(IgtlMessage("IMAGE", "Cam", ImageBody(pixels, world, "RAS"), 5.0))
    theirs = pyigtl.ImageMessage(
        pixels,
        ijk_to_world_matrix=world,
        world_coordinate_system="ras",
        timestamp=5.0,
        device_name="Cam",
    )
    assert ours == theirs.pack()
    point = PointElement("P", "G", (1, 2, 3, 4), np.array([1.0, 2.0, 3.0]), 1.5, "O")
    ours = encode_message(IgtlMessage("POINT", "Pts", PointBody((point,)), 5.0))
    theirs = pyigtl.PointMessage(
        positions=[1, 2, 3],
        names="P",
        groups="G",
        rgba_colors=[1, 2, 3, 4],
        diameters=1.5,
        owners="O",
        timestamp=5.0,
        device_name="Pts",
    )
    assert ours == theirs.pack()
    ours = encode_message(IgtlMessage("STRING", "S", StringBody("ascii text", 3), 5.0))
    assert ours == pyigtl.StringMessage("ascii text", timestamp=5.0, device_name="S").pack()


def test_image_origin_is_voxel_centre_zero_not_the_wire_centre():
    """A 2-D frame 640x480 at 0.1 mm, centre at (10, 20, 30): voxel (0,0,0) is half the field
    of view minus half a pixel away from the centre."""
    content = struct.pack(
        ">HBBBB3H12f6H",
        1,
        1,
        3,
        2,
        1,
        640,
        480,
        1,
        0.1,
        0,
        0,
        0,
        0.1,
        0,
        0,
        0,
        1.0,
        10,
        20,
        30,
        0,
        0,
        0,
        640,
        480,
        1,
    ) + bytes(640 * 480)
    data = wire.pack_header(1, "IMAGE", "Frame", 0.0, content) + content
    image = decode_bytes(data).body
    assert image.pixels.shape == (1, 480, 640)
    np.testing.assert_allclose(
        image.world_from_ijk[:3, 3], [10 - 0.1 * 639 / 2, 20 - 0.1 * 479 / 2, 30], atol=1e-5
    )
    centre = image.world_from_ijk @ [639 / 2, 479 / 2, 0, 1]
    np.testing.assert_allclose(centre[:3], [10, 20, 30], atol=1e-5)


def test_sub_volume_and_big_endian_and_rgb_images_decode():
    values = (np.arange(2 * 3).reshape(1, 2, 3) + 300).astype(">u2")
    content = (
        struct.pack(
            ">HBBBB3H12f6H",
            1,
            1,
            5,
            1,
            2,
            10,
            10,
            1,
            1,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            4,
            5,
            0,
            3,
            2,
            1,
        )
        + values.tobytes()
    )
    image = decode_bytes(wire.pack_header(1, "IMAGE", "Sub", 0.0, content) + content).body
    np.testing.assert_array_equal(image.pixels, values)
    assert image.pixels.dtype == np.dtype("=u2") and image.coordinate_system == "LPS"
    # origin of the sub-volume = voxel (4, 5, 0) of a 10x10 image centred on 0: -4.5 + 4, -4.5 + 5
    np.testing.assert_allclose(image.world_from_ijk[:3, 3], [-0.5, 0.5, 0.0])
    rgb = np.random.default_rng(2).integers(0, 255, (1, 4, 5, 3), dtype=np.uint8)
    message = IgtlMessage("IMAGE", "RGB", ImageBody(rgb, np.eye(4)))
    assert_same(decode_bytes(encode_message(message)).body.pixels, rgb)


def test_two_dimensional_frames_are_sent_as_one_slice_volumes():
    frame = np.arange(1280 * 1024, dtype=np.uint16).reshape(1024, 1280)
    decoded = decode_bytes(encode_message(IgtlMessage("IMAGE", "NIR", ImageBody(frame, np.eye(4)))))
    assert decoded.body.pixels.shape == (1, 1024, 1280)
    np.testing.assert_array_equal(decoded.body.pixels[0], frame)


def test_position_variants_of_the_spec():
    for quaternion in ([0.5, -0.5, 0.5, 0.5], None):
        message = IgtlMessage(
            "POSITION",
            "P",
            PositionBody(np.array([1.0, 2.0, 3.0]), quaternion and np.array(quaternion)),
        )
        assert_same(decode_bytes(encode_message(message)), message)
    # 24-byte variant: the quaternion's x, y, z only; w = sqrt(1 - x^2 - y^2 - z^2).
    content = struct.pack(">6f", 1, 2, 3, 0.5, -0.5, 0.5)
    body = decode_bytes(wire.pack_header(1, "POSITION", "P", 0.0, content) + content).body
    np.testing.assert_array_equal(body.quaternion_xyzw, [0.5, -0.5, 0.5, 0.5])
    content = struct.pack(">5f", 1, 2, 3, 4, 5)
    with pytest.raises(MalformedMessage, match="POSITION content is 20 bytes"):
        decode_bytes(wire.pack_header(1, "POSITION", "P", 0.0, content) + content)


def test_nan_matrices_decode_unchanged_for_the_pose_store_to_reject():
    matrix = np.eye(4)
    matrix[0, 3] = np.nan
    matrix[1, 1] = np.inf
    decoded = decode_bytes(encode_message(IgtlMessage("TRANSFORM", "T", TransformBody(matrix))))
    assert np.isnan(decoded.body.matrix[0, 3]) and np.isinf(decoded.body.matrix[1, 1])


def test_utf8_and_ascii_strings_and_bad_utf8():
    for text, encoding in (("Zürich ✓", 106), ("plain", 3)):
        decoded = decode_bytes(
            encode_message(IgtlMessage("STRING", "S", StringBody(text, encoding)))
        )
        assert decoded.body == StringBody(text, encoding)
    with pytest.raises(InputError, match="cannot be encoded as ascii"):
        encode_message(IgtlMessage("STRING", "S", StringBody("Zürich", 3)))
    content = struct.pack(">HH", 106, 3) + b"\xff\xfe\xfd"
    with pytest.raises(MalformedMessage, match="not valid utf-8"):
        decode_bytes(wire.pack_header(1, "STRING", "S", 0.0, content) + content)


def test_device_names_round_trip_or_are_refused_never_truncated():
    for name in ("Zeigerspitze→Ref", "x" * 20, "日本語のツール"[:6]):
        decoded = decode_bytes(encode_message(IgtlMessage("STRING", name, StringBody("a"))))
        assert decoded.device_name == name
    with pytest.raises(InputError, match="21 bytes in UTF-8 but OpenIGTLink allows 20"):
        encode_message(IgtlMessage("STRING", "PointerToTrackerXXXXX", StringBody("a")))
    with pytest.raises(InputError, match="allows 20"):
        encode_message(IgtlMessage("STRING", "ÄÄÄÄÄÄÄÄÄÄÄ", StringBody("a")))  # 22 bytes
    with pytest.raises(InputError, match="TDATA element name"):
        from navigation.tracking.messages import TrackingDataBody, TrackingElement

        body = TrackingDataBody((TrackingElement("N" * 21, 2, np.eye(4)),))
        encode_message(IgtlMessage("TDATA", "T", body))
    # Undecodable bytes in a received name survive a decode/encode round trip exactly.
    data = bytearray(encode_message(IgtlMessage("STRING", "ab", StringBody("a"))))
    data[16:18] = b"\xff\xfe"
    decoded = decode_bytes(bytes(data))
    assert encode_message(decoded) == bytes(data)


def test_metadata_values_in_utf8_and_corrupt_metadata_sizes():
    message = IgtlMessage(
        "STATUS", "D", StatusBody(1, 0, "", "ok"), header_version=2, metadata={"Ort": "Zürich"}
    )
    assert decode_bytes(encode_message(message)).metadata == {"Ort": "Zürich"}
    content = encode_message(message)[wire.HEADER_SIZE :]
    corrupt = bytearray(content)
    corrupt[2:4] = struct.pack(">H", 1000)  # metadata header size beyond the body
    with pytest.raises(MalformedMessage, match="exceed the body"):
        decode_bytes(wire.pack_header(2, "STATUS", "D", 0.0, bytes(corrupt)) + bytes(corrupt))


def test_v1_v2_mix_ups_are_malformed_not_misread():
    v2 = encode_message(IgtlMessage("TRANSFORM", "T", TransformBody(np.eye(4)), header_version=2))
    body = v2[wire.HEADER_SIZE :]
    with pytest.raises(MalformedMessage, match="TRANSFORM content is"):
        decode_bytes(wire.pack_header(1, "TRANSFORM", "T", 0.0, body) + body)
    v1_body = encode_message(IgtlMessage("TRANSFORM", "T", TransformBody(np.eye(4))))[58:]
    with pytest.raises(MalformedMessage):
        decode_bytes(wire.pack_header(2, "TRANSFORM", "T", 0.0, v1_body) + v1_body)


def test_timestamps_match_the_c_library_fraction_and_bad_ones_are_refused():
    data = encode_message(IgtlMessage("STRING", "S", StringBody("a"), timestamp_s=100.5))
    assert struct.unpack_from(">Q", data, 34)[0] == (100 << 32) | 0x80000000
    assert decode_bytes(data).timestamp_s == 100.5
    for bad in (-1.0, math.nan, 2.0**33):
        with pytest.raises(InputError, match="timestamp_s must be finite"):
            encode_message(IgtlMessage("STRING", "S", StringBody("a"), timestamp_s=bad))


def test_body_type_mismatch_and_bad_images_are_refused_when_encoding():
    with pytest.raises(InputError, match="does not match its TransformBody"):
        encode_message(IgtlMessage("POSITION", "T", TransformBody(np.eye(4))))
    with pytest.raises(InputError, match="not an OpenIGTLink scalar type"):
        encode_message(IgtlMessage("IMAGE", "I", ImageBody(np.zeros((2, 2), np.int64), np.eye(4))))
    with pytest.raises(InputError, match="contains NaN"):
        bad = np.eye(4)
        bad[0, 0] = np.nan
        encode_message(IgtlMessage("IMAGE", "I", ImageBody(np.zeros((2, 2), np.uint8), bad)))


def test_body_caps_refuse_huge_claims_in_the_header():
    header = bytearray(encode_message(IgtlMessage("TRANSFORM", "T", TransformBody(np.eye(4))))[:58])
    assert wire.header_problem(bytes(header)) is None
    header[42:50] = struct.pack(">Q", 2**63)
    assert "exceeds the cap" in wire.header_problem(bytes(header))
    header[42:50] = struct.pack(">Q", 49)
    assert "exceeds the cap of 48" in wire.header_problem(bytes(header))
    assert wire.body_cap("IMAGE", 1) == 512 * 1024 * 1024
    assert wire.body_cap("IMAGE", 1, {"IMAGE": 1000}) == 1000
