"""Window/level: the linear VOI mapping, the presets, the automatic MR window, mouse drags."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from registration.core.checks import InputError
from rendering.window_level import (
    CT_BONE,
    CT_SOFT_TISSUE,
    WindowLevel,
    auto_window,
    next_preset,
    window_presets,
)
from tests.conftest import shared_data_path


def test_window_maps_low_to_black_and_high_to_white():
    window = WindowLevel(400.0, 40.0)
    assert (window.low, window.high) == (-160.0, 240.0)
    grey = window.grey(np.array([-160.0, 40.0, 240.0, 1000.0]))
    np.testing.assert_allclose(grey[:3], [0.0, 127.5, 255.0])
    assert grey[3] > 255  # clipped by the picture's composition
    assert WindowLevel.from_range(-160.0, 240.0) == WindowLevel(400.0, 40.0, "custom")
    with pytest.raises(InputError, match="window"):
        WindowLevel(0.0, 40.0)
    with pytest.raises(InputError, match="low < high"):
        WindowLevel.from_range(5.0, 5.0)


def test_ct_presets_are_slicers_and_cycle():
    presets = window_presets("CT", np.linspace(-1000, 2000, 1000))
    assert presets[:2] == (CT_SOFT_TISSUE, CT_BONE)
    assert (CT_BONE.window, CT_BONE.level) == (1000.0, 400.0)
    assert next_preset(None, presets) == CT_BONE  # None is the default, the first
    assert next_preset(CT_BONE, presets) == presets[2]
    assert next_preset(presets[2], presets) == CT_SOFT_TISSUE
    assert next_preset(WindowLevel(10.0, 0.0), presets) == CT_SOFT_TISSUE


def test_drag_right_widens_and_up_raises_the_level():
    dragged = CT_SOFT_TISSUE.dragged(0.25, -0.1, span=2000.0)
    assert dragged.window == pytest.approx(900.0) and dragged.level == pytest.approx(-160.0)
    assert dragged.name == "custom"
    assert CT_SOFT_TISSUE.dragged(-5.0, 0.0, span=2000.0).window == 1.0  # never below 1


def test_mr_auto_window_on_a_real_mr():
    """The real head MR (T1, 12-bit): the automatic window spans the tissue, not the air, and
    an MR image is offered only that window."""
    path = shared_data_path("vtk-head-volumes/HeadMRVolume.mhd")
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    window = auto_window(image)
    assert window.name == "auto"
    values = image.ravel()
    assert np.mean(values < window.low) == pytest.approx(0.01, abs=0.01)
    assert np.mean(values > window.high) == pytest.approx(0.005, abs=0.005)
    assert window_presets("MR", image) == (window,)
