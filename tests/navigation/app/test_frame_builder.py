"""What a frame may draw: the rules of ``build_frame`` against known poses and geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from navigation.app.config import NavigationConfig
from navigation.app.frame_builder import (
    NO_TIP,
    NOT_REGISTERED,
    LiveState,
    build_frame,
)
from navigation.app.registration_state import RegistrationOverride
from navigation.app.registration_workflow import RegistrationWorkflow
from navigation.planning.plan_scene import load_plan_scene
from navigation.tracking.fiducial_collection import CollectedFiducial
from navigation.tracking.pose_store import ToolPose, ToolState
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.transforms import apply_transform, invert_rigid, make_rigid, random_rigid
from rendering.view_state import DisplayOptions
from tests.navigation.plan_factory import ORIGIN_HEAD

CONFIG = NavigationConfig()
TIP = np.array([0.0, 0.0, -160.0])
CENTRE = np.array(ORIGIN_HEAD.tumour_centre_lps_mm)
INTRINSICS = CameraIntrinsics(
    np.array([[400.0, 0, 160], [0, 400, 128], [0, 0, 1]]), np.zeros(5), (320, 256)
)


@pytest.fixture(scope="module")
def scene(nav_plan):
    return load_plan_scene(nav_plan)


@pytest.fixture
def accepted(scene, rng):
    image_from_reference = random_rigid(rng, max_translation_mm=200.0)
    flow = RegistrationWorkflow(
        scene.plan.fiducial_names,
        scene.plan.fiducials_lps_mm,
        fle_rms_mm=0.5,
        tumour_lps_mm=CENTRE,
    )
    for index, point in enumerate(
        apply_transform(invert_rigid(image_from_reference), scene.plan.fiducials_lps_mm)
    ):
        flow.store(CollectedFiducial(point, 0.0, 0.0, 20, 0.0, 0.0), index)
    flow.register()
    return flow.accept()


def pose(name: str, state: ToolState = ToolState.OK, matrix=None, arrival: float = 10.0):
    ok = state is ToolState.OK
    return ToolPose(
        name, state, (np.eye(4) if matrix is None else matrix) if ok else None, arrival,
        arrival, 0.01, "" if ok else "test",
    )  # fmt: skip


def live(
    accepted=None,
    *,
    display=None,
    pointer_from_ref=None,
    pointer_state=ToolState.OK,
    camera_state=ToolState.OK,
    tip=TIP,
    hand_eye=None,
    arrivals=(10.0, 10.0, 10.0),
) -> LiveState:
    poses = {
        "Pointer": pose("PointerToTracker", pointer_state, arrival=arrivals[0]),
        "Reference": pose("ReferenceToTracker", arrival=arrivals[1]),
        "Camera": pose("CameraToTracker", camera_state, arrival=arrivals[2]),
    }
    return LiveState(
        time_s=11.0,
        poses=poses,
        reference_from_pointer=pose("PointerToReference", pointer_state, pointer_from_ref),
        reference_from_camera=pose("CameraToReference", camera_state, make_rigid(
            translation_mm=(0.0, -300.0, 0.0))),
        accepted=accepted,
        tip_in_pointer=tip,
        cameramarker_from_camera=hand_eye,
        intrinsics=INTRINSICS,
        fluorescence=None,
        display=display or DisplayOptions(),
        camera_seen=True,
    )  # fmt: skip


def test_nothing_tracked_is_placed_before_a_registration_is_accepted(scene):
    frame = build_frame(live(None), scene, CONFIG, frame_index=3)
    snap = frame.snapshot
    assert snap.placement_note == NOT_REGISTERED and not snap.pointer_ok
    assert snap.tool_states["Pointer"] == "OK"  # tracked, just not placeable
    assert snap.image_from_pointer is None and snap.guidance is None
    assert frame.tip_lps_mm is None and math.isnan(frame.newest_arrival_s)
    np.testing.assert_array_equal(snap.slice_point_lps_mm, CENTRE)


def test_ok_pointer_is_placed_through_the_registration(scene, accepted):
    # A pointer pose that puts its tip 25 mm to the patient's left of the tumour centre.
    wanted_tip = CENTRE + np.array([25.0, 0.0, 0.0])
    image_from_pointer = make_rigid(translation_mm=wanted_tip - TIP)
    reference_from_pointer = invert_rigid(accepted.image_from_reference) @ image_from_pointer
    frame = build_frame(
        live(accepted, pointer_from_ref=reference_from_pointer, arrivals=(10.02, 10.01, 9.9)),
        scene,
        CONFIG,
        frame_index=4,
    )
    snap = frame.snapshot
    assert snap.pointer_ok and snap.placement_note is None
    np.testing.assert_allclose(snap.pointer_tip_lps_mm, wanted_tip, atol=1e-9)
    # Tumour: sphere of radius 10 mm tessellated (pyvista default): distance 15 mm within 0.2.
    assert snap.guidance is not None
    assert snap.guidance.signed_distance_mm == pytest.approx(15.0, abs=0.2)
    assert not snap.guidance.margin_warning
    assert snap.guidance.tre_at_tip_mm == pytest.approx(accepted.tre_at(wanted_tip)[0])
    # The newest pose drawn: pointer and reference (camera frustum drawn too, at 9.9).
    assert frame.newest_arrival_s == pytest.approx(10.02)


def test_inside_the_tumour_the_distance_is_negative_and_warned(scene, accepted):
    image_from_pointer = make_rigid(translation_mm=CENTRE - TIP)
    frame = build_frame(
        live(accepted, pointer_from_ref=invert_rigid(accepted.image_from_reference)
             @ image_from_pointer),
        scene, CONFIG, frame_index=5,
    )  # fmt: skip
    guidance = frame.snapshot.guidance
    assert guidance.signed_distance_mm == pytest.approx(-10.0, abs=0.2)
    assert guidance.margin_warning


@pytest.mark.parametrize(
    "state", [ToolState.STALE, ToolState.OUT_OF_VIEW, ToolState.INVALID, ToolState.DISCONNECTED]
)
def test_a_pointer_that_is_not_ok_is_never_drawn(scene, accepted, state):
    frame = build_frame(live(accepted, pointer_state=state), scene, CONFIG, frame_index=6)
    snap = frame.snapshot
    assert snap.tool_states["Pointer"] == state.name
    assert snap.image_from_pointer is None and snap.pointer_tip_lps_mm is None
    assert snap.guidance is None and frame.tip_lps_mm is None


def test_no_tip_calibration_means_no_placement(scene, accepted):
    frame = build_frame(live(accepted, tip=None), scene, CONFIG, frame_index=7)
    assert frame.snapshot.placement_note == NO_TIP and not frame.snapshot.pointer_ok


def test_camera_frustum_follows_the_hand_eye_chain(scene, accepted):
    hand_eye = make_rigid(translation_mm=(10.0, 50.0, -40.0))
    no_calibration = build_frame(live(accepted), scene, CONFIG, frame_index=8).snapshot
    assert no_calibration.image_from_camera is None and not no_calibration.camera_ok
    frame = build_frame(live(accepted, hand_eye=hand_eye), scene, CONFIG, frame_index=9)
    expected = (
        accepted.image_from_reference @ make_rigid(translation_mm=(0.0, -300.0, 0.0)) @ hand_eye
    )
    np.testing.assert_allclose(frame.snapshot.image_from_camera, expected, atol=1e-9)
    assert frame.snapshot.camera_ok
    stale = build_frame(
        live(accepted, hand_eye=hand_eye, camera_state=ToolState.STALE), scene, CONFIG,
        frame_index=10,
    ).snapshot  # fmt: skip
    assert stale.image_from_camera is None and stale.tool_states["Camera"] == "STALE"


def _tip_at(accepted, where: np.ndarray) -> np.ndarray:
    return invert_rigid(accepted.image_from_reference) @ make_rigid(translation_mm=where - TIP)


def test_guidance_marks_the_closest_tumour_point_and_aims_the_target_view(scene, accepted):
    """Tip 25 mm left of the tumour centre (radius 10 mm): the closest point is 10 mm left of
    the centre, and it is the target until a planned target is chosen."""
    where = CENTRE + np.array([25.0, 0.0, 0.0])
    guidance = build_frame(
        live(accepted, pointer_from_ref=_tip_at(accepted, where)), scene, CONFIG, frame_index=1
    ).snapshot.guidance
    expected = CENTRE + np.array([10.0, 0.0, 0.0])
    np.testing.assert_allclose(guidance.closest_point_lps_mm, expected, atol=0.2)
    assert np.linalg.norm(where - guidance.closest_point_lps_mm) == pytest.approx(
        guidance.signed_distance_mm, abs=1e-6
    )
    assert guidance.target_name == "closest tumour point"
    np.testing.assert_array_equal(guidance.target_lps_mm, guidance.closest_point_lps_mm)
    aimed = build_frame(
        live(accepted, pointer_from_ref=_tip_at(accepted, where),
             display=DisplayOptions(target="tumour centroid")),
        scene, CONFIG, frame_index=2,
    ).snapshot.guidance  # fmt: skip
    assert aimed.target_name == "tumour centroid"
    np.testing.assert_allclose(aimed.target_lps_mm, CENTRE, atol=1e-9)


def test_under_an_overridden_registration_no_tre_and_the_pointer_untrusted(scene, rng):
    image_from_reference = random_rigid(rng, max_translation_mm=200.0)
    flow = RegistrationWorkflow(
        scene.plan.fiducial_names, scene.plan.fiducials_lps_mm, fle_rms_mm=0.5,
        tumour_lps_mm=CENTRE,
    )  # fmt: skip
    in_reference = apply_transform(invert_rigid(image_from_reference), scene.plan.fiducials_lps_mm)
    in_reference[1] += [0.0, 40.0, 0.0]
    for index, point in enumerate(in_reference):
        flow.store(CollectedFiducial(point, 0.0, 0.0, 20, 0.0, 0.0), index)
    result = flow.register()
    accepted = flow.accept(RegistrationOverride(("FRE",), "test", 0.0))
    assert accepted is result and not accepted.verified
    image_from_pointer = make_rigid(translation_mm=CENTRE + np.array([0.0, -30.0, 0.0]) - TIP)
    frame = build_frame(
        live(accepted, pointer_from_ref=invert_rigid(accepted.image_from_reference)
             @ image_from_pointer),
        scene, CONFIG, frame_index=11,
    )  # fmt: skip
    snap = frame.snapshot
    assert snap.pointer_ok and not snap.pointer_trusted
    assert snap.registration is not None and not snap.registration.verified
    assert snap.registration.text.startswith("UNVERIFIED REGISTRATION (override): FRE ")
    assert snap.guidance is not None and snap.guidance.tre_at_tip_mm is None
    assert not snap.guidance.tre_valid and snap.guidance.shown_tre_mm is None  # "NOT VALID"
    # A verified registration: trusted, with a TRE.
    flow.set_excluded(1, True)
    flow.register()
    verified = flow.accept()
    snap = build_frame(
        live(verified, pointer_from_ref=invert_rigid(verified.image_from_reference)
             @ image_from_pointer),
        scene, CONFIG, frame_index=12,
    ).snapshot  # fmt: skip
    assert snap.pointer_trusted and snap.registration.verified
    assert snap.guidance.tre_at_tip_mm is not None and snap.guidance.tre_valid


def test_tracking_alarms_name_the_tool_and_the_time_since_its_last_good_pose(scene, accepted):
    state = live(accepted, pointer_state=ToolState.STALE)
    state = LiveState(**{**state.__dict__, "last_good_s": {"Pointer": 9.6}})
    alarms = build_frame(state, scene, CONFIG, frame_index=13).snapshot.tracking_alarms
    assert [(a.tool, a.state) for a in alarms] == [("Pointer", "STALE")]
    assert alarms[0].since_good_s == pytest.approx(11.0 - 9.6)
    never = build_frame(live(accepted, pointer_state=ToolState.DISCONNECTED), scene, CONFIG,
                        frame_index=14).snapshot.tracking_alarms  # fmt: skip
    assert never[0].since_good_s is None
    assert build_frame(live(accepted), scene, CONFIG, frame_index=15).snapshot.tracking_alarms == ()
