"""``igcs navigate --headless`` end to end on the phantom plan against the simulator on
loopback (in its own process, as a tracker is): automatic registration, true TRE at the tumour
against the simulator's truth, the summary's numbers, the fluorescence metrics, and the recorded
session replaying."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from navigation.cli import main
from navigation.fluorescence.mapping_inputs import load_simulation_truth
from navigation.simulation.simulator_io import scenario_from_plan
from navigation.tracking.igtl_transport import IgtlClient, IgtlServer
from navigation.tracking.pose_store import PoseStore
from navigation.tracking.recording import SessionReader
from navigation.tracking.replay import replay_session
from registration.hand_eye import HandEye
from rendering.fluorescence.camera_model import CameraModel
from tests.conftest import PROJECT_ROOT
from tests.navigation.app.conftest import FAST, true_tre_mm, wait_for

pytestmark = pytest.mark.slow


def navigate_against_simulator(phantom_plan, folder, camera: str):
    """Run ``igcs navigate --headless`` against the simulator in its own process (see
    ``simulator_process``); returns (scenario, out, record).

    camera : "simulator" (``--simulation-truth`` only: the simulator stands in for the camera's
        calibration, as ``igcs demo`` runs it) or "files" (the real camera path: the
        simulator's camera written as the files a calibration makes, intrinsics, hand-eye,
        dark level and flat field, and no truth file at all).
    """
    simulation_truth = folder / "truth.json"
    simulator = subprocess.Popen(
        [sys.executable, "-m", "tests.navigation.app.simulator_process", str(phantom_plan),
         str(simulation_truth), str(FAST.dwell_s)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert simulator.stdout is not None
        port = int(simulator.stdout.readline())
        # The same scenario as the simulator's (deterministic for the plan and configuration).
        scenario = scenario_from_plan(phantom_plan, FAST)
        truth = scenario.truth
        np.testing.assert_allclose(
            json.loads(simulation_truth.read_text())["image_from_reference"],
            truth.image_from_reference,
        )
        last_dwell_end = float(truth.dwell_intervals_s[-1, 1])
        if camera == "simulator":
            camera_args = ["--simulation-truth", str(simulation_truth)]
        else:
            sensor = load_simulation_truth(simulation_truth).sensor()
            assert sensor is not None
            intrinsics = folder / "camera.json"
            truth.intrinsics.save(intrinsics)
            hand_eye = folder / "hand_eye.json"
            HandEye(truth.cameramarker_from_camera, "tsai").save(hand_eye)
            flat = folder / "flat_field.npy"
            np.save(flat, sensor.flat_field(CameraModel(truth.intrinsics)))
            camera_args = [
                "--camera-intrinsics", str(intrinsics), "--hand-eye", str(hand_eye),
                "--dark-level", str(sensor.dark_level_dn), "--flat-field", str(flat),
                "--saturation", str(sensor.saturation_dn),
            ]  # fmt: skip
            simulation_truth.rename(folder / "truth_hidden.json")  # nothing can read it
        out = folder / "shots"
        record = folder / "session.igcsrec"
        status = main(
            [
                "navigate", "--plan", str(phantom_plan), "--igtl", f"127.0.0.1:{port}",
                "--headless", "--screenshot", str(out),
                # the app connects once its views are built and the story starts then: 6 s
                # after the last dwell leave enough registered frames on a loaded machine
                "--duration", f"{last_dwell_end + 6.0:.1f}", "--screenshot-every", "5",
                "--auto-register", "--fle", "0.3", "--record", str(record), *camera_args,
            ]
        )  # fmt: skip
    finally:
        simulator.terminate()
        simulator.wait(10.0)
    assert status == 0
    return scenario, out, record


@pytest.fixture(scope="module")
def headless_run(phantom_plan, tmp_path_factory):
    """The run with the simulator's truth standing in for the camera calibration."""
    return navigate_against_simulator(
        phantom_plan, tmp_path_factory.mktemp("navigate"), "simulator"
    )


def test_summary_numbers(headless_run, phantom_plan):
    scenario, out, _ = headless_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == "igcs-navigation-summary"
    registration = summary["registration"]
    assert registration is not None and registration["accepted"]
    assert registration["method"] == "points"
    assert summary["auto_registration"]["phase"] == "done"
    names = list(scenario.truth.fiducial_names)
    assert registration["fiducials"] == names
    # FLE 0.3 mm RMS: FRE about sqrt(1 - 2/N) x 0.3, well under 1 mm.
    assert 0.05 < summary["fre_mm"] < 0.6
    assert set(registration["residuals_mm"]) == set(names)
    predicted = summary["tre_at_tumour_predicted_mm"]
    assert 0.0 < predicted < 0.5
    tumour = np.array(json.loads((phantom_plan / "plan.json").read_text())["tumour"][
        "centroid_lps_mm"])  # fmt: skip
    true_tre = true_tre_mm(np.array(registration["image_from_reference"]), scenario, tumour)
    assert true_tre <= 1.0, f"true TRE at the tumour {true_tre:.2f} mm"
    assert summary["tre_at_tumour_true_mm"] == pytest.approx(true_tre, abs=1e-9)
    render = summary["render"]
    # The app rendered all along (its speed is measured by benchmarks/bench_app_latency.py).
    assert summary["render_fps"] == render["render_fps"] and render["render_fps"] > 1.0
    assert render["latency_samples"] > 10
    assert 0.0 < summary["latency_ms_p50"] <= summary["latency_ms_p95"] < 1000.0
    assert render["stalls"] == 0
    tools = summary["tools"]
    assert set(tools["states"]) == {"PointerToTracker", "ReferenceToTracker", "CameraToTracker"}
    assert tools["state_changes"]["PointerToTracker"]["OK"] >= 1
    distances = summary["distances"]
    assert distances["frames_with_guidance"] > 0
    assert distances["tip_to_tumour_min_mm"] > 0.0  # the pointer stays on the skin
    fluorescence = summary["fluorescence"]
    assert fluorescence["frames_mapped"] > 0
    assert fluorescence["background_region"].startswith("tissue bed ring")
    assert summary["tbr"] == fluorescence["tbr"] and fluorescence["tbr"] > 2.0
    assert 0.0 < fluorescence["target_seen_fraction"] <= 1.0
    # Scored against the phantom's true patch (its truth.json is found next to the DICOM).
    assert fluorescence["truth_source"] == "phantom truth (analytic tumour)"
    assert summary["fluorescence_dice"] == fluorescence["dice"]
    # The fluorescence acceptance with tracking noise and a 0.3 mm-FLE registration: <= 2 mm.
    assert fluorescence["dice"] >= 0.8
    assert fluorescence["boundary_error_mm"] <= 2.0
    pictures = summary["screenshots"]
    assert "last.png" in pictures and "ar_last.png" in pictures and len(pictures) >= 3
    for name in pictures:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recorded_session_holds_the_registration_and_replays(headless_run, tmp_path):
    scenario, out, record = headless_run
    summary = json.loads((out / "summary.json").read_text())
    reader = SessionReader(record)
    events = list(reader.events())
    kinds = [e.kind for e in events]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert kinds.count("fiducial_collected") == len(scenario.truth.fiducial_names)
    accepted = [e for e in events if e.kind == "registration_accepted"]
    assert len(accepted) == 1
    np.testing.assert_allclose(
        accepted[0].data["image_from_reference"],
        summary["registration"]["image_from_reference"],
    )
    assert any(e.kind == "tool_state" for e in events)
    sidecar = json.loads(record.with_name(record.name + ".registration.json").read_text())
    assert sidecar["schema"] == "igcs-navigation-registration"
    np.testing.assert_allclose(
        sidecar["image_from_reference"], accepted[0].data["image_from_reference"]
    )
    recorded = sum(1 for _ in reader)
    # Everything counted in the summary is recorded (a few more arrive before the close).
    assert sum(summary["messages"].values()) <= recorded <= sum(summary["messages"].values()) + 50

    # Replay (10x) into a fresh pose store: every recorded message arrives, tools come up OK.
    store = PoseStore()
    received = []
    lock = threading.Lock()

    def take(message):
        with lock:
            received.append(message)
        store.ingest(message)

    server = IgtlServer("127.0.0.1", 0).start()
    client = IgtlClient("127.0.0.1", server.port, on_message=take).start()
    try:
        assert client.wait_connected(5.0) and server.wait_connected(5.0)
        stats = replay_session(record, server, speed=10.0)
        assert stats.messages == recorded
        wait_for(lambda: len(received) == recorded, 5.0, "every replayed message")
    finally:
        client.stop()
        server.stop()
    assert set(store.tool_names()) >= {"PointerToTracker", "ReferenceToTracker"}


def test_the_real_camera_path_maps_as_well_as_the_simulators_camera(
    headless_run, phantom_plan, tmp_path
):
    """The simulator's camera as the files a calibration writes (intrinsics, hand-eye, dark
    level, flat field) and no truth file: the same map quality as with the simulator's truth
    standing in, the camera's sources reported, no true TRE (nothing to score it with)."""
    _, out, _ = navigate_against_simulator(phantom_plan, tmp_path, "files")
    summary = json.loads((out / "summary.json").read_text())
    before = json.loads((headless_run[1] / "summary.json").read_text())["fluorescence"]
    fluorescence = summary["fluorescence"]
    assert fluorescence["frames_mapped"] > 0
    assert fluorescence["camera"]["intrinsics"].endswith("camera.json")
    assert fluorescence["camera"]["hand_eye"].endswith("hand_eye.json")
    assert "(--dark-level)" in fluorescence["camera"]["radiometry"]
    assert "simulator" in before["camera"]["intrinsics"]
    assert fluorescence["dice"] >= 0.8 and fluorescence["dice"] >= before["dice"] - 0.05
    assert fluorescence["boundary_error_mm"] <= min(2.0, before["boundary_error_mm"] + 0.3)
    assert fluorescence["tbr"] == pytest.approx(before["tbr"], rel=0.15)
    assert summary["tre_at_tumour_true_mm"] is None
    assert "ar_last.png" in summary["screenshots"]
