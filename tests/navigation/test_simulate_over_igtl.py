"""The simulator served over real loopback sockets into the pose store, and ``igcs simulate``.

Acceptance: a tool that stops updating is STALE within 300 ms; the simulator's
out-of-view dropouts show as OUT_OF_VIEW; a stopped server shows as DISCONNECTED within 1 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from navigation.simulation.simulator import CAMERA, POINTER, REFERENCE, SimulationConfig
from navigation.simulation.simulator_io import scenario_from_plan, serve_scenario
from navigation.tracking.igtl_transport import IgtlClient, IgtlServer
from navigation.tracking.messages import IgtlMessage, RequestBody
from navigation.tracking.pose_store import PoseStore, ToolState
from tests.navigation.plan_factory import write_plan
from tests.navigation.simulator_process import run_simulate

ROOT = Path(__file__).resolve().parents[2]
#: A short story: 4 fiducials, no sweep; dropouts of 0.7 s scenario time.
SHORT = {
    "rest_s": 0.3,
    "travel_s": 1.2,
    "dwell_s": 0.6,
    "dropout_s": 0.7,
    "sweep_point_count": 0,
    "camera_fps": 5.0,
    "image_size_px": (80, 64),
}
SPEED = 1.5


def short_plan(folder: Path) -> Path:
    write_plan(folder)
    payload = json.loads((folder / "plan.json").read_text())
    payload["fiducials"] = payload["fiducials"][:4]
    (folder / "plan.json").write_text(json.dumps(payload))
    return folder


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


@pytest.mark.slow
def test_scenario_over_loopback_into_the_pose_store(tmp_path):
    scenario = scenario_from_plan(short_plan(tmp_path), SimulationConfig(seed=5, **SHORT))
    store = PoseStore(connected=False)
    events = []
    store.subscribe(events.append)
    arrivals: dict[str, list[float]] = {REFERENCE: [], POINTER: [], CAMERA: []}
    received = [0]

    def on_message(message: IgtlMessage) -> None:
        store.ingest(message)
        received[0] += 1
        if message.device_name in arrivals:
            arrivals[message.device_name].append(message.arrival_s)

    server = IgtlServer("127.0.0.1", 0).start()
    hello = IgtlMessage("GET_STATUS", "", RequestBody("GET", "STATUS"), header_version=2)
    client = IgtlClient(
        "127.0.0.1",
        server.port,
        on_message=on_message,
        on_connection=store.on_connection,
        header_version=2,  # as a PLUS client: v2 brings the TransformStatus metadata
        requests_on_connect=(hello,),
    )
    client.start()
    store.start_watchdog(period_s=0.02)
    try:
        assert server.wait_connected(2.0) and client.wait_connected(2.0)
        assert wait_for(lambda: store.connected, 1.0)
        time.sleep(0.1)  # let the server see the client's v2 message
        expected = sum(1 for _ in scenario.timeline())
        sent = serve_scenario(scenario, server.send, speed=SPEED)
        assert sent == expected
        assert wait_for(lambda: received[0] == sent, 2.0)  # every message, not just the latest
        stopped = time.monotonic()
        server.stop()
        assert wait_for(lambda: store.pose(POINTER).state is ToolState.DISCONNECTED, 1.0)
        assert time.monotonic() - stopped < 1.0
    finally:
        store.stop_watchdog()
        client.stop()
        server.stop()

    def first(tool, state):
        return next((e for e in events if e.name == tool and e.state is state), None)

    truth = scenario.truth
    for dropout in truth.dropouts:
        if dropout.kind == "out_of_view":
            event = first(dropout.tool, ToolState.OUT_OF_VIEW)
            assert event is not None, dropout
            assert "TransformStatus = INVALID" in event.reason
        else:
            event = first(dropout.tool, ToolState.STALE)
            assert event is not None, dropout
            last_update = max(a for a in arrivals[dropout.tool] if a < event.time_s)
            assert event.time_s - last_update <= 0.30  # STALE within 300 ms
    assert {(d.tool, d.kind) for d in truth.dropouts} == {
        (POINTER, "out_of_view"),
        (CAMERA, "out_of_view"),
        (REFERENCE, "stall"),
    }
    # Every tool came back to OK after its dropout.
    for dropout in truth.dropouts:
        later = [e for e in events if e.name == dropout.tool and e.state is ToolState.OK]
        assert len(later) >= 2
    assert first(POINTER, ToolState.DISCONNECTED) is not None


@pytest.mark.slow
def test_igcs_simulate_command(tmp_path):
    plan = short_plan(tmp_path / "plan")
    truth_path = tmp_path / "truth.json"
    arguments = ["--plan", str(plan), "--seed", "2", "--duration", "2", "--speed", "4",
                 "--camera-fps", "5", "--image-size", "80x64",
                 "--truth", str(truth_path)]  # fmt: skip
    received: list[IgtlMessage] = []
    lines = run_simulate(arguments, received.append, timeout_s=30.0)
    assert any("sent" in line and "messages" in line for line in lines), "".join(lines)
    types = {m.type for m in received}
    assert {"TRANSFORM", "IMAGE", "STRING"} <= types
    assert {m.device_name for m in received if m.type == "TRANSFORM"} == {
        REFERENCE,
        POINTER,
        CAMERA,
    }
    payload = json.loads(truth_path.read_text())
    assert payload["config"]["seed"] == 2 and len(payload["fiducials"]) == 4


def test_igcs_simulate_refuses_a_bad_plan(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "navigation", "simulate", "--plan", str(tmp_path), "--no-wait"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not a plan folder" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(autouse=True)
def _no_thread_leaks():
    before = set(threading.enumerate())
    yield
    assert wait_for(lambda: not (set(threading.enumerate()) - before), 2.0), [
        t.name for t in set(threading.enumerate()) - before
    ]
