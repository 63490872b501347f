"""Bad input to ``igcs navigate`` and the plan scene: one clear line, exit status 2."""

from __future__ import annotations

import pytest

from navigation.cli import main
from navigation.planning.plan_scene import load_plan_scene
from registration.core.checks import InputError
from tests.navigation.plan_factory import write_plan


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--igtl", "localhost"], "--igtl must be HOST:PORT"),
        (["--igtl", "127.0.0.1:1", "--headless"], "--headless needs --screenshot DIR"),
        (["--igtl", "127.0.0.1:1", "--auto-register"], "are for --headless runs"),
        (["--igtl", "127.0.0.1:1", "--window-size", "big"], "--window-size must look like"),
        (["--igtl", "127.0.0.1:1", "--tool-names", "A,B"], "--tool-names needs 4 names"),
        (["--igtl", "127.0.0.1:1", "--pointer-tip", "1,2"], "--pointer-tip must be X,Y,Z"),
        (["--igtl", "127.0.0.1:1", "--camera-intrinsics", "cam.json"], "needs both"),
        (["--igtl", "127.0.0.1:1", "--hand-eye", "he.json"], "needs both"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(nav_plan, capsys, extra, message):
    assert main(["navigate", "--plan", str(nav_plan), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("igcs navigate: error:") and message in err[-1]


def test_a_plan_without_a_label_map_is_refused(tmp_path, capsys):
    plan = write_plan(tmp_path / "plan")
    with pytest.raises(InputError, match=r"no label map \(labels.nii.gz\).*igcs plan"):
        load_plan_scene(plan)
    status = main(["navigate", "--plan", str(plan), "--igtl", "127.0.0.1:1", "--headless",
                   "--screenshot", str(tmp_path / "out"), "--duration", "1"])  # fmt: skip
    assert status == 2 and "no label map" in capsys.readouterr().err


def test_an_existing_recording_is_not_overwritten(nav_plan, tmp_path, capsys):
    record = tmp_path / "s.igcsrec"
    record.write_bytes(b"precious")
    status = main(["navigate", "--plan", str(nav_plan), "--igtl", "127.0.0.1:1", "--headless",
                   "--screenshot", str(tmp_path / "out"), "--duration", "1",
                   "--record", str(record)])  # fmt: skip
    assert status == 2 and "already exists" in capsys.readouterr().err
    assert record.read_bytes() == b"precious"


@pytest.mark.slow
def test_every_session_is_recorded_by_default(nav_plan, tmp_path, monkeypatch):
    """Without --record the session still goes to sessions/igcs-<date>-<time>.igcsrec; with no
    tracker there the tools read DISCONNECTED and the recording holds the app's events."""
    from navigation.tracking.recording import SessionReader

    monkeypatch.chdir(tmp_path)
    status = main(["navigate", "--plan", str(nav_plan), "--igtl", "127.0.0.1:1", "--headless",
                   "--screenshot", str(tmp_path / "out"), "--duration", "1",
                   "--connect-timeout", "0.2"])  # fmt: skip
    assert status == 0
    (session,) = (tmp_path / "sessions").glob("igcs-*.igcsrec")
    kinds = [event.kind for event in SessionReader(session).events()]
    assert "session_start" in kinds
    assert main(["navigate", "--plan", str(nav_plan), "--igtl", "127.0.0.1:1", "--headless",
                 "--screenshot", str(tmp_path / "out2"), "--duration", "1", "--no-record",
                 "--connect-timeout", "0.2"]) == 0  # fmt: skip
    assert len(list((tmp_path / "sessions").glob("*.igcsrec"))) == 1
