"""The accuracy lab: study definition, engine (in-process and Dask, identical numbers), report."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from registration.accuracy import (
    AccuracyStudy,
    Layout,
    StudyTarget,
    dask_client,
    run_study,
    surface_tre_maps,
    write_report,
)
from registration.accuracy.engine import plan_chunks
from registration.core.checks import InputError
from registration.core.transforms import make_rigid, rotation_about
from registration.tre import predict_tre_rms

SCANNER_FROM_HEAD = make_rigid(rotation_about([0.3, -1.0, 0.4], 50.0), [-30.0, 180.0, -450.0])
HEAD = np.array(
    [[0, -95, 30], [60, -60, 5], [-60, -60, 5], [50, -10, -60], [-50, -10, -60], [0, -85, -75]],
    dtype=float,
)
NAMES = ("nasion", "zygoma L", "zygoma R", "mandible L", "mandible R", "chin")
TARGETS = {
    "tumour": [20, -40, -50],
    "neck level II L": [45, 0, -100],
    "vertex": [0, -20, 90],
    "occiput": [0, 90, 0],
}


def _place(points) -> np.ndarray:
    return np.asarray(points, float) @ SCANNER_FROM_HEAD[:3, :3].T + SCANNER_FROM_HEAD[:3, 3]


def _study(**overrides) -> AccuracyStudy:
    options = {
        "layouts": (Layout("head", NAMES, _place(HEAD)),),
        "fle_rms_mm": (0.5,),
        "targets": tuple(StudyTarget(n, _place(p)) for n, p in TARGETS.items()),
        "trials": 4000,
        "seed": 42,
        "chunk_trials": 1500,
        "drop_each_fiducial": False,
    }
    options.update(overrides)
    return AccuracyStudy(**options)


def test_cases_expand_layouts_levels_and_drops():
    square = Layout.from_points("square", [[0, 0, 0], [50, 0, 0], [0, 50, 0], [50, 50, 10]])
    study = _study(
        layouts=(Layout("head", NAMES, _place(HEAD)), square),
        fle_rms_mm=(0.2, 0.5),
        drop_each_fiducial=True,
    )
    cases = study.cases()
    assert [(c.base_layout, c.fle_rms_mm, c.dropped) for c in cases[:4]] == [
        ("head", 0.2, None),
        ("head", 0.5, None),
        ("square", 0.2, None),
        ("square", 0.5, None),
    ]
    drops = cases[4:]
    assert [c.dropped for c in drops] == [*NAMES, "F1", "F2", "F3", "F4"]
    assert all(
        c.fle_rms_mm == 0.2 and len(c.layout.fiducial_names) == c.layout.fiducials_lps_mm.shape[0]
        for c in drops
    )
    assert "zygoma L" not in drops[1].layout.fiducial_names
    assert [c.index for c in cases] == list(range(len(cases)))
    chunks = plan_chunks(study)
    assert len(chunks) == len(cases) * 3  # 4000 trials in chunks of 1500, 1500, 1000
    assert [c.trials for c in chunks[:3]] == [1500, 1500, 1000]


def test_study_refusals():
    with pytest.raises(InputError, match="at least one fiducial layout"):
        _study(layouts=())
    with pytest.raises(InputError, match="at least one target"):
        _study(targets=())
    with pytest.raises(InputError, match="fle_rms_mm must be non-negative"):
        _study(fle_rms_mm=(-0.3,))
    with pytest.raises(InputError, match="trials must be >= 2"):
        _study(trials=1)
    with pytest.raises(InputError, match="layout names must be unique"):
        _study(layouts=(Layout("a", NAMES, HEAD), Layout("a", NAMES, HEAD + 1)))
    with pytest.raises(InputError, match="layout 'line' is collinear"):
        _study(layouts=(Layout.from_points("line", np.outer(np.arange(4.0), [1, 2, 3])),))
    with pytest.raises(InputError, match="has 2 names for 6 fiducials"):
        Layout("x", ("a", "b"), HEAD)


def test_simulation_matches_theory_and_fre_does_not_predict_tre():
    """Acceptance through the engine: 20,000 trials of a rotated, off-origin layout."""
    results = run_study(_study(trials=20_000, chunk_trials=5000), progress=False)
    main = results.main
    fle = 0.5
    assert np.mean(main.fre_mm**2) == pytest.approx((1 - 2 / 6) * fle**2, rel=0.05)
    theory = predict_tre_rms(_place(HEAD), _place(list(TARGETS.values())), fle_rms_mm=fle)
    np.testing.assert_allclose(np.mean(main.tre_mm**2, axis=0), theory**2, rtol=0.10)
    np.testing.assert_allclose(main.tre_rms_predicted_mm, theory)
    assert np.abs(main.fre_tre_correlation).max() < 0.1
    # TRE is about normal in 3-D: P95 / RMS between 1.61 (isotropic, chi with 3 dof) and 1.96
    # (all error on one axis); for a 3-DOF normal error the rule of thumb is 1.6.
    ratio = main.tre_percentile_mm(95) / main.tre_rms_mm
    assert ((ratio > 1.55) & (ratio < 1.96)).all()
    centroid = _place(HEAD).mean(axis=0)
    far = [np.linalg.norm(_place(p) - centroid) for p in list(TARGETS.values())[1:]]
    assert min(far) > 100


def test_same_seed_same_numbers_and_image_fle_adds_in_quadrature():
    first = run_study(_study(fle_image_rms_mm=0.4, trials=3000), progress=False)
    again = run_study(_study(fle_image_rms_mm=0.4, trials=3000), progress=False)
    other = run_study(_study(fle_image_rms_mm=0.4, trials=3000, seed=43), progress=False)
    assert np.array_equal(first.main.tre_mm, again.main.tre_mm)
    assert not np.array_equal(first.main.tre_mm, other.main.tre_mm)
    assert first.main.case.fle_total_rms_mm == pytest.approx(np.hypot(0.5, 0.4))
    assert first.main.fre_rms_mm == pytest.approx(np.sqrt(2 / 3) * np.hypot(0.5, 0.4), rel=0.05)


def test_dask_local_cluster_gives_identical_numbers():
    study = _study(fle_rms_mm=(0.3, 0.6), trials=600, chunk_trials=250, drop_each_fiducial=True)
    local = run_study(study, progress=False)
    with dask_client(workers=2, processes=False) as client:
        distributed = run_study(study, client=client, progress=False)
    assert len(distributed.cases) == len(local.cases) == 2 + 6
    for a, b in zip(local.cases, distributed.cases, strict=True):
        assert a.case == b.case
        assert np.array_equal(a.fre_mm, b.fre_mm)
        assert np.array_equal(a.tre_mm, b.tre_mm)


@pytest.mark.slow
def test_report_files(tmp_path, rng):
    study = _study(fle_rms_mm=(0.3, 0.6), trials=2000, drop_each_fiducial=True)
    results = run_study(study, progress=False)
    skin = _place(rng.normal(size=(5000, 3)) * [80, 100, 110])
    maps = surface_tre_maps(results, {"skin": skin})
    np.testing.assert_allclose(
        maps[0].tre_rms_mm, predict_tre_rms(_place(HEAD), skin, fle_rms_mm=0.3)
    )
    files = write_report(tmp_path, results, maps=maps)

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["fre_rms_mm"] == pytest.approx(results.main.fre_rms_mm)
    assert summary["fre_rms_predicted_mm"] == pytest.approx(np.sqrt(1 / 3) * 0.3 * np.sqrt(2))
    assert [t["name"] for t in summary["targets"]] == list(TARGETS)
    tumour = summary["targets"][0]
    np.testing.assert_allclose(tumour["position_lps_mm"], _place(TARGETS["tumour"]))
    assert tumour["tre_rms_mm"] == pytest.approx(tumour["tre_rms_predicted_mm"], rel=0.1)
    assert len(summary["cases"]) == 2 + 6
    assert summary["surfaces"][0]["tre_rms_predicted_max_mm"] == pytest.approx(
        maps[0].tre_rms_mm.max()
    )

    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 * (1 + len(TARGETS))
    fre_row = rows[0]
    assert fre_row["quantity"] == "FRE"
    assert float(fre_row["rms_simulated_mm"]) == pytest.approx(results.main.fre_rms_mm)
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 7  # 6 study plots + 1 TRE map
    assert "zygoma L" in html and "neck level II L" in html
    for name in ("fre_histogram.png", "drop_effect.png", "fle_levels.png", "tre_map_skin.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(files) >= {"report", "csv", "summary"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left
