"""The command line when its reader goes away (``igcs info DIR | head``) and the option names
shared by the commands that load images."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from navigation.cli import COMMANDS, EXIT_BROKEN_PIPE, main
from tests.conftest import PROJECT_ROOT
from tests.navigation.imaging.dicom_factory import SeriesSpec, write_series


class _ClosedPipe(io.TextIOBase):
    """A stdout whose reader has gone: every write raises as a closed pipe does."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("name", ["", *(name for name, _help in COMMANDS)])
def test_every_command_stops_quietly_when_its_reader_is_gone(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    status = main([name, "--help"] if name else ["--help"])
    assert status == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_igcs_info_into_a_closed_pipe_prints_no_traceback(tmp_path):
    """A real pipe closed by its reader before igcs writes: no traceback, no 'Exception
    ignored' at interpreter exit, exit status 141 (128 + SIGPIPE)."""
    write_series(tmp_path / "study", SeriesSpec(count=4))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "navigation", "info", str(tmp_path / "study")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is written
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert "Traceback" not in error and "BrokenPipeError" not in error, error


@pytest.mark.parametrize("command", ["info", "plan"])
def test_one_spelling_for_no_resampling_and_the_old_one_hidden(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = capsys.readouterr().out
    assert "--no-resample " in help_text or "--no-resample\n" in help_text
    assert "--no-resampling" not in help_text
    from navigation.cli import build_parser

    argv = [command, "x", "--no-resampling"] + (["--out", "p"] if command == "plan" else [])
    assert build_parser(argv).parse_args(argv).no_resample is True
    argv[2] = "--no-resample"
    assert build_parser(argv).parse_args(argv).no_resample is True
