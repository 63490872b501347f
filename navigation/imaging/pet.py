"""A PET series read as SUVbw on its own grid, and its frame-of-reference check against a CT.

The folder is searched like any DICOM input (:mod:`navigation.imaging.dicom_discovery`); the
largest PET (Modality PT) stack is read by :func:`navigation.imaging.dicom_series.read_stack`
(geometry from the headers; pixels by GDCM, each slice with its own Rescale Slope and
Intercept, as PET stores a slope per slice), and converted to SUVbw with the calibration of
:mod:`navigation.imaging.suv` (headers read again with pydicom, pixel data skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from navigation.imaging.dicom_discovery import DicomStack, discover_dicom, relative_name
from navigation.imaging.dicom_series import read_stack
from navigation.imaging.errors import ImagingError
from navigation.imaging.suv import SuvCalibration, suv_calibration
from navigation.imaging.volume import Volume

#: Header fields the SUV calibration reads (pixel data and everything else are skipped).
_SUV_TAGS: list[str | tuple[int, int]] = [
    "Units",
    "CorrectedImage",
    "DecayCorrection",
    "PatientWeight",
    "RadiopharmaceuticalInformationSequence",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "FrameReferenceTime",
    (0x7053, 0x0010),
    (0x7053, 0x1000),
    (0x7053, 0x1009),
]


@dataclass(frozen=True)
class PetSeries:
    """A PET volume in SUVbw (float32, (k, j, i), the PET's own grid, LPS mm), modality "PT".

    ``volume.metadata`` carries the series' UIDs (frame_of_reference_uid...) as for any DICOM
    series; ``calibration`` says how the values were made SUV.
    """

    suv: Volume
    calibration: SuvCalibration
    description: str
    warnings: tuple[str, ...]

    @property
    def frame_of_reference_uid(self) -> str:
        return str(self.suv.metadata.get("frame_of_reference_uid") or "")


def read_pet(path: str | Path) -> PetSeries:
    """Read the PET series under ``path`` (folder or file) as SUVbw.

    Raises :class:`ImagingError` when there is no PET series, its geometry cannot be trusted,
    or its headers lack what SUV needs (the message names the tag and what to do).
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise ImagingError(f"PET folder {source} does not exist; give the PET series' folder.")
    discovery = discover_dicom(source)
    stacks = [s for s in discovery.stacks if s.first.modality == "PT" and not s.is_localizer]
    if not stacks:
        found = sorted({f"{s.first.modality} ({s.count} files)" for s in discovery.stacks})
        raise ImagingError(
            f"no PET series (Modality PT) under {source}"
            + (f"; found {', '.join(found)}" if found else "")
            + ". Give the folder of the attenuation-corrected PET series."
        )
    stack = max(stacks, key=_preference)
    series = read_stack(stack, root=discovery.root)
    where = f"PET {relative_name(series.files[0], discovery.root)}"
    headers = [
        pydicom.dcmread(file, stop_before_pixels=True, specific_tags=_SUV_TAGS)  # type: ignore[arg-type]
        for file in series.files
    ]
    calibration = suv_calibration(headers, where=where)
    values = np.asarray(series.volume.array, dtype=np.float32)
    suv = Volume(
        values * np.float32(calibration.suv_per_unit),
        series.volume.geometry,
        "PT",
        {**series.volume.metadata, "units": "SUVbw g/ml"},
    )
    warnings = (*series.warnings, *calibration.warnings)
    others = len({s.series_instance_uid for s in stacks}) - 1
    if others:
        warnings = (
            *warnings,
            f"{others} other PET series under {source} (e.g. non-attenuation-corrected); "
            f"used {stack.describe(discovery.root)}",
        )
    return PetSeries(suv, calibration, stack.describe(discovery.root), warnings)


def _preference(stack: DicomStack) -> tuple[bool, int]:
    """Attenuation-corrected first (CorrectedImage is not read here: the NAC series of most
    scanners says so in its description), then the most slices."""
    description = stack.first.series_description.upper()
    uncorrected = "NAC" in description.split() or "NOAC" in description.replace(" ", "")
    return (not uncorrected, stack.count)


def check_same_frame(ct: Volume, pet: PetSeries) -> None:
    """Refuse a PET whose FrameOfReferenceUID is not the CT's (its LPS coordinates would not
    be the CT's: a PET from another session needs a registration first)."""
    ct_frame = str(ct.metadata.get("frame_of_reference_uid") or "")
    if not ct_frame:
        raise ImagingError(
            "the CT has no FrameOfReferenceUID (it was not read from DICOM), so the PET cannot "
            "be shown to share its coordinates; plan from the CT's DICOM series."
        )
    if pet.frame_of_reference_uid != ct_frame:
        raise ImagingError(
            f"the PET's FrameOfReferenceUID {pet.frame_of_reference_uid or '(none)'} differs "
            f"from the CT's {ct_frame}: they were not acquired in one PET/CT session, so their "
            "coordinates do not match. Use the PET of the same PET/CT study, or register them "
            "first."
        )
