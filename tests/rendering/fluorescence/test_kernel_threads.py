"""numba's workqueue layer terminates the whole process when two Python threads launch
parallel kernels at once; the simulator's NIR frames and the app's live mapping can share a
process, so every parallel kernel is serialised by one lock
(rendering.fluorescence.rasterizer.serialized).

Run in a subprocess: without the lock the failure is an abort, not an exception."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import threading
    import numpy as np
    import pyvista as pv
    from registration.camera_intrinsics import CameraIntrinsics
    from registration.core.transforms import invert_rigid
    from rendering.fluorescence.camera_model import CameraModel
    from rendering.fluorescence.nir_camera import image_from_camera_looking_at, render_nir_frame
    from rendering.fluorescence.surface_mesh import SurfaceMesh
    from rendering.fluorescence.visibility import compute_visibility

    sphere = pv.Sphere(radius=30, theta_resolution=120, phi_resolution=120).compute_normals()
    mesh = SurfaceMesh(
        np.asarray(sphere.points, float),
        sphere.faces.reshape(-1, 4)[:, 1:].astype(np.int64),
        np.asarray(sphere.point_data["Normals"], float),
    )
    k = np.array([[400.0, 0, 160], [0, 400, 128], [0, 0, 1]])
    camera = CameraModel(CameraIntrinsics(k, np.zeros(5), (320, 256)))
    pose = image_from_camera_looking_at(
        np.array([0.0, -300, 0]), np.zeros(3), up_in_image=np.array([0.0, 0, 1])
    )
    emission = np.ones(len(mesh.vertices_in_image))
    seen = []

    def frames():
        for _ in range(30):
            render_nir_frame(mesh, emission, camera, pose, seed=1)

    def mapping():
        for _ in range(30):
            status = compute_visibility(mesh, camera, invert_rigid(pose)).status
            seen.append(int((status == 1).sum()))

    threads = [threading.Thread(target=frames), threading.Thread(target=mapping)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A convex sphere occludes nothing: visible = within 70 deg of the view ray (grazing cut).
    points = mesh.vertices_in_image
    to_camera = np.array([0.0, -300, 0]) - points
    cosine = (mesh.normals * to_camera).sum(1) / np.linalg.norm(to_camera, axis=1)
    expected = int((cosine > np.cos(np.radians(70.0))).sum())
    print("visible", min(seen), max(seen), len(seen), expected)
    """
)


def test_parallel_kernels_from_two_threads_do_not_abort_the_process():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Concurrent access" not in result.stderr
    _, low, high, count, expected = result.stdout.split()
    # The same pose every time gives the same visible set: what the grazing cut allows.
    assert count == "30" and low == high
    assert abs(int(low) - int(expected)) <= 2, (low, expected)
