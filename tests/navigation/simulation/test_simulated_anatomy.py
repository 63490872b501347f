"""The simulator on a real head: landmarks mislocated along the skin, strokes over the face on
the skin, a skull reference on the far side, sweep noise of the stated size."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from navigation.simulation.scenario_builder import build_scenario
from navigation.simulation.simulated_anatomy import face_neck_sweep, skull_reference_pose
from navigation.simulation.simulator import SimulationConfig
from registration.closest_point import TriangleMeshLocator
from registration.core.transforms import check_rigid
from tests.registration.head_surface import load_headsq, skin_mesh


@pytest.fixture(scope="module")
def head():
    from tests.conftest import shared_data_path

    mesh = skin_mesh(load_headsq(shared_data_path("vtk-head-volumes/headsq")))
    faces = np.hstack([np.full((len(mesh.triangles), 1), 3), mesh.triangles]).ravel()
    surface = pv.PolyData(mesh.vertices, faces)
    locator = TriangleMeshLocator(mesh.vertices, mesh.triangles, mesh.normals)
    # Three points on the face (the most anterior skin, and 25 mm to either side of it)
    front = mesh.vertices[np.argmin(mesh.vertices[:, 1])]
    guesses = front + np.array([[0.0, 0.0, 0.0], [25.0, 15.0, 10.0], [-25.0, 15.0, 10.0]])
    landmarks = locator.closest(guesses).points
    return mesh, surface, locator, landmarks


def test_face_sweep_lies_on_the_skin_facing_forward(head):
    _, surface, locator, landmarks = head
    path, normals = face_neck_sweep(surface, landmarks, stripe_mm=10.0, below_mm=30.0)
    assert len(path) > 100
    assert locator.closest(path).distances_mm.max() < 1e-6
    assert (normals @ [0.0, -1.0, 0.0] > 0.0).mean() > 0.95
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert np.median(steps) == pytest.approx(3.0, abs=0.5)
    # serpentine: the strokes sweep across the face, one way then the other, top to bottom
    heading = np.sign(np.convolve(np.diff(path[:, 0]), np.ones(9), mode="valid"))
    turns = np.count_nonzero(heading[1:] != heading[:-1])
    strokes = np.ptp(path[:, 2]) / 10.0
    assert strokes - 2 <= turns <= 3 * strokes
    assert path[0, 2] > path[-1, 2]


def test_skull_reference_sits_above_the_skin_away_from_the_surgery(head):
    mesh, _, _, landmarks = head
    rng = np.random.default_rng(0)
    centre = landmarks.mean(axis=0)
    pose = skull_reference_pose(
        mesh.vertices, mesh.normals, landmarks, away_from_x=centre[0] + 30.0, rng=rng
    )
    check_rigid(pose, "pose")
    distances = np.linalg.norm(mesh.vertices - pose[:3, 3], axis=1)
    assert 30.0 < distances.min() <= 40.0 + 1e-6  # 40 mm out along the normal, clear of the skin
    assert pose[0, 3] < centre[0]  # the surgery is at +x: the reference on the -x side


def test_landmark_error_along_the_skin_and_sweep_noise(head):
    mesh, _, locator, landmarks = head
    rms, normal_parts, sweep_offsets = [], [], []
    for seed in range(8):
        config = SimulationConfig(
            seed=seed, fle_rms_mm=2.5, fle_on_skin=True, sweep_noise_mm=0.5,
            out_of_view_count=0, stall_count=0,
        )  # fmt: skip
        scenario = build_scenario(
            landmarks, mesh.vertices, skin_normals_in_image=mesh.normals, config=config
        )
        truth = scenario.truth
        error = truth.fiducials_touched_in_image - truth.fiducials_planned_in_image
        along = locator.closest(truth.fiducials_planned_in_image).normals
        normal_parts.append(np.abs(np.einsum("ij,ij->i", error, along)))
        rms.append(np.sum(error**2, axis=1))
        hit = locator.closest(truth.sweep_path_in_image)
        sweep_offsets.append(
            np.einsum("ij,ij->i", truth.sweep_path_in_image - hit.points, hit.normals)
        )
    assert np.sqrt(np.mean(np.concatenate(rms))) == pytest.approx(2.5, rel=0.3)
    assert np.concatenate(normal_parts).max() < 0.5  # in the tangent plane (vertex normals)
    assert np.std(np.concatenate(sweep_offsets)) == pytest.approx(0.5, rel=0.25)
