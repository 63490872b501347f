from __future__ import annotations

import shutil

from navigation.cli import main
from navigation.planning.plan import load_plan


def test_demo_plans_the_sample_phantom_and_renders_a_picture(
    phantom_ct, tmp_path, monkeypatch, capsys
):
    sample = tmp_path / "sample_data"
    sample.mkdir()
    shutil.copytree(phantom_ct, sample / "phantom_ct")  # the sample phantom is seed 0, small
    monkeypatch.setenv("IGCS_SAMPLE_DATA", str(sample))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    plan = load_plan(tmp_path / "demo" / "plan")
    assert len(plan.fiducial_names) == 7
    picture = tmp_path / "demo" / "plan_meshes.png"
    assert picture.stat().st_size > 20_000
    assert str(picture) in out and "fiducial localisation vs truth: max 0.0" in out
