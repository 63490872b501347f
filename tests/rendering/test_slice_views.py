"""Slice pictures (numpy composition) and laterality on real head and neck label maps."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
import SimpleITK as sitk
from skimage.measure import marching_cubes

from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry
from rendering.layout import NavigationLayout
from rendering.scene3d import SurfaceModel
from rendering.slice_views import LabelPalette, SliceVolumes, compose_slice_picture
from rendering.view_state import DisplayOptions, ViewSnapshot

RED, GREEN = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)


def tiny_palette() -> LabelPalette:
    labels = np.zeros((1, 6, 6), np.int16)
    labels[0, 1:5, 1:5] = 1  # big
    labels[0, 2:4, 2:4] = 2  # small: wins shared outlines
    geometry = ImageGeometry((6, 6, 1), np.zeros(3), np.ones(3))
    volumes = SliceVolumes(geometry, labels, {1: RED, 2: GREEN})
    return LabelPalette.from_labels(volumes.labels, dict(volumes.label_colors))


def test_picture_fills_faintly_and_outlines_boundaries():
    labels = np.array([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 2, 0], [0, 0, 0, 0]])
    picture = compose_slice_picture(labels, tiny_palette())
    assert picture.shape == (4, 4, 3) and picture.dtype == np.uint8
    # Every labelled sample here touches a boundary, so carries an outline colour.
    assert tuple(picture[1, 1]) == (255, 0, 0)
    # The 1|2 boundary takes the smaller structure's colour (green) on both sides.
    assert tuple(picture[2, 2]) == (0, 255, 0) and tuple(picture[1, 2]) == (0, 255, 0)
    # Background samples next to a label are outlined too (two samples wide), the far corner
    # (no neighbour with another label) stays black.
    assert tuple(picture[0, 1]) == (255, 0, 0) and tuple(picture[0, 0]) == (0, 0, 0)


def test_interior_samples_are_filled_over_the_grey_image():
    labels = np.zeros((7, 7), np.int16)
    labels[1:6, 1:6] = 1
    grey = np.full((7, 7), 100.0)
    picture = compose_slice_picture(labels, tiny_palette(), grey)
    inside = picture[3, 3].astype(float)
    assert np.allclose(inside, [0.75 * 100 + 0.25 * 255, 75, 75], atol=1)
    assert tuple(picture[0, 0]) == (100, 100, 100)


def test_unknown_and_negative_labels_are_not_drawn():
    labels = np.array([[0, 7, 7], [0, -3, 7], [0, 0, 0]])
    picture = compose_slice_picture(labels, tiny_palette(), np.zeros((3, 3)))
    assert not picture.any()


def _read(path) -> tuple[np.ndarray, ImageGeometry]:
    image = sitk.ReadImage(str(path))
    geometry = ImageGeometry(
        size_ijk=image.GetSize(),
        origin_lps_mm=np.array(image.GetOrigin()),
        spacing_mm=np.array(image.GetSpacing()),
        direction=np.array(image.GetDirection()).reshape(3, 3),
    )
    return sitk.GetArrayFromImage(image), geometry


def _surface(mask: np.ndarray, geometry: ImageGeometry) -> pv.PolyData:
    vertices, faces, _, _ = marching_cubes(mask.astype(np.float32), 0.5)
    return pv.PolyData.from_regular_faces(geometry.kji_to_lps(vertices), faces)


def test_real_left_parotid_is_on_screen_right(shared_data):
    """Real head and neck label maps (NRRD, LPS): the left parotid is drawn on the screen's
    right in the axial, coronal and anterior 3-D views."""
    folder = shared_data("hn-oar-segmentations/0522c0017")
    left, geometry = _read(folder / "Parotid-Lt.nrrd")
    right, _ = _read(folder / "Parotid-Rt.nrrd")
    both = np.argwhere((left > 0) | (right > 0))
    low, high = both.min(axis=0) - 4, both.max(axis=0) + 5  # crop to the parotids, (k, j, i)
    crop = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    cropped = ImageGeometry(
        size_ijk=tuple(int(n) for n in (high - low)[::-1]),
        origin_lps_mm=geometry.kji_to_lps(low),
        spacing_mm=geometry.spacing_mm,
        direction=geometry.direction,
    )
    labels = np.zeros(cropped.shape_kji, np.int16)
    labels[right[crop] > 0] = 1
    labels[left[crop] > 0] = 2
    left_centre = cropped.kji_to_lps(np.argwhere(labels == 2).mean(axis=0))
    assert left_centre[0] > 0  # LPS: +x is the patient's left
    models = [
        SurfaceModel("parotid_right", _surface(labels == 1, cropped), RED),
        SurfaceModel("parotid_left", _surface(labels == 2, cropped), GREEN),
    ]
    layout = NavigationLayout(
        models, SliceVolumes(cropped, labels, {1: RED, 2: GREEN}), window_size=(640, 512)
    )
    try:
        layout.render(
            ViewSnapshot(
                0, 0.0, {"Pointer": "STALE"}, focus_lps_mm=left_centre, display=DisplayOptions()
            )
        )
        image = layout.screenshot().astype(int)
        for view in ("axial", "coronal", "3d"):
            col0, row0, col1, row1 = layout.viewport_box(view)
            region = image[row0:row1, col0:col1]
            green = (region[..., 1] > 100) & (region[..., 1] > region[..., 0] + 60)
            red = (region[..., 0] > 100) & (region[..., 0] > region[..., 1] + 60)
            assert green.sum() > 30 and red.sum() > 30, view
            assert np.nonzero(green)[1].mean() > np.nonzero(red)[1].mean() + 20, view
    finally:
        layout.close()


@pytest.mark.parametrize("fov", [None, 60.0])
def test_slice_picture_stays_on_the_volume(fov):
    """Fitted or zoomed, the picture covers only the volume; a window beyond the volume shows
    no picture at all instead of a stale one."""
    labels = np.ones((10, 10, 10), np.int16)
    geometry = ImageGeometry((10, 10, 10), np.zeros(3), np.full(3, 2.0))
    model = SurfaceModel("box", pv.Cube(center=(9, 9, 9), x_length=18, y_length=18, z_length=18),
                         GREEN)  # fmt: skip
    layout = NavigationLayout([model], SliceVolumes(geometry, labels, {1: GREEN}),
                              window_size=(640, 512))  # fmt: skip
    try:
        centre = np.array([9.0, 9.0, 9.0])
        options = DisplayOptions(slice_field_of_view_mm=fov)
        layout.render(ViewSnapshot(0, 0.0, focus_lps_mm=centre, display=options))
        axial = layout.slices["axial"]
        assert axial._picture.GetVisibility()
        bounds = axial._picture.GetBounds()  # LPS, through the user matrix
        assert bounds[0] >= -1.01 and bounds[1] <= 19.01
        far = np.array([500.0, 9.0, 9.0])
        layout.render(ViewSnapshot(1, 0.0, focus_lps_mm=far, display=DisplayOptions(
            slice_field_of_view_mm=60.0)))  # fmt: skip
        for name in ("axial", "coronal", "sagittal"):  # off the volume: in-plane or in depth
            assert not layout.slices[name]._picture.GetVisibility()
    finally:
        layout.close()


def test_bad_slice_volumes_are_refused():
    geometry = ImageGeometry((4, 4, 4), np.zeros(3), np.ones(3))
    labels = np.zeros((4, 4, 4), np.int16)
    with pytest.raises(InputError, match="integer"):
        SliceVolumes(geometry, labels.astype(float), {1: RED})
    with pytest.raises(InputError, match=r"shape \(4, 4, 4\)"):
        SliceVolumes(geometry, np.zeros((4, 4, 5), np.int16), {1: RED})
    with pytest.raises(InputError, match=r"label_colors\[1\]"):
        SliceVolumes(geometry, labels, {1: (2.0, 0.0, 0.0)})
    with pytest.raises(InputError, match="background has shape"):
        SliceVolumes(geometry, labels, {1: RED}, background=np.zeros((3, 4, 4)))
    with pytest.raises(InputError, match="low < high"):
        SliceVolumes(geometry, labels, {1: RED}, background=np.zeros((4, 4, 4)),
                     background_window=(5.0, 5.0))  # fmt: skip


def test_filled_but_unoutlined_labels_keep_their_fill_and_draw_no_outline():
    """A label with a fill but rank -1 (never outlined) is filled and coded below every
    outlined label: its boundary with the background is not drawn, with an outlined label it
    takes the outlined label's colour."""
    colours = np.array([[0, 0, 0], [200, 0, 0], [0, 200, 0], [0, 0, 0]], np.float32)
    palette = LabelPalette(colours, np.array([0, 0.5, 0.25, 0]), np.array([-1, -1, 0.5, -1]))
    assert palette.first_outlined == 2 and list(palette.encode(np.arange(-1, 5))) == [
        0, 0, 1, 2, 0, 0,
    ]  # fmt: skip
    labels = np.array([[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 2, 2]])
    picture = compose_slice_picture(labels, palette)
    assert tuple(picture[1, 1]) == (100, 0, 0)  # filled, no outline against the background
    assert tuple(picture[0, 0]) == (0, 0, 0)
    assert tuple(picture[2, 2]) == (0, 200, 0) and tuple(picture[2, 3]) == (0, 200, 0)
