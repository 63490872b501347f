"""The sample data: a small phantom CT generated on first use, offline.

The user's cache directory for igcs (``$IGCS_SAMPLE_DATA`` when set; otherwise
``platformdirs.user_cache_dir("igcs")/sample_data``, i.e. ``~/.cache/igcs/sample_data`` on Linux
following the XDG convention) holds ``phantom_ct/`` (``dicom/`` + ``truth.json``) once
:func:`ensure_sample_phantom` has run. Nothing is written next to the installed package. Generating
takes ~10 s.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

from navigation.simulation.phantom import TRUTH_VERSION, write_phantom

#: The sample phantom: small grid, this seed.
SAMPLE_SEED = 0
SAMPLE_SIZE = "small"


def sample_data_root() -> Path:
    """``$IGCS_SAMPLE_DATA`` if set, else ``sample_data/`` in the user's igcs cache directory."""
    configured = os.environ.get("IGCS_SAMPLE_DATA")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("igcs")) / "sample_data"


def _is_current(folder: Path, modality: str) -> bool:
    truth = folder / "truth.json"
    if not truth.is_file() or not (folder / "dicom").is_dir():
        return False
    try:
        raw = json.loads(truth.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return (
        raw.get("schema_version") == TRUTH_VERSION
        and raw.get("seed") == SAMPLE_SEED
        and raw.get("modality") == modality
        and raw.get("geometry", {}).get("size_ijk") in ([256, 256, 160],)
    )


def ensure_sample_phantom(*, modality: str = "CT", root: str | Path | None = None) -> Path:
    """The sample phantom folder (``dicom/`` + ``truth.json``), generated if missing or stale."""
    modality = modality.upper()
    folder = Path(root) if root is not None else sample_data_root()
    folder = folder / f"phantom_{modality.lower()}"
    if not _is_current(folder, modality):
        write_phantom(folder, modality=modality, seed=SAMPLE_SEED, size=SAMPLE_SIZE, overwrite=True)
    return folder
