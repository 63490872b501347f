"""The declared dependencies are the used ones: every third-party module the packages import is a
runtime dependency (or, for the Qt window and Dask, its extra), and every runtime dependency is
imported by the packages. A wheel installed without the test extra must run."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

PACKAGES = ("navigation", "registration", "rendering")
#: Extras whose modules runtime code may import (behind require_extra), and the only places
#: that may (None: anywhere). ``igcs doctor`` probes Qt in a child process.
EXTRA_MODULES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "PySide6": ("gui", ("navigation/app/", "navigation/commands/doctor.py")),
    "distributed": ("dask", None),
}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict:
    with open(PROJECT_ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def _imports() -> dict[str, set[str]]:
    """Top-level module name -> the files (relative paths) that import it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    found.setdefault(top, set()).add(path.relative_to(PROJECT_ROOT).as_posix())
    return found


def _third_party(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    return {
        name: files
        for name, files in imports.items()
        if name not in PACKAGES and name not in sys.stdlib_module_names and name != "__future__"
    }


def _distribution(module: str) -> str:
    distributions = importlib.metadata.packages_distributions().get(module)
    assert distributions, f"no installed distribution provides the module {module!r}"
    return distributions[0].lower().replace("_", "-")


def test_every_imported_module_is_declared_in_the_right_place():
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {
        extra: {_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()
    }
    extras["dask"] |= {"distributed"}  # dask[distributed]
    extras["gui"] |= {"pyside6-essentials"}
    problems = []
    for module, files in sorted(_third_party(_imports()).items()):
        distribution = _distribution(module)
        if module in EXTRA_MODULES:
            extra, where = EXTRA_MODULES[module]
            if distribution not in extras[extra] and _name(distribution) not in extras[extra]:
                problems.append(f"{module} is not in the {extra} extra")
            outside = sorted(f for f in files if where and not f.startswith(where))
            if outside:
                problems.append(f"{module} (extra {extra}) imported outside {where}: {outside}")
            continue
        if distribution not in runtime:
            problems.append(
                f"{module} ({distribution}) imported by {sorted(files)[:3]} but not a "
                "runtime dependency"
            )
    assert not problems, "\n".join(problems)


def test_every_runtime_dependency_is_imported():
    imported = {_distribution(m) for m in _third_party(_imports())}
    unused = sorted(
        name for name in (_name(r) for r in _project()["dependencies"]) if name not in imported
    )
    assert not unused, f"declared but never imported by the packages: {unused}"
