"""Robustness on odd real DICOM files: every file is read or refused with a clear ImagingError,
and 12-bit data with garbage in the unused high bits is masked and sign-extended."""

from __future__ import annotations

import re

import numpy as np
import pydicom
import pytest
from PIL import Image

from navigation.imaging.loading import ImagingError, load_volume

#: file (relative to dicom-edge-pydicom) -> "load" or a regex the ImagingError must match.
EXPECTED = {
    "CT_small.dcm": "load",
    "MR_small.dcm": "load",
    "MR_small_implicit.dcm": "load",
    "MR_small_bigendian.dcm": "load",
    "MR_small_expb.dcm": "load",
    "MR_small_RLE.dcm": "load",
    "MR_small_jp2klossless.dcm": "load",
    "MR_small_jpeg_ls_lossless.dcm": "load",
    "MR_small_padded.dcm": "load",
    "from-pydicom-data/bad_sequence.dcm": "load",
    "from-pydicom-data/explicit_VR-UN.dcm": "load",
    "MR_truncated.dcm": r"MR_truncated\.dcm \(truncated: pixel data has 8130 of the 8192 bytes",
    "from-pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm": r"truncated: the file ends",
    "from-pydicom-data/emri_small.dcm": r"emri_small\.dcm is a multi-frame file \(10 frames\)",
    "no_meta.dcm": r"no_meta\.dcm is not a DICOM file",
    "zipMR.gz": r"gzip-compressed; decompress it first",
    "rtstruct.dcm": r"not a DICOM image \(RTSTRUCT: RT structure set",
    "rtplan.dcm": r"RTPLAN: RT plan \(no image\)",
    "rtplan_truncated.dcm": r"RTPLAN",
    "rtdose.dcm": r"RTDOSE: RT dose grid",
    "badVR.dcm": r"RTDOSE",
    "ExplVR_BigEndNoMeta.dcm": r"RTPLAN",  # read without preamble or file meta, big endian
    "ExplVR_LitEndNoMeta.dcm": r"RTPLAN",
    "image_dfl.dcm": r"image_dfl\.dcm \(Secondary Capture Image Storage\) has no "
    r"ImagePositionPatient and ImageOrientationPatient",
    "JPEG2000-embedded-sequence-delimiter.dcm": r"has no ImagePositionPatient",
    "dicomdirtests/DICOMDIR": "load",  # a DICOMDIR stands for the folder it indexes
    "dicomdirtests/DICOMDIR-bigEnd": "load",
    "dicomdirtests/DICOMDIR-empty.dcm": "load",
    "dicomdirtests/77654033/CR1/6154": r"6154 \(Computed Radiography Image Storage\) has no Image",
    "dicomdirtests/98892001/CT2N/6293": r"only localizer/scout images",
    "priv_SQ.dcm": r"not a DICOM image \(DICOM file without image or series tags\)",
    "meta_missing_tsyntax.dcm": r"not a DICOM image",
}


@pytest.mark.slow
def test_every_file_is_read_or_refused_clearly(shared_data):
    root = shared_data("dicom-edge-pydicom")
    outcomes: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        try:
            loaded = load_volume(path)
        except ImagingError as error:
            message = str(error)
            assert path.name in message, (name, message)  # every refusal names the file
            assert "\n" not in message and len(message) < 1500
            outcomes[name] = message
        else:
            assert loaded.volume.array.ndim == 3
            if "DICOMDIR" in path.name:  # its folder was read, and the report says so
                assert all(path.parent in f.parents for f in loaded.report.files)
                assert any("is a DICOMDIR index" in w for w in loaded.report.warnings)
            else:
                assert loaded.report.files == (path,)
            outcomes[name] = "load"
    assert len(outcomes) >= 120
    for name, expected in EXPECTED.items():
        if expected == "load":
            assert outcomes[name] == "load", (name, outcomes[name])
        else:
            assert re.search(expected, outcomes[name]), (name, outcomes[name])


def test_transfer_syntaxes_decode_to_the_same_pixels(shared_data):
    root = shared_data("dicom-edge-pydicom")
    reference = pydicom.dcmread(root / "MR_small.dcm").pixel_array  # native: pydicom decodes it
    for name in (
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm",
    ):
        volume = load_volume(root / name).volume
        np.testing.assert_array_equal(volume.array[0], reference, err_msg=name)
    ct = pydicom.dcmread(root / "CT_small.dcm")
    hu = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    volume = load_volume(root / "CT_small.dcm").volume
    np.testing.assert_array_equal(volume.array[0], hu)
    np.testing.assert_allclose(volume.geometry.origin_lps_mm, ct.ImagePositionPatient, atol=1e-6)


def test_dicomdir_tree_chooses_the_largest_axial_ct(shared_data):
    root = shared_data("dicom-edge-pydicom/dicomdirtests")
    loaded = load_volume(root)
    report = loaded.report
    assert "SmartScore" in report.chosen and loaded.volume.geometry.size_ijk == (16, 16, 5)
    first = pydicom.dcmread(root / "98892001/CT5N/3353")  # the lowest slice along the normal
    np.testing.assert_allclose(loaded.volume.geometry.origin_lps_mm, first.ImagePositionPatient)
    others = "\n".join(report.others)
    assert "'Scout'" in others and "localizer/scout" in others
    assert "'Cervical LAT'" in others and "no ImagePositionPatient" in others
    assert "DICOMDIR index" in others and "50 files" in others  # TINY_ALPHA: no pixel data
    assert any("image series found" in w for w in report.warnings)
    assert any("2 different patients" in w for w in report.warnings)


def test_legacy_file_without_preamble_or_meta(shared_data):
    path = shared_data("dicom-edge-misc/vtk-mr001-nometa/mr.001")
    volume = load_volume(path).volume
    header = pydicom.dcmread(path, force=True)
    assert volume.modality == "MR" and volume.geometry.size_ijk == (256, 256, 1)
    np.testing.assert_allclose(volume.geometry.origin_lps_mm, header.ImagePositionPatient)
    np.testing.assert_allclose(volume.geometry.spacing_mm[:2], [0.78125, 0.78125])


def _raw_words(path):
    dataset = pydicom.dcmread(path)
    words = np.frombuffer(dataset.PixelData, dtype="<u2").reshape(dataset.Rows, dataset.Columns)
    return words.astype(np.int32)


def _coronal(slice_2d: np.ndarray, row: int) -> np.ndarray:
    """The expected PNG shows one coronal row of the 6 x 6 mosaic of 64 x 64 tiles."""
    tiles = slice_2d.reshape(6, 64, 6, 64).transpose(0, 2, 1, 3).reshape(36, 64, 64)[::-1]
    return tiles[1:36, row, 11:63].astype(np.float64)


def _best_correlation(slice_2d: np.ndarray, panel: np.ndarray) -> float:
    return max(
        float(np.corrcoef(_coronal(slice_2d, row).ravel(), panel.ravel())[0, 1])
        for row in range(10, 22)
    )


@pytest.mark.parametrize(
    ("name", "panel_column", "signed"),
    [
        ("12bitUnsigned.dcm", 0, False),
        ("12bitUnsigned_0x0F0F.dcm", 53, False),
        ("12bitSigned_0x0F0F.dcm", 106, True),
    ],
)
def test_12_bit_masking_and_sign_extension_match_expected_rendering(
    shared_data, name, panel_column, signed
):
    folder = shared_data("dicom-edge-misc/dcm_qa_12bit")
    path = folder / "In" / name
    volume = load_volume(path).volume
    words = _raw_words(path)
    assert (words >> 12).any()  # garbage in the unused high bits really is there
    low = words & 0x0FFF
    expected = ((low ^ 0x800) - 0x800) if signed else low  # sign bit is High Bit 11
    np.testing.assert_array_equal(volume.array[0], expected)
    assert volume.array.min() >= (-2048 if signed else 0) and volume.array.max() <= 4095

    rendering = np.asarray(Image.open(folder / "DICOM12bit-expected.png").convert("L"), float)
    panel = rendering[:, panel_column : panel_column + 52]
    assert _best_correlation(volume.array[0], panel) > 0.94
    if signed:  # the naive reading (high bits kept, no sign extension) does not match
        naive = words.astype(np.uint16).view(np.int16)
        assert _best_correlation(naive, panel) < 0.9
        assert _best_correlation(low, panel) < 0.9
