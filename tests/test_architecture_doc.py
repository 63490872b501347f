"""docs/architecture.md stays true: every package and module it names exists, and it names
every import-linter contract of pyproject.toml."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("navigation", "registration", "rendering")

#: A path from the repository root: ``navigation/app``, ``rendering/view_state.py``.
FULL_PATH = re.compile(r"\b(?:" + "|".join(PACKAGES) + r")(?:/[a-z_][a-z0-9_]*)*(?:\.py)?/?")
#: A module named by its file alone, in backticks: ``segmentation.py``.
BARE_MODULE = re.compile(r"`([a-z_][a-z0-9_]*\.py)`")


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, each list item its own block."""
    return [
        block
        for chunk in re.split(r"\n\s*\n", text)
        for block in re.split(r"\n(?=\d+\. |- )", chunk)
    ]


def named_paths(text: str) -> list[Path]:
    """Every path the page names, relative to the repository root. A bare ``name.py`` belongs to
    the package or module named last before it in the same paragraph."""
    found: list[Path] = []
    for block in _paragraphs(text):
        package: Path | None = None
        tokens = sorted(
            [(m.start(), m.group(0).rstrip("/"), True) for m in FULL_PATH.finditer(block)]
            + [(m.start(1), m.group(1), False) for m in BARE_MODULE.finditer(block)]
        )
        for _, token, full in tokens:
            if full:
                path = Path(token)
                found.append(path)
                package = path.parent if path.suffix == ".py" else path
            else:
                assert package is not None, f"{token!r} is named before any package: {block!r}"
                found.append(package / token)
    return found


def test_every_named_package_and_module_exists():
    paths = named_paths(DOC.read_text(encoding="utf-8"))
    assert len(paths) >= 40, "the page names fewer modules than it did: the parser broke?"
    missing = sorted({str(p) for p in paths if not (ROOT / p).exists()})
    assert not missing, f"docs/architecture.md names what is not there: {missing}"


def test_a_renamed_module_is_caught():
    text = "The store (`navigation/tracking/pose_store.py`), its checks (`pose_checks.py`)."
    paths = named_paths(text)
    assert paths == [
        Path("navigation/tracking/pose_store.py"),
        Path("navigation/tracking/pose_checks.py"),
    ]
    assert not (ROOT / paths[1]).exists()


def test_every_contract_is_described():
    text = DOC.read_text(encoding="utf-8")
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for contract in contracts["contracts"]:
        assert f"**{contract['name']}**" in text, contract["name"]
