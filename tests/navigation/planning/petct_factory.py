"""A synthetic head and neck PET/CT written as DICOM with pydicom, with known uptake and shapes.

The CT (2 mm voxels) holds a head (a skull shell of 700 HU around brain tissue) above a neck
(a soft-tissue cylinder with an air-filled trachea); the PET (4 mm voxels, activity in Bq/ml)
holds brain uptake, a bilateral pair of hot "tonsils" (hotter than the tumour), and a lateral
tumour sphere. Stored PET values use a different Rescale Slope in every slice, as scanners do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, PositronEmissionTomographyImageStorage, generate_uid

from tests.navigation.imaging.dicom_factory import SeriesSpec, write_slice

FRAME_UID = "1.2.826.0.1.3680043.8.498.77"
STUDY_UID = "1.2.826.0.1.3680043.8.498.78"
F18_HALF_LIFE_S = 6586.2


@dataclass
class Scene:
    """Shapes in LPS mm; uptake in SUV (converted to Bq/ml with the PET's calibration)."""

    head_centre: tuple[float, float, float] = (0.0, 0.0, 70.0)
    head_radius_mm: float = 70.0
    skull_mm: float = 6.0
    neck_radius_mm: float = 55.0
    neck_top_z_mm: float = 10.0
    tumour_centre: tuple[float, float, float] = (22.0, -10.0, -50.0)
    tumour_radius_mm: float = 12.0
    tumour_suv: float = 10.0
    tonsil_x_mm: float = 28.0
    tonsil_yz_mm: tuple[float, float] = (15.0, -25.0)
    tonsil_radius_mm: float = 7.0
    tonsil_suv: float = 12.0
    brain_suv: float = 9.0
    background_suv: float = 1.0
    trachea_radius_mm: float = 8.0
    lungs: bool = False  # two lung apices (-850 HU) at the bottom of the field, z < -70 mm
    heart_suv: float = 0.0  # a hot sphere between them (myocardium-like), z = -90 mm


@dataclass
class PetHeader:
    """The radiopharmaceutical and timing fields written into every PET slice."""

    weight_kg: float = 75.0
    dose_bq: float = 350e6
    injection: dt.datetime = dt.datetime(2024, 3, 5, 9, 0, 0)
    series: dt.datetime = dt.datetime(2024, 3, 5, 10, 0, 0)
    units: str = "BQML"
    decay_correction: str = "START"
    corrected: tuple[str, ...] = ("ATTN", "DECY", "SCAT")
    frame_uid: str = FRAME_UID
    philips_bqml_per_count: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def suv_per_bqml(self, reference: dt.datetime | None = None) -> float:
        elapsed = ((reference or self.series) - self.injection).total_seconds()
        return self.weight_kg * 1000.0 / (self.dose_bq * 2 ** (-elapsed / F18_HALF_LIFE_S))


def _grid(shape_kji, origin, spacing):
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape_kji), indexing="ij")
    return (
        origin[0] + i * spacing[0],
        origin[1] + j * spacing[1],
        origin[2] + k * spacing[2],
    )


def ct_values(scene: Scene, shape_kji, origin, spacing) -> np.ndarray:
    x, y, z = _grid(shape_kji, origin, spacing)
    hx, hy, hz = scene.head_centre
    r_head = np.sqrt((x - hx) ** 2 + (y - hy) ** 2 + (z - hz) ** 2)
    hu = np.full(shape_kji, -1000.0)
    neck = (np.hypot(x, y) <= scene.neck_radius_mm) & (z <= scene.neck_top_z_mm + 20)
    hu[neck] = 40.0
    hu[r_head <= scene.head_radius_mm] = 700.0
    hu[r_head <= scene.head_radius_mm - scene.skull_mm] = 30.0
    trachea = (np.hypot(x, y - 25.0) <= scene.trachea_radius_mm) & (z < scene.neck_top_z_mm)
    hu[trachea] = -1000.0
    if scene.lungs:
        for side in (-1, 1):
            lung = ((x - side * 30) / 18) ** 2 + (y / 25) ** 2 + ((z + 90) / 20) ** 2 <= 1
            hu[lung] = -850.0
    return hu


def suv_values(scene: Scene, shape_kji, origin, spacing) -> np.ndarray:
    x, y, z = _grid(shape_kji, origin, spacing)
    hx, hy, hz = scene.head_centre
    suv = np.zeros(shape_kji)
    body = (np.hypot(x, y) <= scene.neck_radius_mm) & (z <= scene.neck_top_z_mm + 20)
    body |= np.sqrt((x - hx) ** 2 + (y - hy) ** 2 + (z - hz) ** 2) <= scene.head_radius_mm
    suv[body] = scene.background_suv
    brain = (
        np.sqrt((x - hx) ** 2 + (y - hy) ** 2 + (z - hz) ** 2)
        <= scene.head_radius_mm - scene.skull_mm
    )
    suv[brain] = scene.brain_suv
    ty, tz = scene.tonsil_yz_mm
    for side in (-1, 1):
        tonsil = np.sqrt((x - side * scene.tonsil_x_mm) ** 2 + (y - ty) ** 2 + (z - tz) ** 2)
        suv[tonsil <= scene.tonsil_radius_mm] = scene.tonsil_suv
    if scene.heart_suv:
        suv[np.sqrt(x**2 + (y + 10) ** 2 + (z + 90) ** 2) <= 6.0] = scene.heart_suv
    cx, cy, cz = scene.tumour_centre
    tumour = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) <= scene.tumour_radius_mm
    suv[tumour] = scene.tumour_suv
    return suv


CT_SHAPE, CT_ORIGIN, CT_SPACING = (80, 90, 90), (-89.0, -89.0, -90.0), (2.0, 2.0, 2.5)
PET_SHAPE, PET_ORIGIN, PET_SPACING = (60, 50, 50), (-98.0, -98.0, -110.0), (4.0, 4.0, 4.0)


def write_ct(folder: Path, scene: Scene | None = None, *, frame_uid: str = FRAME_UID) -> Path:
    """The CT series (one file per slice) of ``scene``; returns the folder."""
    hu = ct_values(scene or Scene(), CT_SHAPE, CT_ORIGIN, CT_SPACING)
    spec = SeriesSpec(
        count=CT_SHAPE[0],
        rows=CT_SHAPE[1],
        columns=CT_SHAPE[2],
        pixel_spacing_mm=(CT_SPACING[1], CT_SPACING[0]),
        step_mm=CT_SPACING[2],
        origin_lps_mm=CT_ORIGIN,
        frame_uid=frame_uid,
        study_uid=STUDY_UID,
        description="synthetic PET/CT CT",
    )
    for k, position in enumerate(spec.positions()):
        write_slice(folder / f"ct{k:03d}.dcm", spec, position, hu[k], instance=k + 1)
    return folder


def write_pet(
    folder: Path, scene: Scene | None = None, header: PetHeader | None = None
) -> tuple[Path, np.ndarray]:
    """The PET series of ``scene`` in ``header``'s units; returns (folder, SUV (k, j, i))."""
    header = header or PetHeader()
    suv = suv_values(scene or Scene(), PET_SHAPE, PET_ORIGIN, PET_SPACING)
    bqml = suv / header.suv_per_bqml()
    stored_units = bqml / header.philips_bqml_per_count if header.philips_bqml_per_count else bqml
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    for k in range(PET_SHAPE[0]):
        position = (PET_ORIGIN[0], PET_ORIGIN[1], PET_ORIGIN[2] + k * PET_SPACING[2])
        plane = stored_units[k]
        slope = max(float(plane.max()), 1.0) / (32000.0 - 150.0 * k)  # each slice its own
        _write_pet_slice(folder / f"pt{k:03d}.dcm", header, series_uid, k, position, plane, slope)
    return folder, suv


def _write_pet_slice(path, header, series_uid, k, position, plane, slope) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = PositronEmissionTomographyImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = PositronEmissionTomographyImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "PT"
    ds.PatientID, ds.PatientName, ds.PatientPosition = "IGCS-TEST", "Test^Synthetic", "HFS"
    ds.PatientWeight = f"{header.weight_kg:g}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, series_uid
    ds.FrameOfReferenceUID = header.frame_uid
    ds.SeriesNumber, ds.InstanceNumber = 9, k + 1
    ds.SeriesDescription = "synthetic PET AC"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SeriesDate = ds.AcquisitionDate = header.series.strftime("%Y%m%d")
    ds.SeriesTime = ds.AcquisitionTime = header.series.strftime("%H%M%S")
    ds.Units, ds.DecayCorrection = header.units, header.decay_correction
    ds.CorrectedImage = list(header.corrected)
    ds.FrameReferenceTime = "0"
    drug = Dataset()
    drug.Radiopharmaceutical = "Fluorodeoxyglucose"
    drug.RadionuclideTotalDose = f"{header.dose_bq:g}"
    drug.RadionuclideHalfLife = f"{F18_HALF_LIFE_S:g}"
    drug.RadiopharmaceuticalStartTime = header.injection.strftime("%H%M%S")
    ds.RadiopharmaceuticalInformationSequence = [drug]
    if header.philips_bqml_per_count:
        block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
        block.add_new(0x09, "DS", f"{header.philips_bqml_per_count:.6f}")
    for key, value in header.extra.items():
        setattr(ds, key, value)
    ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [f"{PET_SPACING[1]:g}", f"{PET_SPACING[0]:g}"]
    ds.SliceThickness = f"{PET_SPACING[2]:g}"
    ds.Rows, ds.Columns = plane.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", "0"
    ds.PixelData = np.round(plane / float(f"{slope:.10g}")).astype("<i2").tobytes()
    ds.save_as(path, enforce_file_format=True)
