"""Run the reference C++ OpenIGTLink examples against our client and server; print JSON.

Meant to run inside a private network namespace (``unshare -n python igtl_interop_driver.py
BINDIR``): the example servers bind every interface, and the namespace has only loopback, which
this script brings up. Each scenario starts one C++ program, talks to it with igcs' client or
server, and reports what arrived (and what the C++ program printed) for the test to check.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from navigation.tracking.igtl_codec import encode_message  # noqa: E402
from navigation.tracking.igtl_transport import IgtlClient, IgtlServer  # noqa: E402
from navigation.tracking.messages import (  # noqa: E402
    IgtlMessage,
    ImageBody,
    PointBody,
    PointElement,
    PositionBody,
    RequestBody,
    StatusBody,
    StringBody,
    TransformBody,
)

IMAGER_DIR = Path("/usr/share/doc/openigtlink-examples/examples/Imager/img")


def bring_up_loopback() -> None:
    """``ip link set lo up`` without iproute2 (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, 0x8913, request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh", b"lo", flags | 0x1))


def only_loopback_interfaces() -> list[str]:
    return [name for _, name in socket.if_nameindex()]


def summarise(message: IgtlMessage) -> dict[str, Any]:
    body = message.body
    out: dict[str, Any] = {
        "type": message.type,
        "device_name": message.device_name,
        "header_version": message.header_version,
        "timestamp_s": message.timestamp_s,
    }
    if message.type == "TRANSFORM":
        out["matrix"] = body.matrix.tolist()
    elif message.type == "TDATA":
        out["elements"] = [[e.name, e.instrument_type, e.matrix.tolist()] for e in body.elements]
    elif message.type == "QTDATA":
        out["elements"] = [
            [e.name, e.instrument_type, e.position_mm.tolist(), e.quaternion_xyzw.tolist()]
            for e in body.elements
        ]
    elif message.type == "POINT":
        out["points"] = [
            [p.name, p.group, list(p.rgba), p.position_mm.tolist(), p.diameter_mm, p.owner]
            for p in body.points
        ]
    elif message.type == "STATUS":
        out.update(
            code=body.code, subcode=body.subcode, error_name=body.error_name, message=body.message
        )
    elif message.type == "STRING":
        out.update(text=body.text, encoding=body.encoding)
    elif message.type == "IMAGE":
        out.update(
            shape=list(body.pixels.shape),
            dtype=str(body.pixels.dtype),
            sha256=hashlib.sha256(np.ascontiguousarray(body.pixels).tobytes()).hexdigest(),
            world_from_ijk=body.world_from_ijk.tolist(),
            coordinate_system=body.coordinate_system,
        )
    return out


def run_cpp_server(
    bindir: Path, program: str, args: list[str], port: int, count: int, **client_options: Any
) -> dict[str, Any]:
    """Start a C++ server, collect ``count`` messages with our client, stop both."""
    process = subprocess.Popen(
        [str(bindir / program), str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = IgtlClient("127.0.0.1", port, **client_options).start()
    messages: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 20
        while len(messages) < count and time.monotonic() < deadline:
            try:
                messages.append(summarise(client.get(timeout=0.5)))
            except Exception:  # queue.Empty: keep waiting until the deadline
                continue
    finally:
        client.stop()
        process.kill()
        process.wait()
    counters = client.counters.framing
    return {
        "messages": messages,
        "bad_crc": counters.bad_crc,
        "malformed": counters.malformed,
        "resyncs": counters.resyncs,
    }


def messages_to_send() -> list[tuple[IgtlMessage, int | None]]:
    """What we send to the C++ receivers (header v1 peers): (message, header version)."""
    matrix = np.array(
        [[0.0, -1.0, 0.0, 1.5], [1.0, 0.0, 0.0, -2.25], [0.0, 0.0, 1.0, 3.0], [0, 0, 0, 1]]
    )
    frame = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64)
    world = np.diag([0.5, 0.5, 1.0, 1.0])
    points = PointBody(
        (
            PointElement(
                "F1", "Fiducials", (255, 0, 0, 255), np.array([10.5, -20.0, 30.25]), 4.0, "CT"
            ),
            PointElement("F2", "Fiducials", (0, 255, 0, 255), np.array([1.0, 2.0, 3.0]), 2.0, "CT"),
        )
    )
    stamp = 1_700_000_000.5
    return [
        (IgtlMessage("TRANSFORM", "IgcsTransform", TransformBody(matrix), stamp), 1),
        (
            IgtlMessage(
                "POSITION",
                "IgcsPosition",
                PositionBody(np.array([1.5, 2.5, -3.5]), np.array([0.0, 0.0, 0.6, 0.8])),
            ),
            1,
        ),
        (IgtlMessage("IMAGE", "IgcsImage", ImageBody(frame, world)), 1),
        (IgtlMessage("STATUS", "IgcsStatus", StatusBody(1, 42, "Fine", "All systems go")), 1),
        (IgtlMessage("POINT", "IgcsPoints", points), 1),
        (IgtlMessage("STRING", "IgcsString", StringBody("Hello from igcs", 3)), 1),
        (IgtlMessage("STRING", "IgcsUtf8", StringBody("Zürich ✓", 106)), 1),
        (
            # metadata cannot reach a header-v1 peer: sent as v1 unless the peer spoke v2
            IgtlMessage(
                "TRANSFORM", "IgcsMeta", TransformBody(matrix), metadata={"TransformStatus": "OK"}
            ),
            None,
        ),
        (IgtlMessage("STRING", "IgcsLast", StringBody("framing still in sync", 3)), 1),
    ]


def corrupt_message() -> bytes:
    """A TRANSFORM whose body was altered after its CRC was computed."""
    data = bytearray(
        encode_message(IgtlMessage("TRANSFORM", "IgcsCorrupt", TransformBody(np.eye(4))))
    )
    data[-1] ^= 0x01
    return bytes(data)


def wait_for_text(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.02)


def run_receive_server(bindir: Path, port: int, workdir: Path) -> dict[str, Any]:
    """Our messages (and one with a bad CRC) to the C++ ReceiveServer; its printout."""
    out_path, err_path = workdir / "receive_server.out", workdir / "receive_server.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            [str(bindir / "ReceiveServer"), str(port)], stdout=out, stderr=err
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            with sock:
                for message, version in messages_to_send()[:6]:
                    sock.sendall(encode_message(message, header_version=version))
                sock.sendall(corrupt_message())
                for message, version in messages_to_send()[6:]:
                    sock.sendall(encode_message(message, header_version=version))
                wait_for_text(err_path, "framing still in sync", 10)
        finally:
            process.kill()
            process.wait()
    return {
        "stdout": out_path.read_text(errors="replace"),
        "stderr": err_path.read_text(errors="replace"),
    }


def run_receive_client(bindir: Path, port: int, workdir: Path) -> dict[str, Any]:
    """Our server sends to the C++ ReceiveClient; its printout."""
    out_path, err_path = workdir / "receive_client.out", workdir / "receive_client.err"
    server = IgtlServer(port=port).start()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            [str(bindir / "ReceiveClient"), "127.0.0.1", str(port)], stdout=out, stderr=err
        )
        try:
            server.wait_connected(10)
            for message, version in messages_to_send():
                server.send(message, header_version=version)
            wait_for_text(err_path, "framing still in sync", 10)
        finally:
            server.stop()
            try:
                process.wait(timeout=5)  # it exits when we close the connection
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return {
        "stdout": out_path.read_text(errors="replace"),
        "stderr": err_path.read_text(errors="replace"),
        "returncode": process.returncode,
    }


def v2_recording(path: Path) -> list[IgtlMessage]:
    """A session as recorded from a header-v2 (PLUS-like) stream: 40 v2 TRANSFORMs with their
    TransformStatus (the 8th INVALID with an all-zero matrix, the 16th INVALID with PLUS's
    identity placeholder), v2 IMAGE and STRING."""
    from navigation.tracking.recording import SessionWriter
    from tests.navigation.igtl_samples import rigid

    frame = np.arange(48 * 64, dtype=np.uint16).reshape(1, 48, 64)
    messages = []
    for index in range(40):
        invalid = index in (7, 15)
        placeholder = {7: np.zeros((4, 4)), 15: np.eye(4)}
        messages.append(
            IgtlMessage(
                "TRANSFORM",
                "StylusToTracker",
                TransformBody(placeholder.get(index, rigid(100 + index))),
                1_700_000_000.0 + index * 0.02,
                header_version=2,
                metadata={"TransformStatus": "INVALID" if invalid else "OK"},
                message_id=index,
            )
        )
        if index % 20 == 0:
            messages.append(
                IgtlMessage("IMAGE", "Image", ImageBody(frame, np.diag([0.5, 0.5, 1.0, 1.0])),
                            header_version=2, metadata={"ImageStatus": "OK"})
            )  # fmt: skip
            messages.append(
                IgtlMessage("STRING", "Note", StringBody(f"v2 note {index}", 3), header_version=2)
            )
    with SessionWriter(path) as writer:
        for index, message in enumerate(messages):
            writer.write(message, index * 0.005)
    return messages


def run_replay_to_receive_client(
    bindir: Path, port: int, workdir: Path, recording: Path, name: str
) -> dict[str, Any]:
    """``igcs replay RECORDING`` served to the C++ ReceiveClient (header v1 only)."""
    replay = subprocess.Popen(
        [sys.executable, "-m", "navigation", "replay", str(recording), "--port", str(port),
         "--speed", "10"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    assert replay.stderr is not None
    said = []
    for line in replay.stderr:  # the port is open once it says it waits for a client
        said.append(line)
        if "waiting for a client" in line:
            break
    else:
        raise RuntimeError("igcs replay did not start: " + "".join(said))
    with open(out_path, "w") as out, open(err_path, "w") as err:
        client = subprocess.Popen(
            [str(bindir / "ReceiveClient"), "127.0.0.1", str(port)], stdout=out, stderr=err
        )
        try:
            _, replay_err = replay.communicate(timeout=60)
            client.wait(timeout=10)  # it exits when the replay closes the connection
        finally:
            for process in (replay, client):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    return {
        "stdout": out_path.read_text(errors="replace"),
        "stderr": err_path.read_text(errors="replace"),
        "replay_stderr": "".join(said) + replay_err,
        "returncode": client.returncode,
    }


def main() -> None:
    bindir = Path(sys.argv[1])
    workdir = Path(sys.argv[2])
    plus_recording = Path(sys.argv[3])
    bring_up_loopback()
    session = workdir / "v2.igcsrec"
    v2_recording(session)
    stt_tdata = IgtlMessage("STT_TDATA", "", RequestBody("STT", "TDATA", 20, ""))
    stt_qtdata = IgtlMessage("STT_QTDATA", "", RequestBody("STT", "QTDATA", 20, ""))
    results = {
        "interfaces": only_loopback_interfaces(),
        "tracker": run_cpp_server(bindir, "TrackerServer", ["100"], 18944, 5),
        "imager": run_cpp_server(bindir, "ImagerServer", ["50", str(IMAGER_DIR)], 18945, 6),
        "tdata": run_cpp_server(
            bindir, "TrackingDataServer", [], 18946, 4, requests_on_connect=(stt_tdata,)
        ),
        "qtdata": run_cpp_server(
            bindir, "QuaternionTrackingDataServer", [], 18947, 4, requests_on_connect=(stt_qtdata,)
        ),
        "point": run_cpp_server(bindir, "PointServer", [], 18948, 1),
        "status": run_cpp_server(bindir, "StatusServer", [], 18949, 1),
        "string": run_cpp_server(bindir, "StringServer", ["100"], 18950, 6),
        "receive_server": run_receive_server(bindir, 18951, workdir),
        "receive_client": run_receive_client(bindir, 18952, workdir),
        "replay_session": run_replay_to_receive_client(
            bindir, 18953, workdir, session, "replay_session"
        ),
        "replay_plus": run_replay_to_receive_client(
            bindir, 18954, workdir, plus_recording, "replay_plus"
        ),
    }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
