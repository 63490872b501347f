"""Patient-axis conventions: presets and letters, checked against LPS by hand."""

from __future__ import annotations

import numpy as np
import pytest

from registration.core.checks import InputError
from rendering.orientation import (
    CAMERA_PRESETS,
    SLICE_ORIENTATIONS,
    ViewDirection,
    edge_letters,
    orientation_letter,
)


def letters_of(view: ViewDirection) -> dict[str, str]:
    return edge_letters(view.screen_right, view.view_up)


def test_radiological_slices_put_patient_left_on_screen_right():
    assert letters_of(SLICE_ORIENTATIONS["axial"]) == {
        "left": "R", "right": "L", "top": "A", "bottom": "P"
    }  # fmt: skip
    assert letters_of(SLICE_ORIENTATIONS["coronal"]) == {
        "left": "R", "right": "L", "top": "S", "bottom": "I"
    }  # fmt: skip
    # Sagittal as 3D Slicer shows it: seen from the patient's left, anterior on screen left.
    assert letters_of(SLICE_ORIENTATIONS["sagittal"]) == {
        "left": "A", "right": "P", "top": "S", "bottom": "I"
    }  # fmt: skip


def test_anterior_preset_looks_along_plus_y_with_patient_left_on_screen_right():
    anterior = CAMERA_PRESETS["anterior"]
    assert np.array_equal(anterior.direction_of_projection, [0.0, 1.0, 0.0])
    assert np.allclose(anterior.screen_right, [1.0, 0.0, 0.0])  # +x = patient left


@pytest.mark.parametrize("name", list(CAMERA_PRESETS))
def test_presets_are_right_handed_and_orthonormal(name):
    view = CAMERA_PRESETS[name]
    basis = np.column_stack([view.screen_right, view.view_up, view.towards_viewer])
    assert np.allclose(basis.T @ basis, np.eye(3))
    assert np.isclose(np.linalg.det(basis), 1.0)


def test_letters_of_each_axis_and_oblique_vectors():
    assert [orientation_letter(v) for v in np.eye(3)] == ["L", "P", "S"]
    assert [orientation_letter(-v) for v in np.eye(3)] == ["R", "A", "I"]
    assert orientation_letter([0.6, -0.8, 0.0]) == "A"


def test_bad_directions_are_refused():
    with pytest.raises(InputError, match="non-zero"):
        orientation_letter([0.0, 0.0, 0.0])
    with pytest.raises(InputError, match="orthogonal"):
        ViewDirection(np.array([0.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0]), "bad")
