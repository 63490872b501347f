"""``igcs doctor``: every check passes on this machine; a broken render window, a busy port and a
missing extra each give their own clear line."""

from __future__ import annotations

import json
import socket

import pytest

from navigation.cli import main
from navigation.commands.doctor import run_checks
from registration.core.checks import InputError
from registration.optional_dependencies import EXTRAS, require_extra

pytestmark = pytest.mark.slow


def test_doctor_is_ready_on_this_machine(capsys):
    status = main(["doctor"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "FAIL" not in out
    required = ("numpy", "vtk", "opencv-python-headless", "SimpleITK", "numba")
    for name in (*required, "PySide6-Essentials"):
        assert f"OK    {name}: " in out
    assert "OK    offscreen rendering (vtkEGLRenderWindow): vtkEGLRenderWindow drew" in out
    assert "OK    numba kernels: visibility of a test sphere right" in out
    assert "OK    qt display: Qt " in out  # under Xvfb, as the test command runs
    assert "igcs doctor: ready" in out


def test_a_broken_render_window_fails_with_a_fix(capsys):
    status = main(["doctor", "--render-window", "vtkNoSuchRenderWindow"])
    out = capsys.readouterr().out
    assert status == 1
    line = next(x for x in out.splitlines() if x.startswith("FAIL  offscreen rendering"))
    assert "vtkNoSuchRenderWindow" in line and "crashed" in line
    assert "apt install libegl1 libgl1-mesa-dri" in out
    assert "igcs doctor: not ready (1 failed" in out


def test_json_report_has_a_schema_and_the_verdict(capsys):
    status = main(["doctor", "--json", "--render-window", "vtkNoSuchRenderWindow"])
    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert report["schema"] == "igcs-doctor" and report["schema_version"] == 1
    assert report["ready"] is False
    failed = [c["name"] for c in report["checks"] if c["status"] == "FAIL"]
    assert failed == ["offscreen rendering (vtkNoSuchRenderWindow)"]


def test_a_busy_port_is_a_warning_not_a_failure():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        checks = {c.name: c for c in run_checks(port=port)}
    check = checks[f"OpenIGTLink port {port}"]
    assert check.status == "WARN" and "in use" in check.detail and "--port" in check.fix


def test_a_missing_extra_names_itself(monkeypatch):
    monkeypatch.setitem(EXTRAS, "gui", ("igcs_no_such_module", "the surgeon's Qt window"))
    with pytest.raises(InputError, match=r"needs the 'gui' extra .*pip install 'igcs\[gui\]'"):
        require_extra("gui", alternative="or run igcs navigate --headless")
    require_extra("dask")  # installed here: no error
