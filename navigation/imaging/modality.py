"""Whether an image file (NIfTI, NRRD, MetaImage) is a CT or an MR, which those formats rarely say.

In order, the first that answers decides, and the volume's metadata says which did
(``modality_source``) and why (``modality_reason``):

1. the user (``--modality ct|mr``); a CT must then be in Hounsfield units: a volume told to be
   CT without any air below -500 HU is refused (a CT stored without its rescale intercept would
   otherwise be segmented with thresholds 1024 HU off);
2. the file: MetaImage's ``Modality = MET_MOD_CT|MET_MOD_MR``, or the JSON sidecar that dcm2niix
   writes next to its NIfTI output (BIDS ``"Modality": "CT"|"MR"``);
3. the intensities, and only towards CT, whose scale is absolute: air near -1000 HU and soft
   tissue near 0 HU, each in a stated share of the voxels. MR intensities have no absolute
   scale and look like a PET, a label map or a CT stored without its rescale (0..4095), so MR is
   never guessed: the message says so and asks for ``--modality``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from navigation.imaging.errors import ImagingError
from navigation.imaging.volume import Volume

#: HU windows of the CT signature and the share of voxels each must hold.
AIR_HU = (-1100.0, -900.0)
SOFT_TISSUE_HU = (-150.0, 150.0)
MIN_AIR_FRACTION = 0.01
MIN_SOFT_TISSUE_FRACTION = 0.02
#: A volume told to be CT must have at least this share of voxels below -500 HU (air).
MIN_AIR_BELOW_FRACTION = 0.005
#: At most this many distinct integer values and the volume looks like a label map.
LABEL_MAP_MAX_VALUES = 64
_SAMPLE = 2_000_000
_META_MODALITIES = {"MET_MOD_CT": "CT", "MET_MOD_MR": "MR"}


@dataclass(frozen=True)
class ModalityDecision:
    """``modality`` is "CT", "MR" or "OT" (undecided); ``source`` and ``reason`` say why."""

    modality: str
    source: str
    reason: str


def decide_modality(volume: Volume, path: Path, requested: str | None = None) -> ModalityDecision:
    """The modality of ``volume`` read from ``path`` (see the module docstring)."""
    evidence = _Evidence.of(volume.array)
    if requested is not None:
        wanted = requested.strip().upper()
        if wanted not in ("CT", "MR"):
            raise ImagingError(f"modality must be 'ct' or 'mr'; got {requested!r}.")
        if wanted == "CT" and evidence.below_air < MIN_AIR_BELOW_FRACTION:
            raise ImagingError(
                f"{path.name} was given as CT, but its values ({evidence.describe()}) have no air "
                "below -500 HU: they are not Hounsfield units (a CT stored without its rescale "
                "intercept?). Convert it to HU (e.g. dcm2niix from the DICOM series), or pass "
                "--modality mr if it is an MR."
            )
        return ModalityDecision(wanted, "requested", f"given as {wanted} (--modality)")
    stated = file_stated_modality(path)
    if stated is not None:
        return stated
    if evidence.looks_like_ct:
        return ModalityDecision(
            "CT", "intensities", f"inferred CT from its Hounsfield units ({evidence.describe()})"
        )
    return ModalityDecision("OT", "unknown", _unsure(path, evidence))


def with_modality(volume: Volume, decision: ModalityDecision) -> Volume:
    """``volume`` with ``decision`` applied (modality, and metadata modality_source/_reason)."""
    result = volume.with_array(volume.array, modality=decision.modality)
    result.metadata["modality_source"] = decision.source
    result.metadata["modality_reason"] = decision.reason
    return result


def file_stated_modality(path: Path) -> ModalityDecision | None:
    """CT/MR as the file states it: a MetaImage ``Modality`` line or a dcm2niix/BIDS sidecar."""
    name = path.name.lower()
    if name.endswith((".mha", ".mhd")):
        value = _metaimage_field(path, "Modality")
        if value in _META_MODALITIES:
            modality = _META_MODALITIES[value]
            return ModalityDecision(modality, "file header", f"MetaImage Modality = {value}")
    if name.endswith((".nii", ".nii.gz")):
        stem = path.name[: -len(".nii.gz")] if name.endswith(".gz") else path.name[:-4]
        sidecar = path.with_name(stem + ".json")
        try:
            value = str(json.loads(sidecar.read_text(encoding="utf-8")).get("Modality", ""))
        except (OSError, ValueError, AttributeError):
            return None
        if value.upper() in ("CT", "MR"):
            return ModalityDecision(
                value.upper(), "sidecar", f"{sidecar.name} (dcm2niix/BIDS) says Modality {value}"
            )
    return None


@dataclass(frozen=True)
class _Evidence:
    low: float
    high: float
    air: float
    soft: float
    below_air: float
    distinct_integers: int | None

    @classmethod
    def of(cls, array: np.ndarray) -> _Evidence:
        flat = array.reshape(-1)
        step = max(1, flat.size // _SAMPLE)
        sample = np.asarray(flat[::step], dtype=np.float32)
        if sample.size == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0.0, None)

        def share(low: float, high: float) -> float:
            return float(np.count_nonzero((sample >= low) & (sample <= high))) / sample.size

        distinct = None
        if np.issubdtype(array.dtype, np.integer):
            values = np.unique(sample)
            distinct = int(values.size) if values.size <= LABEL_MAP_MAX_VALUES else None
        return cls(
            low=float(sample.min()),
            high=float(sample.max()),
            air=share(*AIR_HU),
            soft=share(*SOFT_TISSUE_HU),
            below_air=float(np.count_nonzero(sample < -500.0)) / sample.size,
            distinct_integers=distinct,
        )

    @property
    def looks_like_ct(self) -> bool:
        return self.air >= MIN_AIR_FRACTION and self.soft >= MIN_SOFT_TISSUE_FRACTION

    def describe(self) -> str:
        return (
            f"{self.low:g}..{self.high:g}; {self.air:.1%} of voxels at air {AIR_HU[0]:g}.."
            f"{AIR_HU[1]:g} HU, {self.soft:.1%} at soft tissue {SOFT_TISSUE_HU[0]:g}.."
            f"{SOFT_TISSUE_HU[1]:g} HU"
        )


def _unsure(path: Path, evidence: _Evidence) -> str:
    if evidence.distinct_integers is not None:
        hint = (
            f"it holds only {evidence.distinct_integers} distinct integer values, like a label "
            "map (plan label maps with --labels)"
        )
    elif evidence.low >= 0:
        hint = (
            "non-negative values are an MR, a PET, or a CT stored without its rescale to HU; MR "
            "has no absolute scale to recognise"
        )
    else:
        hint = "the values are not Hounsfield units of a CT with air around the patient"
    return (
        f"cannot tell whether {path.name} is a CT or an MR from its values ({evidence.describe()}"
        f"): {hint}. Pass --modality ct (values in HU) or --modality mr"
    )


def _metaimage_field(path: Path, key: str) -> str | None:
    """A field of a MetaImage header (text lines up to ElementDataFile)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(16384)
    except OSError:
        return None
    for raw in head.split(b"\n"):
        line = raw.decode("latin-1").strip()
        name, _, value = line.partition("=")
        if name.strip() == key:
            return value.strip()
        if name.strip() == "ElementDataFile":
            break
    return None
