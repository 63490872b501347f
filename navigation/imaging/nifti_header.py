"""The dimensions a NIfTI file's own header states, read before ITK touches it.

ITK's NIfTI reader turns a zero length along an axis into 1 (``dim[3] = 0`` becomes a
64 x 64 x 1 image), so an empty file would pass as one slice. The header is read here as the
NIfTI-1 and NIfTI-2 standards lay it out (sizeof_hdr 348 or 540, either byte order; ``dim``
at byte 40 as eight int16, or at byte 16 as eight int64), from the gzip stream for .nii.gz.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

_NIFTI1, _NIFTI2 = 348, 540


def nifti_dimensions(path: Path) -> tuple[int, ...] | None:
    """``(n_1, ..., n_dim0)`` from the header's ``dim`` field, or None when the file is not a
    NIfTI-1/2 header this function recognises (the reader then says what is wrong)."""
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as stream:
            header = stream.read(_NIFTI2)
    except (OSError, EOFError):
        return None
    if len(header) < _NIFTI1:
        return None
    for order in ("<", ">"):
        size = struct.unpack_from(f"{order}i", header, 0)[0]
        if size == _NIFTI1:
            dim = struct.unpack_from(f"{order}8h", header, 40)
        elif size == _NIFTI2 and len(header) >= _NIFTI2:
            dim = struct.unpack_from(f"{order}8q", header, 16)
        else:
            continue
        count = int(dim[0])
        if not 1 <= count <= 7:
            return None
        return tuple(int(n) for n in dim[1 : count + 1])
    return None
