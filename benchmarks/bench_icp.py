"""ICP on 20k skin points: igcs's point-to-plane ICP against vtkIterativeClosestPointTransform.

Run from the project root: ``python benchmarks/bench_icp.py [--points 20000] [--repeats 3]``.

Set-up (same for every method, in one run): the real headsq CT's skin surface (marching cubes,
about 28k vertices / 56k triangles, image frame, mm); N points sampled uniformly on the skin
(noise-free, and with 0.2 mm Gaussian noise per axis like a tracked pointer), moved to a
"tracker" frame by a random rigid transform; the start is the true ``image_from_tracker``
perturbed by 10 deg about a random axis through the points' centroid and by 10 mm. Every
method starts from that pose. Reported: CPU time of the process (median of the repeats,
including building each method's closest-point structure; CPU rather than wall time because
the 2-core machine is shared) and wall time; the final RMS point-to-surface distance (exact,
computed the same way for all); the largest displacement error over the whole mesh and the
rotation error. Target: ours >= 5x faster than VTK at equal or better RMS.

VTK's ICP is point-to-point with a cell locator; it is shown with every point as a landmark
(accurate, slow) and with its default of 200 landmarks (fast, less accurate); both with VTK's
default of 50 iterations.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registration.closest_point import TriangleMeshLocator  # noqa: E402
from registration.core.transforms import (  # noqa: E402
    apply_transform,
    invert_rigid,
    make_rigid,
    random_rigid,
    rotation_about,
    rotation_error_deg,
)
from registration.surface_registration import register_surface  # noqa: E402
from tests.registration.head_surface import (  # noqa: E402
    SkinMesh,
    load_headsq,
    sample_surface,
    skin_mesh,
)

SHARED_DATA = Path(os.environ.get("IGCS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def vtk_icp(points: np.ndarray, mesh: SkinMesh, landmarks: int) -> np.ndarray:
    """image_from_start (4, 4) from vtkIterativeClosestPointTransform: rigid, VTK's defaults
    (50 iterations, no mean-distance stop, no centroid matching) except the landmark count."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray

    source = vtk.vtkPolyData()
    source_points = vtk.vtkPoints()
    source_points.SetData(numpy_to_vtk(np.ascontiguousarray(points), deep=True))
    source.SetPoints(source_points)
    target = vtk.vtkPolyData()
    target_points = vtk.vtkPoints()
    target_points.SetData(numpy_to_vtk(np.ascontiguousarray(mesh.vertices), deep=True))
    target.SetPoints(target_points)
    offsets = numpy_to_vtkIdTypeArray(
        np.arange(0, 3 * len(mesh.triangles) + 1, 3, dtype=np.int64), deep=True
    )
    connectivity = numpy_to_vtkIdTypeArray(mesh.triangles.ravel().astype(np.int64), deep=True)
    cells = vtk.vtkCellArray()
    cells.SetData(offsets, connectivity)
    target.SetPolys(cells)
    icp = vtk.vtkIterativeClosestPointTransform()
    icp.SetSource(source)
    icp.SetTarget(target)
    icp.GetLandmarkTransform().SetModeToRigidBody()
    icp.SetMaximumNumberOfLandmarks(landmarks)
    icp.Update()
    matrix = icp.GetMatrix()
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def run_scenario(
    mesh: SkinMesh, count: int, noise_mm: float, repeats: int, seed: int
) -> dict[str, float]:
    """Print one table (one noise level) and return each method's median time (s)."""
    rng = np.random.default_rng(seed)
    points_in_image = sample_surface(mesh, count, rng)
    points_in_image = points_in_image + rng.normal(scale=noise_mm, size=points_in_image.shape)
    tracker_from_image = random_rigid(rng)
    true_image_from_tracker = invert_rigid(tracker_from_image)
    points_in_tracker = apply_transform(tracker_from_image, points_in_image)
    centre = points_in_image.mean(axis=0)
    rotation = rotation_about(rng.normal(size=3), 10.0)
    shift = rng.normal(size=3)
    shift *= 10.0 / np.linalg.norm(shift)
    start = make_rigid(rotation, centre + shift - rotation @ centre) @ true_image_from_tracker
    points_at_start = apply_transform(start, points_in_tracker)
    locator = TriangleMeshLocator(mesh.vertices, mesh.triangles, mesh.normals)
    mesh_in_tracker = apply_transform(tracker_from_image, mesh.vertices)

    def ours() -> np.ndarray:
        return register_surface(
            points_in_tracker,
            mesh.vertices,
            mesh.triangles,
            mesh.normals,
            image_from_tracker=start,
        ).image_from_tracker

    methods = [
        ("igcs point-to-plane ICP (cKDTree, Tukey)", ours),
        (f"VTK ICP, {count} landmarks", lambda: vtk_icp(points_at_start, mesh, count) @ start),
        ("VTK ICP, 200 landmarks (default)", lambda: vtk_icp(points_at_start, mesh, 200) @ start),
    ]
    print(f"\n{count} points, noise {noise_mm:g} mm RMS per axis (median of {repeats} runs)")
    header = (
        f"{'method':42s} {'CPU s':>7s} {'wall s':>7s} {'RMS mm':>8s} {'pose err mm':>12s} "
        f"{'rot deg':>8s}"
    )
    print(header)
    print("-" * len(header))
    times: dict[str, float] = {}
    for name, method in methods:
        durations, walls = [], []
        for _ in range(repeats):
            began, began_wall = time.process_time(), time.perf_counter()
            result = method()
            durations.append(time.process_time() - began)
            walls.append(time.perf_counter() - began_wall)
        distances = locator.closest(apply_transform(result, points_in_tracker)).distances_mm
        rms = float(np.sqrt(np.mean(distances**2)))
        error = np.linalg.norm(
            apply_transform(result, mesh_in_tracker) - mesh.vertices, axis=1
        ).max()
        times[name] = statistics.median(durations)
        print(
            f"{name:42s} {times[name]:7.3f} {statistics.median(walls):7.3f} {rms:8.4f} "
            f"{error:12.4f} "
            f"{rotation_error_deg(result, true_image_from_tracker):8.4f}"
        )
    names = [name for name, _ in methods]
    print(
        f"speed-up of igcs (CPU time): {times[names[1]] / times[names[0]]:.1f}x vs VTK with all "
        "landmarks, "
        f"{times[names[2]] / times[names[0]]:.1f}x vs VTK with 200"
    )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.2], help="mm")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    mesh = skin_mesh(load_headsq(SHARED_DATA / "vtk-head-volumes" / "headsq"))
    print(
        f"ICP: headsq skin mesh {len(mesh.vertices)} vertices / {len(mesh.triangles)} triangles; "
        "start 10 deg / 10 mm off the true pose. RMS = exact point-to-surface distance; "
        "pose err = largest displacement error over the whole mesh."
    )
    for noise_mm in args.noise:
        run_scenario(mesh, args.points, noise_mm, args.repeats, args.seed)


if __name__ == "__main__":
    main()
