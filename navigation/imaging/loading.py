"""Loading what hospitals export into one :class:`Volume`: the imaging package's façade.

``load_volume(path)`` accepts a DICOM folder (searched recursively, possibly holding several
series and other files), a single DICOM file, or a NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr)
or MetaImage (.mha, .mhd) file. It returns the volume in LPS mm together with a
:class:`LoadReport` saying what was found, what was chosen, and every warning (each naming the
files involved). Anything that would give wrong geometry is either resampled explicitly onto a
regular grid (reported, ``resampled=True``) or refused with an :class:`ImagingError` that says
what to do; ``allow_resampling=False`` turns every resampling into a refusal.

DICOM policy (see :mod:`navigation.imaging.dicom_checks` for the thresholds):

* several series, no ``series_uid``: the largest axial CT/MR stack is chosen, with a warning;
  the others are listed in ``report.others``;
* localizers/scouts and files of another size/orientation inside a series: left out, warned;
* duplicate positions: identical pixels -> extra copies ignored (warned); different -> refused;
* non-uniform spacing, gantry tilt / sheared stacks, one missing slice (a gap of 1.5-2.5x the
  median step): resampled (linear, SimpleITK) onto an orthogonal grid aligned with the slice
  plane, origin at the first slice's IPP, outside = PixelPaddingValue or air, with a warning;
* a gap > 2.5x the median step (two or more slices missing in a row): refused;
* multi-frame files, truncated or undecodable files, non-image objects (RTSTRUCT, RTPLAN,
  RTDOSE, DICOMDIR...), images without patient position: refused when chosen, else listed;
* PatientPosition (HFS, FFS, ...) is only reported: IPP/IOP define the LPS geometry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from navigation.imaging.dicom_choice import choose_stack
from navigation.imaging.dicom_discovery import discover_dicom
from navigation.imaging.dicom_series import read_stack
from navigation.imaging.errors import ImagingError
from navigation.imaging.image_files import image_file_kind, read_image_file
from navigation.imaging.modality import decide_modality, with_modality
from navigation.imaging.volume import Volume

__all__ = ["ImagingError", "LoadReport", "LoadedVolume", "load_volume"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadReport:
    """What was found and done, for the user.

    Attributes
    ----------
    source : the path given to :func:`load_volume`.
    kind : "dicom", "nifti", "nrrd" or "mha" (MetaImage .mha/.mhd).
    chosen : a description of the chosen series (or file).
    others : the other series and files found, each with why it was not chosen.
    warnings : each names the files involved; resampling is always among them when done.
    resampled : True when the geometry was regularised by resampling.
    files : the files that make up the chosen volume (sorted along the slice normal for DICOM).
    """

    source: Path
    kind: str
    chosen: str
    others: tuple[str, ...]
    warnings: tuple[str, ...]
    resampled: bool
    files: tuple[Path, ...]


@dataclass(frozen=True)
class LoadedVolume:
    """A volume (LPS mm, CT in HU) and the report of how it was read."""

    volume: Volume
    report: LoadReport


def load_volume(
    path: str | Path,
    *,
    series_uid: str | None = None,
    allow_resampling: bool = True,
    modality: str | None = None,
) -> LoadedVolume:
    """Read a DICOM folder or file, or a NIfTI/NRRD/MetaImage file, into a :class:`Volume`.

    Parameters
    ----------
    path : a folder (searched recursively for DICOM files) or one file.
    series_uid : the SeriesInstanceUID to load; by default the largest axial CT/MR series.
    allow_resampling : when False, a stack that needs resampling (non-uniform spacing, gantry
        tilt, a missing slice) is refused instead.
    modality : "ct" or "mr" when the caller knows. For NIfTI/NRRD/MetaImage files it decides
        (a CT must be in HU); without it the file's header or dcm2niix sidecar decides, else
        the intensities, towards CT only (:mod:`navigation.imaging.modality`); undecided files
        get modality "OT" and the reason in ``metadata["modality_reason"]``. For DICOM it
        must agree with the series' own Modality.

    Returns
    -------
    LoadedVolume : ``volume.array`` is (k, j, i), int16 or float32 (CT in HU after
        rescale); ``volume.geometry`` maps indices to LPS mm. For DICOM ``volume.metadata``
        holds series_instance_uid, study_instance_uid, frame_of_reference_uid, patient_id,
        modality, patient_position, files, warnings and resampled.

    Raises
    ------
    ImagingError
        The path is missing, empty or holds nothing readable, or the chosen series cannot be
        read with trustworthy geometry; the message says which files and what to do.
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise ImagingError(f"{source} does not exist; give a DICOM folder or an image file.")
    kind = image_file_kind(source) if source.is_file() else None
    if kind is not None:
        if series_uid is not None:
            raise ImagingError(
                f"series_uid applies to DICOM only; {source.name} is a {kind} file (one volume)."
            )
        read = read_image_file(source)
        decision = decide_modality(read.volume, source, modality)
        volume = with_modality(read.volume, decision)
        known = decision.modality in ("CT", "MR")
        chosen = f"{kind} file {source.name}, " + (
            f"modality {decision.modality} ({decision.reason})" if known else "modality unknown"
        )
        report = LoadReport(source, kind, chosen, (), read.warnings, False, read.files)
        return _logged(LoadedVolume(volume, report))
    discovery = discover_dicom(source)
    choice = choose_stack(discovery, series_uid)
    series = read_stack(choice.stack, root=discovery.root, allow_resampling=allow_resampling)
    stated = series.volume.metadata.get("modality", "")
    if modality is not None and modality.strip().upper() != stated:
        raise ImagingError(
            f"--modality {modality} contradicts the series' own DICOM Modality {stated!r} "
            f"({choice.stack.describe(discovery.root)}); leave --modality out for DICOM."
        )
    warnings = (*choice.warnings, *series.warnings)
    volume = series.volume
    volume.metadata["warnings"] = list(warnings)
    report = LoadReport(
        source=source,
        kind="dicom",
        chosen=choice.stack.describe(discovery.root),
        others=choice.others,
        warnings=warnings,
        resampled=series.resampled,
        files=series.files,
    )
    return _logged(LoadedVolume(volume, report))


def _logged(loaded: LoadedVolume) -> LoadedVolume:
    report = loaded.report
    logger.info("loaded %s from %s", report.chosen, report.source)
    for warning in report.warnings:
        logger.warning("%s", warning)
    return loaded
