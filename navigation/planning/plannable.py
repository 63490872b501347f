"""What a volume must be for a plan to be made from it: a real 3-D image, not a slice or two.

Skin, bone and airway surfaces, the markers found on them and the registration that uses them
all need depth. The minimum is :data:`MIN_VOXELS_PER_AXIS` voxels and
:data:`MIN_EXTENT_MM` millimetres along every axis (extent = voxels x spacing): one or two
slices, or a slab thinner than a fiducial marker and its surroundings, are refused with the
reason instead of giving a plan of a flat slab. Every other check (geometry, modality) happens
where the volume is read.
"""

from __future__ import annotations

import numpy as np

from navigation.imaging.volume import Volume
from registration.core.checks import InputError

#: Fewest voxels along any axis of a volume to plan on.
MIN_VOXELS_PER_AXIS = 3
#: Smallest extent (voxels x spacing) along any axis, mm: two marker diameters and the skin
#: around them.
MIN_EXTENT_MM = 20.0
_AXIS_NAMES = ("i (columns)", "j (rows)", "k (slices)")


def plannable_problem(volume: Volume) -> str | None:
    """Why ``volume`` is too small to plan on, or None when it is large enough."""
    size = np.asarray(volume.geometry.size_ijk, dtype=np.int64)
    extent = size * np.asarray(volume.geometry.spacing_mm, dtype=np.float64)
    short = [
        n for n in range(3) if size[n] < MIN_VOXELS_PER_AXIS or extent[n] < MIN_EXTENT_MM - 1e-6
    ]
    if not short:
        return None
    axes = ", ".join(f"{_AXIS_NAMES[n]}: {size[n]} voxel(s), {extent[n]:.1f} mm" for n in short)
    return (
        f"planning needs a 3-D volume of at least {MIN_VOXELS_PER_AXIS} voxels and "
        f"{MIN_EXTENT_MM:g} mm along every axis; this one is "
        f"{size[0]} x {size[1]} x {size[2]} voxels ({axes})"
    )


def check_plannable(volume: Volume, *, where: str = "the volume") -> None:
    """Raise :class:`InputError` (one line, naming ``where``) unless ``volume`` can be planned."""
    problem = plannable_problem(volume)
    if problem is not None:
        raise InputError(
            f"{where}: {problem}. Load the whole series or volume (a folder with all its "
            "slices), not one or two slices of it."
        )
