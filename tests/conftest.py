"""Shared fixtures: the real data in ../shared/data and offscreen VTK."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rendering.offscreen import configure_offscreen

configure_offscreen()

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IGCS_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def shared_data_path(relative: str) -> Path:
    """Path of a file or folder in ../shared/data; skips locally when absent, fails in CI."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"shared data {path} is missing (see ../shared/data/README.md)"
        if IN_CI:
            pytest.fail(message + "; in CI these tests must run, not skip")
        pytest.skip(message)
    return path


@pytest.fixture
def shared_data():
    """Callable fixture: ``shared_data("tracking-plus/...")`` -> Path."""
    return shared_data_path


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(20261125)


@pytest.fixture(scope="session")
def phantom_ct(tmp_path_factory):
    """Folder of the small phantom CT (seed 0): ``dicom/`` (160 axial slices, 1 mm) and
    ``truth.json`` (read it with ``navigation.simulation.phantom.load_truth``). Made once per
    session."""
    from navigation.simulation.phantom import write_phantom

    folder = tmp_path_factory.mktemp("phantom") / "phantom_ct"
    write_phantom(folder, modality="CT", seed=0, size="small")
    return folder


@pytest.fixture(scope="session")
def phantom_plan(phantom_ct, tmp_path_factory):
    """Plan folder made by ``igcs plan`` from ``phantom_ct`` with the truth's tumour seed and
    node centre as seeds (load it with ``navigation.planning.plan.load_plan``)."""
    from navigation.cli import main
    from navigation.simulation.phantom import load_truth

    truth = load_truth(phantom_ct)
    out = tmp_path_factory.mktemp("plan") / "phantom_plan"
    seed = ",".join(repr(float(v)) for v in truth.tumour_seed_lps_mm)
    node = ",".join(repr(float(v)) for v in truth.node_centroid_lps_mm)
    status = main(
        [
            "plan",
            str(phantom_ct / "dicom"),
            "--out",
            str(out),
            f"--tumour-seed={seed}",
            f"--node-seed={node}",
            "--expected-fiducials",
            str(len(truth.fiducial_names)),
        ]
    )
    assert status == 0
    return out


@pytest.fixture(scope="session")
def phantom_mr():
    """The small T1-like MR phantom (seed 1) in memory: ``Phantom(volume, truth)``."""
    from navigation.simulation.phantom import make_phantom

    return make_phantom(modality="MR", seed=1)
