from __future__ import annotations

import json

import pytest

from registration.core.atomic_files import atomic_directory, atomic_path, write_json_atomic


def test_json_written_and_nan_refused(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"x": 1.5})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5}
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "a.json", {"x": float("nan")})
    # The failed write left the old content and no temporary files.
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_interrupted_file_write_leaves_old_file(tmp_path):
    target = tmp_path / "mesh.vtp"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.name.endswith(".vtp")
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["mesh.vtp"]


def test_interrupted_directory_never_appears(tmp_path):
    target = tmp_path / "PLAN"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "plan.json").write_text("{}")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        (tmp / "plan.json").write_text("{}")
    assert (target / "plan.json").exists()
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_directory(target):
            pass
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "plan.json").write_text('{"v": 2}')
    assert json.loads((target / "plan.json").read_text()) == {"v": 2}


def test_written_files_and_folders_get_the_usual_permissions(tmp_path):
    import os

    from registration.core.atomic_files import _UMASK, atomic_directory, write_text_atomic

    with atomic_directory(tmp_path / "plan") as folder:
        write_text_atomic(folder / "a.txt", "x")
    assert (tmp_path / "plan").stat().st_mode & 0o777 == 0o777 & ~_UMASK
    assert (tmp_path / "plan" / "a.txt").stat().st_mode & 0o777 == 0o666 & ~_UMASK
    assert os.access(tmp_path / "plan" / "a.txt", os.R_OK)
