"""``igcs fluorescence`` end to end on the phantom, and the offline mapper's frame accounting.

End to end: ``igcs simulate`` (a subprocess) on the phantom plan streams over loopback into an
in-process recorder (IgtlClient -> SessionWriter), then ``igcs fluorescence --truth`` maps the
session; its ``metrics.json`` is checked against the phantom's truth.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from navigation.cli import main
from navigation.fluorescence.field import FieldGeometry
from navigation.fluorescence.mapping_inputs import (
    Registration,
    load_simulation_truth,
    recorded_inputs,
    resolve_inputs,
)
from navigation.fluorescence.session_mapping import (
    SKIP_CAMERA,
    SKIP_NOT_2D,
    SKIP_SIZE,
    map_session,
)
from navigation.planning.plan import load_plan
from navigation.simulation.phantom import load_truth
from navigation.simulation.simulated_motion import CameraOrbit
from navigation.simulation.simulator import CAMERA, SimulationConfig
from navigation.simulation.simulator_io import scenario_from_plan, write_truth
from navigation.simulation.tracer import phantom_field
from navigation.tracking.messages import ImageBody
from navigation.tracking.recording import SessionReader, SessionWriter
from registration.core.transforms import invert_rigid
from rendering.fluorescence.accuracy import region_accuracy
from tests.navigation.simulator_process import run_simulate

pytestmark = pytest.mark.slow


def test_simulate_record_and_map_the_phantom(phantom_plan, phantom_ct, tmp_path):
    truth_path = tmp_path / "simulation.json"
    session = tmp_path / "session.igcsrec"
    # Frames rendered before serving: a simulator rendering live falls behind on a busy
    # machine, and late messages stamped at acquisition are rightly taken for a clock jump.
    arguments = ["--plan", str(phantom_plan), "--seed", "3", "--duration", "4", "--camera-fps",
                 "10", "--image-size", "320x256", "--truth", str(truth_path),
                 "--prerender"]  # fmt: skip
    with SessionWriter(session) as writer:
        run_simulate(arguments, writer.write, timeout_s=60.0)
    out = tmp_path / "out"
    status = main(["fluorescence", "--plan", str(phantom_plan), "--session", str(session),
                   "--out", str(out), "--truth", str(truth_path)])  # fmt: skip
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    print(json.dumps({k: metrics[k] for k in ("quantification", "frames", "truth")}, indent=1))
    frames = metrics["frames"]
    assert frames["total"] >= 35 and frames["used"] == frames["seeing_field"]
    assert frames["used"] + sum(frames["skipped"].values()) == frames["total"]
    assert frames["used"] >= 0.8 * frames["total"]
    assert frames["time_base"]["samples_by_source"].get("arrival", 0) == 0  # sane sender clock
    assert metrics["inputs"]["registration"] == "simulator ground truth (--truth)"
    assert "dark level 100 DN" in metrics["inputs"]["radiometry"]
    assert metrics["thresholds"]["positive_sbr"] == 2.0
    assert "tracer- and device-specific" in metrics["thresholds"]["note"]
    q = metrics["quantification"]
    assert q["sbr"] > metrics["thresholds"]["positive_sbr"]
    assert q["sbr"] == pytest.approx(q["target_mean"] / q["background_mean"])
    assert q["target_linear_mean"] > q["background_linear_mean"] > 0  # raw means reported
    assert "tumour dome" in metrics["regions"]["target"]
    assert "ring 6-14 mm" in metrics["regions"]["background"]
    truth = metrics["truth"]
    assert truth["source"] == "phantom truth (analytic tumour)"
    assert truth["dice"] >= 0.9
    assert truth["boundary_error_mm"] <= 1.0
    assert truth["background_level_ratio"] == pytest.approx(1.0, abs=0.03)
    assert truth["mapped_sbr_on_true_background"] == pytest.approx(1.0, abs=0.03)
    assert q["sbr"] == pytest.approx(truth["true_target_sbr"], rel=0.1)
    import pyvista as pv

    poly = pv.read(out / "fluorescence.vtp")
    for name in ("fluorescence_mean", "fluorescence_count", "fluorescence_flag", "true_patch"):
        assert name in poly.point_data
    assert poly.point_data["fluorescence_count"].max() == frames["used"]
    flags = np.asarray(poly.point_data["fluorescence_flag"])
    assert (flags == 2).sum() == metrics["flags"]["positive_vertices"] > 0
    for name in ("fluorescence_front.png", "fluorescence_oblique.png"):
        image = __import__("matplotlib.image").image.imread(out / name)
        assert image.shape[:2] == (768, 1024) and image[..., :3].std() > 0.05


@pytest.fixture(scope="module")
def recorded(phantom_plan, tmp_path_factory):
    """A 3 s phantom session written straight from the scenario's timeline, with the camera
    marker untracked for 1.0 <= t < 1.5 s, one frame of the wrong size and one RGB frame."""
    folder = tmp_path_factory.mktemp("session")
    config = SimulationConfig(seed=4, out_of_view_count=0, stall_count=0)
    scenario = scenario_from_plan(phantom_plan, config, duration_s=3.0)
    write_truth(folder / "truth.json", scenario)
    session = folder / "session.igcsrec"
    with SessionWriter(session) as writer:
        for t, message in scenario.timeline():
            if message.device_name == CAMERA and 1.0 <= t < 1.5:
                continue
            if message.type == "IMAGE" and abs(t - 2.0) < 1e-9:
                body = dataclasses.replace(message.body, pixels=message.body.pixels[:, :-2])
                message = dataclasses.replace(message, body=body)
            if message.type == "IMAGE" and abs(t - 2.5) < 1e-9:
                rgb = np.repeat(message.body.pixels[..., np.newaxis], 3, axis=3)
                message = dataclasses.replace(message, body=ImageBody(rgb, np.eye(4)))
            writer.write(message, arrival_s=100.0 + t + 0.002, source="simulator")
    return scenario, session, folder / "truth.json"


def test_every_frame_is_used_or_skipped_with_its_reason(recorded, phantom_plan, phantom_ct):
    scenario, session, truth_path = recorded
    simulation = load_simulation_truth(truth_path)
    inputs = resolve_inputs(
        recorded=recorded_inputs(SessionReader(session).events()), truth=simulation
    )
    assert simulation.fluorescence["tumour_source"] == "phantom truth"
    assert simulation.fluorescence["phantom_truth"] == str((phantom_ct / "truth.json").resolve())
    geometry = FieldGeometry.from_dict(simulation.fluorescence["field"])
    # The simulator's camera circles the exposed field: its cone about the field's approach,
    # aimed at the bed's centre (the orbit that sees the whole patch in the phantom tests).
    orbit = CameraOrbit(geometry.floor_point_lps_mm, geometry.approach_lps, 300.0)
    for t in (0.0, 1.3, 2.9):
        np.testing.assert_allclose(
            scenario.image_from_camera_at(t), orbit.image_from_camera(t), atol=1e-9
        )
    field = phantom_field(load_plan(phantom_plan), load_truth(phantom_ct), geometry=geometry)
    mapping = map_session(session, field.mesh, inputs)
    assert mapping.frames_total == 30
    # Frames at 1.0 ... 1.4 s fall in the camera marker's 0.53 s gap.
    assert dict(mapping.skipped) == {SKIP_CAMERA: 5, SKIP_SIZE: 1, SKIP_NOT_2D: 1}
    assert mapping.frames_used == 23
    assert mapping.time_base["samples_by_source"] == {"sender": 30 + 2 * 90 - 15}
    np.testing.assert_allclose(np.diff(mapping.frame_times_s), 0.1, atol=1e-6)
    reference = region_accuracy(field.mesh, mapping.fused.mean / _background(field, mapping),
                                field.truth.true_sbr, level=2.0)  # fmt: skip
    assert reference.dice >= 0.9 and reference.boundary_error_mm <= 1.0
    # The same session through the tracker-frame chain (no reference poses needed): the
    # reference is static here, so image_from_tracker is constant and the maps agree.
    truth = scenario.truth
    tracker_inputs = dataclasses.replace(
        inputs,
        registration=Registration(
            truth.image_from_reference @ invert_rigid(truth.tracker_from_reference),
            "tracker",
            "test",
        ),
    )
    other = map_session(session, field.mesh, tracker_inputs)
    assert other.frames_used == 23 and "image_from_tracker @" in other.chain
    accuracy = region_accuracy(field.mesh, other.fused.mean / _background(field, other),
                               field.truth.true_sbr, level=2.0)  # fmt: skip
    assert accuracy.dice >= 0.9 and accuracy.boundary_error_mm <= 1.0
    print(f"short sweep: Dice {reference.dice:.3f} / {accuracy.dice:.3f}, boundary "
          f"{reference.boundary_error_mm:.3f} / {accuracy.boundary_error_mm:.3f} mm")  # fmt: skip


def _background(field, mapping) -> float:
    values = mapping.fused.mean[field.background_mask]
    return float(np.nanmean(values))


def test_the_command_says_what_is_missing(recorded, phantom_plan, tmp_path, capsys):
    _, session, truth_path = recorded
    common = ["fluorescence", "--plan", str(phantom_plan), "--session", str(session),
              "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(common) == 2
    assert "no camera intrinsics: the session recorded none" in capsys.readouterr().err
    not_truth = tmp_path / "other.json"
    not_truth.write_text(json.dumps({"schema": "igcs-registration"}))
    assert main([*common, "--truth", str(not_truth)]) == 2
    assert "is not a simulator truth file" in capsys.readouterr().err
    assert main([*common, "--truth", str(truth_path), "--registration", str(not_truth)]) == 2
    assert "holds neither image_from_reference nor image_from_tracker" in capsys.readouterr().err
    missing = ["fluorescence", "--plan", str(phantom_plan), "--session",
               str(tmp_path / "none.igcsrec"), "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(missing) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_metrics_of_maps_without_a_ratio_or_a_boundary_are_valid_json(phantom_scene, tmp_path):
    """Nothing seen: no quantification, with the reason; everything seen at one level: SBR 1,
    no positive region, so Dice 0 and an undefined (null) boundary error; both written."""
    from navigation.fluorescence.mapping_inputs import MappingInputs
    from navigation.fluorescence.report import fluorescence_metrics, write_outputs
    from navigation.fluorescence.session_mapping import SessionMapping
    from rendering.fluorescence.fusion import FluorescenceMap, FusedFluorescence
    from rendering.fluorescence.radiometry import RadiometricCalibration
    from tests.navigation.fluorescence.test_phantom_mapping import INTRINSICS

    field = phantom_scene.field
    n = field.mesh.vertex_count
    inputs = MappingInputs(INTRINSICS, np.eye(4), Registration(np.eye(4), "reference", "test"),
                           RadiometricCalibration(), {"registration": "test"})  # fmt: skip

    def mapping(fused):
        return SessionMapping(fused, 1, 1, 0, {}, {}, "chain", np.zeros(1))

    unseen = fluorescence_metrics(field, mapping(FluorescenceMap(n).snapshot()), inputs)
    assert unseen["quantification"] is None
    assert "no seen vertex in the target region" in unseen["quantification_reason"]
    level = np.full(n, 400.0)
    flat = FusedFluorescence(level, level, level, np.ones(n, int), np.zeros(n, int),
                             np.zeros(n), np.ones(n))  # fmt: skip
    uniform = fluorescence_metrics(field, mapping(flat), inputs)
    assert uniform["quantification"]["sbr"] == pytest.approx(1.0)
    assert uniform["truth"]["dice"] == 0.0 and uniform["truth"]["boundary_error_mm"] is None
    for name, metrics, fused in (("unseen", unseen, FluorescenceMap(n).snapshot()),
                                 ("uniform", uniform, flat)):  # fmt: skip
        paths = write_outputs(
            tmp_path / name, field, mapping(fused), metrics, window_size=(320, 240)
        )
        assert json.loads(paths["metrics"].read_text()) == metrics
        assert ("view_front" in paths) == (name == "uniform")
