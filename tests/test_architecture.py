"""The layering contract and the package skeleton."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from navigation import __version__
from navigation.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_import_linter_catches_a_layer_violation(tmp_path):
    """The contract is not vacuous: a registration module importing rendering breaks it."""
    bad = ROOT / "registration" / "_layer_violation_probe.py"
    bad.write_text("import rendering.offscreen  # noqa: F401\n")
    try:
        lint_imports = Path(sys.executable).with_name("lint-imports")
        result = subprocess.run(
            [str(lint_imports), "--no-cache"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        bad.unlink()
    assert result.returncode != 0
    assert "broken" in result.stdout


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert capsys.readouterr().out.strip() == f"igcs {__version__}"
