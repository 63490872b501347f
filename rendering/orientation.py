"""Patient-axis conventions of the views: camera presets and orientation letters, LPS frame.

Pure numpy; the views read their camera back from VTK and call these, so the letters on screen
are derived from the camera that drew the picture, never from a separate table.

In LPS, +x points to the patient's Left, +y Posterior, +z Superior. A camera looking along
``direction_of_projection`` with ``view_up`` up on the screen has the screen's right pointing
along ``direction_of_projection x view_up`` (VTK's right-handed camera).

Slice conventions (radiological, as 3D Slicer shows them):

- axial: seen from the feet, anterior up, patient left on the screen's right;
- coronal: seen from the front, superior up, patient left on the screen's right;
- sagittal: seen from the patient's left, superior up, anterior on the screen's left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from registration.core.checks import Float64Array, InputError, check_matrix

#: Letter of the patient direction each LPS axis points to: (+, -) per axis x, y, z.
_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))


@dataclass(frozen=True)
class ViewDirection:
    """How a camera looks at the patient, LPS.

    direction_of_projection : (3,) unit vector, from the camera towards what it looks at.
    view_up : (3,) unit vector, the screen's up, orthogonal to ``direction_of_projection``.
    caption : one line saying the convention, shown on screen.
    """

    direction_of_projection: Float64Array
    view_up: Float64Array
    caption: str

    def __post_init__(self) -> None:
        forward = _unit(self.direction_of_projection, "direction_of_projection")
        up = _unit(self.view_up, "view_up")
        if abs(float(forward @ up)) > 1e-6:
            raise InputError("view_up must be orthogonal to direction_of_projection.")
        for name, value in (("direction_of_projection", forward), ("view_up", up)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def screen_right(self) -> Float64Array:
        """(3,) LPS unit vector pointing to the screen's right."""
        return np.cross(self.direction_of_projection, self.view_up)

    @property
    def towards_viewer(self) -> Float64Array:
        """(3,) LPS unit vector from the picture towards the camera."""
        return -self.direction_of_projection


def _unit(vector: ArrayLike, name: str) -> Float64Array:
    v = check_matrix(vector, name, (3,)).copy()
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        raise InputError(f"{name} must be a non-zero vector.")
    return v / norm


def _view(forward: tuple[float, float, float], up: tuple[float, float, float], caption: str):
    return ViewDirection(np.array(forward, float), np.array(up, float), caption)


#: 3-D camera presets, LPS. "anterior" looks along +y from the patient's front (-y), head up.
CAMERA_PRESETS: dict[str, ViewDirection] = {
    "anterior": _view((0, 1, 0), (0, 0, 1), "Anterior: patient faces you, patient left on right"),
    "posterior": _view((0, -1, 0), (0, 0, 1), "Posterior: patient left on screen left"),
    "left": _view((-1, 0, 0), (0, 0, 1), "Left side: anterior on screen left"),
    "right": _view((1, 0, 0), (0, 0, 1), "Right side: anterior on screen right"),
    "superior": _view((0, 0, -1), (0, -1, 0), "Superior: from above, anterior up"),
    "inferior": _view((0, 0, 1), (0, -1, 0), "Inferior: from below, anterior up"),
}

#: The three slice orientations (radiological convention, as in 3D Slicer).
SLICE_ORIENTATIONS: dict[str, ViewDirection] = {
    "axial": _view((0, 0, 1), (0, -1, 0), "AXIAL radiological\npatient left = screen right"),
    "coronal": _view((0, 1, 0), (0, 0, 1), "CORONAL radiological\npatient left = screen right"),
    "sagittal": _view((-1, 0, 0), (0, 0, 1), "SAGITTAL from patient left\nanterior = screen left"),
}


def orientation_letter(direction_in_lps: ArrayLike) -> str:
    """The patient direction (R, L, A, P, S or I) a vector points to most.

    direction_in_lps : (3,) non-zero vector in LPS. Ties go to the first axis (x, then y, z).
    """
    v = _unit(direction_in_lps, "direction_in_lps")
    axis = int(np.argmax(np.abs(v)))
    positive, negative = _LETTERS[axis]
    return positive if v[axis] > 0 else negative


def edge_letters(screen_right_lps: ArrayLike, screen_up_lps: ArrayLike) -> dict[str, str]:
    """Letters for the four screen edges from the screen's right and up directions in LPS.

    Returns ``{"left": ..., "right": ..., "top": ..., "bottom": ...}``.
    """
    right = _unit(screen_right_lps, "screen_right_lps")
    up = _unit(screen_up_lps, "screen_up_lps")
    return {
        "left": orientation_letter(-right),
        "right": orientation_letter(right),
        "top": orientation_letter(up),
        "bottom": orientation_letter(-up),
    }
