"""Freed memory handed back to the operating system during a plan (glibc's malloc).

glibc serves an allocation from its heaps unless it is at least the *mmap threshold*, which
starts at 128 KiB and rises, after each large block is freed, up to 32 MiB (the "dynamic mmap
threshold", see ``mallopt(3)``). A plan allocates and frees many arrays of a few MiB to tens
of MiB from several threads; past the rise they come from the heaps (one arena per thread),
where freed space is rarely returned, so the resident size only grows. Fixing the threshold
at 128 KiB (``M_MMAP_THRESHOLD``, which also turns the rise off) maps every such array on its
own and unmaps it when freed: ``igcs plan`` of a 512 x 512 x 132 CT peaked 130-160 MB lower
in our benchmark, for the cost of page faults on fresh memory. Elsewhere (musl, macOS,
Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: mallopt's parameter number for the mmap threshold (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def map_large_allocations(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes for this process (see the module
    docstring); whether it was set (False off glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
