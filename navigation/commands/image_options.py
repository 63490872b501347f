"""Options shared by the commands that load an image (``igcs info``, ``igcs plan``).

One spelling for each option across commands: ``--series UID``, ``--no-resample`` and
``--modality ct|mr``.
``--no-resampling`` (the old spelling of ``igcs plan``) is still accepted, hidden from
``--help``.
"""

from __future__ import annotations

import argparse

#: The one flag that turns every resampling of the loader into a refusal.
NO_RESAMPLE_FLAG = "--no-resample"


def add_loading_arguments(parser: argparse.ArgumentParser) -> None:
    """``--series``, ``--no-resample`` and ``--modality`` (dest ``series``, ``no_resample``,
    ``modality``)."""
    parser.add_argument(
        "--series", metavar="UID", default=None, help="SeriesInstanceUID to load (DICOM)"
    )
    parser.add_argument(
        NO_RESAMPLE_FLAG,
        dest="no_resample",
        action="store_true",
        help="refuse a series that needs resampling (non-uniform spacing, gantry tilt, a "
        "missing slice) instead of resampling it onto a regular grid",
    )
    parser.add_argument(
        "--no-resampling", dest="no_resample", action="store_true", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--modality",
        choices=("ct", "mr"),
        type=str.lower,
        default=None,
        help="what a NIfTI/NRRD/MHA file holds (a CT must be in HU). Without it: the file's own "
        "header or dcm2niix sidecar, else CT when the values are clearly Hounsfield units "
        "(air near -1000, soft tissue near 0); MR is never guessed",
    )
