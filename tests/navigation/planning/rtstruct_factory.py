"""Synthetic RT structure sets written with pydicom: contours of known shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid


@dataclass
class Roi:
    """One ROI: closed planar contours ((N, 3) LPS mm each) and/or points."""

    name: str
    rt_type: str = "ORGAN"
    color: tuple[int, int, int] = (255, 0, 0)
    contours: list[np.ndarray] = field(default_factory=list)
    points: list[np.ndarray] = field(default_factory=list)


def circle(centre_xy, radius, z, vertices=96, clockwise=False) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    if clockwise:
        angles = angles[::-1]
    x = centre_xy[0] + radius * np.cos(angles)
    y = centre_xy[1] + radius * np.sin(angles)
    return np.stack([x, y, np.full(vertices, z)], axis=1)


def sphere_contours(centre, radius, planes_z) -> list[np.ndarray]:
    out = []
    for z in planes_z:
        r2 = radius**2 - (z - centre[2]) ** 2
        if r2 > 0:
            out.append(circle(centre[:2], np.sqrt(r2), z))
    return out


def write_rtstruct(path: Path, rois: list[Roi], *, frame_uid: str) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTStructureSetStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = RTStructureSetStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.PatientID, ds.PatientName = "IGCS-TEST", "Test^Synthetic"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StructureSetLabel = "synthetic"
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_uid
    ds.ReferencedFrameOfReferenceSequence = [frame]
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    for number, roi in enumerate(rois, start=1):
        item = Dataset()
        item.ROINumber, item.ROIName = number, roi.name
        item.ReferencedFrameOfReferenceUID = frame_uid
        ds.StructureSetROISequence.append(item)
        contour_item = Dataset()
        contour_item.ReferencedROINumber = number
        contour_item.ROIDisplayColor = list(roi.color)
        contour_item.ContourSequence = []
        for kind, shapes in (("CLOSED_PLANAR", roi.contours), ("POINT", roi.points)):
            for shape in shapes:
                contour = Dataset()
                contour.ContourGeometricType = kind
                points = np.asarray(shape, dtype=float).reshape(-1, 3)
                contour.NumberOfContourPoints = len(points)
                contour.ContourData = [f"{v:.4f}" for v in points.ravel()]
                contour_item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(contour_item)
        observation = Dataset()
        observation.ObservationNumber = observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = roi.rt_type
        ds.RTROIObservationsSequence.append(observation)
    ds.save_as(path, enforce_file_format=True)
    return path
