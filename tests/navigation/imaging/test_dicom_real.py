"""DICOM loading on the real series in ../shared/data: geometry equal to the headers, read
here independently with pydicom, and HU values checked against the raw slices."""

from __future__ import annotations

import numpy as np
import pydicom
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


def test_gantry_tilt_ct_resampled_with_header_geometry(shared_data):
    folder = shared_data("ct-head-human-gantrytilt/GE")
    loaded = load_volume(folder)
    volume, report = loaded.volume, loaded.report
    datasets, row, column, normal, ipp = _headers(sorted(folder.glob("*.dcm")))
    spacing_row, spacing_column = (float(v) for v in datasets[0].PixelSpacing)

    geometry = volume.geometry
    np.testing.assert_allclose(geometry.origin_lps_mm, ipp[0], atol=1e-6)  # first slice's IPP
    np.testing.assert_allclose(geometry.spacing_mm[:2], [spacing_column, spacing_row], atol=1e-9)
    np.testing.assert_allclose(geometry.direction[:, 0], row, atol=1e-6)
    np.testing.assert_allclose(geometry.direction[:, 1], column, atol=1e-6)
    np.testing.assert_allclose(geometry.direction[:, 2], normal, atol=1e-6)
    steps = np.diff((ipp - ipp[0]) @ normal)
    assert steps.min() < 1.2 and steps.max() > 6.9  # the variable spacing of SOURCE.txt
    np.testing.assert_allclose(geometry.spacing_mm[2], np.median(steps), atol=1e-9)
    assert geometry.size_ijk == (
        512,
        512,
        int(((ipp[-1] - ipp[0]) @ normal) // np.median(steps)) + 1,
    )

    assert report.resampled and volume.metadata["resampled"] is True
    tilt = [w for w in report.warnings if w.startswith("gantry tilt")]
    assert len(tilt) == 1 and "18.5 deg" in tilt[0] and "01.dcm" in tilt[0]
    assert any(w.startswith("non-uniform slice spacing") for w in report.warnings)
    assert any(w.startswith("RESAMPLED") and "-1500" in w for w in report.warnings)
    assert volume.metadata["patient_position"] == "HFS"

    # HU: padding -1500 outside the reconstruction circle, air, brain and bone plausible.
    hu = [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets]
    np.testing.assert_allclose(volume.array[0], hu[0], atol=1e-3)  # output slice 0 = acquired 0
    assert volume.array.min() == -1500 and 1500 < volume.array.max() <= max(h.max() for h in hu)
    middle = volume.array[volume.array.shape[0] // 2]
    assert -60 < float(np.median(middle[236:276, 236:276])) < 90  # brain in the centre
    assert -1100 < float(np.median(middle[246:266, 20:40])) < -900  # air beside the head

    # Independent trilinear interpolation in the sheared, unevenly spaced stack.
    distances = (ipp - ipp[0]) @ normal
    rng = np.random.default_rng(3)
    ijk = np.column_stack(
        [rng.uniform(100, 400, 60), rng.uniform(100, 400, 60), rng.integers(1, 30, 60)]
    ).round()
    checked = 0
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
    assert checked > 40


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
