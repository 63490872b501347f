"""Acceptance on the phantom: fluorescence mapped onto the plan's field model vs the
phantom's true tracer patch.

The camera (640 x 512, barrel distortion) circles the exposed field at 300 mm in the
simulator's 20 degree cone about the approach direction, eight views over the full circle. The
frames are rendered from the *world* (the analytic tumour, :func:`world_scene`); the mapper
maps them onto the *model* (the plan's segmented tumour, :func:`build_field`) and never sees the
truth. Metrics (:mod:`rendering.fluorescence.accuracy`): area-weighted Dice of the mapped
positive region (fused value / background-ring mean >= 2) against the true patch (true
emission / true background >= 2), and the mean boundary error (the larger of the mean
distances mapped -> true and true -> mapped between the SBR = 2 level sets).
"""

from __future__ import annotations

import numpy as np
import pytest

from navigation.fluorescence.live import LiveFluorescence, live_camera_pose
from navigation.simulation.simulated_motion import CameraOrbit
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.transforms import (
    apply_transform,
    invert_rigid,
    make_rigid,
    random_rigid,
    rotation_about,
)
from registration.point_registration import register_points
from registration.pose_interpolation import PoseTrack
from rendering.fluorescence.accuracy import region_accuracy
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.fusion import FluorescenceMap
from rendering.fluorescence.metrics import quantify
from rendering.fluorescence.nir_camera import NirSensorModel, render_nir_frame
from rendering.fluorescence.projection import FrameProjector
from rendering.fluorescence.radiometry import RadiometricCalibration

pytestmark = pytest.mark.slow

INTRINSICS = CameraIntrinsics(
    np.array([[760.0, 0.0, 321.4], [0.0, 762.0, 254.8], [0.0, 0.0, 1.0]]),
    np.array([-0.1, 0.05, 0.0005, -0.0004, 0.0]),
    (640, 512),
)
SENSOR = NirSensorModel()
TIMES_S = np.arange(8) * 2.5  # the orbit's 20 s period, 45 degrees apart


@pytest.fixture(scope="module")
def sweep(phantom_scene):
    camera = CameraModel(INTRINSICS)
    geometry = phantom_scene.field.geometry
    orbit = CameraOrbit(geometry.floor_point_lps_mm, geometry.approach_lps, 300.0)
    poses = [orbit.image_from_camera(float(t)) for t in TIMES_S]
    frames = [
        render_nir_frame(
            phantom_scene.world, phantom_scene.world_emission, camera, pose, sensor=SENSOR, seed=k
        ).pixels
        for k, pose in enumerate(poses)
    ]
    return camera, poses, frames


def calibration(camera: CameraModel) -> RadiometricCalibration:
    return RadiometricCalibration(
        dark_level=SENSOR.dark_level_dn,
        flat_field=SENSOR.flat_field(camera),
        saturation_level=SENSOR.saturation_dn,
    )


def map_and_measure(field, camera, frames, poses):
    projector = FrameProjector(field.mesh, camera, calibration=calibration(camera))
    fmap = FluorescenceMap(field.mesh.vertex_count)
    for t, frame, pose in zip(TIMES_S, frames, poses, strict=True):
        fmap.fuse(projector.project(frame, pose, timestamp_s=float(t)))
    fused = fmap.snapshot()
    stats = quantify(fused.mean, field.target_mask, field.background_mask,
                     target_region=field.target_region, background_region=field.background_region,
                     vertex_areas=field.mesh.vertex_areas())  # fmt: skip
    accuracy = region_accuracy(
        field.mesh, fused.mean / stats.background_mean, field.truth.true_sbr, level=2.0
    )
    return fused, stats, accuracy


def test_exact_poses_map_the_true_patch(phantom_scene, sweep):
    field = phantom_scene.field
    camera, poses, frames = sweep
    fused, stats, accuracy = map_and_measure(field, camera, frames, poses)
    print(f"phantom, exact poses: Dice {accuracy.dice:.4f}, boundary error "
          f"{accuracy.mapped_to_true_mm:.3f} / {accuracy.true_to_mapped_mm:.3f} mm, SBR "
          f"{stats.sbr:.2f}, CNR {stats.cnr:.0f}")  # fmt: skip
    assert accuracy.dice >= 0.9
    assert accuracy.boundary_error_mm <= 1.0
    assert fused.seen[field.truth.true_patch].all()  # the sweep sees the whole patch
    # Radiometry: the ring reads the true background emission (gain 2000 DN x 0.2), the tumour
    # dome its true SBR (98 % of the peak over 0.2: ~4.9), above the positive threshold.
    assert stats.background_mean == pytest.approx(SENSOR.gain_dn * 0.2, rel=0.02)
    true_target = np.average(field.truth.true_sbr[field.target_mask],
                             weights=field.mesh.vertex_areas()[field.target_mask])  # fmt: skip
    assert stats.sbr == pytest.approx(true_target, rel=0.05)
    assert stats.sbr > 2.0


def test_tracking_and_registration_noise_keeps_the_boundary_within_2_mm(phantom_scene, sweep):
    """0.25 mm / 0.1 deg noise on every tracker sample (camera marker and patient reference),
    the marker and reference poses interpolated at each frame's time from two noisy samples
    16 ms either side, and the registration of 6 of the plan's fiducials touched with 0.3 mm
    RMS FLE (register_points): the full chain of the offline mapper."""
    field, plan = phantom_scene.field, phantom_scene.plan
    camera, poses, frames = sweep
    rng = np.random.default_rng(11)
    reference_from_image = random_rigid(rng, max_translation_mm=200.0)
    tracker_from_reference = random_rigid(rng, max_translation_mm=1200.0)
    cameramarker_from_camera = make_rigid(rotation_about([0.2, 1.0, 0.1], 15.0), [30.0, 55.0, -40])
    fiducials = plan.fiducials_lps_mm[:6]
    touched = apply_transform(reference_from_image, fiducials)
    touched += rng.normal(0.0, 0.3 / np.sqrt(3.0), touched.shape)
    image_from_reference = register_points(touched, fiducials).image_from_tracker

    def noisy(pose):
        shift = rng.normal(size=3)
        delta = make_rigid(rotation_about(rng.normal(size=3), 0.1),
                           0.25 * shift / np.linalg.norm(shift))  # fmt: skip
        return pose @ delta

    def track(pose, t):
        return PoseTrack(np.array([t - 0.016, t + 0.016]), np.stack([noisy(pose), noisy(pose)]))

    mapping_poses = []
    for t, image_from_camera in zip(TIMES_S, poses, strict=True):
        tracker_from_cameramarker = (
            tracker_from_reference
            @ reference_from_image
            @ image_from_camera
            @ invert_rigid(cameramarker_from_camera)
        )
        mapping_poses.append(
            live_camera_pose(
                image_from_reference=image_from_reference,
                tracker_from_reference=track(tracker_from_reference, t).at(t),
                tracker_from_cameramarker=track(tracker_from_cameramarker, t).at(t),
                cameramarker_from_camera=cameramarker_from_camera,
            )
        )
    _, _, accuracy = map_and_measure(field, camera, frames, mapping_poses)
    print(f"phantom, noisy poses: Dice {accuracy.dice:.4f}, boundary error "
          f"{accuracy.mapped_to_true_mm:.3f} / {accuracy.true_to_mapped_mm:.3f} mm")  # fmt: skip
    assert accuracy.boundary_error_mm <= 2.0


def test_live_chain_and_map_agree_with_the_offline_pieces(phantom_scene, sweep):
    """The live chain rebuilds image_from_camera from its factors; LiveFluorescence fuses the
    same values as FrameProjector + FluorescenceMap, resets, and quantifies."""
    field = phantom_scene.field
    camera, poses, frames = sweep
    rng = np.random.default_rng(5)
    image_from_reference = random_rigid(rng, max_translation_mm=200.0)
    tracker_from_reference = random_rigid(rng, max_translation_mm=1200.0)
    cameramarker_from_camera = random_rigid(rng, max_translation_mm=80.0)
    live = LiveFluorescence(field, INTRINSICS, radiometry=calibration(camera))
    assert live.quantification() is None and np.isnan(live.vertex_sbr()).all()
    for t, frame, image_from_camera in zip(TIMES_S, frames, poses, strict=True):
        tracker_from_cameramarker = (
            tracker_from_reference
            @ invert_rigid(image_from_reference)
            @ image_from_camera
            @ invert_rigid(cameramarker_from_camera)
        )
        chained = live_camera_pose(
            image_from_reference=image_from_reference,
            tracker_from_reference=tracker_from_reference,
            tracker_from_cameramarker=tracker_from_cameramarker,
            cameramarker_from_camera=cameramarker_from_camera,
        )
        np.testing.assert_allclose(chained, image_from_camera, atol=1e-9)
        sample = live.add_frame(frame, timestamp_s=float(t), image_from_camera=chained)
        assert sample.sampled.any()
    fused, stats, _ = map_and_measure(field, camera, frames, poses)
    np.testing.assert_allclose(live.snapshot().mean, fused.mean, rtol=1e-6, equal_nan=True)
    assert live.frame_count == len(frames)
    assert live.quantification().sbr == pytest.approx(stats.sbr, rel=1e-6)
    np.testing.assert_allclose(
        live.vertex_sbr(), fused.mean / stats.background_mean, rtol=1e-6, equal_nan=True
    )
    live.reset()
    assert live.frame_count == 0 and not live.snapshot().seen.any()
