"""Whether a fiducial configuration can fix a rigid registration at all.

A point set whose second singular value (about its centroid) is tiny against the first is a
line: the rotation about it is undetermined (Fitzpatrick, West & Maurer 1998 call the principal
axes' RMS distances f_k; a line has f = 0 about its own axis, and the TRE formula diverges).
Shared by the registration itself and the TRE predictions, which refuse such sets alike.
"""

from __future__ import annotations

import numpy as np

from registration.core.checks import Float64Array, InputError

#: Refuse when the second singular value of the centred set is below this fraction of the first:
#: the rotation about the line is then fixed by < 1 % of the extent (0.3 mm of FLE on a 100 mm
#: set leaves ~17 deg of freedom about the line).
COLLINEAR_RATIO = 1e-2


def configuration_singular_values(points: Float64Array) -> Float64Array:
    """(3,) singular values, descending, of an (N, 3) point set about its centroid (mm)."""
    centred = points - points.mean(axis=0)
    return np.linalg.svd(centred, compute_uv=False)


def check_configuration(points: Float64Array, name: str) -> Float64Array:
    """Refuse collinear (or coincident) fiducial sets; returns the singular values (3,).

    Raises :class:`InputError` when s2 / s1 < :data:`COLLINEAR_RATIO`.
    """
    s = configuration_singular_values(points)
    if s[0] == 0 or s[1] / s[0] < COLLINEAR_RATIO:
        ratio = 0.0 if s[0] == 0 else s[1] / s[0]
        raise InputError(
            f"{name} are collinear (singular value ratio s2/s1 = {ratio:.2g} < "
            f"{COLLINEAR_RATIO:g}): the rotation about their line is undetermined. Add a "
            "fiducial away from the line."
        )
    return s
