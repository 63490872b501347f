"""``igcs accuracy`` end to end: a plan folder with meshes, in-process, a local Dask cluster and
an existing scheduler, all with the same numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pyvista

from navigation.cli import main
from navigation.planning.markups import write_markups_fiducials
from registration.tre import expected_fre_rms, predict_tre_rms
from tests.navigation.plan_factory import SCANNER_HEAD, write_plan

FIDUCIALS = SCANNER_HEAD.fiducials_lps_mm
TUMOUR_CENTRE = SCANNER_HEAD.tumour_centre_lps_mm


def _run(plan, out, *extra):
    return main(
        [
            "accuracy",
            "--plan",
            str(plan),
            "--fle",
            "0.3",
            "--trials",
            "2000",
            "--out",
            str(out),
            "--seed",
            "3",
            *extra,
        ]
    )


@pytest.mark.slow
def test_accuracy_report_in_process(tmp_path, capsys):
    plan = write_plan(tmp_path / "plan", SCANNER_HEAD)
    out = tmp_path / "report"
    assert _run(plan, out, "--workers", "0", "--fle-image", "0.2") == 0
    printed = capsys.readouterr().out
    total = float(np.hypot(0.3, 0.2))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fre_rms_predicted_mm"] == pytest.approx(expected_fre_rms(6, total))
    assert summary["fre_rms_mm"] == pytest.approx(summary["fre_rms_predicted_mm"], rel=0.05)
    tumour = summary["targets"][0]
    assert tumour["name"] == "tumour centroid"
    np.testing.assert_allclose(tumour["position_lps_mm"], TUMOUR_CENTRE)
    expected = predict_tre_rms(FIDUCIALS, TUMOUR_CENTRE, fle_rms_mm=total)[0]
    assert tumour["tre_rms_predicted_mm"] == pytest.approx(expected)
    assert tumour["tre_rms_mm"] == pytest.approx(expected, rel=0.1)
    names = [t["name"] for t in summary["targets"]]
    assert names == ["tumour centroid", "neck level II L", "tumour surface, worst predicted"]
    # The worst point is the tumour vertex with the largest predicted TRE, and the simulation
    # agrees with the theory there too.
    worst = summary["targets"][2]
    tumour_mesh = pyvista.read(plan / "meshes" / "tumour.vtp")
    tumour_tre = predict_tre_rms(FIDUCIALS, np.asarray(tumour_mesh.points, float), fle_rms_mm=total)
    assert worst["tre_rms_predicted_mm"] == pytest.approx(tumour_tre.max())
    assert worst["tre_rms_predicted_mm"] > tumour["tre_rms_predicted_mm"]
    assert np.min(np.linalg.norm(tumour_mesh.points - worst["position_lps_mm"], axis=1)) < 1e-4
    assert worst["tre_rms_mm"] == pytest.approx(worst["tre_rms_predicted_mm"], rel=0.1)
    assert len(summary["cases"]) == 1 + 6  # plan layout + each fiducial dropped
    assert {s["name"] for s in summary["surfaces"]} == {"skin", "tumour"}

    skin = pyvista.read(out / "tre_map_skin.vtp")
    np.testing.assert_allclose(
        skin["tre_rms_predicted_mm"],
        predict_tre_rms(FIDUCIALS, np.asarray(skin.points, float), fle_rms_mm=total),
        rtol=1e-6,
    )
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 7  # 5 study plots (one FLE level) + 2 maps
    assert (out / "results.csv").read_text().startswith("case,layout,dropped_fiducial")
    assert "TRE RMS at tumour centroid" in printed


@pytest.mark.slow
def test_local_dask_cluster_and_existing_scheduler_match_in_process(tmp_path):
    from distributed import LocalCluster

    from navigation.cli import build_parser
    from navigation.commands.accuracy import plan_meshes, study_from_plan
    from navigation.planning.plan import load_plan
    from registration.accuracy import run_study

    plan = write_plan(tmp_path / "plan", SCANNER_HEAD)
    common = ["--trials", "400", "--no-drop"]
    assert _run(plan, tmp_path / "local", "--workers", "2", *common) == 0  # worker processes
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert (
            _run(plan, tmp_path / "remote", "--scheduler", cluster.scheduler_address, *common) == 0
        )
    argv = ["accuracy", "--plan", str(plan), "--fle", "0.3", "--out", "x", "--seed", "3", *common]
    args = build_parser(argv).parse_args(argv)
    loaded = load_plan(plan)
    study = study_from_plan(loaded, args, plan_meshes(loaded))
    here = run_study(study, progress=False).main
    for name in ("local", "remote"):
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert summary["fre_rms_mm"] == here.fre_rms_mm
        assert [t["tre_rms_mm"] for t in summary["targets"]] == here.tre_rms_mm.tolist()
    assert (tmp_path / "local" / "results.csv").read_text() == (
        tmp_path / "remote" / "results.csv"
    ).read_text()


@pytest.mark.slow
def test_extra_layout_and_fle_levels(tmp_path):
    plan = write_plan(tmp_path / "plan", SCANNER_HEAD, with_tumour=False)
    wide = FIDUCIALS + np.array(
        [[0, 0, 40], [30, 0, 0], [-30, 0, 0], [0, 20, 0], [0, 20, 0], [0, 0, -20]]
    )
    write_markups_fiducials(tmp_path / "wide.mrk.json", [f"W{i}" for i in range(6)], wide)
    out = tmp_path / "report"
    assert (
        main(
            [
                "accuracy",
                "--plan",
                str(plan),
                "--fle",
                "0.2",
                "0.4",
                "--trials",
                "500",
                "--out",
                str(out),
                "--workers",
                "0",
                "--no-drop",
                "--layout",
                str(tmp_path / "wide.mrk.json"),
                "--target",
                "carotid L=35,-20,-40",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    cases = [(c["layout"], c["fle_rms_mm"]) for c in summary["cases"]]
    assert cases == [("plan", 0.2), ("plan", 0.4), ("wide.mrk.json", 0.2), ("wide.mrk.json", 0.4)]
    # No tumour in this plan: its own target, then --target.
    assert [t["name"] for t in summary["targets"]] == ["neck level II L", "carotid L"]
    np.testing.assert_allclose(summary["targets"][1]["position_lps_mm"], [35, -20, -40])
    assert [s["name"] for s in summary["surfaces"]] == ["skin"]
    assert (out / "fle_levels.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "1"], "--trials must be at least 2"),
        (["--fle", "-0.3"], "FLE values must be non-negative"),
        (["--plan", "nowhere"], "is not a plan folder"),
        (["--target", "carotid=35,-20"], "expected NAME=X,Y,Z"),
        (["--target", "=1,2,3"], "expected NAME=X,Y,Z"),
    ],
)
def test_accuracy_refusals(tmp_path, capsys, args, message):
    plan = write_plan(tmp_path / "plan", SCANNER_HEAD)
    base = {"--plan": str(plan), "--fle": "0.3", "--trials": "100", "--out": str(tmp_path / "o")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value if flag != "--plan" else str(tmp_path / value)
    argv = ["accuracy", "--workers", "0"] + [x for pair in base.items() for x in pair]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_tre_gates_set_the_exit_status(tmp_path, capsys):
    plan = write_plan(tmp_path / "plan", SCANNER_HEAD)
    total = 0.3
    centroid = predict_tre_rms(FIDUCIALS, TUMOUR_CENTRE, fle_rms_mm=total)[0]
    common = ["--workers", "0", "--no-drop"]
    # generous: both tumour targets pass
    assert _run(plan, tmp_path / "pass", *common, "--max-tre-at-tumour", "1.0") == 0
    printed = capsys.readouterr().out
    assert "PASS: max TRE at the tumour: simulated TRE RMS at tumour centroid" in printed
    summary = json.loads((tmp_path / "pass" / "summary.json").read_text())
    assert summary["passed"] is True
    assert [g["target"] for g in summary["gates"]] == [
        "tumour centroid",
        "tumour surface, worst predicted",
    ]
    # between the centroid's TRE and the worst surface point's: the surface point fails
    between = 0.5 * (centroid + summary["targets"][2]["tre_rms_mm"])
    out = tmp_path / "fail"
    assert _run(plan, out, *common, "--max-tre-at-tumour", f"{between:.4f}") == 1
    printed = capsys.readouterr().out
    assert "PASS: max TRE at the tumour: simulated TRE RMS at tumour centroid" in printed
    assert "FAIL: max TRE at the tumour: simulated TRE RMS at tumour surface" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is False and (out / "report.html").is_file()
    assert [g["passed"] for g in summary["gates"]] == [True, False]
    assert "FAIL" in (out / "report.html").read_text()
    # every target, on the 95th percentile (larger than the RMS)
    assert _run(plan, tmp_path / "p95", *common, "--max-tre", "0.3") == 0
    capsys.readouterr()
    status = _run(plan, tmp_path / "p95", *common, "--max-tre", "0.3", "--gate-statistic", "p95")
    assert status == 1
    assert "FAIL: max TRE: simulated TRE P95 at neck level II L" in capsys.readouterr().out
    # no gate: exit 0 and "passed": null
    assert _run(plan, tmp_path / "none", *common) == 0
    assert json.loads((tmp_path / "none" / "summary.json").read_text())["passed"] is None


def test_tumour_gate_needs_a_tumour(tmp_path, capsys):
    plan = write_plan(tmp_path / "plan", SCANNER_HEAD, with_tumour=False)
    assert _run(plan, tmp_path / "o", "--workers", "0", "--max-tre-at-tumour", "1") == 2
    assert "has no tumour; segment it first or gate the targets with --max-tre" in (
        capsys.readouterr().err
    )
    assert _run(plan, tmp_path / "o", "--workers", "0", "--max-tre", "-1") == 2
    assert "--max-tre must be a positive number of mm" in capsys.readouterr().err


@pytest.mark.slow
def test_dask_logging_only_with_verbose(tmp_path):
    """A real ``igcs accuracy`` process on a local cluster: no Dask INFO lines unless -v."""
    import subprocess
    import sys

    plan = write_plan(tmp_path / "plan", SCANNER_HEAD)
    argv = ["accuracy", "--plan", str(plan), "--fle", "0.3", "--trials", "200", "--no-drop"]
    argv += ["--workers", "1"]
    runs = {}
    for name, prefix in (("quiet", []), ("verbose", ["-v"])):
        done = subprocess.run(
            [sys.executable, "-m", "navigation.cli", *prefix, *argv, "--out", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        runs[name] = done.stdout + done.stderr
    assert "distributed." not in runs["quiet"]
    assert "INFO distributed.scheduler" in runs["verbose"]
