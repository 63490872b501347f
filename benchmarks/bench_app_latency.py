"""Tracking-to-screen latency of the navigation app, and its frame cost against a bare render.

Run: ``python benchmarks/bench_app_latency.py [--seconds S] [--fps 10 15] [--frames N]``

Set-up: the digital phantom is planned once (``igcs phantom`` + ``igcs plan`` into a temporary
folder), ``igcs simulate`` serves its scenario over loopback OpenIGTLink from its own process
(30 Hz poses, 10 fps synthetic NIR frames, restamped with the wall clock), and a
:class:`NavigationSession` with the simulator's true registration accepted renders offscreen
(EGL, 1280x1024) with the fluorescence mapper running in its thread, as ``igcs navigate
--headless`` does.

1. Latency, per target cadence: for ``--seconds`` the render loop draws the newest state; each
   frame's latency is presentation (after ``WaitForCompletion``) minus the local arrival time
   of the newest tool pose it draws. Target: p95 <= one frame time (1 / measured fps) + 10 ms.
2. Frame cost, interleaved frame by frame on the same live session: the app's whole frame
   (``RenderLoop.tick``: snapshot from the session under its lock, guidance, TRE, layout update,
   render, glFinish), the layout alone re-drawing the last snapshot, and a bare VTK render of the
   same display meshes in one renderer at the same window size (the views helper's reference in
   ``bench_views.py``). Ratios are medians over frame pairs, of wall time and of the process's
   CPU time (less sensitive to other load on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")

import numpy as np
import vtk
from bare_render import bare_window  # benchmarks/bare_render.py (run as a script)

from navigation.app.config import NavigationConfig
from navigation.app.fluorescence import FluorescenceMapper
from navigation.app.render_loop import RenderLoop
from navigation.app.session import NavigationSession
from navigation.cli import main as igcs
from navigation.fluorescence.mapping_inputs import load_simulation_truth
from navigation.planning.plan_scene import load_plan_scene
from navigation.tracking.fiducial_collection import CollectedFiducial
from registration.core.transforms import apply_transform, invert_rigid
from rendering.layout import NavigationLayout
from rendering.scene3d import DEFAULT_TRIANGLE_BUDGET

WINDOW = (1280, 1024)


def make_plan(folder: Path) -> Path:
    """The phantom CT and its plan (what ``igcs demo`` plans)."""
    from navigation.simulation.phantom import load_truth, write_phantom

    phantom = folder / "phantom_ct"
    write_phantom(phantom, modality="CT", seed=0, size="small")
    truth = load_truth(phantom)
    seed = ",".join(repr(float(v)) for v in truth.tumour_seed_lps_mm)
    node = ",".join(repr(float(v)) for v in truth.node_centroid_lps_mm)
    plan = folder / "plan"
    status = igcs(["plan", str(phantom / "dicom"), "--out", str(plan), f"--tumour-seed={seed}",
                   f"--node-seed={node}", "--expected-fiducials",
                   str(len(truth.fiducial_names))])  # fmt: skip
    if status != 0:
        raise SystemExit("planning the phantom failed")
    return plan


def accept_truth(session: NavigationSession, image_from_reference: np.ndarray) -> None:
    """Collect the planned fiducials where the true registration puts them; register, accept."""
    plan = session.scene.plan
    points = apply_transform(invert_rigid(image_from_reference), plan.fiducials_lps_mm)
    for index, point in enumerate(points):
        session.store_fiducial(
            CollectedFiducial(point, 0.0, 0.0, 20, np.nan, np.nan), index, source="truth"
        )
    session.register()
    session.accept()


def start_simulator(plan: Path, folder: Path, seconds: float) -> tuple[subprocess.Popen, int]:
    """``igcs simulate`` in its own process (as a tracker is; numba's workqueue layer must not
    be entered by the simulator's frames and the app's mapper at once): (process, port)."""
    log = folder / "simulate.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "navigation", "simulate", "--plan", str(plan), "--port", "0",
         "--duration", f"{seconds:.0f}", "--truth", str(folder / "truth.json")],
        stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        found = re.search(r"waiting for a client on [^:]+:(\d+)", log.read_text())
        if found:
            return process, int(found.group(1))
        if process.poll() is not None:
            raise SystemExit(f"igcs simulate failed:\n{log.read_text()}")
        time.sleep(0.1)
    process.kill()
    raise SystemExit("igcs simulate did not start listening within 120 s")


def bare_of(layout: NavigationLayout) -> vtk.vtkRenderWindow:
    """The layout's display meshes in one renderer, same size and materials, nothing else."""
    return bare_window(
        (
            layout.scene.display_meshes[name].mesh,
            model.color,
            0.35 if model.role == "skin" else model.opacity,
        )
        for name, model in layout.scene.models.items()
    )


def timed_ms(action, window: vtk.vtkRenderWindow) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    window.WaitForCompletion()
    return (time.perf_counter() - start) * 1000.0


def run(
    plan: Path,
    folder: Path,
    cadences: list[float],
    seconds: float,
    frames: int,
    *,
    budget: int,
    fluorescence: bool,
    sync_s: float,
) -> None:
    scene = load_plan_scene(plan)
    total_s = 2.0 + seconds * len(cadences) + frames * 0.5 + 30.0
    simulator, port = start_simulator(plan, folder, total_s)
    truth = load_simulation_truth(folder / "truth.json")
    session = NavigationSession(
        scene,
        NavigationConfig(fle_rms_mm=0.3),
        intrinsics=truth.intrinsics,
        cameramarker_from_camera=truth.cameramarker_from_camera,
    )
    client = session.connect("127.0.0.1", port)
    client.wait_connected(10.0)
    accept_truth(session, truth.image_from_reference)
    mapper = FluorescenceMapper(session).start() if fluorescence else None
    models = list(scene.models) + ([mapper.display_model] if mapper is not None else [])
    layout = NavigationLayout(models, scene.volumes, window_size=WINDOW, triangle_budget=budget)
    print(
        f"plan: {sum(m.mesh.n_cells for m in scene.models)} triangles in, "
        f"{layout.scene.triangle_count} drawn; simulator 30 Hz poses + 10 fps frames "
        "(the pointer visits the fiducials and sweeps the skin); fluorescence mapper "
        f"{'on' if mapper else 'off'}; snapshot synchronised to the tracker: "
        f"{f'up to {sync_s * 1000:.0f} ms' if sync_s > 0 else 'no'}"
    )
    try:
        time.sleep(1.5)  # the pointer leaves its rest
        header = (
            f"{'target fps':>10} {'fps':>6} {'frame ms p50':>13} {'p95':>6} {'snapshot':>9} "
            f"{'latency p50':>12} {'p95':>6} {'frame time+10':>14} {'met':>4} "
            f"{'latency-own frame p95':>22} {'samples':>8}"
        )
        print("\n1. tracking-to-screen latency (message arrival -> frame presented), ms")
        print(header)
        print("-" * len(header))
        for fps in cadences:
            loop = RenderLoop(session, layout, target_fps=fps, sync_to_tracker_s=sync_s)
            stats = loop.run_for(seconds)
            loop.close()
            budget = 1000.0 / stats.render_fps + 10.0
            extra = [r.latency_ms - r.frame_ms for r in loop.records if np.isfinite(r.latency_ms)]
            print(
                f"{fps:>10.0f} {stats.render_fps:>6.1f} {stats.frame_ms_p50:>13.1f} "
                f"{stats.frame_ms_p95:>6.1f} {stats.snapshot_ms_p50:>9.2f} "
                f"{stats.latency_ms_p50:>12.1f} "
                f"{stats.latency_ms_p95:>6.1f} {budget:>14.1f} "
                f"{'yes' if stats.latency_ms_p95 <= budget else 'no':>4} "
                f"{np.percentile(extra, 95):>22.1f} {stats.latency_samples:>8d}"
            )

        print(
            "frame time = 1 / measured fps; latency-own frame = latency minus the frame's own "
            "render time (the pose's wait for the snapshot plus presentation)"
        )
        print("\n2. frame cost, interleaved on the live session (median ms per frame)")
        loop = RenderLoop(session, layout, target_fps=1000.0, sync_to_tracker_s=0.0)
        bare = bare_of(layout)
        app_ms, snapshot_ms, layout_ms, bare_ms, app_cpu, bare_cpu = [], [], [], [], [], []
        for index in range(frames + 3):
            cpu = time.process_time()
            record = loop.tick()
            tick_cpu = (time.process_time() - cpu) * 1000.0
            assert loop.last_frame is not None
            snapshot = loop.last_frame.snapshot
            again = timed_ms(lambda s=snapshot: layout.render(s), layout.render_window)
            cpu = time.process_time()
            plain = timed_ms(bare.Render, bare)
            plain_cpu = (time.process_time() - cpu) * 1000.0
            if index >= 3:
                app_ms.append(record.frame_ms)
                snapshot_ms.append(record.snapshot_ms)
                layout_ms.append(again)
                bare_ms.append(plain)
                app_cpu.append(tick_cpu)
                bare_cpu.append(plain_cpu)
        loop.close()
        app, lay, plain = (np.array(v) for v in (app_ms, layout_ms, bare_ms))
        cpu_app, cpu_bare = np.array(app_cpu), np.array(bare_cpu)
        header = (
            f"{'app frame':>10} {'of which snapshot':>18} {'same frame again':>17} "
            f"{'bare VTK':>9} {'app/bare':>9} {'again/bare':>11} {'cpu app':>8} {'cpu bare':>9} "
            f"{'cpu app/bare':>13}"
        )
        print(header)
        print("-" * len(header))
        print(
            f"{np.median(app):>10.1f} {np.median(snapshot_ms):>18.2f} {np.median(lay):>17.1f} "
            f"{np.median(plain):>9.1f} {np.median(app / plain):>9.2f} "
            f"{np.median(lay / plain):>11.2f} {np.median(cpu_app):>8.1f} "
            f"{np.median(cpu_bare):>9.1f} {np.median(cpu_app / cpu_bare):>13.2f}"
        )
        print(
            "app frame = RenderLoop.tick (snapshot from the session + views update incl. "
            "re-slicing at the moved tip + render + glFinish); same frame again = the layout "
            "re-drawing that snapshot (slices cached); bare VTK = the drawn meshes alone. "
            "Wall ms; cpu = this process's CPU time over the frame (all threads: the "
            "rasteriser's, and the mapper's and the tracker link's meanwhile), ms."
        )
        if mapper is not None:
            state = mapper.state()
            print(
                f"\nfluorescence mapper meanwhile: {state.frames_mapped} frames mapped, "
                f"{state.frames_skipped} skipped (newest wins)"
            )
        bare.Finalize()
    finally:
        if mapper is not None:
            mapper.stop()
        layout.close()
        session.close()
        simulator.terminate()
        simulator.wait(10.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per cadence (15)")
    parser.add_argument("--fps", type=float, nargs="+", default=[10.0, 15.0])
    parser.add_argument("--frames", type=int, default=40, help="frame-cost frames (40)")
    parser.add_argument("--plan", type=Path, help="an existing plan folder (default: phantom)")
    parser.add_argument("--budget", type=int, default=DEFAULT_TRIANGLE_BUDGET, help="triangles")
    parser.add_argument("--no-fluorescence", action="store_true", help="mapper off")
    parser.add_argument(
        "--sync-ms", type=float, default=40.0, help="wait for a fresh pose (40; 0: off)"
    )
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.platform()}, "
        f"VTK {vtk.vtkVersion.GetVTKVersion()} offscreen "
        f"({os.environ['VTK_DEFAULT_OPENGL_WINDOW']}), window {WINDOW[0]}x{WINDOW[1]}"
    )
    with tempfile.TemporaryDirectory() as folder:
        plan = args.plan or make_plan(Path(folder))
        run(
            plan,
            Path(folder),
            args.fps,
            args.seconds,
            args.frames,
            budget=args.budget,
            fluorescence=not args.no_fluorescence,
            sync_s=args.sync_ms / 1000.0,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
