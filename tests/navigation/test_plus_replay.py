"""Acceptance: the real PLUS stylus recording, replayed over loopback OpenIGTLink
into the pose store, gives the 8 landmark positions that register to the phantom landmarks at
about 0.35 mm RMS."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from navigation.tracking.fiducial_collection import find_still_periods, tip_positions
from navigation.tracking.igtl_transport import IgtlClient, IgtlServer
from navigation.tracking.messages import IgtlMessage, RequestBody
from navigation.tracking.plus_config import read_plus_device_set
from navigation.tracking.plus_sequence import read_plus_sequence, write_sequence_session
from navigation.tracking.pose_store import PoseStore, ToolState
from navigation.tracking.recording import SessionReader
from navigation.tracking.replay import replay_session
from registration.point_registration import register_points

pytestmark = pytest.mark.slow

LANDMARKS = "tracking-plus/EightLandmarkPointsTrackedForPhantomRegistration.igs.mha"
DEVICE_SET = "tracking-plus/PlusDeviceSet_fCal_Sim_RecordPhantomLandmarks.xml"
SPEED = 12.0


def test_plus_recording_replayed_over_loopback_registers_the_landmarks(shared_data, tmp_path):
    sequence = read_plus_sequence(shared_data(LANDMARKS))
    session = tmp_path / "landmarks.igcsrec"
    assert write_sequence_session(sequence, session) == 2000
    assert sum(1 for _ in SessionReader(session)) == 2000
    device_set = read_plus_device_set(shared_data(DEVICE_SET))
    tip_in_stylus = device_set.transform("StylusTip", "Stylus")[:3, 3]

    store = PoseStore(connected=False)
    samples: list[tuple[float, np.ndarray | None]] = []
    done = threading.Event()

    def on_message(message: IgtlMessage) -> None:
        store.ingest(message)
        if message.device_name == "StylusToTracker":
            relative = store.transform("Reference", "Stylus")
            samples.append((message.timestamp_s, relative.matrix if relative.ok else None))
            if len(samples) == len(sequence.frames):
                done.set()

    server = IgtlServer("127.0.0.1", 0).start()
    hello = IgtlMessage("GET_STATUS", "", RequestBody("GET", "STATUS"), header_version=2)
    client = IgtlClient(
        "127.0.0.1",
        server.port,
        on_message=on_message,
        on_connection=store.on_connection,
        header_version=2,
        requests_on_connect=(hello,),
    ).start()
    try:
        assert server.wait_connected(2.0) and client.wait_connected(2.0)
        time.sleep(0.1)
        stats = replay_session(session, server, speed=SPEED)
        assert stats.messages == 2000
        assert done.wait(5.0), f"{len(samples)} stylus samples arrived"
        assert store.pose("StylusToTracker").state is ToolState.OK
    finally:
        client.stop()
        server.stop()

    assert all(matrix is not None for _, matrix in samples)  # never stale at 15 Hz x 12
    times = np.array([t for t, _ in samples])  # sender time: the recording's intervals
    np.testing.assert_allclose(np.diff(times), np.diff(sequence.timestamps_s), atol=1e-5)
    tips = tip_positions(np.array([m for _, m in samples]), tip_in_stylus)
    periods = find_still_periods(times, tips, max_speed_mm_s=5.0, min_duration_s=2.0)
    dwells = [p for p in periods if p.start_index > 0 and p.stop_index < len(tips)]
    assert len(dwells) == 8
    result = register_points(
        np.array([p.mean for p in dwells]),
        device_set.landmarks_in_phantom,
        fle_rms_mm=0.5,
        names=device_set.landmark_names,
    )
    assert 0.25 < result.fre_rms_mm < 0.45
    assert result.residuals_mm.max() < 0.6
