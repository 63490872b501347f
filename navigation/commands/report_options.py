"""Options shared by the engineer's commands (pivot, camera-calibration, hand-eye, dwells):
the ``--report DIR`` folder and the check of positive thresholds."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from navigation.cli import UserError


def add_report_argument(parser: argparse.ArgumentParser, what: str = "the figures") -> None:
    """``--report DIR``: where report.html and ``what`` are written."""
    parser.add_argument(
        "--report", type=Path, metavar="DIR", help=f"write report.html and {what} here"
    )


def require_positive(**values: float | None) -> None:
    """Refuse a given option that is not a positive finite number; keyword names are option
    names with ``_`` for ``-`` (``max_spread=...`` is ``--max-spread``); None is not given."""
    for name, value in values.items():
        if value is not None and (not math.isfinite(value) or value <= 0):
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} must be a positive number; got {value}.")
