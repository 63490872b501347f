"""Synthetic DICOM series written with pydicom for the imaging tests.

Each slice's stored values encode a known linear function of the LPS position of the pixel
centre, ``value(p) = GRADIENT_HU_PER_MM . (p - CENTRE_LPS_MM) + OFFSET_HU`` (rounded to an
integer), so any loaded voxel can be checked against the geometry the test wrote: a wrong
origin, spacing, direction, slice order or interpolation changes the value (0.5 HU of rounding
is about 0.004 mm along the gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    SecondaryCaptureImageStorage,
    XRayRadiationDoseSRStorage,
    generate_uid,
)

GRADIENT_HU_PER_MM = np.array([97.0, -53.0, 71.0])
CENTRE_LPS_MM = np.array([-5.0, 3.0, 40.0])
OFFSET_HU = 200.0
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def expected_value(points_in_lps: np.ndarray) -> np.ndarray:
    """The encoded value (before rounding) at (N, 3) LPS points."""
    return (np.asarray(points_in_lps) - CENTRE_LPS_MM) @ GRADIENT_HU_PER_MM + OFFSET_HU


@dataclass
class SeriesSpec:
    """What to write; ``positions_lps_mm`` overrides the regular stack from origin/step."""

    count: int = 6
    rows: int = 32
    columns: int = 32
    pixel_spacing_mm: tuple[float, float] = (0.7, 0.8)  # (row spacing, column spacing)
    step_mm: float = 2.5
    origin_lps_mm: tuple[float, float, float] = (-12.0, -9.0, 30.0)
    orientation: tuple[float, ...] = AXIAL
    positions_lps_mm: np.ndarray | None = None
    modality: str = "CT"
    series_uid: str = field(default_factory=generate_uid)
    study_uid: str = "1.2.826.0.1.3680043.8.498.1"
    frame_uid: str = "1.2.826.0.1.3680043.8.498.2"
    patient_id: str = "IGCS-TEST"
    patient_position: str = "HFS"
    rescale: tuple[float, float] = (1.0, -1024.0)
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL")
    description: str = "synthetic"
    series_number: int = 3
    prefix: str = "slice"
    kernel: str = ""  # ConvolutionKernel, written when not empty

    def row_direction(self) -> np.ndarray:
        return np.array(self.orientation[:3])

    def column_direction(self) -> np.ndarray:
        return np.array(self.orientation[3:])

    def normal(self) -> np.ndarray:
        return np.cross(self.row_direction(), self.column_direction())

    def positions(self) -> np.ndarray:
        if self.positions_lps_mm is not None:
            return np.asarray(self.positions_lps_mm, dtype=np.float64)
        steps = np.arange(self.count)[:, np.newaxis] * self.step_mm
        return np.asarray(self.origin_lps_mm) + steps * self.normal()

    def pixel_centres(self, position: np.ndarray) -> np.ndarray:
        """(rows, columns, 3) LPS centres of one slice's pixels."""
        j, i = np.mgrid[0 : self.rows, 0 : self.columns]
        spacing_row, spacing_column = self.pixel_spacing_mm
        return (
            position
            + i[..., np.newaxis] * spacing_column * self.row_direction()
            + j[..., np.newaxis] * spacing_row * self.column_direction()
        )


def write_series(
    folder: Path, spec: SeriesSpec, *, order: Sequence[int] | None = None
) -> list[Path]:
    """Write one file per slice into ``folder`` (file names in ``order``, default shuffled).

    Returns the paths in slice order (as ``spec.positions()``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    positions = spec.positions()
    count = positions.shape[0]
    order = list(order) if order is not None else list(np.random.default_rng(7).permutation(count))
    paths = []
    for index, position in enumerate(positions):
        values = np.round(expected_value(spec.pixel_centres(position)))
        path = folder / f"{spec.prefix}{order[index]:03d}.dcm"
        write_slice(path, spec, position, values, instance=index + 1)
        paths.append(path)
    return paths


def write_slice(
    path: Path,
    spec: SeriesSpec,
    position: np.ndarray,
    values: np.ndarray,
    *,
    instance: int,
    frames: int = 1,
) -> Path:
    """One image file whose rescaled values are ``values`` ((rows, columns), or (frames, ...))."""
    path.parent.mkdir(parents=True, exist_ok=True)
    slope, intercept = spec.rescale
    stored = np.round((np.asarray(values, dtype=np.float64) - intercept) / slope).astype("<i2")
    sop_class = CTImageStorage if spec.modality == "CT" else MRImageStorage
    ds = _new_dataset(sop_class, spec.modality, spec)
    ds.PatientPosition = spec.patient_position
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "120000", "1", ""
    ds.StudyInstanceUID = spec.study_uid
    ds.SeriesInstanceUID = spec.series_uid
    ds.FrameOfReferenceUID = spec.frame_uid
    ds.SeriesNumber = spec.series_number
    ds.SeriesDescription = spec.description
    ds.InstanceNumber = instance
    ds.ImageType = list(spec.image_type)
    if spec.kernel:
        ds.ConvolutionKernel = spec.kernel
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in spec.orientation]
    ds.PixelSpacing = [f"{v:g}" for v in spec.pixel_spacing_mm]
    ds.SliceThickness = f"{spec.step_mm:g}"
    ds.Rows, ds.Columns = spec.rows, spec.columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _new_dataset(sop_class: str, modality: str, spec: SeriesSpec) -> Dataset:
    """A dataset with file meta (explicit VR little endian), its SOP and the spec's patient."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = spec.patient_id
    ds.PatientName = "Test^Synthetic"
    return ds


def _non_image_dataset(path: Path, sop_class: str, modality: str, spec: SeriesSpec) -> Dataset:
    ds = _new_dataset(sop_class, modality, spec)
    ds.StudyInstanceUID = spec.study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 999
    ds.InstanceNumber = 1
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "120000", "1", ""
    ds.PatientBirthDate, ds.PatientSex, ds.ReferringPhysicianName = "", "", ""
    return ds


def write_dose_report_pages(folder: Path, spec: SeriesSpec, pages: int = 2) -> list[Path]:
    """A CT scanner's dose report: Secondary Capture pages (one series, modality CT, grey
    pixels) without ImagePositionPatient, ImageOrientationPatient or PixelSpacing."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    paths = []
    for page in range(pages):
        ds = _non_image_dataset(folder, SecondaryCaptureImageStorage, "CT", spec)
        ds.SeriesInstanceUID = series_uid
        ds.SeriesDescription = "Dose Report"
        ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
        ds.InstanceNumber = page + 1
        ds.ConversionType = "WSD"
        ds.Rows, ds.Columns = 48, 64
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = np.full((48, 64), 40 * page, dtype=np.uint8).tobytes()
        path = folder / f"dose_page{page + 1}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_non_image(folder: Path, spec: SeriesSpec, kind: str) -> Path:
    """An object without pixels: "SR" (an X-ray radiation dose report), "RTSTRUCT"
    (a structure set with no contours) or "RTPLAN"."""
    sop_class, name = {
        "SR": (XRayRadiationDoseSRStorage, "dose_sr.dcm"),
        "RTSTRUCT": (RTStructureSetStorage, "rtstruct.dcm"),
        "RTPLAN": (RTPlanStorage, "rtplan.dcm"),
    }[kind]
    folder.mkdir(parents=True, exist_ok=True)
    ds = _non_image_dataset(folder, sop_class, kind, spec)
    if kind == "SR":
        ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
        ds.ContentDate, ds.ContentTime = "20240101", "120000"
        ds.ValueType = "CONTAINER"
        title = Dataset()  # "X-Ray Radiation Dose Report" (DCM 113701)
        title.CodeValue, title.CodingSchemeDesignator = "113701", "DCM"
        title.CodeMeaning = "X-Ray Radiation Dose Report"
        ds.ConceptNameCodeSequence = [title]
    if kind == "RTSTRUCT":
        ds.StructureSetLabel = "empty"
        ds.StructureSetDate, ds.StructureSetTime = "20240101", "120000"
    if kind == "RTPLAN":
        ds.RTPlanLabel = "plan"
        ds.RTPlanDate, ds.RTPlanTime = "20240101", "120000"
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path
