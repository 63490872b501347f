"""The ``source`` block of ``plan.json``: what the plan was made from, with file digests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from navigation.imaging.loading import LoadedVolume


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(files: Iterable[Path], root: Path) -> list[dict[str, str]]:
    """``[{name, sha256}]`` with names relative to ``root`` where possible."""
    rows = []
    for file in files:
        path = Path(file)
        try:
            name = str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            name = str(path)
        rows.append({"name": name, "sha256": sha256_file(path)})
    return rows


def source_from_loaded(loaded: LoadedVolume) -> dict[str, Any]:
    """plan.json ``source`` for a volume read by ``load_volume``."""
    report, meta = loaded.report, loaded.volume.metadata
    root = report.source if report.source.is_dir() else report.source.parent
    return {
        "kind": "dicom" if report.kind == "dicom" else "file",
        "format": report.kind,
        "path": str(report.source.resolve()),
        "chosen": report.chosen,
        "modality": loaded.volume.modality,
        "series_instance_uid": meta.get("series_instance_uid"),
        "study_instance_uid": meta.get("study_instance_uid"),
        "frame_of_reference_uid": meta.get("frame_of_reference_uid"),
        "resampled": report.resampled,
        "warnings": list(report.warnings),
        "files": file_digests(report.files, root),
    }


def source_from_label_files(path: Path, files: Iterable[Path]) -> dict[str, Any]:
    """plan.json ``source`` for a plan made from label map files."""
    root = path if path.is_dir() else path.parent
    return {
        "kind": "file",
        "format": "label map",
        "path": str(path.resolve()),
        "modality": "LABEL",
        "series_instance_uid": None,
        "study_instance_uid": None,
        "frame_of_reference_uid": None,
        "files": file_digests(files, root),
    }
