"""Interop with the reference C++ OpenIGTLink (Debian's libopenigtlink-dev 1.11 + examples).

The examples are built with CMake against the packaged library into pytest's cache, then run
with our client and server inside a private network namespace (``unshare -n``: their servers
bind every interface, the namespace has only loopback). Expected values come from the examples'
sources: e.g. TrackerServer sends the quaternion (0, 2/3 cos θ, 1/√3, 2/3 sin θ) with
θ = 0.1 i and the position 50 (cos φ, sin φ, cos φ) with φ = 0.2 i for its i-th message.

The packaged library is protocol 2: header v1 only (its examples lose sync on a v2 header, as
PLUS-era peers would; our links therefore send v1 until the peer speaks v2). Our v2 bodies are
checked with the library's own ``crc64`` (ctypes), and their layout byte for byte against
pyigtl in ``test_igtl_codec.py``.

In CI these tests must run: a missing compiler, library or ``unshare`` fails them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tests.conftest import IN_CI

pytestmark = [pytest.mark.interop, pytest.mark.slow]

EXAMPLES = Path("/usr/share/doc/openigtlink-examples/examples")
PROGRAMS = {
    "TrackerServer": "Tracker",
    "ImagerServer": "Imager",
    "TrackingDataServer": "TrackingData",
    "QuaternionTrackingDataServer": "QuaternionTrackingData",
    "PointServer": "Point",
    "StatusServer": "Status",
    "StringServer": "String",
    "ReceiveServer": "Receiver",
    "ReceiveClient": "Receiver",
}
DRIVER = Path(__file__).with_name("igtl_interop_driver.py")
ROOT = Path(__file__).resolve().parents[2]


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"interop tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def examples_bin(request) -> Path:
    """Build the C++ examples once into pytest's cache (a few seconds; reused afterwards)."""
    for tool in ("cmake", "c++", "unshare"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (scripts/apt-packages.txt)")
    if not (EXAMPLES / "Tracker" / "TrackerServer.cxx").exists():
        unavailable("openigtlink-examples is not installed (scripts/apt-packages.txt)")
    cache = Path(request.config.cache.mkdir("openigtlink-examples"))
    source = cache / "src"
    source.mkdir(exist_ok=True)
    lines = [
        "cmake_minimum_required(VERSION 3.10)",
        "project(igcs_openigtlink_interop CXX)",
        "find_package(OpenIGTLink REQUIRED)",
        "include(${OpenIGTLink_USE_FILE})",
    ]
    for program, folder in PROGRAMS.items():
        lines.append(f"add_executable({program} {EXAMPLES / folder / program}.cxx)")
        lines.append(f"target_link_libraries({program} OpenIGTLink)")
    cmakelists = "\n".join(lines) + "\n"
    if (
        not (source / "CMakeLists.txt").exists()
        or (source / "CMakeLists.txt").read_text() != cmakelists
    ):
        (source / "CMakeLists.txt").write_text(cmakelists)
    build = cache / "build"
    for command in (
        ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
        ["cmake", "--build", str(build), "-j", "2"],
    ):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            unavailable(
                f"building the OpenIGTLink examples failed:\n{result.stdout}{result.stderr}"
            )
    return build


PLUS_RECORDING = "tracking-plus/TransformInterpolationTest.igs.mha"


@pytest.fixture(scope="session")
def interop(examples_bin, tmp_path_factory) -> dict:
    """Run every scenario once in a private network namespace."""
    from tests.conftest import shared_data_path

    plus_recording = shared_data_path(PLUS_RECORDING)
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        unavailable(f"`unshare -n` is not permitted here ({probe.stderr.strip()}); run as root")
    workdir = tmp_path_factory.mktemp("interop")
    arguments = [str(examples_bin), str(workdir), str(plus_recording)]
    result = subprocess.run(
        ["unshare", "-n", sys.executable, str(DRIVER), *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def example_matrix(phi: float, theta: float) -> np.ndarray:
    """GetRandomTestMatrix of the examples: igtl::QuaternionToMatrix + position."""
    quaternion = [
        0.0,
        0.6666666666 * np.cos(theta),
        0.577350269189626,
        0.6666666666 * np.sin(theta),
    ]
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_quat(quaternion).as_matrix()  # normalises like the C++
    matrix[:3, 3] = 50 * np.array([np.cos(phi), np.sin(phi), np.cos(phi)])
    return matrix


def test_runs_in_a_namespace_with_only_loopback(interop):
    assert interop["interfaces"] == ["lo"]


def test_transform_from_tracker_server(interop):
    result = interop["tracker"]
    assert len(result["messages"]) == 5 and result["bad_crc"] == result["malformed"] == 0
    for index, message in enumerate(result["messages"]):
        assert message["type"] == "TRANSFORM" and message["device_name"] == "Tracker"
        expected = example_matrix(0.2 * index, 0.1 * index)
        np.testing.assert_allclose(message["matrix"], expected, atol=2e-5)


def test_tdata_after_our_stt_tdata(interop):
    result = interop["tdata"]
    assert len(result["messages"]) == 4 and result["bad_crc"] == result["malformed"] == 0
    for index, message in enumerate(result["messages"]):
        assert message["type"] == "TDATA" and message["device_name"] == "Tracker"
        names = [(name, kind) for name, kind, _ in message["elements"]]
        assert names == [("Channel 0", 1), ("Channel 1", 2), ("Channel 2", 4)]
        for (_, _, matrix), (dphi, dtheta) in zip(
            message["elements"], [(0.1, 0.2), (0.2, 0.1), (0.3, 0.05)], strict=True
        ):
            np.testing.assert_allclose(
                matrix, example_matrix(dphi * index, dtheta * index), atol=2e-5
            )


def test_qtdata_after_our_stt_qtdata(interop):
    result = interop["qtdata"]
    assert len(result["messages"]) == 4 and result["bad_crc"] == result["malformed"] == 0
    for index, message in enumerate(result["messages"]):
        assert message["type"] == "QTDATA"
        for (name, _, position, quaternion), (dphi, dtheta), channel in zip(
            message["elements"], [(0.1, 0.2), (0.2, 0.1), (0.3, 0.05)], range(3), strict=True
        ):
            phi, theta = dphi * index, dtheta * index
            assert name == f"Channel {channel}"
            np.testing.assert_allclose(
                position, 50 * np.array([np.cos(phi), np.sin(phi), np.cos(phi)]), atol=2e-5
            )
            # sent as is, not normalised (|q| = 0.88): we pass on exactly what was sent
            np.testing.assert_allclose(
                quaternion,
                [
                    0.0,
                    0.6666666666 * np.cos(theta),
                    0.577350269189626,
                    0.6666666666 * np.sin(theta),
                ],
                atol=1e-6,
            )


def test_image_from_imager_server(interop):
    result = interop["imager"]
    assert len(result["messages"]) == 6 and result["bad_crc"] == result["malformed"] == 0
    for index, message in enumerate(result["messages"]):
        raw = (EXAMPLES / "Imager" / "img" / f"igtlTestImage{index % 5 + 1}.raw").read_bytes()
        assert message["shape"] == [1, 256, 256] and message["dtype"] == "uint8"
        assert message["sha256"] == hashlib.sha256(raw).hexdigest()
        # spacing (1, 1, 5), axes diag(1, -1, 1), centre at the origin -> voxel 0 at
        # -(1 * 255 / 2, -1 * 255 / 2, 0)
        expected = np.diag([1.0, -1.0, 5.0, 1.0])
        expected[:3, 3] = [-127.5, 127.5, 0.0]
        np.testing.assert_allclose(message["world_from_ijk"], expected, atol=1e-5)
        assert message["coordinate_system"] == "RAS"


def test_point_status_string_from_their_servers(interop):
    (point,) = interop["point"]["messages"]
    assert point["device_name"] == "PointSender"
    assert point["points"] == [
        ["POINT_0", "GROUP_0", [255, 0, 0, 255], [10.0, 20.0, 30.0], 15.0, "IMAGE_0"],
        ["POINT_1", "GROUP_0", [0, 255, 0, 255], [40.0, 50.0, 60.0], 45.0, "IMAGE_0"],
        ["POINT_2", "GROUP_0", [0, 0, 255, 255], [70.0, 80.0, 90.0], 75.0, "IMAGE_0"],
    ]
    (status,) = interop["status"]["messages"]
    assert (status["code"], status["subcode"], status["error_name"], status["message"]) == (
        1,
        128,
        "OK!",
        "This is a test to send status message.",
    )
    texts = [m["text"] for m in interop["string"]["messages"]]
    cycle = ["OpenIGTLink", "Network", "Communication", "Protocol", "Image Guided Therapy"]
    assert texts == (cycle * 2)[:6]
    assert {m["encoding"] for m in interop["string"]["messages"]} == {3}


def printed_blocks(text: str) -> list[list[float]]:
    """Matrices printed by igtl::PrintMatrix: 4 rows of 4 comma-separated numbers."""
    rows = re.findall(
        r"^\s*(-?[\d.e+-]+), (-?[\d.e+-]+), (-?[\d.e+-]+), (-?[\d.e+-]+)\s*$", text, re.M
    )
    return [[float(v) for v in row] for row in rows]


def check_receiver_printout(text: str, *, expect_corrupt: bool) -> None:
    rows = printed_blocks(text)
    expected = [[0.0, -1.0, 0.0, 1.5], [1.0, 0.0, 0.0, -2.25], [0.0, 0.0, 1.0, 3.0], [0, 0, 0, 1]]
    assert rows[:4] == expected  # our v1 TRANSFORM, exactly
    assert "position   = (1.5, 2.5, -3.5)" in text
    assert "quaternion = (0, 0, 0.6, 0.8)" in text
    assert "Dimensions            : (64, 48, 1)" in text
    assert "Spacing               : (0.5, 0.5, 1)" in text
    assert "Scalar Type           : 5" in text
    assert " Code      : 1" in text and " SubCode   : 42" in text
    assert " Error Name: Fine" in text and " Status    : All systems go" in text
    assert " Name      : F1" in text and " GroupName : Fiducials" in text
    assert " Position  : ( 10.500000, -20.000000, 30.250000 )" in text
    assert " Radius    : 4.000000" in text and " Owner     : CT" in text
    assert "Encoding: 3; String: Hello from igcs" in text
    assert "Encoding: 106; String: Zürich ✓" in text
    # Our corrupt TRANSFORM is refused by their CRC check; the message after it decodes.
    assert text.count("Receiving TRANSFORM data type.") == (3 if expect_corrupt else 2)
    assert len(rows) == 4 * 2 and rows[4:] == expected  # the metadata one, sent as v1
    assert "Encoding: 3; String: framing still in sync" in text


def test_their_receive_server_accepts_what_our_client_sends(interop):
    result = interop["receive_server"]
    text = result["stdout"] + result["stderr"]
    check_receiver_printout(text, expect_corrupt=True)
    assert "Time stamp: 1700000000.500000000" in text


def test_their_receive_client_accepts_what_our_server_sends(interop):
    result = interop["receive_client"]
    check_receiver_printout(result["stdout"] + result["stderr"], expect_corrupt=False)
    assert result["returncode"] == 0  # it exits cleanly when our server closes


def test_the_reference_crc64_agrees_on_our_v1_and_v2_bodies():
    """libOpenIGTLink's own crc64() against ours (ctypes), header v1 and v2.

    (Its 1.11 igtl_nanosec_to_frac is a coarser approximation than OpenIGTLink 3's, which
    pyigtl and we use; timestamps differ by < 10 ns and decode identically at 0.5 s, see
    ``Time stamp: 1700000000.500000000`` above.)
    """
    import ctypes
    import ctypes.util

    from navigation.tracking import igtl_wire as wire
    from navigation.tracking.igtl_codec import encode_message
    from tests.navigation.igtl_samples import sample_messages

    path = ctypes.util.find_library("OpenIGTLink") or "/usr/lib/libOpenIGTLink.so.1.11"
    try:
        library = ctypes.CDLL(path)
    except OSError:
        unavailable(f"libOpenIGTLink is not installed ({path})")
    library.crc64.restype = ctypes.c_uint64
    library.crc64.argtypes = [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_uint64]
    checked = 0
    for message in sample_messages():
        for version in (1, 2):
            data = encode_message(message, header_version=version)
            body = data[wire.HEADER_SIZE :]
            assert library.crc64(body, len(body), 0) == wire.parse_header(data).crc
            checked += 1
    assert checked == 2 * len(sample_messages())


def printed_matrices(text: str) -> np.ndarray:
    """The (N, 4, 4) matrices printed by ``igtl::PrintMatrix`` (6 significant digits)."""
    rows = np.array(printed_blocks(text))
    return rows.reshape(-1, 4, 4)


def assert_printed_equal(printed: np.ndarray, expected: np.ndarray) -> None:
    """Equal to what a 6-significant-digit printout of the float32 values shows."""
    truth = expected.astype(np.float32).astype(np.float64)
    tolerance = 5e-6 * np.maximum(np.abs(truth), 1e-3) + 1e-6
    assert np.all(np.abs(printed - truth) <= tolerance), np.abs(printed - truth).max()


def test_their_v1_client_decodes_the_poses_of_our_replay_of_a_v2_recording(interop):
    """igcs replay of a session recorded in header v2: the v1-only C++ client gets v1, so its
    poses are right (v2 bodies read as v1 would shift every value by the extended header)."""
    result = interop["replay_session"]
    text = result["stdout"] + result["stderr"]
    assert result["returncode"] == 0
    expected = [
        m.body.matrix for m in _v2_messages() if m.type == "TRANSFORM" and m.message_id != 7
    ]
    printed = printed_matrices(result["stdout"])
    # the all-zero INVALID one withheld; the identity placeholder (recognisable) sent
    assert len(printed) == len(expected) == 39
    np.testing.assert_array_equal(printed[14], np.eye(4))
    assert_printed_equal(printed, np.array(expected))
    assert text.count("Receiving IMAGE data type.") == 2
    assert "Dimensions            : (64, 48, 1)" in text
    assert "Spacing               : (0.5, 0.5, 1)" in text
    assert "Encoding: 3; String: v2 note 0" in text and "v2 note 20" in text
    assert "1 messages with a status other than OK withheld" in result["replay_stderr"]


def test_their_v1_client_decodes_the_poses_of_our_replay_of_a_plus_recording(interop):
    from navigation.tracking.plus_sequence import read_plus_sequence
    from tests.conftest import shared_data_path

    sequence = read_plus_sequence(shared_data_path(PLUS_RECORDING))
    result = interop["replay_plus"]
    assert result["returncode"] == 0
    expected = [
        frame.transforms[name] for frame in sequence.frames for name in sorted(frame.transforms)
    ]
    printed = printed_matrices(result["stdout"])
    # 500 frames x 2 tools; the INVALID probe frame is PLUS's identity placeholder, sent as is
    assert len(printed) == len(expected) == 1000
    np.testing.assert_array_equal(printed[14], np.eye(4))
    assert_printed_equal(printed, np.array(expected))
    assert result["stderr"].count("Receiving IMAGE data type.") == 500


def _v2_messages():
    import tempfile

    from tests.navigation.igtl_interop_driver import v2_recording

    with tempfile.TemporaryDirectory() as folder:
        return v2_recording(Path(folder) / "v2.igcsrec")
