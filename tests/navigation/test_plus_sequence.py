"""PLUS sequence import on the real recordings, and the landmark registration acceptance."""

from __future__ import annotations

import numpy as np
import pytest

from navigation.tracking.fiducial_collection import find_still_periods, tip_positions
from navigation.tracking.plus_config import read_plus_device_set
from navigation.tracking.plus_sequence import (
    parse_matrix_text,
    read_plus_sequence,
    sequence_messages,
)
from navigation.tracking.pose_store import PoseStore, ToolState
from registration.core.checks import InputError
from registration.point_registration import register_points

LANDMARKS = "tracking-plus/EightLandmarkPointsTrackedForPhantomRegistration.igs.mha"
DEVICE_SET = "tracking-plus/PlusDeviceSet_fCal_Sim_RecordPhantomLandmarks.xml"
INTERPOLATION = "tracking-plus/TransformInterpolationTest.igs.mha"
WATER_TANK = "tracking-plus/WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha"


class ReplayClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_device_set_gives_the_stylus_calibration_and_landmarks(shared_data):
    device_set = read_plus_device_set(shared_data(DEVICE_SET))
    stylus_from_tip = device_set.transform("StylusTip", "Stylus")
    np.testing.assert_allclose(stylus_from_tip[:3, 3], [108.565, 7.77385, 2.5389])
    assert device_set.transform_errors["StylusTipToStylus"] == pytest.approx(0.462016)
    assert device_set.landmark_names == tuple(f"#{i}" for i in range(1, 9))
    np.testing.assert_allclose(device_set.landmarks_in_phantom[4], [-34.3, 45.0, 15.0])
    np.testing.assert_allclose(
        device_set.transform("Stylus", "StylusTip") @ stylus_from_tip, np.eye(4), atol=1e-4
    )


def test_read_landmark_sequence(shared_data):
    sequence = read_plus_sequence(shared_data(LANDMARKS))
    assert len(sequence.frames) == 1000
    assert sequence.transform_names == ("ReferenceToTracker", "StylusToTracker")
    np.testing.assert_allclose(
        sequence.frames[0].transforms["ReferenceToTracker"][:3, 3],
        [359.30830078125, -154.7068359375, 9.48779296875],
    )
    assert sequence.timestamps_s[0] == pytest.approx(280.4611428572264)
    assert sequence.timestamps_s[-1] - sequence.timestamps_s[0] == pytest.approx(66.6, abs=0.1)
    assert all(frame.image is None for frame in sequence.frames)  # DimSize 0 0 1000
    assert set(sequence.statuses("StylusToTracker")) == {"OK"}


def test_eight_landmarks_register_to_the_phantom_at_about_0_35_mm(shared_data):
    """Acceptance: replay the real stylus recording through the pose store, find the dwells
    on the 8 landmarks, and register the tips (StylusTip calibration from the XML) to the
    phantom landmarks: FRE about 0.35 mm RMS (SOURCE.txt)."""
    device_set = read_plus_device_set(shared_data(DEVICE_SET))
    tip_in_stylus = device_set.transform("StylusTip", "Stylus")[:3, 3]
    sequence = read_plus_sequence(shared_data(LANDMARKS))
    clock = ReplayClock()
    store = PoseStore(clock=clock)
    times, poses = [], []
    for timestamp, message in sequence_messages(sequence):
        clock.now = timestamp  # replay at the original timing
        store.ingest(message)
        if message.device_name == "StylusToTracker":
            relative = store.transform("Reference", "Stylus")
            assert relative.state is ToolState.OK, relative.reason
            times.append(relative.timestamp_s)
            poses.append(relative.matrix)
    assert len(poses) == 1000
    tips = tip_positions(np.array(poses), tip_in_stylus)
    periods = find_still_periods(np.array(times), tips, max_speed_mm_s=5.0, min_duration_s=2.0)
    # The stylus rests before and after: those still periods touch the recording's ends.
    dwells = [p for p in periods if p.start_index > 0 and p.stop_index < len(tips)]
    assert len(periods) == 10 and len(dwells) == 8
    assert all(p.spread_mm < 1.1 for p in dwells)
    measured = np.array([p.mean for p in dwells])
    result = register_points(measured, device_set.landmarks_in_phantom, fle_rms_mm=0.5)
    assert result.warnings == ()
    assert 0.25 < result.fre_rms_mm < 0.45
    residuals = result.residuals_mm
    assert residuals.max() < 0.6


def test_invalid_sample_shows_as_out_of_view(shared_data):
    """TransformInterpolationTest frame 7: ProbeToTracker is identity with status INVALID
    (PLUS's placeholder) -> OUT_OF_VIEW from the metadata; ReferenceToTracker is identity too
    with no status field at all -> OUT_OF_VIEW through the identity-for-invalid rule."""
    sequence = read_plus_sequence(shared_data(INTERPOLATION))
    assert len(sequence.frames) == 500
    assert sequence.statuses("ProbeToTracker")[7] == "INVALID"
    assert [i for i, s in enumerate(sequence.statuses("ProbeToTracker")) if s != "OK"] == [7]
    np.testing.assert_array_equal(sequence.matrices("ProbeToTracker")[7], np.eye(4))
    assert sequence.frames[7].fields["Stylus"].startswith("1 0 0 0")  # legacy field, kept
    assert "Stylus" not in sequence.transform_names
    # The 1x1 uchar image of every frame (zlib-compressed) is read.
    assert sequence.frames[7].image is not None and sequence.frames[7].image.shape == (1, 1)
    clock = ReplayClock()
    store = PoseStore(clock=clock)
    states = {}
    for timestamp, message in sequence_messages(sequence):
        clock.now = timestamp
        store.ingest(message)
        if message.type == "IMAGE":
            states[timestamp] = (
                store.pose("ProbeToTracker"),
                store.pose("ReferenceToTracker"),
                store.transform("Reference", "Probe"),
            )
    probe, reference, relative = states[sequence.timestamps_s[7]]
    assert probe.state is ToolState.OUT_OF_VIEW and "TransformStatus = INVALID" in probe.reason
    assert reference.state is ToolState.OUT_OF_VIEW and "identity" in reference.reason
    assert relative.state is ToolState.OUT_OF_VIEW and relative.matrix is None
    before, after = states[sequence.timestamps_s[6]], states[sequence.timestamps_s[8]]
    assert all(p.ok for p in before) and all(p.ok for p in after)
    # Stale between frames never happens at 50 Hz with the 250 ms default.
    assert sum(1 for v in states.values() if not v[0].ok) == 1


def test_water_tank_buffer_is_valid_throughout(shared_data):
    """The three-tool buffer has no invalid sample; the static stylus' jitter is measurable."""
    sequence = read_plus_sequence(shared_data(WATER_TANK))
    assert len(sequence.frames) == 801
    assert sequence.transform_names == ("ProbeToTracker", "ReferenceToTracker", "StylusToTracker")
    for name in sequence.transform_names:
        assert set(sequence.statuses(name)) == {"OK"}
    stylus = sequence.matrices("StylusToTracker")[:, :3, 3]
    assert np.linalg.norm(stylus.std(axis=0)) < 0.5  # a static tool: sub-millimetre jitter
    probe = sequence.matrices("ProbeToTracker")[:, :3, 3]
    assert np.ptp(probe, axis=0).max() > 20.0  # the probe was translated ~25 mm
    assert float(sequence.frames[1].fields["UnfilteredTimestamp"]) == pytest.approx(7415.699)


def test_quirky_and_broken_files(tmp_path):
    header = (
        b"ObjectType = Image\r\nNDims = 3\r\nDimSize = 2 1 2   \r\nElementType = MET_USHORT\r\n"
        b"BinaryDataByteOrderMSB = False\r\nCompressedData = False\r\n"
        b"ElementSpacing = 0.5 0.5 1\r\n"
        b"Seq_Frame0000_PointerToTrackerTransform = 1 0 0 1.5e+002 0 1 0 2.84176e-005 0 0 1 -0 \r\n"
        b"Seq_Frame0000_Timestamp = 1.0\r\nSeq_Frame0000_ImageStatus = OK\r\n"
        b"Seq_Frame0001_PointerToTrackerTransform = 1.#QNAN 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1\r\n"
        b"Seq_Frame0001_PointerToTrackerTransformStatus = INVALID\r\n"
        b"Seq_Frame0001_Timestamp = 1.1\r\nSeq_Frame0001_ImageStatus = INVALID\r\n"
        b"ElementDataFile = LOCAL\r\n"
    )
    pixels = np.array([[1, 4095], [7, 8]], dtype="<u2").tobytes()
    path = tmp_path / "quirky.igs.mha"
    path.write_bytes(header + pixels)
    sequence = read_plus_sequence(path)
    first = sequence.frames[0].transforms["PointerToTracker"]
    np.testing.assert_allclose(first[:3, 3], [150.0, 2.84176e-5, 0.0])  # 3x4 -> bottom row implied
    np.testing.assert_array_equal(first[3], [0, 0, 0, 1])
    assert np.isnan(sequence.frames[1].transforms["PointerToTracker"][0, 0])
    np.testing.assert_array_equal(sequence.frames[0].image, [[1, 4095]])
    assert sequence.frames[1].image is None  # ImageStatus INVALID
    messages = list(sequence_messages(sequence))
    assert [m.type for _, m in messages] == ["TRANSFORM", "IMAGE", "TRANSFORM"]
    image = messages[1][1]
    assert image.body.pixels.shape == (1, 1, 2)
    np.testing.assert_allclose(np.diag(image.body.world_from_ijk), [0.5, 0.5, 1.0, 1.0])
    assert messages[2][1].metadata["TransformStatus"] == "INVALID"

    truncated = tmp_path / "truncated.igs.mha"
    truncated.write_bytes(header + pixels[:4])
    with pytest.raises(InputError, match="pixel data is truncated"):
        read_plus_sequence(truncated)
    no_time = tmp_path / "no_time.igs.mha"
    no_time.write_text(
        "DimSize = 0 0 1\nSeq_Frame0000_AToBTransform = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1\n"
    )
    with pytest.raises(InputError, match="frame 0 has no Timestamp"):
        read_plus_sequence(no_time)
    not_plus = tmp_path / "plain.mha"
    not_plus.write_text("ObjectType = Image\nDimSize = 2 2\nElementDataFile = LOCAL\n")
    with pytest.raises(InputError, match="not a PLUS sequence metafile"):
        read_plus_sequence(not_plus)
    with pytest.raises(InputError, match="does not exist"):
        read_plus_sequence(tmp_path / "missing.igs.mha")
    with pytest.raises(InputError, match="expected 16 numbers"):
        parse_matrix_text("1 2 3", "somewhere")
