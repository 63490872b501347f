"""The layering contract and the package skeleton."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from navigation import __version__
from navigation.cli import main

ROOT = Path(__file__).resolve().parents[1]


PACKAGES = ("navigation", "registration", "rendering")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the packages under ``root`` (found first on the path)."""
    executable = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(executable), "--no-cache"], cwd=root, env=env, capture_output=True, text=True
    )


def test_import_linter_contracts_hold():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(contracts['contracts'])} kept, 0 broken" in result.stdout


def test_import_linter_catches_a_layer_violation(tmp_path):
    """The contracts are not vacuous: a registration module importing rendering breaks the
    layers, two modules importing each other break the no-cycles contract (in a copy of the
    packages, so the repository is never written)."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "registration" / "layer_violation_probe.py").write_text(
        "import rendering.offscreen  # noqa: F401\n"
    )
    # A cycle between two sibling modules: each imports the other.
    (tmp_path / "registration" / "cycle_probe_a.py").write_text(
        "import registration.cycle_probe_b  # noqa: F401\n"
    )
    (tmp_path / "registration" / "cycle_probe_b.py").write_text(
        "import registration.cycle_probe_a  # noqa: F401\n"
    )
    # VTK in the fluorescence core; the simulator in the app; the phantom in the live mapper.
    (tmp_path / "rendering" / "fluorescence" / "drawing_probe.py").write_text(
        "import vtk  # noqa: F401\n"
    )
    (tmp_path / "navigation" / "app" / "simulation_probe.py").write_text(
        "import navigation.simulation.simulator  # noqa: F401\n"
    )
    (tmp_path / "navigation" / "fluorescence" / "phantom_probe.py").write_text(
        "import navigation.simulation.phantom  # noqa: F401\n"
    )
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Layers: navigation (app) above rendering (VTK) above registration" in result.stdout
    assert "rendering.fluorescence.drawing_probe -> vtk" in result.stdout
    assert "navigation.app.simulation_probe -> navigation.simulation.simulator" in result.stdout
    assert "navigation.fluorescence.phantom_probe -> navigation.simulation.phantom" in result.stdout
    assert "registration.layer_violation_probe -> rendering.offscreen" in result.stdout
    assert "No cycles are allowed in registration." in result.stdout
    assert ".cycle_probe_" in result.stdout


#: Words that point outside the repository: a reader of the code has neither the project's
#: issue tracker nor its private reference notes.
OUTSIDE_WORDS = re.compile(r"REFERENCE\.md|REFERENCE[ ]fault|\b[Ii]ssues? #?\d+\b")


def test_code_cites_the_domain_not_the_tracker():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in (*PACKAGES, "tests", "benchmarks", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE_WORDS.search(line)
    ]
    assert not found, "\n".join(found)


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert capsys.readouterr().out.strip() == f"igcs {__version__}"
