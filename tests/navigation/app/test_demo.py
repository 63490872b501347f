"""``igcs demo`` (the README's main command) end to end, its summary checked against truth."""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest

from navigation.cli import main

pytestmark = pytest.mark.slow

REQUIRED = (
    "fre_mm",
    "tre_at_tumour_true_mm",
    "tre_at_tumour_predicted_mm",
    "fluorescence_dice",
    "fluorescence_boundary_error_mm",
    "tbr",
    "render_fps",
    "latency_ms_p95",
)


def test_demo_summary_meets_the_acceptance_numbers(phantom_ct, tmp_path, monkeypatch, capsys):
    sample = tmp_path / "sample_data"
    sample.mkdir()
    shutil.copytree(phantom_ct, sample / "phantom_ct")  # the sample phantom is seed 0, small
    monkeypatch.setenv("IGCS_SAMPLE_DATA", str(sample))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in REQUIRED:
        assert isinstance(summary[key], float) and math.isfinite(summary[key]), key
    # Acceptance: true TRE at the tumour <= 1 mm at the simulator's default noise (FLE 0.3 mm),
    # fluorescence boundary error <= 2 mm (mapped positive region vs the true patch).
    assert summary["tre_at_tumour_true_mm"] <= 1.0
    assert summary["fluorescence_boundary_error_mm"] <= 2.0
    assert summary["fluorescence_dice"] >= 0.9
    # The theory's prediction is in the right range of the truth (one draw of a random error).
    assert 0.2 < summary["tre_at_tumour_true_mm"] / summary["tre_at_tumour_predicted_mm"] < 5.0
    # FRE of 7 fiducials at 0.3 mm FLE: expected sqrt(1 - 2/7) * 0.3 = 0.25 mm.
    assert 0.1 < summary["fre_mm"] < 0.5
    assert summary["tbr"] > 2.0  # the tumour reads positive
    assert summary["plan"]["fiducials_found"] == summary["plan"]["fiducials_true"]
    assert abs(summary["plan"]["tumour_volume_error_percent"]) < 5.0
    offline = summary["fluorescence_offline"]
    assert offline["dice"] >= 0.9 and offline["boundary_error_mm"] <= 2.0
    # The report's pictures exist.
    report = (out / "report.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(pictures) >= 4
    for picture in pictures:
        assert (out / picture).is_file(), picture
    printed = capsys.readouterr().out
    assert "TRE at the tumour" in printed and str(out / "summary.json") in printed
    assert (out / "plan_meshes.png").stat().st_size > 20_000
