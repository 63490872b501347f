"""Highlight masks: small bright glints and saturation, never the smooth fluorescence."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from rendering.highlights import HighlightDetector, highlight_mask


def frame_with_glints(rng):
    """A 256 x 320 frame: dark level 100, a broad Gaussian glow (peak 1500 DN above dark,
    sigma 25 px) plus three 2-px glints of +2500 DN and one saturated spot, shot and read
    noise."""
    rows, columns = np.mgrid[0:256, 0:320]
    glow = 1500.0 * np.exp(-((rows - 128) ** 2 + (columns - 160) ** 2) / (2 * 25.0**2))
    glints = [(60, 60), (128, 175), (200, 250)]
    signal = glow.copy()
    for r, c in glints:
        signal += 2500.0 * np.exp(-((rows - r) ** 2 + (columns - c) ** 2) / (2 * 1.0**2))
    noisy = signal + rng.normal(0.0, 1.0, signal.shape) * np.sqrt(signal / 4.0 + 4.0) + 100.0
    noisy[30:33, 280:283] = 4095
    return np.clip(np.rint(noisy), 0, 4095).astype(np.uint16), glints


def test_glints_and_saturation_masked_the_glow_kept(rng):
    frame, glints = frame_with_glints(rng)
    detector = HighlightDetector(dark_level_dn=100.0, read_noise_dn=2.0, dilation_px=1)
    mask = highlight_mask(frame, detector)
    for r, c in glints:
        assert mask[r, c], (r, c)
    assert mask[30:33, 280:283].all()
    # the glow (far from the glints) is never masked, even at its peak
    rows, columns = np.mgrid[0:256, 0:320]
    away = np.ones(mask.shape, dtype=bool)
    for r, c in [*glints, (31, 281)]:
        away &= (rows - r) ** 2 + (columns - c) ** 2 > 8**2
    assert not mask[away].any()
    assert mask.sum() < 0.01 * mask.size


def test_refuses_bad_settings_and_frames():
    with pytest.raises(InputError, match="radius_px"):
        HighlightDetector(radius_px=0)
    with pytest.raises(InputError, match="2-D"):
        highlight_mask(np.zeros((2, 3, 4)))
