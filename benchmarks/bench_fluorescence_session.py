"""Fluorescence on the phantom: field building, synthetic frames, offline and live mapping.

    python benchmarks/bench_fluorescence_session.py [--frames 60] [--sizes 320x256 640x512]

Plans the sample phantom (generated on first use), then times:

- building the field mesh from the plan (model) and from the phantom truth (world);
- the synthetic NIR camera (``render_nir_frame``, 2x2 supersampling) per frame at each size;
- live mapping per frame (``LiveFluorescence.add_frame``: visibility + sampling + fusion);
- offline mapping of a recorded session (``map_session``: reading, decoding, pose
  interpolation, projection and fusion) in frames per second, at the simulator's 320 x 256.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")

import numpy as np

from navigation.fluorescence.live import LiveFluorescence
from navigation.fluorescence.mapping_inputs import load_simulation_truth, resolve_inputs
from navigation.fluorescence.session_mapping import map_session
from navigation.planning.plan import load_plan
from navigation.simulation.phantom import load_truth
from navigation.simulation.sample_data import ensure_sample_phantom
from navigation.simulation.simulated_motion import CameraOrbit
from navigation.simulation.simulator import SimulationConfig
from navigation.simulation.simulator_io import scenario_from_plan, write_truth
from navigation.simulation.tracer import phantom_field, world_scene
from navigation.tracking.recording import SessionWriter
from registration.camera_intrinsics import CameraIntrinsics
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.nir_camera import NirSensorModel, render_nir_frame
from rendering.fluorescence.radiometry import RadiometricCalibration


def timed(function, repeats: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def plan_phantom(folder: Path) -> Path:
    from navigation.cli import main

    phantom = ensure_sample_phantom()
    truth = load_truth(phantom)
    seed = ",".join(repr(float(v)) for v in truth.tumour_seed_lps_mm)
    with contextlib.redirect_stdout(io.StringIO()):  # the plan's summary is not the table
        status = main(["plan", str(phantom / "dicom"), "--out", str(folder / "plan"),
                       f"--tumour-seed={seed}", "--expected-fiducials",
                       str(len(truth.fiducial_names))])  # fmt: skip
    if status != 0:
        raise SystemExit("planning the sample phantom failed")
    return phantom


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per timing (60)")
    parser.add_argument("--sizes", nargs="+", default=["320x256", "640x512", "1280x1024"])
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        phantom = plan_phantom(folder)
        plan, truth = load_plan(folder / "plan"), load_truth(phantom)
        phantom_field(plan, truth)  # warm caches (imports, VTK)
        seconds, field = timed(lambda: phantom_field(plan, truth), 3)
        rows.append((f"field mesh from the plan ({field.mesh.vertex_count} vertices)",
                     f"{seconds * 1e3:.0f} ms"))  # fmt: skip
        seconds, scene = timed(lambda: world_scene(plan, truth=truth, geometry=field.geometry), 3)
        world, emission, _ = scene
        rows.append(("world mesh from the phantom truth", f"{seconds * 1e3:.0f} ms"))
        sensor = NirSensorModel()
        geometry = field.geometry
        orbit = CameraOrbit(geometry.floor_point_lps_mm, geometry.approach_lps, 300.0)
        poses = [orbit.image_from_camera(t) for t in np.linspace(0, 20, args.frames)]
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            focal = 1.2 * width
            camera = CameraModel(CameraIntrinsics(
                np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]]),
                np.zeros(5), (width, height)))  # fmt: skip
            render_nir_frame(world, emission, camera, poses[0], sensor=sensor)
            start = time.perf_counter()
            frames = [render_nir_frame(world, emission, camera, p, sensor=sensor, seed=k).pixels
                      for k, p in enumerate(poses)]  # fmt: skip
            render = (time.perf_counter() - start) / len(poses)
            calibration = RadiometricCalibration(
                dark_level=sensor.dark_level_dn, flat_field=sensor.flat_field(camera)
            )
            live = LiveFluorescence(field, camera.intrinsics, radiometry=calibration)
            live.add_frame(frames[0], timestamp_s=0.0, image_from_camera=poses[0])
            start = time.perf_counter()
            for k, (frame, pose) in enumerate(zip(frames, poses, strict=True)):
                live.add_frame(frame, timestamp_s=float(k), image_from_camera=pose)
            mapping = (time.perf_counter() - start) / len(poses)
            rows.append((f"synthetic NIR frame {size}", f"{render * 1e3:.1f} ms"))
            rows.append((f"live mapping per frame {size}", f"{mapping * 1e3:.1f} ms"))
        config = SimulationConfig(seed=1, camera_fps=10.0)
        scenario = scenario_from_plan(folder / "plan", config, duration_s=args.frames / 10.0)
        write_truth(folder / "truth.json", scenario)
        session = folder / "session.igcsrec"
        with SessionWriter(session) as writer:
            for t, message in scenario.timeline():
                writer.write(message, arrival_s=t + 0.002, source="simulator")
        inputs = resolve_inputs(recorded={}, truth=load_simulation_truth(folder / "truth.json"))
        seconds, result = timed(lambda: map_session(session, field.mesh, inputs), 2)
        rows.append((f"offline map_session, 320x256, {result.frames_total} frames "
                     f"({session.stat().st_size / 1e6:.0f} MB)",
                     f"{result.frames_total / seconds:.0f} frames/s"))  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"{'measurement':<{width}}  result")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
