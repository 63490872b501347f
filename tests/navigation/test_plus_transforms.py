"""PLUS transform names and chains, checked against hand-composed transforms and the real
PLUS recordings (../shared/data/tracking-plus)."""

from __future__ import annotations

import numpy as np
import pytest

from navigation.tracking.plus_config import read_plus_device_set
from navigation.tracking.plus_sequence import read_plus_sequence
from navigation.tracking.plus_transforms import (
    chain_transform,
    sequence_transform,
    split_transform_name,
)
from registration.core.checks import InputError
from registration.core.transforms import make_rigid, rotation_about

TRACKER_FROM_STYLUS = make_rigid(rotation_about([1.0, 2.0, 0.5], 40.0), [10.0, -200.0, -1500.0])
TRACKER_FROM_REFERENCE = make_rigid(rotation_about([0.0, 1.0, 1.0], -25.0), [80.0, 0.0, -1400.0])
STYLUS_FROM_TIP = make_rigid(np.eye(3), [108.565, 7.774, 2.539])


@pytest.mark.parametrize(
    ("name", "frames"),
    [
        ("StylusTipToReference", ("StylusTip", "Reference")),
        ("ToolToReference", ("Tool", "Reference")),
        ("ProbeToTrackerTransform", ("Probe", "Tracker")),
        ("Image2ToTransducer", ("Image2", "Transducer")),
    ],
)
def test_split_transform_name(name, frames):
    assert split_transform_name(name) == frames


@pytest.mark.parametrize("name", ["StylusTip", "stylusToReference", "ToReference", "AToBToC"])
def test_malformed_transform_names_are_refused(name):
    with pytest.raises(InputError, match="is not a PLUS transform name"):
        split_transform_name(name)


def test_chain_composes_and_inverts():
    available = {
        "StylusToTracker": TRACKER_FROM_STYLUS,
        "ReferenceToTracker": TRACKER_FROM_REFERENCE,
        "StylusTipToStylus": STYLUS_FROM_TIP,
    }
    expected = np.linalg.inv(TRACKER_FROM_REFERENCE) @ TRACKER_FROM_STYLUS @ STYLUS_FROM_TIP
    np.testing.assert_allclose(chain_transform("StylusTipToReference", available), expected)
    np.testing.assert_allclose(
        chain_transform("ReferenceToStylusTip", available), np.linalg.inv(expected), atol=1e-9
    )
    np.testing.assert_allclose(chain_transform("TrackerToTracker", available), np.eye(4))
    invalid = available | {"StylusToTracker": np.full((4, 4), np.nan)}
    assert np.isnan(chain_transform("StylusTipToReference", invalid)).all()
    with pytest.raises(InputError, match="frame 'StylusTip' is not connected to 'Reference'"):
        chain_transform("ReferenceToStylusTip", {"ReferenceToTracker": TRACKER_FROM_REFERENCE})


def test_sequence_transform_on_real_recordings(shared_data):
    device_set = read_plus_device_set(
        shared_data("tracking-plus/PlusDeviceSet_fCal_Sim_RecordPhantomLandmarks.xml")
    )
    sequence = read_plus_sequence(
        shared_data("tracking-plus/EightLandmarkPointsTrackedForPhantomRegistration.igs.mha")
    )
    tips = sequence_transform(sequence, "StylusTipToReference", device_set.transforms)
    frame = sequence.frames[500]
    expected = (
        np.linalg.inv(frame.transforms["ReferenceToTracker"])
        @ frame.transforms["StylusToTracker"]
        @ device_set.transform("StylusTip", "Stylus")
    )
    np.testing.assert_allclose(tips[500], expected, atol=1e-9)
    assert np.isfinite(tips).all()
    with pytest.raises(InputError, match="StylusTipToStylus"):
        sequence_transform(sequence, "StylusTipToReference")  # no calibration given
    # a buffer with one INVALID probe sample: that frame, and only that one, is NaN
    buffer = read_plus_sequence(shared_data("tracking-plus/TransformInterpolationTest.igs.mha"))
    probe = sequence_transform(buffer, "ProbeToReference")
    invalid = [i for i, s in enumerate(buffer.statuses("ProbeToTracker")) if s != "OK"]
    assert len(invalid) == 1
    assert np.flatnonzero(np.isnan(probe[:, 0, 0])).tolist() == invalid
