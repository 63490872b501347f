"""A real install: the sdist and wheel built from the sources, the wheel installed (not editable)
into a clean virtual environment with the locked dependencies, and ``igcs --help`` and ``igcs
demo`` run from it — outside the checkout, writing nothing inside site-packages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

PACKAGES = ("navigation", "registration", "rendering")


def _source_copy(target: Path) -> Path:
    """The files git tracks (and new ones it does not ignore), copied: building writes
    ``build/`` and ``*.egg-info`` next to the sources, which must not be the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in listed:
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _package_modules() -> set[str]:
    """Every module of the source tree's packages, as a path."""
    return {
        path.relative_to(PROJECT_ROOT).as_posix()
        for package in PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("packaging")
    source = _source_copy(folder / "source")
    dist = folder / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = dist.glob("igcs-*.whl")
    (sdist,) = dist.glob("igcs-*.tar.gz")
    return {"folder": folder, "wheel": wheel, "sdist": sdist}


def test_wheel_and_sdist_hold_every_package_and_the_type_marker(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
    missing = _package_modules() - names
    assert not missing, f"the wheel lacks {sorted(missing)}"
    assert "navigation/commands/__init__.py" in names  # subpackages, not only the top levels
    for package in PACKAGES:
        assert f"{package}/py.typed" in names
    assert not any(name.startswith("tests/") for name in names)
    with tarfile.open(built["sdist"]) as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "navigation/commands/demo.py"} <= members


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_and_writes_nothing_in_site_packages(built):
    folder = built["folder"]
    environment = folder / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", str(python), str(built["wheel"]),
         "--constraint", str(PROJECT_ROOT / "requirements" / "lock.txt")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip

    def installed_files() -> set[str]:
        return {
            path.relative_to(site_packages).as_posix()
            for package in PACKAGES
            for path in (site_packages / package).rglob("*")
            if path.is_file() and path.suffix != ".pyc"
        }

    before = installed_files()
    assert "navigation/commands/__init__.py" in before
    igcs = environment / "bin" / "igcs"
    cache = folder / "cache"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IGCS_", "NUMBA_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
    env["XDG_CACHE_HOME"] = str(cache)
    work = folder / "elsewhere"  # not the checkout: nothing may come from the sources
    work.mkdir()

    shown = subprocess.run(
        [str(igcs), "--help"], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    assert "doctor" in shown.stdout and "demo" in shown.stdout

    out = folder / "demo"
    demo = subprocess.run(
        [str(igcs), "demo", "--out", str(out)],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-3000:]
    sample = cache / "igcs" / "sample_data" / "phantom_ct"
    assert f"sample phantom: {sample}" in demo.stderr  # the demo says where its data went
    assert (sample / "truth.json").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fre_mm"] is not None and summary["fre_mm"] < 1.0
    assert any((cache / "igcs" / "numba").rglob("*.nbi"))  # compiled kernels in the cache
    assert installed_files() == before  # nothing written inside site-packages
