"""Compressed NIfTI files (``.nii.gz``) and gzip streams written fast.

SimpleITK writes the image uncompressed (its header: LPS geometry stored as NIfTI's RAS
qform/sform, as ITK always does) into a hidden sibling file, which is then gzip-compressed
into the target with ISA-L's deflate (Intel's Intelligent Storage Acceleration Library, via
``python-isal``: standard gzip that every reader, ITK and nibabel included, decompresses).
ITK's own compressed write goes through zlib a few kilobytes at a time: 3.5 s for a
512 x 512 x 300 int16 CT here, against 0.6 s to write the plain file and 0.6 s to compress it
with ISA-L (level 2: 80 MB, ITK's file 77 MB). The decompressed bytes are the very file ITK
writes uncompressed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import SimpleITK as sitk
from isal import isal_zlib

#: ISA-L's levels run from 0 (fastest) to 3; 2 is its default.
GZIP_LEVEL = 2
_CHUNK = 1 << 22


class _Compressor(Protocol):
    def compress(self, data: bytes | memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


def gzip_compressor(level: int = GZIP_LEVEL) -> _Compressor:
    """A compressor making one gzip member (header, deflate stream, CRC-32 and size)."""
    return isal_zlib.compressobj(level, isal_zlib.DEFLATED, isal_zlib.MAX_WBITS | 16)


def write_nifti_gz(image: sitk.Image, path: str | Path, *, level: int = GZIP_LEVEL) -> str:
    """Write ``image`` as gzip-compressed NIfTI at ``path`` (see the module docstring); the
    hex SHA-256 of the file written."""
    target = Path(path)
    plain = target.with_name(f".{target.name}.{os.getpid()}.nii")
    digest = hashlib.sha256()
    try:
        sitk.WriteImage(image, str(plain), False)
        compressor = gzip_compressor(level)
        with open(plain, "rb") as source, open(target, "wb") as out:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                data = compressor.compress(chunk)
                digest.update(data)
                out.write(data)
            data = compressor.flush()
            digest.update(data)
            out.write(data)
    finally:
        plain.unlink(missing_ok=True)
    return digest.hexdigest()
