"""DICOM loading on the real series in ../shared/data: geometry equal to the headers, read
here independently with pydicom, and HU values checked against the raw slices."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from scipy.ndimage import map_coordinates

from navigation.imaging.loading import load_volume


def _headers(paths):
    datasets = [pydicom.dcmread(p) for p in paths]
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=np.float64)
    row, column = iop[:3], iop[3:]
    normal = np.cross(row, column)
    ipp = np.array([d.ImagePositionPatient for d in datasets], dtype=np.float64)
    order = np.argsort(ipp @ normal)
    return [datasets[i] for i in order], row, column, normal, ipp[order]


@pytest.mark.slow
def test_gantry_tilt_ct_resampled_with_header_geometry(shared_data):
    folder = shared_data("ct-head-human-gantrytilt/GE")
    loaded = load_volume(folder)
    volume, report = loaded.volume, loaded.report
    datasets, row, column, normal, ipp = _headers(sorted(folder.glob("*.dcm")))
    spacing_row, spacing_column = (float(v) for v in datasets[0].PixelSpacing)

    geometry = volume.geometry
    # the grid is widened by whole rows before the first slice's first row so that every
    # slice's footprint fits: the slices shift ~48 mm along -column over the stack
    shift = (ipp - ipp[0]) @ column
    added_rows = int(np.ceil(-shift.min() / spacing_row - 1e-3))
    assert 95 <= added_rows <= 100
    np.testing.assert_allclose(
        geometry.origin_lps_mm, ipp[0] - added_rows * spacing_row * column, atol=1e-6
    )
    np.testing.assert_allclose(geometry.spacing_mm[:2], [spacing_column, spacing_row], atol=1e-9)
    np.testing.assert_allclose(geometry.direction[:, 0], row, atol=1e-6)
    np.testing.assert_allclose(geometry.direction[:, 1], column, atol=1e-6)
    np.testing.assert_allclose(geometry.direction[:, 2], normal, atol=1e-6)
    distances = (ipp - ipp[0]) @ normal
    steps = np.diff(distances)
    assert steps.min() < 1.2 and steps.max() > 6.9  # the variable spacing of SOURCE.txt
    slices = round(distances[-1] / np.median(steps))  # first to last slice in equal steps
    np.testing.assert_allclose(geometry.spacing_mm[2], distances[-1] / slices, atol=1e-9)
    assert abs(geometry.spacing_mm[2] - np.median(steps)) < 0.01
    assert geometry.size_ijk == (512, 512 + added_rows, slices + 1)
    extent = next(w for w in report.warnings if w.startswith("RESAMPLED"))
    assert f"512 x {512 + added_rows} x {slices + 1} voxels, widened" in extent
    assert "144.09 mm along the normal from 01.dcm to 28.dcm" in extent

    assert report.resampled and volume.metadata["resampled"] is True
    tilt = [w for w in report.warnings if w.startswith("gantry tilt")]
    assert len(tilt) == 1 and "18.5 deg" in tilt[0] and "01.dcm" in tilt[0]
    assert any(w.startswith("non-uniform slice spacing") for w in report.warnings)
    assert any(w.startswith("RESAMPLED") and "-1500" in w for w in report.warnings)
    assert volume.metadata["patient_position"] == "HFS"

    # HU: padding -1500 outside the reconstruction circle, air, brain and bone plausible.
    hu = [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets]
    # output slice 0 = acquired slice 0, after the added rows
    np.testing.assert_allclose(volume.array[0, added_rows:], hu[0], atol=1e-3)
    assert volume.array.min() == -1500 and 1500 < volume.array.max() <= max(h.max() for h in hu)
    middle = volume.array[volume.array.shape[0] // 2, added_rows // 2 :]
    assert -60 < float(np.median(middle[236:276, 236:276])) < 90  # brain in the centre
    assert -1100 < float(np.median(middle[246:266, 20:40])) < -900  # air beside the head

    # Every acquired pixel lies in the grid; the first slice's 512 x 512 rows alone (the grid
    # before widening) would have held only ~92 % of them.
    kept = in_first_slice_rows = acquired = 0
    size = np.asarray(geometry.size_ijk)
    for position in ipp:
        v, u = np.mgrid[0:512, 0:512].reshape(2, -1)
        points = position + np.outer(u * spacing_column, row) + np.outer(v * spacing_row, column)
        ijk = geometry.lps_to_ijk(points)
        kept += int(np.all((ijk >= -0.5 - 1e-6) & (ijk <= size - 0.5 + 1e-6), axis=1).sum())
        in_first_slice_rows += int((ijk[:, 1] >= added_rows - 0.5 - 1e-6).sum())
        acquired += len(u)
    assert kept == acquired
    assert 0.90 < in_first_slice_rows / acquired < 0.93

    # Independent trilinear interpolation in the sheared, unevenly spaced stack, including
    # points in the rows the widening added.
    rng = np.random.default_rng(3)
    ijk = np.column_stack(
        [rng.uniform(100, 400, 80), rng.uniform(0, 400, 80), rng.integers(1, 36, 80)]
    ).round()
    checked = widened = 0
    for i, j, k in ijk:
        point = geometry.ijk_to_lps([i, j, k])
        kappa = np.interp((point - ipp[0]) @ normal, distances, np.arange(len(distances)))
        a = min(int(kappa), len(distances) - 2)
        w = kappa - a
        corner = (1 - w) * ipp[a] + w * ipp[a + 1]
        u = (point - corner) @ row / spacing_column
        v = (point - corner) @ column / spacing_row
        if not (0 <= u <= 511 and 0 <= v <= 511):
            continue
        value = (1 - w) * map_coordinates(hu[a], [[v], [u]], order=1)[0] + w * map_coordinates(
            hu[a + 1], [[v], [u]], order=1
        )[0]
        assert abs(volume.array[int(k), int(j), int(i)] - value) < 0.05
        checked += 1
        widened += int(j < added_rows)
    assert checked > 50 and widened > 0


def test_sagittal_mr_direction_from_iop_and_spacing_from_ipp(shared_data):
    folder = shared_data("mr-head-t1sag-human/In/HFS/3_t1_fl2d_sag")
    loaded = load_volume(folder)
    volume = loaded.volume
    datasets, row, column, normal, ipp = _headers(sorted(folder.glob("*.dcm")))
    geometry = volume.geometry
    np.testing.assert_allclose(
        geometry.direction, np.column_stack([row, column, normal]), atol=1e-9
    )
    np.testing.assert_allclose(geometry.origin_lps_mm, ipp[0], atol=1e-6)
    steps = np.diff((ipp - ipp[0]) @ normal)
    assert float(datasets[0].SliceThickness) == 4.0
    np.testing.assert_allclose(steps, 4.8, atol=1e-3)
    np.testing.assert_allclose(geometry.spacing_mm, [1.015625, 1.015625, 4.8], atol=1e-3)
    assert geometry.size_ijk == (256, 256, 35)
    assert not loaded.report.resampled and loaded.report.warnings == ()
    assert loaded.report.files[0].name.startswith(datasets[0].filename.split("/")[-1][:4])
    for k in (0, 17, 34):
        np.testing.assert_array_equal(volume.array[k], datasets[k].pixel_array)
    assert volume.modality == "MR" and volume.metadata["series_description"] == "t1_fl2d_sag"
    # Sagittal: k runs along the normal (-x here, patient right), i along +y, j along -z.
    extent = geometry.extent_lps_mm
    np.testing.assert_allclose(extent[:, 0], [ipp[:, 0].min(), ipp[:, 0].max()], atol=1e-6)
