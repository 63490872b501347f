"""Pull the cable on, and freeze, a tracker; print what the app and the recorder saw (JSON).

Run inside a private network namespace (``unshare -n python link_loss_driver.py WORKDIR``, as
root). The tracker (an OpenIGTLink server streaming two tools at 100 Hz) runs in a second,
nested namespace joined to this one by a veth pair (10.9.0.1 here, 10.9.0.2 there), so that
``ip link set dev v0 down`` drops its traffic exactly as a pulled cable does: no FIN, no RST,
just silence. Then the tracker process is frozen with SIGSTOP and thawed with SIGCONT.

Watching it: ``igcs record`` in its own process, and the app's :class:`NavigationSession`
connected as ``igcs navigate`` connects, both with their default settings. Both record
``connection`` events stamped with ``time.monotonic()`` (CLOCK_MONOTONIC, shared by every
process), which are compared with the driver's own stamps of each stimulus.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from navigation.app.config import NavigationConfig  # noqa: E402
from navigation.app.session import NavigationSession  # noqa: E402
from navigation.planning.plan_scene import load_plan_scene  # noqa: E402
from navigation.tracking.recording import (  # noqa: E402
    RecordedMessage,
    SessionEvent,
    SessionReader,
    SessionWriter,
)
from tests.navigation.plan_factory import write_plan  # noqa: E402

PORT = 18944
HERE, THERE = "10.9.0.1", "10.9.0.2"
TRACKER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from navigation.tracking.igtl_transport import IgtlServer
from navigation.tracking.messages import IgtlMessage, TransformBody
server = IgtlServer("0.0.0.0", int(sys.argv[2]), allowed_hosts=None).start()
print("READY", flush=True)
pointer = np.eye(4); pointer[:3, 3] = [10.0, 20.0, 30.0]
index = 0
while True:
    now = time.time()
    server.send(IgtlMessage("TRANSFORM", "ReferenceToTracker", TransformBody(np.eye(4)), now))
    server.send(IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(pointer), now))
    index += 1
    time.sleep(0.01)
"""


def run(command: list[str], **options) -> None:
    subprocess.run(command, check=True, capture_output=True, **options)


def bring_up_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, 0x8913, request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh", b"lo", flags | 0x1))


def start_tracker() -> subprocess.Popen:
    """The tracker in a nested namespace, reachable at THERE through the veth pair."""
    run(["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"])
    run(["ip", "addr", "add", f"{HERE}/24", "dev", "v0"])
    run(["ip", "link", "set", "v0", "up"])
    tracker = subprocess.Popen(
        ["unshare", "-n", sys.executable, "-c", TRACKER, str(ROOT), str(PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert tracker.stdout is not None and tracker.stdout.readline().strip() == "READY"
    run(["ip", "link", "set", "v1", "netns", str(tracker.pid)])
    inside = ["nsenter", "-t", str(tracker.pid), "-n"]
    run([*inside, "ip", "link", "set", "lo", "up"])
    run([*inside, "ip", "addr", "add", f"{THERE}/24", "dev", "v1"])
    run([*inside, "ip", "link", "set", "v1", "up"])
    return tracker


def connections(path: Path) -> tuple[list[dict], list[float]]:
    """``connection`` events (time, up, reason) and received-message times of a session."""
    events, messages = [], []
    for record in SessionReader(path).records():
        if isinstance(record, SessionEvent) and record.kind == "connection":
            events.append(
                {
                    "t": record.arrival_s,
                    "up": bool(record.data["connected"]),
                    "reason": record.data.get("reason", ""),
                }
            )
        elif isinstance(record, RecordedMessage) and record.direction == "in":
            messages.append(record.arrival_s)
    return events, messages


def main() -> None:
    workdir = Path(sys.argv[1])
    bring_up_loopback()
    tracker = start_tracker()
    recording = workdir / "recorder.igcsrec"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "navigation", "record", f"{THERE}:{PORT}", "--out", str(recording),
         "--duration", "14"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        scene = load_plan_scene(write_plan(Path(folder) / "plan", label_map=True))
    app_recording = workdir / "app.igcsrec"
    session = NavigationSession(scene, NavigationConfig(), recorder=SessionWriter(app_recording))
    session.connect(THERE, PORT)  # as igcs navigate: the app's default link settings
    stamps: dict[str, float] = {}
    try:
        time.sleep(2.0)
        stamps["pulled"] = time.monotonic()
        run(["ip", "link", "set", "dev", "v0", "down"])
        time.sleep(2.5)
        run(["ip", "link", "set", "dev", "v0", "up"])
        stamps["plugged"] = time.monotonic()
        time.sleep(3.5)
        stamps["frozen"] = time.monotonic()
        os.kill(tracker.pid, signal.SIGSTOP)
        time.sleep(2.5)
        os.kill(tracker.pid, signal.SIGCONT)
        stamps["thawed"] = time.monotonic()
        time.sleep(3.5)
        stamps["end"] = time.monotonic()
    finally:
        session.close()
        recorder.wait(timeout=30)
        tracker.kill()
        tracker.wait()
    results = {"stamps": stamps}
    for name, path in (("recorder", recording), ("app", app_recording)):
        events, messages = connections(path)
        results[name] = {"events": events, "messages": messages}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
