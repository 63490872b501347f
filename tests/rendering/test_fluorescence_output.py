"""The fused map written as .vtp and PNG."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista

from registration.core.checks import InputError
from rendering.fluorescence.fusion import FluorescenceMap
from rendering.fluorescence.projection import FrameSample
from rendering.fluorescence_output import (
    UNSEEN_COLOUR,
    write_fluorescence_png,
    write_fluorescence_vtp,
)
from tests.rendering import scenes


@pytest.fixture
def half_seen():
    vertices, triangles, normals = scenes.bump_surface(2.0, half_size_mm=40.0)
    mesh = scenes.placed_mesh(vertices, triangles, normals, np.eye(4))
    values = np.where(
        vertices[:, 0] < 0, np.nan, 100.0 + 150.0 * (np.hypot(*vertices[:, :2].T) < 10)
    )
    fmap = FluorescenceMap(mesh.vertex_count)
    fmap.fuse(
        FrameSample(
            values,
            values,
            np.ones_like(values),
            np.zeros(values.shape, bool),
            np.zeros(values.shape, bool),
            None,
            1.0,
        )
    )  # type: ignore[arg-type]
    return mesh, fmap.snapshot(), vertices


def test_vtp_round_trip(tmp_path, half_seen):
    mesh, fused, vertices = half_seen
    path = write_fluorescence_vtp(tmp_path / "fluorescence.vtp", mesh, fused, background_mean=100.0)
    read = pyvista.read(path)
    assert read.n_points == mesh.vertex_count
    np.testing.assert_array_equal(
        np.isnan(read.point_data["fluorescence_mean"]), vertices[:, 0] < 0
    )
    flags = read.point_data["fluorescence_flag"]
    assert set(np.unique(flags)) == {-1, 0, 2}
    assert read.field_data["positive_sbr"][0] == 2.0
    assert "device-specific" in str(read.field_data["thresholds_source"][0])
    with pytest.raises(InputError, match=r"written as \.vtp"):
        write_fluorescence_vtp(tmp_path / "x.vtk", mesh, fused)


def test_png_shows_unseen_in_grey(tmp_path, half_seen):
    import matplotlib.image

    mesh, fused, _ = half_seen
    path = write_fluorescence_png(tmp_path / "view.png", mesh, fused, background_mean=100.0,
                                  window_size=(640, 480))  # fmt: skip
    image = matplotlib.image.imread(path)[..., :3]
    assert image.shape == (480, 640, 3)
    chroma = image.max(axis=2) - image.min(axis=2)
    brightness = image.mean(axis=2)
    grey = (chroma < 0.03) & (brightness > 0.2) & (brightness <= max(UNSEEN_COLOUR) + 0.02)
    coloured = chroma > 0.2
    assert grey.mean() > 0.05  # the unseen half, shaded grey
    assert coloured.mean() > 0.05  # the seen half, in the colour map


def test_png_uses_the_applications_colour_scale(tmp_path, half_seen):
    """SBR 1.7 (between close 1.5 and positive 2) is amber in the live views' scale
    (rendering.colour_scale), green well above blue; a generic map (inferno) would not be."""
    import matplotlib.image

    from rendering.colour_scale import band_colours
    from rendering.view_state import FluorescenceOverlay

    mesh, fused, _ = half_seen
    amber = band_colours(np.array([1.7]), FluorescenceOverlay("m", np.array([1.7])))[0]
    assert amber[1] > amber[2] + 0.5
    path = write_fluorescence_png(tmp_path / "view.png", mesh, fused,
                                  background_mean=100.0 / 1.7, window_size=(640, 480))  # fmt: skip
    image = matplotlib.image.imread(path)[..., :3]
    coloured = image[(image.max(axis=2) - image.min(axis=2)) > 0.2]
    assert len(coloured) > 1000
    assert np.mean(coloured[:, 1] > coloured[:, 2] + 0.2) > 0.8  # amber: green over blue
