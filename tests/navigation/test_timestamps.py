"""Timestamp policy: sender time when sane, arrival time on each fault (zero, frozen,
backwards, far off)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from navigation.tracking.timestamps import (
    TimeSource,
    TimestampFault,
    TimestampMapper,
    TimestampPolicy,
)
from registration.core.checks import InputError

EPOCH = 1.7e9  # a sender on UNIX time, far from the local monotonic clock


def feed(mapper, device, sender, arrival):
    return [mapper.stamp(device, s, a) for s, a in zip(sender, arrival, strict=True)]


def test_sane_sender_time_is_mapped_and_removes_network_jitter(rng):
    """Sender samples every 20 ms; arrivals add 1-9 ms of random delay. Mapped times keep the
    sender's spacing (the delay jitter is gone) and are never later than arrival."""
    mapper = TimestampMapper()
    sender = EPOCH + np.arange(200) * 0.02
    arrival = 50.0 + np.arange(200) * 0.02 + 0.001 + rng.uniform(0.0, 0.008, 200)
    stamped = feed(mapper, "PointerToTracker", sender, arrival)
    assert all(s.source is TimeSource.SENDER and s.fault is None for s in stamped)
    times = np.array([s.time_s for s in stamped])
    assert (times <= arrival + 1e-6).all()  # float64 resolution at 1.7e9 s is 2.4e-7 s
    steady = np.diff(times[70:])  # once the window holds a near-minimal delay
    # Arrival spacing varies by up to 8 ms; the mapped spacing only steps when the least
    # delayed sample leaves the 64-sample window (sub-millisecond).
    assert np.abs(np.diff(arrival[70:]) - 0.02).max() > 0.005
    assert np.abs(steady - 0.02).max() < 0.001
    assert mapper.offset_s == pytest.approx(50.0 + 0.001 - EPOCH, abs=1e-3)


@pytest.mark.parametrize(
    ("bad_timestamp", "fault"),
    [
        (0.0, TimestampFault.ZERO),
        (np.nan, TimestampFault.NOT_FINITE),
        (np.inf, TimestampFault.NOT_FINITE),
    ],
)
def test_zero_or_non_finite_timestamps_use_arrival(bad_timestamp, fault):
    mapper = TimestampMapper()
    mapper.stamp("PointerToTracker", EPOCH, 10.0)
    stamped = mapper.stamp("PointerToTracker", bad_timestamp, 10.02)
    assert stamped.source is TimeSource.ARRIVAL and stamped.fault is fault
    assert stamped.time_s == 10.02


def test_frozen_timestamps_use_arrival():
    mapper = TimestampMapper()
    mapper.stamp("PointerToTracker", EPOCH, 10.0)
    stamped = mapper.stamp("PointerToTracker", EPOCH, 10.05)
    assert stamped.fault is TimestampFault.FROZEN and stamped.time_s == 10.05
    # Another device may share the timestamp (PLUS sends all tools of a frame with one stamp).
    assert mapper.stamp("ReferenceToTracker", EPOCH, 10.05).fault is None


def test_backwards_timestamp_uses_arrival_and_the_stream_recovers():
    mapper = TimestampMapper()
    feed(mapper, "PointerToTracker", EPOCH + np.array([0.0, 0.02, 0.04]), [10.0, 10.02, 10.04])
    back = mapper.stamp("PointerToTracker", EPOCH + 0.01, 10.06)
    assert back.fault is TimestampFault.BACKWARDS and back.time_s == 10.06
    after = mapper.stamp("PointerToTracker", EPOCH + 0.08, 10.08)
    assert after.source is TimeSource.SENDER and after.time_s == pytest.approx(10.08)


def test_a_single_jump_uses_arrival_without_moving_the_offset():
    mapper = TimestampMapper()
    feed(mapper, "PointerToTracker", EPOCH + np.arange(10) * 0.02, 10.0 + np.arange(10) * 0.02)
    jump = mapper.stamp("PointerToTracker", EPOCH + 3600.0, 10.2)
    assert jump.fault is TimestampFault.JUMP and jump.time_s == 10.2
    good = mapper.stamp("PointerToTracker", EPOCH + 0.22, 10.22)
    assert good.source is TimeSource.SENDER and good.time_s == pytest.approx(10.22)


def test_far_from_local_clock_after_lock_is_a_jump():
    """A sample whose mapped time is 2 s away from its arrival (a sender stamping with the
    wrong clock, or a message delayed by 2 s) is not believed."""
    mapper = TimestampMapper(TimestampPolicy(max_deviation_s=0.5))
    mapper.stamp("PointerToTracker", EPOCH, 10.0)
    late = mapper.stamp("PointerToTracker", EPOCH + 0.02, 12.02)
    assert late.fault is TimestampFault.JUMP and late.time_s == 12.02


def test_sender_clock_reset_is_followed_after_relock():
    policy = TimestampPolicy(relock_samples=4)
    mapper = TimestampMapper(policy)
    feed(mapper, "PointerToTracker", EPOCH + np.arange(5) * 0.02, 10.0 + np.arange(5) * 0.02)
    # The sender's clock is reset to 100 s: its timestamps still increase.
    new_sender = 100.0 + np.arange(6) * 0.02
    arrival = 10.1 + np.arange(6) * 0.02
    stamped = feed(mapper, "PointerToTracker", new_sender, arrival)
    assert [s.fault for s in stamped[:3]] == [TimestampFault.BACKWARDS] * 3
    np.testing.assert_array_equal([s.time_s for s in stamped[:3]], arrival[:3])
    assert all(s.source is TimeSource.SENDER for s in stamped[3:])
    np.testing.assert_allclose([s.time_s for s in stamped[3:]], arrival[3:], atol=1e-6)


def test_each_fault_is_logged_once_per_device_and_counted(caplog):
    mapper = TimestampMapper()
    with caplog.at_level(logging.WARNING, logger="navigation.tracking.timestamps"):
        for index in range(5):
            mapper.stamp("PointerToTracker", 0.0, 10.0 + index)
            mapper.stamp("ReferenceToTracker", 0.0, 10.0 + index)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "'PointerToTracker' are zero" in messages[0]
    assert mapper.fault_counts[("PointerToTracker", TimestampFault.ZERO)] == 5


def test_policy_and_arrival_are_validated():
    with pytest.raises(InputError, match="max_deviation_s"):
        TimestampPolicy(max_deviation_s=0.0)
    with pytest.raises(InputError, match="arrival_s must be finite"):
        TimestampMapper().stamp("X", 1.0, float("nan"))
