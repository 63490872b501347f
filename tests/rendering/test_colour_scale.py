"""The fluorescence scale: three bands, thresholds marked, unseen neutral."""

from __future__ import annotations

import numpy as np

from rendering.colour_scale import NEUTRAL_RGB, band_colours, colour_bar, legend_text, lookup_table
from rendering.fluorescence.metrics import MarginThresholds
from rendering.view_state import FluorescenceOverlay

MAP = FluorescenceOverlay(
    "tumour", np.zeros(3), thresholds=MarginThresholds(positive_sbr=2.0, close_sbr=1.5)
)


def test_bands_split_at_the_thresholds():
    rgb = band_colours(np.array([0.5, 1.49, 1.5, 1.99, 2.0, 3.0, np.nan]), MAP)
    blue, amber, red = rgb[:2], rgb[2:4], rgb[4:6]
    assert (blue[:, 2] > blue[:, 0] + 0.3).all()
    assert (amber[:, 0] > 0.9).all() and (amber[:, 1] > 0.5).all() and (amber[:, 2] < 0.1).all()
    assert (red[:, 0] > 0.85).all() and (red[:, 1] < 0.05).all()
    assert tuple(rgb[6]) == NEUTRAL_RGB


def test_neutral_is_in_no_band():
    samples = band_colours(np.linspace(0.0, 3.0, 301), MAP)
    chroma = samples.max(axis=1) - samples.min(axis=1)
    assert chroma.min() > 0.3  # every value has a hue; only "not seen" is grey


def test_lookup_table_agrees_with_band_colours_and_marks_thresholds():
    table = lookup_table(MAP)
    for value in (0.2, 1.6, 2.5):
        rgb = [0.0, 0.0, 0.0]
        table.GetColor(value, rgb)
        assert np.allclose(rgb, band_colours(np.array([value]), MAP)[0], atol=0.02)
    nan = [0.0, 0.0, 0.0]
    table.GetColor(float("nan"), nan)
    assert tuple(nan) == NEUTRAL_RGB
    annotations = {table.GetAnnotation(i) for i in range(table.GetNumberOfAnnotatedValues())}
    assert annotations == {"close 1.5", "positive 2"}
    bar = colour_bar(table, "SBR")
    assert bar.GetDrawNanAnnotation() and bar.GetNanAnnotation() == "not seen"


def test_colour_bar_ticks_sit_on_the_thresholds_and_the_legend_names_them():
    bar = colour_bar(lookup_table(MAP), "SBR")
    ticks = bar.GetCustomLabels()
    assert bar.GetUseCustomLabels()
    assert sorted(ticks.GetValue(i) for i in range(ticks.GetNumberOfTuples())) == [
        0.0, 1.5, 2.0, 3.0
    ]  # fmt: skip
    text = legend_text(MAP)
    assert "positive >= 2" in text and "close >= 1.5" in text and "not seen" in text
