"""Write a :class:`Volume` as a DICOM series (one single-frame file per slice) with pydicom.

Geometry: ImageOrientationPatient is the direction matrix's first two columns (i = column
direction, j = row direction), ImagePositionPatient of slice k is ``lps_from_ijk @ (0, 0, k)``,
PixelSpacing is [row spacing (j), column spacing (i)], SliceThickness and SpacingBetweenSlices
the k spacing. CT is stored as unsigned 16-bit with RescaleIntercept -1024 (HU = stored - 1024);
MR as unsigned 16-bit with slope 1, intercept 0. UIDs are derived from a key string
(``pydicom.uid.generate_uid`` with entropy sources), so the same key gives the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from navigation import __version__
from navigation.imaging.volume import Volume
from registration.core.checks import InputError

SOP_CLASS = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}
_DATE, _TIME = "20250101", "120000"


@dataclass(frozen=True)
class SeriesInfo:
    """Who and what the series is: UIDs and the patient/series descriptions."""

    modality: str
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str
    patient_name: str
    patient_id: str
    series_description: str
    patient_position: str = "HFS"

    @classmethod
    def deterministic(
        cls,
        key: str,
        *,
        modality: str,
        patient_name: str,
        patient_id: str,
        series_description: str,
    ) -> SeriesInfo:
        """UIDs derived from ``key`` (same key, same UIDs)."""
        return cls(
            modality=modality,
            study_instance_uid=generate_uid(entropy_srcs=[key, "study"]),
            series_instance_uid=generate_uid(entropy_srcs=[key, "series"]),
            frame_of_reference_uid=generate_uid(entropy_srcs=[key, "frame-of-reference"]),
            patient_name=patient_name,
            patient_id=patient_id,
            series_description=series_description,
        )

    def uids(self) -> dict[str, str]:
        return {
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
        }


def _ds_number(value: float) -> str:
    """A DICOM DS string (at most 16 characters)."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.6g}"


def write_dicom_series(volume: Volume, folder: str | Path, info: SeriesInfo) -> list[Path]:
    """Write ``volume`` (CT in HU or MR values) as ``folder/IMG0001.dcm``... ; returns the paths.

    Values must fit the stored range (CT -1024..64511 HU, MR 0..65535); others are refused.
    """
    modality = info.modality.upper()
    if modality not in SOP_CLASS:
        raise InputError(f"modality must be CT or MR to write DICOM; got {info.modality!r}.")
    intercept = -1024.0 if modality == "CT" else 0.0
    stored = np.rint(np.asarray(volume.array, dtype=np.float64) - intercept)
    if stored.min() < 0 or stored.max() > 65535:
        raise InputError(
            f"{modality} values {volume.array.min()}..{volume.array.max()} do not fit 16-bit "
            f"storage with intercept {intercept:g}; clip the volume first."
        )
    pixels = stored.astype(np.uint16)
    geometry = volume.geometry
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    direction = geometry.direction
    orientation = [*direction[:, 0].tolist(), *direction[:, 1].tolist()]
    spacing_i, spacing_j, spacing_k = geometry.spacing_mm.tolist()
    rows, columns = geometry.size_ijk[1], geometry.size_ijk[0]
    paths = []
    for k in range(geometry.size_ijk[2]):
        position = geometry.ijk_to_lps([0.0, 0.0, float(k)])
        sop_uid = generate_uid(entropy_srcs=[info.series_instance_uid, str(k)])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(SOP_CLASS[modality])
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = SOP_CLASS[modality]
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = info.study_instance_uid
        ds.SeriesInstanceUID = info.series_instance_uid
        ds.FrameOfReferenceUID = info.frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.Modality = modality
        ds.Manufacturer = "IGCS"
        ds.ManufacturerModelName = "digital phantom"
        ds.SoftwareVersions = f"igcs {__version__}"
        ds.PatientName = info.patient_name
        ds.PatientID = info.patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = _DATE
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = _TIME
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.SeriesDescription = info.series_description
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PatientPosition = info.patient_position
        ds.ImagePositionPatient = [_ds_number(v) for v in position]
        ds.ImageOrientationPatient = [_ds_number(v) for v in orientation]
        ds.SliceLocation = _ds_number(float(position @ np.cross(direction[:, 0], direction[:, 1])))
        ds.PixelSpacing = [_ds_number(spacing_j), _ds_number(spacing_i)]
        ds.SliceThickness = _ds_number(spacing_k)
        ds.SpacingBetweenSlices = _ds_number(spacing_k)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, columns
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = _ds_number(intercept)
        ds.RescaleSlope = "1"
        if modality == "CT":
            ds.RescaleType = "HU"
            ds.KVP = "120"
            ds.WindowCenter, ds.WindowWidth = "40", "400"
        else:
            ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "GR", "SP", ""
            ds.MRAcquisitionType = "3D"
            ds.EchoTime, ds.RepetitionTime = "4", "10"
            ds.MagneticFieldStrength = "3"
        ds.PixelData = np.ascontiguousarray(pixels[k]).tobytes()
        path = out / f"IMG{k + 1:04d}.dcm"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths
