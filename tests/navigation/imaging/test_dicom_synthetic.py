"""DICOM loading on synthetic series written with pydicom: geometry against the written values,
and every kind of bad input ending in a clear ImagingError or an explicit, reported resampling."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

from navigation.imaging.loading import ImagingError, load_volume
from tests.navigation.imaging.dicom_factory import (
    SeriesSpec,
    expected_value,
    write_series,
    write_slice,
)

ATOL_MM = 0.01


def check_values(volume, spec: SeriesSpec, *, tolerance_hu: float = 0.51) -> int:
    """Every voxel inside the acquired slices holds the value encoded at its LPS position.

    Returns the number of voxels checked (so a test can require that most were).
    """
    kji = np.argwhere(np.ones(volume.array.shape, dtype=bool))
    points = volume.geometry.kji_to_lps(kji)
    inside = _inside_acquired(points, spec)
    actual = volume.array.reshape(-1)[inside].astype(np.float64)
    np.testing.assert_allclose(actual, expected_value(points[inside]), atol=tolerance_hu)
    return int(inside.sum())


def _inside_acquired(points: np.ndarray, spec: SeriesSpec) -> np.ndarray:
    """Whether each LPS point lies between the written slices, within their pixel centres."""
    row, column, normal = spec.row_direction(), spec.column_direction(), spec.normal()
    positions = spec.positions()
    positions = positions[np.argsort(positions @ normal)]
    distances = (positions - positions[0]) @ normal
    d = (points - positions[0]) @ normal
    kappa = np.interp(d, distances, np.arange(len(distances)))
    lower = np.clip(np.floor(kappa).astype(int), 0, len(distances) - 1)
    upper = np.clip(lower + 1, 0, len(distances) - 1)
    weight = (kappa - lower)[:, np.newaxis]
    corner = (1 - weight) * positions[lower] + weight * positions[upper]
    u = (points - corner) @ row / spec.pixel_spacing_mm[1]
    v = (points - corner) @ column / spec.pixel_spacing_mm[0]
    eps = 1e-6
    return (
        (d >= -eps)
        & (d <= distances[-1] + eps)
        & (u >= -eps)
        & (u <= spec.columns - 1 + eps)
        & (v >= -eps)
        & (v <= spec.rows - 1 + eps)
    )


def assert_grid(volume, spec: SeriesSpec, *, step_mm: float, count: int) -> None:
    geometry = volume.geometry
    positions = spec.positions()
    first = positions[np.argmin(positions @ spec.normal())]
    np.testing.assert_allclose(geometry.origin_lps_mm, first, atol=ATOL_MM)
    np.testing.assert_allclose(
        geometry.direction,
        np.column_stack([spec.row_direction(), spec.column_direction(), spec.normal()]),
        atol=1e-6,
    )
    spacing_row, spacing_column = spec.pixel_spacing_mm
    np.testing.assert_allclose(
        geometry.spacing_mm, [spacing_column, spacing_row, step_mm], atol=1e-6
    )
    assert geometry.size_ijk == (spec.columns, spec.rows, count)


# --- geometry of good series ---------------------------------------------------------------


def test_regular_axial_ct_geometry_hu_and_metadata(tmp_path):
    spec = SeriesSpec(count=6, patient_position="HFS")
    files = write_series(tmp_path / "ct", spec)
    loaded = load_volume(tmp_path / "ct")
    volume, report = loaded.volume, loaded.report
    assert_grid(volume, spec, step_mm=2.5, count=6)
    assert volume.array.dtype == np.int16 and volume.modality == "CT"
    assert check_values(volume, spec) == volume.array.size
    assert report.kind == "dicom" and not report.resampled and report.warnings == ()
    assert list(report.files) == files  # sorted along the normal, not by file name
    metadata = volume.metadata
    assert metadata["series_instance_uid"] == spec.series_uid
    assert metadata["study_instance_uid"] == spec.study_uid
    assert metadata["frame_of_reference_uid"] == spec.frame_uid
    assert metadata["patient_id"] == "IGCS-TEST"
    assert metadata["modality"] == "CT" and metadata["patient_position"] == "HFS"
    assert metadata["files"] == [str(f) for f in files]
    assert spec.series_uid in report.chosen


def test_feet_first_keeps_dicom_geometry(tmp_path):
    """FFS with IOP (-1, 0, 0, 0, 1, 0): patient left stays at +x; PatientPosition only reported."""
    spec = SeriesSpec(orientation=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0), patient_position="FFS")
    write_series(tmp_path / "ffs", spec)
    volume = load_volume(tmp_path / "ffs").volume
    assert_grid(volume, spec, step_mm=2.5, count=6)
    np.testing.assert_allclose(volume.geometry.direction[:, 2], [0.0, 0.0, -1.0], atol=1e-9)
    assert check_values(volume, spec) == volume.array.size
    assert volume.metadata["patient_position"] == "FFS"
    # Column i = 0 is at the largest x (patient left): x decreases with i.
    lps = volume.geometry.ijk_to_lps([[0, 0, 0], [31, 0, 0]])
    assert lps[0, 0] > lps[1, 0]


def test_oblique_orthogonal_stack_is_not_resampled(tmp_path):
    angle = np.radians(20.0)
    row = (np.cos(angle), np.sin(angle), 0.0)
    column = (0.0, 0.0, -1.0)  # coronal-ish, rotated 20 deg about S
    spec = SeriesSpec(orientation=(*row, *column), count=5, step_mm=3.0)
    write_series(tmp_path / "oblique", spec)
    loaded = load_volume(tmp_path / "oblique")
    assert not loaded.report.resampled
    assert_grid(loaded.volume, spec, step_mm=3.0, count=5)
    assert check_values(loaded.volume, spec) == loaded.volume.array.size


def test_orientation_written_with_other_precision_stays_one_stack(tmp_path):
    import pydicom

    spec = SeriesSpec(count=5)
    paths = write_series(tmp_path, spec)
    ds = pydicom.dcmread(paths[2])
    ds.ImageOrientationPatient = ["0.99999999", "0.00005", "0", "-0.00005", "1", "0"]
    ds.save_as(paths[2], enforce_file_format=True)
    loaded = load_volume(tmp_path)
    assert loaded.volume.geometry.size_ijk == (32, 32, 5) and loaded.report.warnings == ()


def test_per_slice_rescale_applied_to_each_slice(tmp_path):
    spec = SeriesSpec(count=4)
    paths = write_series(tmp_path / "s", spec)
    positions = spec.positions()
    # Rewrite the third slice with another slope/intercept encoding the same HU.
    other = SeriesSpec(**{**spec.__dict__, "rescale": (2.0, -2048.0)})
    values = np.round(expected_value(spec.pixel_centres(positions[2])))
    write_slice(paths[2], other, positions[2], values, instance=3)
    volume = load_volume(tmp_path / "s").volume
    assert check_values(volume, spec, tolerance_hu=1.51) == volume.array.size


# --- several series, localizers, multi-frame --------------------------------------------------


def test_two_series_largest_chosen_others_listed_and_uid_selects(tmp_path):
    big = SeriesSpec(count=6, prefix="big")
    small = SeriesSpec(count=3, prefix="small", step_mm=5.0, description="thick")
    write_series(tmp_path / "a", big)
    write_series(tmp_path / "b" / "nested", small)
    loaded = load_volume(tmp_path)
    assert loaded.volume.metadata["series_instance_uid"] == big.series_uid
    assert any(small.series_uid in other for other in loaded.report.others)
    assert any("2 image series found" in w for w in loaded.report.warnings)

    chosen = load_volume(tmp_path, series_uid=small.series_uid)
    assert chosen.volume.metadata["series_instance_uid"] == small.series_uid
    assert_grid(chosen.volume, small, step_mm=5.0, count=3)
    assert not any("image series found" in w for w in chosen.report.warnings)

    with pytest.raises(
        ImagingError, match=r"no series with SeriesInstanceUID 1\.2\.3.*series found"
    ):
        load_volume(tmp_path, series_uid="1.2.3")


def test_localizer_in_its_own_series_is_not_chosen(tmp_path):
    axial = SeriesSpec(count=4)
    write_series(tmp_path, axial)
    scout = SeriesSpec(
        count=1,
        rows=40,
        orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        description="Topogram",
        prefix="scout",
    )
    write_series(tmp_path, scout)
    loaded = load_volume(tmp_path)
    assert loaded.volume.metadata["series_instance_uid"] == axial.series_uid
    assert any("localizer" in other and scout.series_uid in other for other in loaded.report.others)


def test_localizer_mixed_into_the_series_is_left_out_with_a_warning(tmp_path):
    axial = SeriesSpec(count=5)
    write_series(tmp_path, axial)
    scout = SeriesSpec(
        count=1,
        orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        series_uid=axial.series_uid,
        prefix="scout",
    )
    write_series(tmp_path, scout)
    loaded = load_volume(tmp_path)
    assert_grid(loaded.volume, axial, step_mm=2.5, count=5)
    assert check_values(loaded.volume, axial) == loaded.volume.array.size
    mixed = [w for w in loaded.report.warnings if w.startswith("mixed series")]
    assert len(mixed) == 1 and "scout000.dcm" in mixed[0]


def test_only_localizers_refused(tmp_path):
    scout = SeriesSpec(count=2, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    write_series(tmp_path, scout)
    with pytest.raises(ImagingError, match="only localizer/scout images"):
        load_volume(tmp_path)
    assert load_volume(tmp_path, series_uid=scout.series_uid).volume.array.shape[0] == 2


def test_multi_frame_file_refused_by_name_and_listed_beside_a_series(tmp_path):
    spec = SeriesSpec(count=3)
    values = np.zeros((3, spec.rows, spec.columns))
    write_slice(
        tmp_path / "mf" / "enhanced.dcm", spec, spec.positions()[0], values, instance=1, frames=3
    )
    with pytest.raises(ImagingError, match=r"enhanced\.dcm is a multi-frame file \(3 frames\)"):
        load_volume(tmp_path / "mf")
    series = SeriesSpec(count=4)
    write_series(tmp_path / "mf", series)
    loaded = load_volume(tmp_path / "mf")
    assert loaded.volume.metadata["series_instance_uid"] == series.series_uid
    assert any("multi-frame" in other for other in loaded.report.others)


# --- missing, duplicate, irregular and tilted slices ------------------------------------------


def test_missing_slice_resampled_loudly_or_refused(tmp_path):
    spec = SeriesSpec(count=8)
    paths = write_series(tmp_path, spec)
    paths[4].unlink()
    kept = SeriesSpec(**{**spec.__dict__, "positions_lps_mm": np.delete(spec.positions(), 4, 0)})
    loaded = load_volume(tmp_path)
    assert loaded.report.resampled
    warnings = " ".join(loaded.report.warnings)
    assert "missing slice" in warnings and paths[3].name in warnings and paths[5].name in warnings
    assert "RESAMPLED" in warnings
    assert_grid(loaded.volume, kept, step_mm=2.5, count=8)
    assert check_values(loaded.volume, kept) == loaded.volume.array.size
    assert loaded.volume.metadata["resampled"] is True
    with pytest.raises(ImagingError, match=r"missing slice.*resampling is disabled"):
        load_volume(tmp_path, allow_resampling=False)
    paths[5].unlink()  # two missing in a row: too much to interpolate
    with pytest.raises(ImagingError, match="two or more slices are missing"):
        load_volume(tmp_path)


def test_identical_duplicate_ignored_with_warning(tmp_path):
    spec = SeriesSpec(count=5)
    paths = write_series(tmp_path, spec)
    copy = tmp_path / "copy_of_slice.dcm"
    shutil.copy(paths[2], copy)
    loaded = load_volume(tmp_path)
    assert loaded.volume.array.shape[0] == 5 and not loaded.report.resampled
    duplicate = [w for w in loaded.report.warnings if w.startswith("duplicate slices")]
    assert len(duplicate) == 1 and copy.name in duplicate[0] and paths[2].name in duplicate[0]
    assert check_values(loaded.volume, spec) == loaded.volume.array.size


def test_duplicate_position_with_different_pixels_refused(tmp_path):
    spec = SeriesSpec(count=5)
    write_series(tmp_path, spec)
    position = spec.positions()[1]
    values = np.round(expected_value(spec.pixel_centres(position))) + 7
    write_slice(tmp_path / "second_echo.dcm", spec, position, values, instance=99)
    with pytest.raises(
        ImagingError, match=r"duplicate slice position.*second_echo\.dcm.*different"
    ):
        load_volume(tmp_path)


def test_non_uniform_spacing_resampled(tmp_path):
    distances = np.array([0.0, 2.0, 4.0, 6.0, 9.0, 12.0, 15.0])
    spec = SeriesSpec(
        positions_lps_mm=np.array([-12.0, -9.0, 30.0]) + distances[:, None] * [0, 0, 1]
    )
    write_series(tmp_path, spec)
    loaded = load_volume(tmp_path)
    assert loaded.report.resampled
    assert any(w.startswith("non-uniform slice spacing") for w in loaded.report.warnings)
    assert_grid(loaded.volume, spec, step_mm=2.5, count=7)  # median step 2.5 over 15 mm
    assert check_values(loaded.volume, spec) == loaded.volume.array.size
    with pytest.raises(ImagingError, match="non-uniform slice spacing"):
        load_volume(tmp_path, allow_resampling=False)


def test_gantry_tilted_stack_resampled_onto_orthogonal_grid(tmp_path):
    """IOP tilted 15 deg about the x axis, IPP stepping straight along z (as a tilted gantry)."""
    tilt = np.radians(15.0)
    column = (0.0, np.cos(tilt), -np.sin(tilt))
    normal = np.cross([1.0, 0.0, 0.0], column)
    step_along_normal = 3.0
    z_step = step_along_normal / normal[2]
    positions = np.array([-12.0, -9.0, 30.0]) + np.arange(6)[:, None] * [0.0, 0.0, z_step]
    spec = SeriesSpec(orientation=(1.0, 0.0, 0.0, *column), positions_lps_mm=positions)
    write_series(tmp_path, spec)
    loaded = load_volume(tmp_path)
    assert loaded.report.resampled
    tilt_warning = [w for w in loaded.report.warnings if w.startswith("gantry tilt")]
    assert len(tilt_warning) == 1 and "15.0 deg" in tilt_warning[0]
    # each slice is shifted 3 tan(15 deg) = 0.80 mm further along -column: 5 x 0.80 mm over the
    # stack = 5.7 rows of 0.7 mm, so 6 rows are added before the first slice's first row
    shift_mm = 5 * step_along_normal * np.tan(tilt)
    added = int(np.ceil(shift_mm / spec.pixel_spacing_mm[0]))
    geometry = loaded.volume.geometry
    assert geometry.size_ijk == (spec.columns, spec.rows + added, 6)
    np.testing.assert_allclose(geometry.spacing_mm, [0.8, 0.7, step_along_normal], atol=1e-6)
    np.testing.assert_allclose(
        geometry.origin_lps_mm,
        positions[0] - added * spec.pixel_spacing_mm[0] * np.array(column),
        atol=ATOL_MM,
    )
    warning = next(w for w in loaded.report.warnings if w.startswith("RESAMPLED"))
    assert f"32 x {32 + added} x 6 voxels, widened from the acquired 32 x 32 pixels" in warning
    assert f"by 0+0 columns and {added}+0 rows" in warning
    assert acquired_fraction_inside(loaded.volume, spec) == 1.0  # nothing acquired is lost
    checked = check_values(loaded.volume, spec)
    assert checked > 0.75 * loaded.volume.array.size
    outside = loaded.volume.array.reshape(-1)
    assert (outside == -1024).sum() > 0  # air outside the acquired slices
    with pytest.raises(ImagingError, match=r"gantry tilt.*resampling is disabled"):
        load_volume(tmp_path, allow_resampling=False)


def acquired_fraction_inside(volume, spec: SeriesSpec) -> float:
    """Share of the written pixel centres (all slices) that lie inside the volume's grid
    (within half a voxel of its outer voxel centres)."""
    centres = np.concatenate(
        [spec.pixel_centres(p).reshape(-1, 3) for p in spec.positions()], axis=0
    )
    ijk = volume.geometry.lps_to_ijk(centres)
    size = np.asarray(volume.geometry.size_ijk)
    inside = np.all((ijk >= -0.5 - 1e-6) & (ijk <= size - 0.5 + 1e-6), axis=1)
    return float(inside.mean())


# --- files that cannot be read --------------------------------------------------------------


def test_truncated_file_refused_by_name(tmp_path):
    spec = SeriesSpec(count=4)
    paths = write_series(tmp_path, spec)
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) - 700])
    with pytest.raises(ImagingError, match=rf"{paths[1].name} \(truncated: pixel data has \d+ of"):
        load_volume(tmp_path)


def test_file_truncated_in_its_header_is_reported(tmp_path):
    spec = SeriesSpec(count=4)
    paths = write_series(tmp_path, spec)
    paths[0].write_bytes(paths[0].read_bytes()[:200])  # the bottom slice, cut in its header
    rest = SeriesSpec(**{**spec.__dict__, "positions_lps_mm": spec.positions()[1:]})
    loaded = load_volume(tmp_path)
    assert_grid(loaded.volume, rest, step_mm=2.5, count=3)
    unreadable = [w for w in loaded.report.warnings if "unreadable file(s) skipped" in w]
    assert len(unreadable) == 1 and paths[0].name in unreadable[0]


def test_undecodable_transfer_syntax_refused_by_name(tmp_path):
    spec = SeriesSpec(count=1)
    path = write_slice(
        tmp_path / "htj2k.dcm", spec, spec.positions()[0], np.zeros((32, 32)), instance=1
    )
    import pydicom

    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.201"
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(
        ImagingError, match=r"htj2k\.dcm uses the transfer syntax High-Throughput JPEG 2000"
    ):
        load_volume(path)


def test_compressed_series_decode_like_the_uncompressed(tmp_path):
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless

    spec = SeriesSpec(count=4)
    paths = write_series(tmp_path, spec)
    for index, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        if index % 2:
            ds.compress(RLELossless)
        else:
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
    syntaxes = {
        str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) for p in paths
    }
    assert syntaxes == {RLELossless, DeflatedExplicitVRLittleEndian}
    volume = load_volume(tmp_path).volume
    assert_grid(volume, spec, step_mm=2.5, count=4)
    assert check_values(volume, spec) == volume.array.size


def test_corrupt_compressed_pixels_refused_by_name(tmp_path):
    import pydicom
    from pydicom.uid import JPEG2000Lossless

    spec = SeriesSpec(count=3)
    paths = write_series(tmp_path, spec)
    ds = pydicom.dcmread(paths[1])
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 60])  # a J2K start, then junk
    ds.save_as(paths[1], enforce_file_format=True)
    with pytest.raises(ImagingError, match=rf"{paths[1].name}: the pixel data cannot be decoded"):
        load_volume(tmp_path)


def test_mixed_frames_of_reference_refused(tmp_path):
    spec = SeriesSpec(count=4)
    paths = write_series(tmp_path, spec)
    other = SeriesSpec(**{**spec.__dict__, "frame_uid": generate_uid()})
    position = spec.positions()[3]
    write_slice(
        paths[3],
        other,
        position,
        np.round(expected_value(spec.pixel_centres(position))),
        instance=4,
    )
    with pytest.raises(ImagingError, match="2 different FrameOfReferenceUID values"):
        load_volume(tmp_path)


def test_not_dicom_empty_and_missing_paths(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not an image\n")
    (tmp_path / "notes" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ImagingError, match=r"no DICOM files in .*notes \(2 file\(s\) looked at"):
        load_volume(tmp_path / "notes")
    with pytest.raises(ImagingError, match=r"readme\.txt is not a DICOM file"):
        load_volume(tmp_path / "notes" / "readme.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImagingError, match="is empty"):
        load_volume(tmp_path / "empty")
    with pytest.raises(ImagingError, match="does not exist"):
        load_volume(tmp_path / "nowhere")


def test_rt_objects_alone_are_not_images(tmp_path):
    spec = SeriesSpec(count=1)
    path = write_slice(
        tmp_path / "rs.dcm", spec, spec.positions()[0], np.zeros((32, 32)), instance=1
    )
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Modality = "RTSTRUCT"
    del ds.PixelData
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImagingError, match="RTSTRUCT"):
        load_volume(tmp_path)
