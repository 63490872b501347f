"""Fluorescence mapping speed on a real patient's surgical field, against a baseline revision.

    python benchmarks/bench_fluorescence_patient.py [--plan PLAN] [--sizes 200000 500000]
        [--frames 20] [--rounds 3] [--baseline main] [--decimator-order-baseline]

The field is the transcervical wound cut into HN-CHUS-052's own anatomy
(:mod:`navigation.fluorescence.approach`; the plan is made from ``../shared/data`` with ``igcs
plan --pet`` unless ``--plan`` is given): contoured at 0.5 mm, linearly subdivided and decimated
(``fast_simplification``) to each size, so every size is the same real surface. Frames are
1280 x 1024 uint16, from the simulator's camera orbit (300 mm, 20 deg cone about the approach).
Per frame: ``FrameProjector.project`` (visibility with occlusion, sampling, radiometry) and
``FluorescenceMap.fuse``; and the highlight mask alone.

In the same run, the same work by the rendering and registration packages of ``--baseline``
(exported with ``git archive``) and by this checkout, both on the mesh spatially ordered as the
field builder gives it (``--decimator-order-baseline``: the baseline on the decimator's vertex
order, as before the field builder ordered its meshes), each in a fresh process, alternating for
``--rounds`` rounds: the ratio of medians is what a shared machine can measure. The load average
is printed at the start, at the end and with every row (its range over that row's workers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")

PATIENT = ROOT.parent / "shared" / "data" / "hn-petct-human" / "HN-CHUS-052"
#: The 1280 x 1024 NIR camera of ``bench_fluorescence.py`` (barrel distortion).
CAMERA_MATRIX = np.array([[1500.0, 0.0, 641.3], [0.0, 1502.0, 509.7], [0.0, 0.0, 1.0]])
DISTORTION = np.array([-0.12, 0.08, 0.001, -0.0008, 0.01])

#: Runs in a fresh interpreter with either code on its path: times the mapping of a mesh.
WORKER = r"""
import json, sys, time
import numpy as np
from registration.camera_intrinsics import CameraIntrinsics
try:
    from rendering.fluorescence.camera_model import CameraModel
    from rendering.fluorescence.fusion import FluorescenceMap
    from rendering.fluorescence.projection import FrameProjector
    from rendering.fluorescence.surface_mesh import SurfaceMesh
except ImportError:  # a baseline from before the fluorescence core was rendering.fluorescence
    from rendering.camera_model import CameraModel  # before the move
    from rendering.fluorescence_map import FluorescenceMap  # before the move
    from rendering.fluorescence_projection import FrameProjector  # before the move
    from rendering.surface_mesh import SurfaceMesh  # before the move
data = np.load(sys.argv[1])
mesh = SurfaceMesh(data["vertices"], data["triangles"], data["normals"])
camera = CameraModel(CameraIntrinsics(data["camera_matrix"], data["distortion"], (1280, 1024)))
projector = FrameProjector(mesh, camera)
fmap = FluorescenceMap(mesh.vertex_count)
frame, poses = data["frame"], data["poses"]
mesh.bvh()
fmap.fuse(projector.project(frame, poses[0]))  # compile, warm up
times = []
for pose in poses:
    start = time.perf_counter()
    fmap.fuse(projector.project(frame, pose))
    times.append(time.perf_counter() - start)
import os
print(json.dumps({"fps": 1.0 / float(np.median(times)), "best": 1.0 / float(np.min(times)),
                  "load": os.getloadavg()[0]}))
"""


def patient_plan(folder: Path) -> Path:
    """``igcs plan`` of the patient with its PET tumour into ``folder/plan``."""
    from navigation.cli import main

    plan = folder / "plan"
    status = main(
        [
            "plan", str(PATIENT / "CT"), "--pet", str(PATIENT / "PET"), "--out", str(plan),
            "--no-stl",
        ]
    )  # fmt: skip
    if status != 0:
        raise SystemExit(f"igcs plan failed ({status})")
    return plan


def field_meshes(plan_dir: Path, sizes: list[int]):
    """The wound's surface at each size: (contour-order mesh, spatially ordered mesh)."""
    import dataclasses

    import fast_simplification

    from navigation.fluorescence.approach import approach_geometry, build_approach_field
    from navigation.planning.plan import load_plan
    from rendering.fluorescence.surface_mesh import SurfaceMesh
    from rendering.surface_polydata import polydata_from_surface

    plan = load_plan(plan_dir)
    geometry = approach_geometry(plan)
    field = build_approach_field(plan, dataclasses.replace(geometry, spacing_mm=0.5))
    meshes = {}
    for size in sizes:
        levels = 1 if size * 2 < 4 * field.mesh.vertex_count else 2
        fine = polydata_from_surface(field.mesh).subdivide(levels, "linear")
        faces = np.asarray(fine.faces).reshape(-1, 4)[:, 1:]
        points, triangles = fast_simplification.simplify(
            np.asarray(fine.points, dtype=np.float32), faces, target_count=2 * size
        )
        contour_order = SurfaceMesh(np.asarray(points, dtype=np.float64), triangles)
        meshes[size] = (contour_order, contour_order.spatially_ordered())
    return geometry, meshes


def orbit_poses(geometry, frames: int) -> np.ndarray:
    from navigation.simulation.simulated_motion import CameraOrbit

    orbit = CameraOrbit(geometry.floor_point_lps_mm, geometry.approach_lps, 300.0)
    return orbit.poses(np.linspace(0.0, 20.0, frames, endpoint=False))


def run_worker(code_root: Path, data: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(code_root),
        "NUMBA_CACHE_DIR": str(data.parent / code_root.name),
    }
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(data)],
        env=env, cwd=str(data.parent), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"worker failed ({code_root}):\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", type=Path, help="the patient's plan (default: made here)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 500_000])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument(
        "--decimator-order-baseline", action="store_true",
        help="give the baseline the mesh in the decimator's vertex order",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        plan = args.plan or patient_plan(work)
        baseline = work / "baseline"
        baseline.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.baseline, "rendering", "registration"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout  # fmt: skip
        (work / "baseline.tar").write_bytes(archive)
        with tarfile.open(work / "baseline.tar") as tar:
            tar.extractall(baseline, filter="data")
        (baseline / "navigation").mkdir()
        geometry, meshes = field_meshes(plan, args.sizes)
        poses = orbit_poses(geometry, args.frames)
        rng = np.random.default_rng(1)
        frame = rng.integers(100, 3000, size=(1024, 1280), dtype=np.uint16)
        from rendering.highlights import HighlightDetector, highlight_mask

        rows = []
        for size, (old, new) in meshes.items():
            files = {}
            baseline_mesh = old if args.decimator_order_baseline else new
            for name, mesh in (("baseline", baseline_mesh), ("current", new)):
                files[name] = work / f"mesh_{size}_{name}.npz"
                np.savez(
                    files[name], vertices=mesh.vertices_in_image, triangles=mesh.triangles,
                    normals=mesh.normals, frame=frame, poses=poses,
                    camera_matrix=CAMERA_MATRIX, distortion=DISTORTION,
                )  # fmt: skip
            fps: dict[str, list[float]] = {"baseline": [], "current": []}
            loads = []
            for _ in range(args.rounds):
                for name, code in (("baseline", baseline), ("current", ROOT)):
                    result = run_worker(code, files[name])
                    fps[name].append(result["fps"])
                    loads.append(result["load"])
            start = time.perf_counter()
            for _ in range(10):
                highlight_mask(frame, HighlightDetector(dark_level_dn=100.0))
            mask_ms = 100.0 * (time.perf_counter() - start)
            rows.append((size, new.vertex_count, np.median(fps["baseline"]),
                         np.median(fps["current"]), mask_ms, min(loads), max(loads)))  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    head = f"{'target':>8} {'vertices':>9} | {'baseline fps':>12} {'current fps':>11}"
    print(f"{head} {'ratio':>6} | {'mask ms':>7} | load")
    for size, vertices, old_fps, new_fps, mask_ms, low, high in rows:
        print(f"{size:>8} {vertices:>9} | {old_fps:>12.1f} {new_fps:>11.1f} "
              f"{new_fps / old_fps:>6.2f} | {mask_ms:>7.1f} | {low:.1f}-{high:.1f}")  # fmt: skip
    print(
        f"\nfps: median over {args.rounds} rounds (each a fresh process, {args.frames} frames) of "
        "the per-frame mapping (visibility with occlusion, sampling, radiometry, fusion) of a "
        f"1280x1024 frame; baseline = {args.baseline}'s rendering and registration packages, "
        "current = this checkout, on the "
        + (
            "decimator's order (baseline) and the spatially ordered mesh (current). "
            if args.decimator_order_baseline
            else "spatially ordered mesh. "
        )
        + "mask ms: the highlight mask of one frame (this checkout). load: the load average "
        "(1 min) after each worker of the row, lowest-highest."
    )


if __name__ == "__main__":
    main()
