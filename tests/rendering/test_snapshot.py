from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from rendering.snapshot import MeshLayer, snapshot_meshes


def test_anterior_view_shows_the_patients_left_on_the_right(tmp_path):
    """A red sphere on the patient's left (+x) and a blue one on the right (-x), LPS mm."""
    left = MeshLayer(pv.Sphere(radius=10, center=(40, 0, 0)), (1.0, 0.0, 0.0), name="left")
    right = MeshLayer(pv.Sphere(radius=10, center=(-40, 0, 0)), (0.0, 0.0, 1.0), name="right")
    path = snapshot_meshes(
        [left, right], tmp_path / "a.png", views=("anterior",), window_size=(400, 300)
    )
    image = np.asarray(pv.read(path).point_data[pv.read(path).array_names[0]])
    picture = image.reshape(300, 400, -1)[::-1]  # rows top to bottom
    red = (picture[..., 0] > 150) & (picture[..., 2] < 80)
    blue = (picture[..., 2] > 150) & (picture[..., 0] < 80)
    columns = np.arange(400)[None, :]
    assert red.sum() > 500 and blue.sum() > 500
    assert (columns * red).sum() / red.sum() > 250  # red (patient left) on the picture's right
    assert (columns * blue).sum() / blue.sum() < 150
    with pytest.raises(ValueError, match="unknown view"):
        snapshot_meshes([left], tmp_path / "b.png", views=("oblique",))
    with pytest.raises(ValueError, match="every mesh is empty"):
        snapshot_meshes([MeshLayer(pv.PolyData(), (1, 1, 1))], tmp_path / "c.png")
