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
