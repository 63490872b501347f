"""Peak resident memory of this process, measured so that it belongs to this process alone.

Linux keeps ``getrusage``'s ``ru_maxrss`` across ``execve``: a benchmark case run with
``subprocess`` from a parent that once held 1.5 GB reports at least 1.5 GB whatever it did
itself. ``VmHWM`` in ``/proc/self/status`` is the high-water mark of this process's own address
space (proc(5)), new at every exec; elsewhere ``ru_maxrss`` is the fallback.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_resident_mb() -> float:
    """Peak resident set size of this process (MB)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0
