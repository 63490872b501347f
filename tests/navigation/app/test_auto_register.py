"""Dwell finding of the automatic registration on tip streams with known dwells, sampled
evenly and in bursts (a starved sender stamps several poses microseconds apart)."""

from __future__ import annotations

import numpy as np

from navigation.app.auto_register import AutoRegistrationConfig, completed_dwells
from navigation.tracking.fiducial_collection import find_still_periods

#: Three dwells of 1.6 s at these tips (mm), 0.8 s of travel between them, rests before/after.
DWELLS = np.array([[0.0, 0.0, 0.0], [60.0, 10.0, 0.0], [30.0, 70.0, 20.0]])
DWELL_S, TRAVEL_S, RATE_HZ, JITTER_MM = 1.6, 0.8, 30.0, 0.1


def true_tip(t: np.ndarray) -> np.ndarray:
    """Piecewise path: dwell k on [k * 2.4, k * 2.4 + 1.6], linear travel between, then away."""
    period = DWELL_S + TRAVEL_S
    k = np.minimum((t // period).astype(int), len(DWELLS) - 1)
    into = t - k * period
    moving = np.clip((into - DWELL_S) / TRAVEL_S, 0.0, 1.0)
    after = np.vstack([DWELLS[1:], DWELLS[-1] + [0.0, 0.0, 80.0]])
    return DWELLS[k] + moving[:, None] * (after[k] - DWELLS[k])


def stream(bursty: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ticks = np.arange(0.0, 3 * (DWELL_S + TRAVEL_S), 1.0 / RATE_HZ)
    if bursty:
        # Every sixth tick the sender stalls for 150 ms, then sends what it owes 70 us apart.
        times = ticks.copy()
        for start in range(0, len(ticks) - 6, 6):
            times[start : start + 6] = ticks[start + 5] + 70e-6 * np.arange(6)
    else:
        times = ticks
    return times, true_tip(times) + rng.normal(0.0, JITTER_MM, (len(times), 3))


def test_every_dwell_is_found_at_its_place_even_when_samples_come_in_bursts():
    config = AutoRegistrationConfig()
    for bursty in (False, True):
        times, tips = stream(bursty)
        dwells = completed_dwells(times, tips, config)
        assert len(dwells) == 3, f"bursty={bursty}: {[d.duration_s for d in dwells]}"
        for dwell, tip in zip(dwells, DWELLS, strict=True):
            assert np.linalg.norm(dwell.mean - tip) < 0.3
            assert 1.2 < dwell.duration_s <= DWELL_S + 0.3


def test_per_sample_speeds_cut_bursty_dwells_apart():
    """Why the grid: the same bursty stream smoothed sample by sample loses its dwells."""
    from scipy.ndimage import uniform_filter1d

    times, tips = stream(bursty=True)
    width = round(0.25 * RATE_HZ)
    smoothed = uniform_filter1d(tips, size=width, axis=0, mode="nearest")
    assert len(find_still_periods(times, smoothed, max_speed_mm_s=5.0, min_duration_s=1.0)) < 3


def test_a_dwell_still_going_on_is_not_complete():
    times, tips = stream(bursty=False)
    ongoing = times < 2 * (DWELL_S + TRAVEL_S) + 1.2  # inside the third dwell
    assert len(completed_dwells(times[ongoing], tips[ongoing], AutoRegistrationConfig())) == 2
