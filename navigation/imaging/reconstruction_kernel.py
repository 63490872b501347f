"""Which reconstruction of a CT acquisition to plan on: soft-tissue/standard or sharp kernel.

Scanners often export one acquisition twice, reconstructed with a soft-tissue ("standard")
kernel and with a sharp one (bone, lung, edge). Both have the same slices; the sharp one has
several times the noise in soft tissue, which roughens the skin surface and the soft-tissue
structures planned on, so the standard reconstruction is preferred (as radiotherapy planning
systems do for contouring). The kernel is read from ConvolutionKernel (0018,1210), and the
series description when the tag is absent, with the vendors' names:

* GE: STANDARD, SOFT, STD+ / DETAIL, BONE, BONEPLUS, LUNG, EDGE;
* Siemens: B/H/I/J/Q/Br/Hr... followed by a sharpness number: 10-45 soft, 60 and above sharp
  (e.g. B30f, Hr40 soft; B70f, H60s, Br64 sharp);
* other vendors' names that say it (SOFT, SMOOTH, SHARP, BONE, LUNG...); Philips' letters
  (A-E, YA-YD) and Canon's FC numbers are not classified.

Anything else is "unknown" and never wins or loses on the kernel alone.
"""

from __future__ import annotations

import re
from enum import IntEnum


class KernelClass(IntEnum):
    """Ordered by preference for planning (higher is preferred)."""

    SHARP = 0
    UNKNOWN = 1
    SOFT = 2


_SHARP_WORDS = ("BONE", "LUNG", "EDGE", "SHARP", "DETAIL")
_SOFT_WORDS = ("STANDARD", "STD", "SOFT", "SMOOTH")
_SIEMENS = re.compile(r"^(?:[BHIJQ][rsfhu]?|[BHIJQ])(\d{2})[a-z]?\b", re.IGNORECASE)
_SIEMENS_SOFT_MAX, _SIEMENS_SHARP_MIN = 45, 60


def kernel_class(kernel: str, description: str = "") -> KernelClass:
    """Classify a reconstruction by its ConvolutionKernel text (or its series description)."""
    for text in (kernel, description):
        found = _classify(text)
        if found is not KernelClass.UNKNOWN:
            return found
    return KernelClass.UNKNOWN


def _classify(text: str) -> KernelClass:
    text = text.strip()
    if not text:
        return KernelClass.UNKNOWN
    siemens = _SIEMENS.match(text)
    if siemens:
        number = int(siemens.group(1))
        if number <= _SIEMENS_SOFT_MAX:
            return KernelClass.SOFT
        if number >= _SIEMENS_SHARP_MIN:
            return KernelClass.SHARP
        return KernelClass.UNKNOWN
    words = re.split(r"[^A-Z]+", text.upper())
    if any(word.startswith(_SHARP_WORDS) for word in words if word):
        return KernelClass.SHARP
    if any(word.startswith(_SOFT_WORDS) for word in words if word):
        return KernelClass.SOFT
    return KernelClass.UNKNOWN
