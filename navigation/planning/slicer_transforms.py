"""Rigid transforms as ITK transform files that 3D Slicer loads (``.h5`` or ``.tfm``).

Two conventions meet here, so both are spelled out:

- **ITK files are LPS.** Slicer converts LPS <-> RAS when it reads or writes a transform file
  (its scene is RAS); our patient coordinates are LPS already, so the matrix goes in as is.
- **ITK stores the resampling transform**: an ITK transform maps points of the *fixed* space to
  the *moving* space. Slicer reads a file as the node's "transform from parent". For a node
  named ``TrackerToImage`` (PLUS naming: it carries ``image_from_tracker``) whose children are
  tracker-frame data (the touched fiducials, a tracked tool's transform) and whose parent is the
  image, the file therefore holds the **inverse**, ``tracker_from_image``: SimpleITK's
  ``ReadTransform(f).TransformPoint(p_image_lps)`` is the tracker point, and
  ``GetInverse().TransformPoint(p_tracker)`` the image point (LPS mm).

Written with SimpleITK (``AffineTransform``, exact 3x3 matrix and translation, centre 0):
``.h5`` in binary double precision, ``.tfm`` as text with round-trip decimal digits and a
comment saying what it holds. Atomic: written under a temporary name, then renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

import SimpleITK as sitk
from numpy.typing import ArrayLike

from registration.core.checks import InputError
from registration.core.transforms import check_rigid, invert_rigid

#: File suffixes Slicer loads as transforms.
TRANSFORM_SUFFIXES = (".h5", ".tfm")


def write_slicer_transform(
    path: str | os.PathLike[str], image_from_tracker: ArrayLike, *, description: str = ""
) -> Path:
    """Write ``image_from_tracker`` (4, 4, LPS mm) as an ITK transform file Slicer loads as the
    ``TrackerToImage`` node (the file holds ``tracker_from_image``: see the module docstring).

    path : ``.h5`` or ``.tfm``. description : a comment line added to ``.tfm`` files.
    Returns the path written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in TRANSFORM_SUFFIXES:
        raise InputError(
            f"{target}: a Slicer transform file must end in .h5 or .tfm; got {suffix or 'none'}."
        )
    matrix = check_rigid(image_from_tracker, "image_from_tracker")
    stored = invert_rigid(matrix)  # ITK's resampling direction: image (fixed) -> tracker
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(stored[:3, :3].ravel().tolist())
    transform.SetTranslation(stored[:3, 3].tolist())
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.stem}.writing{suffix}")
    try:
        sitk.WriteTransform(transform, str(temporary))
        if suffix == ".tfm":
            text = temporary.read_text()
            comment = (
                "# igcs: tracker_from_image in LPS mm (ITK resampling direction); Slicer "
                "shows it as TrackerToImage (image_from_tracker, RAS in the scene)"
            )
            if description:
                comment += f"\n# {description}"
            temporary.write_text(text.replace("#Transform 0", f"{comment}\n#Transform 0", 1))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


__all__ = ["TRANSFORM_SUFFIXES", "write_slicer_transform"]
