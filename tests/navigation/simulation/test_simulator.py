"""Simulator: determinism, ground-truth consistency through the pose store, dropouts, frames."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from navigation.planning.plan import load_plan
from navigation.simulation.scenario_builder import build_scenario
from navigation.simulation.simulator import (
    CAMERA,
    CAMERA_IMAGE_DEVICE,
    POINTER,
    POINTER_TIP_IN_POINTER_MM,
    REFERENCE,
    TIP_CALIBRATION_DEVICE,
    SimulationConfig,
)
from navigation.simulation.simulator_io import scenario_from_plan, write_truth
from navigation.tracking.fiducial_collection import FiducialCollector
from navigation.tracking.plus_sequence import parse_matrix_text
from navigation.tracking.pose_store import PoseStore, ToolState
from registration.core.checks import InputError
from registration.core.transforms import apply_transform, invert_rigid, rotation_error_deg
from registration.point_registration import register_points
from registration.tre import expected_fre_rms, predict_tre_rms
from tests.navigation.plan_factory import ORIGIN_HEAD, write_plan

pytestmark = pytest.mark.slow

TUMOUR_CENTRE_LPS_MM = ORIGIN_HEAD.tumour_centre_lps_mm

SMALL_FRAMES = {"image_size_px": (80, 64), "camera_fps": 5.0}


def timeline_digest(scenario) -> str:
    digest = hashlib.sha256()
    for t, message in scenario.timeline():
        digest.update(repr((t, message.type, message.device_name, message.timestamp_s)).encode())
        digest.update(repr((message.header_version, sorted(message.metadata.items()))).encode())
        body = message.body
        for name in ("matrix", "pixels", "world_from_ijk"):
            if hasattr(body, name):
                array = np.ascontiguousarray(getattr(body, name))
                digest.update(array.dtype.str.encode() + array.tobytes())
        if hasattr(body, "text"):
            digest.update(body.text.encode())
    return digest.hexdigest()


class ReplayClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def plan_folder(tmp_path_factory):
    return write_plan(tmp_path_factory.mktemp("plan"))


@pytest.fixture(scope="module")
def replay(plan_folder):
    """The full scenario replayed into a pose store at its original timing; the pointer
    collects each fiducial when the user would click (0.1 s before the end of the dwell)."""
    config = SimulationConfig(seed=7, **SMALL_FRAMES)
    scenario = scenario_from_plan(plan_folder, config)
    clock = ReplayClock()
    store = PoseStore(clock=clock)
    truth = scenario.truth
    collector = None
    collected, states, frames = [], [], []
    clicks = list(truth.dwell_intervals_s[:, 1] - 0.1)
    last_t = -1.0
    for t, message in scenario.timeline():
        if t != last_t and last_t >= 0:
            states.append(
                (last_t, {name: store.pose(name).state for name in (REFERENCE, POINTER, CAMERA)})
            )
        clock.now, last_t = t, t
        store.ingest(message)
        if message.type == "STRING" and message.device_name == TIP_CALIBRATION_DEVICE:
            tip = parse_matrix_text(message.body.text, "tip")[:3, 3]
            collector = collector or FiducialCollector(tip, window_samples=20)
        if message.type == "IMAGE":
            frames.append((t, message))
        if message.device_name == POINTER and collector is not None:
            collector.add(store.transform("Reference", "Pointer"))
            if clicks and t >= clicks[0]:
                clicks.pop(0)
                collected.append(collector.collect())
    return scenario, collected, states, frames, store


def test_same_seed_gives_identical_timeline_bytes(plan_folder):
    config = SimulationConfig(seed=3, **SMALL_FRAMES)
    first = scenario_from_plan(plan_folder, config, duration_s=6.0)
    second = scenario_from_plan(plan_folder, config, duration_s=6.0)
    other = scenario_from_plan(
        plan_folder, SimulationConfig(seed=4, **SMALL_FRAMES), duration_s=6.0
    )
    assert timeline_digest(first) == timeline_digest(second)
    assert timeline_digest(first) != timeline_digest(other)


def test_timeline_content_and_order(replay):
    scenario, _, _, frames, _ = replay
    items = list(scenario.timeline(duration_s=3.0))
    times = [t for t, _ in items]
    assert times == sorted(times) and times[-1] < 3.0
    assert items[0][1].type == "STRING" and items[0][1].device_name == TIP_CALIBRATION_DEVICE
    transforms = [m for _, m in items if m.type == "TRANSFORM"]
    assert {m.device_name for m in transforms} == {REFERENCE, POINTER, CAMERA}
    assert all(m.timestamp_s == pytest.approx(1.7e9 + t) for t, m in items)
    tip = parse_matrix_text(items[0][1].body.text, "tip")
    np.testing.assert_array_equal(tip[:3, 3], POINTER_TIP_IN_POINTER_MM)
    # Frames: 5 fps over the whole scenario, 12-bit uint16, shaped (1, rows, columns).
    assert len(frames) == math.ceil(scenario.duration_s * 5.0)
    pixels = frames[10][1].body.pixels
    assert frames[10][1].device_name == CAMERA_IMAGE_DEVICE
    assert pixels.dtype == np.uint16 and pixels.shape == (1, 64, 80) and pixels.max() <= 4095


def test_collected_fiducials_register_with_fle_consistent_fre_and_tre(replay, plan_folder):
    scenario, collected, _, _, _ = replay
    truth = scenario.truth
    plan = load_plan(plan_folder)
    assert len(collected) == len(plan.fiducials_lps_mm) == 6
    in_reference = np.array([c.position_in_reference for c in collected])
    assert max(c.spread_mm for c in collected) < 0.4  # jitter only: the pointer was still
    # Each collected point is where the tip really was (planned + FLE), up to averaged jitter.
    touched_in_reference = apply_transform(
        truth.reference_from_image, truth.fiducials_touched_in_image
    )
    assert np.linalg.norm(in_reference - touched_in_reference, axis=1).max() < 0.15
    fle = truth.config.fle_rms_mm
    result = register_points(
        in_reference, plan.fiducials_lps_mm, fle_rms_mm=fle, names=plan.fiducial_names
    )
    assert result.warnings == ()
    image_from_reference = result.image_from_tracker
    expected_fre = expected_fre_rms(6, fle)  # Fitzpatrick 1998
    assert 0.5 * expected_fre < result.fre_rms_mm < 1.6 * expected_fre
    target = np.array(TUMOUR_CENTRE_LPS_MM)
    target_in_reference = apply_transform(truth.reference_from_image, target)
    tre = float(np.linalg.norm(apply_transform(image_from_reference, target_in_reference) - target))
    predicted = float(predict_tre_rms(plan.fiducials_lps_mm, target, fle_rms_mm=fle)[0])
    assert tre < 3.0 * predicted  # |TRE| / RMS TRE < 1.94 at P99 for 3-D normal errors
    assert rotation_error_deg(image_from_reference, truth.image_from_reference) < 1.0


def test_fle_of_the_truth_matches_the_configured_rms(plan_folder):
    errors = []
    for seed in range(12):
        config = SimulationConfig(seed=seed, fle_rms_mm=0.3, **SMALL_FRAMES)
        truth = scenario_from_plan(plan_folder, config, duration_s=1.0).truth
        errors.append(truth.fiducials_touched_in_image - truth.fiducials_planned_in_image)
    rms = float(np.sqrt(np.mean(np.sum(np.concatenate(errors) ** 2, axis=1))))
    assert rms == pytest.approx(0.3, rel=0.15)


def test_dropouts_show_as_out_of_view_and_stale(replay):
    scenario, _, states, _, _ = replay
    dropouts = scenario.truth.dropouts
    kinds = sorted((d.tool, d.kind) for d in dropouts)
    assert kinds == [(CAMERA, "out_of_view"), (POINTER, "out_of_view"), (REFERENCE, "stall")]
    period = 1.0 / scenario.truth.config.tracker_rate_hz
    for dropout in dropouts:
        during = [
            s[dropout.tool] for t, s in states if dropout.start_s + period <= t < dropout.end_s
        ]
        assert during, dropout
        if dropout.kind == "out_of_view":
            assert set(during) == {ToolState.OUT_OF_VIEW}
        else:
            stale = [
                s[dropout.tool] for t, s in states if dropout.start_s + 0.3 <= t < dropout.end_s
            ]
            assert stale and set(stale) == {ToolState.STALE}  # within 300 ms of the last update

    def disturbed(tool, t):
        return any(d.tool == tool and d.start_s - period <= t < d.end_s + period for d in dropouts)

    for t, state in states:
        for tool, value in state.items():
            if not disturbed(tool, t):
                assert value is ToolState.OK, (t, tool, value)


def test_camera_pose_and_frames_agree_with_the_truth(replay):
    scenario, _, _, frames, _ = replay
    truth = scenario.truth
    image_from_tracker = invert_rigid(truth.tracker_from_image)
    for tick in (0, 300, 900):
        image_from_camera = (
            image_from_tracker
            @ truth.tracker_from_cameramarker[tick]
            @ truth.cameramarker_from_camera
        )
        np.testing.assert_allclose(
            image_from_camera, scenario.image_from_camera_at(truth.tick_times_s[tick]), atol=1e-9
        )
        measured = scenario.measured_poses[CAMERA][tick]
        assert np.linalg.norm(measured[:3, 3] - truth.tracker_from_cameramarker[tick][:3, 3]) < 1.5
    # The plan is not a phantom: the frames show the plan's own tumour in its exposed field, the
    # camera aimed at the bed's centre from 300 mm within 20 deg of the field's approach.
    fluorescence = truth.fluorescence
    assert fluorescence["tumour_source"] == "plan tumour mesh"
    assert fluorescence["phantom_truth"] is None
    field = fluorescence["field"]
    approach = np.array(field["approach_lps"])
    np.testing.assert_allclose(approach, [1.0, 0.0, 0.0])  # the tumour is left of the midline
    target = np.array(field["centre_lps_mm"]) + field["floor_offset_mm"] * approach
    k = truth.intrinsics.camera_matrix
    sensor = fluorescence["nir_sensor"]
    for t, message in frames[::7]:
        image_from_camera = scenario.image_from_camera_at(t)
        aim = apply_transform(invert_rigid(image_from_camera), target)
        np.testing.assert_allclose(aim[:2], 0.0, atol=1e-9)  # on the optical axis
        assert aim[2] == pytest.approx(truth.config.camera_distance_mm, abs=1e-6)
        assert np.degrees(np.arccos(-image_from_camera[:3, 2] @ approach)) <= 20.0 + 1e-6
        centre = apply_transform(invert_rigid(image_from_camera), np.array(TUMOUR_CENTRE_LPS_MM))
        expected = k[:2, :2] @ (centre[:2] / centre[2]) + k[:2, 2]
        frame = message.body.pixels[0].astype(float)
        # Outside the field the camera sees nothing: the dark level. The tumour's dome glows at
        # the tracer's peak (gain 2000 DN at 300 mm, less the vignetting), the bed at 20 % of it.
        assert np.median(frame) == pytest.approx(sensor["dark_level_dn"], abs=3)
        assert 1500 < frame.max() - sensor["dark_level_dn"] < 2300
        signal = np.clip(frame - sensor["dark_level_dn"] - 1000.0, 0.0, None)  # the dome only
        rows, columns = np.indices(frame.shape)
        centroid = [np.sum(columns * signal) / signal.sum(), np.sum(rows * signal) / signal.sum()]
        np.testing.assert_allclose(centroid, expected, atol=1.5)


def test_truth_json_round_trip(tmp_path, replay):
    scenario = replay[0]
    write_truth(tmp_path / "truth.json", scenario)
    payload = json.loads((tmp_path / "truth.json").read_text())
    assert payload["schema"] == "igcs-simulation-truth"
    np.testing.assert_allclose(payload["reference_from_image"], scenario.truth.reference_from_image)
    np.testing.assert_allclose(
        np.array(payload["image_from_reference"]) @ np.array(payload["reference_from_image"]),
        np.eye(4),
        atol=1e-12,
    )
    assert payload["tip_in_pointer_mm"] == list(POINTER_TIP_IN_POINTER_MM)
    assert len(payload["fiducials"]) == 6 and payload["fiducials"][0]["name"] == "F1"
    assert payload["camera_intrinsics"]["image_size_px"] == [80, 64]
    assert len(payload["poses"]["t_s"]) == len(payload["poses"]["tracker_from_pointer"])
    assert {d["kind"] for d in payload["dropouts"]} == {"out_of_view", "stall"}


def test_bad_inputs_are_refused(tmp_path, plan_folder):
    with pytest.raises(InputError, match=r"at least 0\.2 s shorter than travel_s"):
        SimulationConfig(dropout_s=1.5, travel_s=1.5)
    with pytest.raises(InputError, match="fle_rms_mm must be >= 0"):
        SimulationConfig(fle_rms_mm=-1.0)
    with pytest.raises(InputError, match="needs at least 3 points"):
        build_scenario(np.zeros((2, 3)), np.random.default_rng(0).normal(size=(50, 3)))
    with pytest.raises(InputError, match="dropouts need as many travel segments"):
        build_scenario(
            load_plan(plan_folder).fiducials_lps_mm[:3],
            np.random.default_rng(0).normal(size=(50, 3)) * 50,
            config=SimulationConfig(stall_count=9, sweep_point_count=0),
        )
    payload = json.loads((plan_folder / "plan.json").read_text())
    payload["fiducials"] = payload["fiducials"][:2]
    small = tmp_path / "small"
    small.mkdir()
    (small / "plan.json").write_text(json.dumps(payload))
    with pytest.raises(InputError, match="has 2 fiducials; the simulator needs at least 3"):
        scenario_from_plan(small)


def test_serve_scenario_paces_and_restamps(plan_folder):
    """Paced at 10x: 1.5 s of scenario takes about 0.15 s; timestamps become wall-clock."""
    import threading
    import time

    from navigation.simulation.simulator_io import serve_scenario

    scenario = scenario_from_plan(
        plan_folder, SimulationConfig(seed=1, **SMALL_FRAMES), duration_s=1.5
    )
    expected = sum(1 for _ in scenario.timeline())
    received = []
    before_wall, before = time.time(), time.monotonic()
    sent = serve_scenario(scenario, received.append, speed=10.0)
    elapsed = time.monotonic() - before
    assert sent == len(received) == expected
    assert 0.13 < elapsed < 1.0
    stamps = [m.timestamp_s for m in received]
    assert stamps == sorted(stamps) and before_wall <= stamps[0] and stamps[-1] <= time.time()
    # Each pose keeps its own sample time (scaled by the speed), whenever it was sent.
    scenario_times = np.array([t for t, _ in scenario.timeline()])
    np.testing.assert_allclose(np.diff(stamps), np.diff(scenario_times) / 10.0, atol=1e-6)
    stop = threading.Event()
    stop.set()
    assert serve_scenario(scenario, received.append, speed=1.0, stop=stop) == 0
    with pytest.raises(InputError, match="speed must be a positive"):
        serve_scenario(scenario, received.append, speed=0.0)


def test_short_travels_ending_on_a_tick_do_not_overshoot(plan_folder):
    """A travel whose minimum-jerk profile rounds a hair above 1 at its end (0.8 s travels at
    30 Hz did) still gives poses: the profile is clamped to [0, 1]."""
    config = SimulationConfig(rest_s=0.5, travel_s=0.8, dwell_s=1.3, dropout_s=0.5, sweep_s=4.0)
    scenario = scenario_from_plan(plan_folder, config, duration_s=8.0)
    poses = scenario.truth.tracker_from_pointer
    assert np.isfinite(poses).all() and len(poses) == len(scenario.truth.tick_times_s)
