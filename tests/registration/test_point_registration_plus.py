"""Point registration on a real PLUS recording: a tracked stylus touching the 8 landmarks of
the fCal 2.0 phantom (PlusLibData; see ../shared/data/tracking-plus/SOURCE.txt)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from registration.point_registration import RegistrationWarning, register_points


def _series(text: str, name: str) -> np.ndarray:
    """(frames, 4, 4) transforms of one ``Seq_FrameNNNN_<name>`` field, in frame order."""
    rows = re.findall(rf"^Seq_Frame(\d+)_{name} = (.*)$", text, re.MULTILINE)
    rows.sort(key=lambda row: int(row[0]))
    return np.array([[float(v) for v in row[1].split()] for row in rows]).reshape(-1, 4, 4)


def _dwell_points(tip: np.ndarray, speed_mm_per_frame: float = 0.5) -> np.ndarray:
    """Mean tip position of each dwell: runs of >= 8 frames moving < ``speed`` per frame,
    runs closer than 3 mm merged (a dwell interrupted by a twitch)."""
    speed = np.r_[np.inf, np.linalg.norm(np.diff(tip, axis=0), axis=1)]
    runs, start = [], None
    for i, still in enumerate(np.r_[speed < speed_mm_per_frame, False]):
        if still and start is None:
            start = i
        elif not still and start is not None:
            if i - start >= 8:
                runs.append(tip[start:i])
            start = None
    dwells: list[np.ndarray] = []
    for run in runs:
        if dwells and np.linalg.norm(dwells[-1].mean(axis=0) - run.mean(axis=0)) < 3.0:
            dwells[-1] = np.vstack([dwells[-1], run])
        else:
            dwells.append(run)
    return np.array([d.mean(axis=0) for d in dwells])


@pytest.fixture
def phantom(shared_data):
    folder = shared_data("tracking-plus")
    text = (folder / "EightLandmarkPointsTrackedForPhantomRegistration.igs.mha").read_bytes()
    text = text.decode("latin-1")
    xml = (folder / "PlusDeviceSet_fCal_Sim_RecordPhantomLandmarks.xml").read_text()
    matrix = re.search(r'From="StylusTip" To="Stylus"\s+Matrix="([^"]+)"', xml)
    assert matrix is not None
    stylus_from_tip = np.array(matrix.group(1).split(), dtype=float).reshape(4, 4)
    landmarks = np.array(
        [p.split() for p in re.findall(r'<Landmark Name="#\d" Position="([^"]+)"', xml)],
        dtype=float,
    )
    tracker_from_reference = _series(text, "ReferenceToTrackerTransform")
    tracker_from_stylus = _series(text, "StylusToTrackerTransform")
    reference_from_stylus = np.linalg.inv(tracker_from_reference) @ tracker_from_stylus
    tip_in_reference = (reference_from_stylus @ stylus_from_tip[:, 3])[:, :3]
    return _dwell_points(tip_in_reference), landmarks


def test_real_landmark_registration(phantom):
    dwells, landmarks = phantom
    assert len(dwells) == 10  # rest pose, the 8 landmarks in order, rest pose
    touched = dwells[1:9]
    # FLE 0.5 mm: the pivot calibration's own RMS in the device set is 0.46 mm.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RegistrationWarning)
        result = register_points(touched, landmarks, fle_rms_mm=0.5)
    assert 0.25 < result.fre_rms_mm < 0.45  # SOURCE.txt: about 0.35 mm with its dwell centres
    assert result.residuals_mm.max() < 0.6
    assert result.leave_one_out_mm.max() < 1.0
    mapped = touched @ result.image_from_tracker[:3, :3].T + result.image_from_tracker[:3, 3]
    np.testing.assert_allclose(mapped, landmarks, atol=0.6)


def test_real_swapped_landmarks_are_named(phantom):
    dwells, landmarks = phantom
    touched = dwells[1:9].copy()
    touched[[2, 5]] = touched[[5, 2]]
    names = [f"#{i + 1}" for i in range(8)]
    with pytest.warns(RegistrationWarning, match="fiducials #3 and #6 look swapped"):
        result = register_points(touched, landmarks, fle_rms_mm=0.5, names=names)
    assert result.suspect_indices == (2, 5)
