"""The slice views on a real patient's CT (HN-CHUS-052, head and neck, 512x512x132): the grey at
the tip's pixel is the window of the HU an independent reader (pydicom) finds there, so the
picture is neither shifted nor mirrored, and the letters are those of radiological convention.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import pyvista as pv
from scipy.ndimage import maximum_filter, minimum_filter

from navigation.imaging.loading import load_volume
from rendering.layout import NavigationLayout
from rendering.scene3d import SurfaceModel
from rendering.slice_views import SliceVolumes
from rendering.view_state import DisplayOptions, ViewSnapshot
from rendering.window_level import CT_BONE, CT_SOFT_TISSUE
from tests.conftest import shared_data_path

pytestmark = pytest.mark.slow

#: The mandible's symphysis (cortical bone) and a soft-tissue point of the neck, LPS mm,
#: both on the axial slice at z = -258.5 mm (chosen by eye in the bone window).
MANDIBLE = np.array([0.0, -72.96875, -258.5])
POINTS = {"mandible": MANDIBLE, "neck": np.array([0.0, 0.0, -258.5])}


def hu_from_dicom(folder, point: np.ndarray) -> float:
    """HU at an LPS point read straight from the DICOM slice (axial, identity direction)."""
    for path in sorted(folder.glob("*.dcm")):
        dataset = pydicom.dcmread(path)
        x0, y0, z0 = (float(v) for v in dataset.ImagePositionPatient)
        if abs(z0 - point[2]) < 0.01:
            row_mm, col_mm = (float(v) for v in dataset.PixelSpacing)
            col = round((point[0] - x0) / col_mm)
            row = round((point[1] - y0) / row_mm)
            raw = dataset.pixel_array.astype(float)
            values = raw * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
            return float(values[row - 1 : row + 2, col - 1 : col + 2].mean())
    raise AssertionError(f"no slice at z = {point[2]}")


@pytest.fixture(scope="module")
def ct():
    folder = shared_data_path("hn-petct-human/HN-CHUS-052/CT")
    return folder, load_volume(folder).volume


@pytest.fixture(scope="module")
def layout(ct):
    _, volume = ct
    labels = np.zeros(volume.geometry.shape_kji, np.uint8)
    volumes = SliceVolumes(volume.geometry, labels, {}, background=volume.array, modality="CT")
    marker = SurfaceModel("tip", pv.Sphere(radius=3.0, center=MANDIBLE), (1.0, 1.0, 1.0))
    view = NavigationLayout([marker], volumes, window_size=(1280, 1024))
    yield view
    view.close()


def grey_at(layout: NavigationLayout, point: np.ndarray, view: str) -> float:
    col, row = (round(v) for v in layout.pixel_of(point, view))
    return float(layout.screenshot()[row - 1 : row + 2, col - 1 : col + 2].astype(float).mean())


def test_real_ct_grey_at_the_tip_matches_an_independent_reader(ct, layout):
    folder, _ = ct
    for name, point in POINTS.items():
        hu = hu_from_dicom(folder, point)
        pose = np.eye(4)
        pose[:3, 3] = point + np.array([0.0, -150.0, 60.0])
        for window in (CT_SOFT_TISSUE, CT_BONE):
            display = DisplayOptions(skin_opacity=0.0, window_level=window,
                                     slice_field_of_view_mm=160.0)  # fmt: skip
            layout.render(ViewSnapshot(1, 1.0, {"Pointer": "OK"}, image_from_pointer=pose,
                                       pointer_tip_lps_mm=point, display=display))  # fmt: skip
            expected = float(np.clip((hu - window.low) / window.window * 255.0, 0, 255))
            for view in ("axial", "coronal", "sagittal"):
                found = grey_at(layout, point, view)
                assert found == pytest.approx(expected, abs=25), (name, window.name, view, hu)
    assert hu_from_dicom(folder, MANDIBLE) > 400  # the symphysis is bone


def test_real_ct_is_not_mirrored(ct, layout):
    """On the mandible's level, a bone point whose mirror image across the grid's centre is
    soft tissue: each pixel shows its own point's HU (so the picture is not mirrored against
    the camera), and the patient's left is on the screen's right."""
    folder, volume = ct
    k = round(float(volume.geometry.lps_to_ijk(MANDIBLE)[2]))
    plane = volume.array[k].astype(float)
    mirrored = plane[:, ::-1]  # column i -> 511 - i: the mirror image across the grid's centre
    # Bone (>= 500 HU around it) whose mirror image is soft tissue (<= 150 HU around it).
    differs = np.argwhere((minimum_filter(plane, 3) >= 500) & (maximum_filter(mirrored, 3) <= 150))
    j, i = differs[len(differs) // 2]
    size_i = volume.geometry.size_ijk[0]
    point = volume.geometry.ijk_to_lps(np.array([i, j, k], dtype=float))
    mirror = volume.geometry.ijk_to_lps(np.array([size_i - 1 - i, j, k], dtype=float))
    display = DisplayOptions(skin_opacity=0.0, window_level=CT_BONE, slice_field_of_view_mm=160.0)
    layout.render(ViewSnapshot(1, 1.0, {"Pointer": "STALE"}, slice_hold_lps_mm=point,
                               display=display))  # fmt: skip
    for candidate in (point, mirror):
        hu = hu_from_dicom(folder, candidate)
        expected = float(np.clip((hu - CT_BONE.low) / CT_BONE.window * 255.0, 0, 255))
        assert grey_at(layout, candidate, "axial") == pytest.approx(expected, abs=25)
    left, right = (point, mirror) if point[0] > 0 else (mirror, point)
    assert layout.pixel_of(left, "axial")[0] > layout.pixel_of(right, "axial")[0]
    letters = layout.slices["axial"].letters.letters
    assert (letters["left"], letters["right"], letters["top"]) == ("R", "L", "A")
