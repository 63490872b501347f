"""Monte Carlo TRE of landmarks + surface ICP against first-order theory on a real head skin."""

from __future__ import annotations

import numpy as np
import pytest

from registration.closest_point import TriangleMeshLocator
from registration.combined_tre import landmark_covariances, predict_combined_tre
from registration.core.checks import InputError
from registration.tre import predict_tre_rms

from .head_surface import face_region, load_headsq, sample_surface, skin_mesh


@pytest.fixture(scope="module")
def head(request):
    from tests.conftest import shared_data_path

    mesh = skin_mesh(load_headsq(shared_data_path("vtk-head-volumes/headsq")))
    locator = TriangleMeshLocator(mesh.vertices, mesh.triangles, mesh.normals)
    rng = np.random.default_rng(5)
    sweep = sample_surface(mesh, 300, rng, region=face_region(mesh))
    landmarks = sample_surface(mesh, 5, rng, region=face_region(mesh, depth_mm=60.0))
    return mesh, locator, sweep, landmarks


def first_order_tre(locator, sweep, target, sigma):
    """Point-to-plane least squares about the sweep's centroid, linearised: the rigid motion
    (rotation w, translation t) has covariance sigma^2 (J^T J)^-1 with rows [(p - c) x n, n];
    the target moves by w x (x - c) + t. Independent of the Monte Carlo's ICP."""
    hit = locator.closest(sweep)
    centre = hit.points.mean(axis=0)
    jacobian = np.hstack([np.cross(hit.points - centre, hit.normals), hit.normals])
    covariance = sigma**2 * np.linalg.inv(jacobian.T @ jacobian)
    arm = target - centre
    skew = np.array([[0, -arm[2], arm[1]], [arm[2], 0, -arm[0]], [-arm[1], arm[0], 0]])
    motion = np.hstack([-skew, np.eye(3)])  # w x arm = -[arm]x w
    return float(np.sqrt(np.trace(motion @ covariance @ motion.T)))


@pytest.mark.slow
def test_surface_noise_matches_first_order_theory(head):
    mesh, locator, sweep, landmarks = head
    target = mesh.vertices.mean(axis=0) + np.array([0.0, 40.0, -30.0])  # deep, behind the face
    sigma = 0.5
    prediction = predict_combined_tre(
        landmarks,
        target,
        landmark_covariances_mm2=np.eye(3) * 1.0,
        sweep_points_in_image=sweep,
        surface_noise_mm=sigma,
        skin=locator,
        trials=80,
        seed=2,
    )
    theory = first_order_tre(locator, sweep, target, sigma)
    assert prediction.failures == 0 and prediction.trials == 80
    # 80 trials of a 3-D error: the RMS is known to about +-8 % (1 sigma)
    assert prediction.tre_rms_mm[0] == pytest.approx(theory, rel=0.25)
    # the landmark stage alone follows Fitzpatrick's formula (isotropic 1 mm RMS per axis:
    # sqrt(3) mm 3-D), to the same precision
    fitzpatrick = predict_tre_rms(landmarks, target, fle_rms_mm=np.sqrt(3.0))[0]
    assert prediction.landmark_tre_rms_mm[0] == pytest.approx(fitzpatrick, rel=0.25)
    # the sweep pins the registration far better than five landmarks
    assert prediction.tre_rms_mm[0] < 0.5 * prediction.landmark_tre_rms_mm[0]


@pytest.mark.slow
def test_a_smooth_skin_shift_is_not_averaged_away(head):
    mesh, locator, sweep, landmarks = head
    target = mesh.vertices.mean(axis=0)
    common = dict(
        landmark_covariances_mm2=np.eye(3),
        sweep_points_in_image=sweep,
        skin=locator,
        trials=40,
        seed=4,
    )
    white = predict_combined_tre(landmarks, target, surface_noise_mm=0.2, **common)
    shifted = predict_combined_tre(
        landmarks, target, surface_noise_mm=0.2, skin_shift_mm=0.5, **common
    )
    assert shifted.tre_rms_mm[0] > 2.0 * white.tre_rms_mm[0]
    assert shifted.skin_shift_mm == 0.5 and white.skin_shift_mm == 0.0


def test_landmark_covariances_lie_in_the_tangent_plane():
    normals = np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    covariance = landmark_covariances(normals, tangential_rms_mm=2.0, normal_rms_mm=0.5)
    np.testing.assert_allclose(np.trace(covariance, axis1=1, axis2=2), [4.25, 4.25])
    np.testing.assert_allclose(covariance[0], np.diag([2.0, 2.0, 0.25]))
    np.testing.assert_allclose(covariance[1], np.diag([0.25, 2.0, 2.0]))


def test_refuses_bad_input(head):
    _, locator, sweep, landmarks = head
    with pytest.raises(InputError, match="surface_noise_mm"):
        predict_combined_tre(
            landmarks, landmarks[0], landmark_covariances_mm2=np.eye(3),
            sweep_points_in_image=sweep, surface_noise_mm=0.0, skin=locator,
        )  # fmt: skip
    with pytest.raises(InputError, match="trials"):
        predict_combined_tre(
            landmarks, landmarks[0], landmark_covariances_mm2=np.eye(3),
            sweep_points_in_image=sweep, surface_noise_mm=0.5, skin=locator, trials=1,
        )  # fmt: skip
