"""The snapshot contract: immutable, validated, and honest about what may be drawn."""

from __future__ import annotations

import numpy as np
import pytest

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import InputError
from rendering.fluorescence.metrics import MarginThresholds
from rendering.view_state import (
    TOOL_STATES,
    DisplayOptions,
    FluorescenceOverlay,
    Guidance,
    ViewSnapshot,
)

TIP = np.array([1.0, 2.0, 3.0])


def test_snapshot_freezes_its_inputs():
    pose = np.eye(4)
    states = {"Pointer": "OK"}
    snap = ViewSnapshot(3, 1.5, states, image_from_pointer=pose, pointer_tip_lps_mm=TIP.copy())
    pose[0, 3] = 99.0
    states["Pointer"] = "STALE"
    assert snap.image_from_pointer[0, 3] == 0.0 and snap.pointer_state == "OK"
    with pytest.raises(ValueError):
        snap.pointer_tip_lps_mm[0] = 5.0
    with pytest.raises(TypeError):
        snap.tool_states["Pointer"] = "STALE"  # type: ignore[index]
    with pytest.raises(AttributeError):
        snap.frame_index = 4  # type: ignore[misc]


def test_read_only_fluorescence_values_are_not_copied():
    values = np.linspace(0.0, 3.0, 1000)
    values.setflags(write=False)
    assert FluorescenceOverlay("tumour", values).values is values
    writable = np.linspace(0.0, 3.0, 1000)
    kept = FluorescenceOverlay("tumour", writable).values
    writable[0] = 7.0
    assert kept[0] == 0.0


def test_slice_point_follows_the_tip_only_while_ok():
    focus = np.array([9.0, 9.0, 9.0])
    ok = ViewSnapshot(
        0, 0.0, {"Pointer": "OK"}, image_from_pointer=np.eye(4), pointer_tip_lps_mm=TIP,
        focus_lps_mm=focus,
    )  # fmt: skip
    assert np.array_equal(ok.slice_point_lps_mm, TIP) and ok.pointer_ok
    for state in TOOL_STATES[1:]:
        other = ViewSnapshot(
            0, 0.0, {"Pointer": state}, image_from_pointer=np.eye(4), pointer_tip_lps_mm=TIP,
            focus_lps_mm=focus,
        )  # fmt: skip
        assert not other.pointer_ok
        assert np.array_equal(other.slice_point_lps_mm, focus)


def test_an_unreported_pointer_counts_as_disconnected():
    snap = ViewSnapshot(0, 0.0, {"Reference": "OK"})
    assert snap.pointer_state == "DISCONNECTED" and snap.slice_point_lps_mm is None


def test_camera_needs_state_pose_and_intrinsics():
    snap = ViewSnapshot(0, 0.0, {"NIRCamera": "OK"}, image_from_camera=np.eye(4))
    assert not snap.camera_ok  # no intrinsics: no frustum


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tool_states": {"Pointer": "LOST"}}, "expected one of OK, OUT_OF_VIEW"),
        ({"tool_states": {"Pointer": "OK"}}, "is OK but image_from_pointer"),
        ({"image_from_pointer": np.diag([1.0, 1.0, -1.0, 1.0])}, "reflection"),
        ({"image_from_pointer": np.full((4, 4), np.nan)}, "NaN"),
        ({"pointer_tip_lps_mm": np.zeros((2, 3))}, r"one \(3,\) point"),
        ({"frame_index": -1}, "non-negative integer"),
        ({"timestamp_s": float("inf")}, "timestamp_s contains NaN or Inf"),
        ({"render_fps": 0.0}, "render_fps must be a positive"),
        ({"camera_intrinsics": "camera.json"}, "CameraIntrinsics"),
    ],
)
def test_bad_snapshots_are_refused(changes, message):
    fields = {"frame_index": 0, "timestamp_s": 0.0, **changes}
    with pytest.raises(InputError, match=message):
        ViewSnapshot(**fields)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": np.zeros((3, 2))}, "must be 1-D"),
        ({"values": np.array([1.0, np.inf])}, "use NaN for unseen"),
        ({"values": np.ones(3), "scale_max": 1.0}, "scale_max must exceed"),
    ],
)
def test_bad_fluorescence_maps_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        FluorescenceOverlay("tumour", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"close_sbr": 3.0}, "must be >= close_sbr"), ({"positive_sbr": -1.0}, "must be >=")],
)
def test_bad_overlay_thresholds_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        FluorescenceOverlay("tumour", np.ones(3), MarginThresholds(**kwargs))


def test_fluorescence_scale_defaults_to_one_and_a_half_times_positive():
    assert (
        FluorescenceOverlay("tumour", np.ones(3), MarginThresholds(positive_sbr=2.0)).scale_max
        == 3.0
    )


def test_guidance_and_display_validation():
    with pytest.raises(InputError, match="signed_distance_mm contains NaN"):
        Guidance(float("nan"))
    with pytest.raises(InputError, match="tre_at_tip_mm must be >= 0"):
        Guidance(1.0, -0.5)
    with pytest.raises(InputError, match=r"skin_opacity must be in \[0, 1\]"):
        DisplayOptions(skin_opacity=1.5)
    with pytest.raises(InputError, match="slice_field_of_view_mm"):
        DisplayOptions(slice_field_of_view_mm=0.0)


def test_placement_note_blanks_pointer_and_camera():
    cam = CameraIntrinsics(
        np.array([[500.0, 0, 160], [0, 500, 128], [0, 0, 1]]), np.zeros(5), (320, 256)
    )
    noted = ViewSnapshot(
        0, 0.0, {"Pointer": "OK", "NIRCamera": "OK"}, placement_note="not registered",
        image_from_camera=np.eye(4), camera_intrinsics=cam, focus_lps_mm=TIP,
    )  # fmt: skip
    assert not noted.pointer_ok and not noted.camera_ok
    assert np.array_equal(noted.slice_point_lps_mm, TIP)
    with pytest.raises(InputError, match="placement_note"):
        ViewSnapshot(0, 0.0, {}, placement_note="  ")
