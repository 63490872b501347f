"""``igcs demo --patient`` on the real PET/CT of HN-CHUS-052 (TCIA Head-Neck-PET-CT) end to end:
landmarks on its skin, the PET tumour, landmark + surface registration, a transcervical wound
imaged as tissue; the summary checked against the simulator's truth and published ranges."""

from __future__ import annotations

import json
import math
import re

import pytest

from navigation.cli import main
from tests.navigation.app.test_demo import REQUIRED


@pytest.mark.slow
def test_patient_demo_on_the_real_pet_ct(shared_data, tmp_path, capsys):
    patient = shared_data("hn-petct-human/HN-CHUS-052")
    out = tmp_path / "demo"
    assert main(["demo", "--patient", str(patient), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in (*REQUIRED, "cnr"):
        assert isinstance(summary[key], float) and math.isfinite(summary[key]), key
    # The PET tumour and the five landmarks made the plan.
    plan = summary["plan"]
    assert plan["landmarks"] == ["nasion", "pronasale", "pogonion", "tragus_left", "tragus_right"]
    assert 30.0 < plan["tumour_volume_ml"] < 90.0  # the FDG-avid oropharyngeal primary
    # Landmarks (2.5 mm FLE) and a skin sweep: the true TRE at the tumour within a cleared
    # system's 2 mm; the Monte Carlo prediction of the same order (one draw of a random error).
    assert summary["registration"]["method"] == "points+surface"
    # The registration file holds the Monte Carlo prediction once it landed.
    surface = summary["registration"]["surface"]
    assert surface["tre_predicted_mm"] == pytest.approx(summary["tre_at_tumour_predicted_mm"])
    assert summary["tre_at_tumour_true_mm"] <= 2.0
    assert 0.2 < summary["tre_at_tumour_true_mm"] / summary["tre_at_tumour_predicted_mm"] < 5.0
    # Fluorescence on the wound against the true tracer patch; SBR in the published in-situ
    # range (2-3, Gao et al. 2018), CNR above the Rose criterion.
    assert summary["fluorescence_dice"] >= 0.85
    assert summary["fluorescence_boundary_error_mm"] <= 2.0
    assert 1.8 <= summary["tbr"] <= 3.5
    assert 3.0 <= summary["cnr"] <= 30.0
    offline = summary["fluorescence_offline"]
    assert offline["dice"] >= 0.85 and offline["boundary_error_mm"] <= 2.0
    # The report shows the registration and the map on the patient.
    report = (out / "report.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    for name in ("registration_landmarks", "registration_residuals", "fluorescence_anatomy"):
        assert any(name in p for p in pictures), name
    for picture in pictures:
        assert (out / picture).stat().st_size > 10_000, picture
    assert "CNR" in capsys.readouterr().out
