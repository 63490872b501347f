"""Standardised uptake value normalised by body weight (SUVbw) from a PET series' DICOM headers.

    SUVbw = C [Bq/ml] x W [g] / (A x 2^(-(t_ref - t_inj) / T_half)) [Bq]

C is the voxel's activity concentration (its stored value after each slice's own Rescale
Slope/Intercept, times the vendor's count calibration when ``Units`` is ``CNTS``), W the
patient's weight (0010,1030), A the injected dose (0018,1074) given at t_inj (0018,1078 or
0018,1072), T_half the half-life (0018,1075). ``DecayCorrection`` (0054,1102) says to which
time the images are decay corrected: ``START`` (the acquisition start) or ``ADMIN`` (the
injection; then no decay of the dose). Images must be attenuation and decay corrected
(``CorrectedImage`` holds ATTN and DECY), otherwise their values are not quantitative.

The acquisition start t_ref is the vendor-neutral rule of the QIBA FDG-PET/CT technical
committee ("SUV calculation" pseudo-code, Kinahan et al.): Series Date/Time when it is not
later than the earliest Acquisition Date/Time, else (the series time was rewritten after the
scan, e.g. by reconstruction or de-identification) the earliest Acquisition Date/Time of the
series. A second reading is reported next to it: DICOM defines Frame Reference Time
(0054,1300) as the offset of a frame's activity from the series reference time, so
Acquisition Time - Frame Reference Time gives the series reference time even when Series Time
was rewritten. The two can differ by a fraction of a frame (Philips: half the frame duration),
i.e. by up to ~1 % of the SUV. Vendors' own factors, when present, are read too (Philips
private group 7053: (7053,1000) SUV scale factor, (7053,1009) Bq/ml per count) and compared.

Units ``GML`` (already SUVbw) are passed through. ``BQML`` needs no vendor factor; ``CNTS``
without Philips' factor, other units, ``DecayCorrection`` NONE and missing dose, time, half-life
or weight are refused with the tag to fix.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from navigation.imaging.errors import ImagingError

#: Philips private group: SUV scale factor and activity concentration per count.
PHILIPS_CREATOR = "Philips PET Private Group"
_PHILIPS_SUV_FACTOR = 0x00
_PHILIPS_BQML_FACTOR = 0x09
#: Generic and scanner SUV factors differing by more than this are reported (fraction).
AGREEMENT_TOLERANCE = 0.01


@dataclass(frozen=True)
class DecayReference:
    """One reading of the time the dose is decayed to, and the SUV factor it gives.

    suv_per_bqml : W / decayed dose (ml^-1 x g ... i.e. SUV per Bq/ml).
    """

    name: str
    time: dt.datetime
    elapsed_s: float
    suv_per_bqml: float
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "time": self.time.isoformat(),
            "elapsed_since_injection_s": round(self.elapsed_s, 3),
            "suv_per_bqml": self.suv_per_bqml,
            "how": self.how,
        }


@dataclass(frozen=True)
class SuvCalibration:
    """How stored PET values (after rescale) become SUVbw: ``suv = value * suv_per_unit``."""

    units: str
    bqml_per_unit: float  # 1 for BQML; Philips (7053,1009) for CNTS; NaN for GML
    weight_kg: float
    injected_dose_bq: float
    half_life_s: float
    injection_time: dt.datetime | None
    decay_correction: str
    reference: DecayReference | None  # None for GML (values already SUV)
    alternatives: tuple[DecayReference, ...]
    scanner_suv_per_unit: float | None  # Philips (7053,1000)
    warnings: tuple[str, ...]

    @property
    def suv_per_unit(self) -> float:
        """Factor from the rescaled stored value to SUVbw (g/ml)."""
        if self.reference is None:
            return 1.0
        return self.bqml_per_unit * self.reference.suv_per_bqml

    def scanner_ratio(self, reference: DecayReference | None = None) -> float | None:
        """Our factor (with ``reference``, default the one used) over the scanner's."""
        if self.scanner_suv_per_unit is None:
            return None
        chosen = reference or self.reference
        if chosen is None:
            return None
        return self.bqml_per_unit * chosen.suv_per_bqml / self.scanner_suv_per_unit

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (plan.json ``pet.suv_calibration``)."""
        readings = []
        for reading in (self.reference, *self.alternatives):
            if reading is None:
                continue
            row = reading.to_dict()
            row["used"] = reading is self.reference
            ratio = self.scanner_ratio(reading)
            if ratio is not None:
                row["ratio_to_scanner_suv"] = round(ratio, 6)
            readings.append(row)
        return {
            "method": "SUV body weight (QIBA vendor-neutral)",
            "units_in_file": self.units,
            "bqml_per_unit": None if math.isnan(self.bqml_per_unit) else self.bqml_per_unit,
            "suv_per_unit": self.suv_per_unit,
            "weight_kg": self.weight_kg,
            "injected_dose_bq": self.injected_dose_bq,
            "half_life_s": self.half_life_s,
            "injection_time": None
            if self.injection_time is None
            else self.injection_time.isoformat(),
            "decay_correction": self.decay_correction,
            "decay_references": readings,
            "scanner_suv_per_unit": self.scanner_suv_per_unit,
            "warnings": list(self.warnings),
        }


def suv_calibration(headers: Sequence[Dataset], *, where: str = "the PET series") -> SuvCalibration:
    """The SUVbw calibration of a PET series from its slices' headers (pixel data not needed).

    headers : one pydicom dataset per slice of one series (any order).
    Raises :class:`ImagingError` naming the missing or unusable tag and what to do.
    """
    if not headers:
        raise ImagingError(f"{where} has no slices.")
    first = headers[0]
    units = _same(headers, "Units", where) or ""
    if units == "GML":
        return SuvCalibration(
            units, math.nan, _weight(first, where), math.nan, math.nan, None, "", None, (), None,
            ("values are already SUVbw (Units GML): used as stored",),
        )  # fmt: skip
    corrected = {str(v).upper() for v in first.get("CorrectedImage", [])}
    missing = sorted({"ATTN", "DECY"} - corrected)
    if missing:
        raise ImagingError(
            f"{where}: CorrectedImage (0028,0051) lacks {', '.join(missing)}; SUV needs "
            "attenuation- and decay-corrected images. Export the corrected (AC) PET series."
        )
    bqml_per_unit = _bqml_per_unit(headers, units, where)
    weight = _weight(first, where)
    drug = _radiopharmaceutical(first, where)
    dose = _positive(drug, "RadionuclideTotalDose", "(0018,1074) injected dose in Bq", where)
    half_life = _positive(drug, "RadionuclideHalfLife", "(0018,1075) half-life in s", where)
    decay = str(first.get("DecayCorrection", "")).upper()
    scanner = _philips(headers, _PHILIPS_SUV_FACTOR, where)
    warnings: list[str] = []
    if decay == "ADMIN":
        injection = _injection_time(first, drug, None, where)
        at_injection = DecayReference(
            "injection (DecayCorrection ADMIN)", injection, 0.0, weight * 1000.0 / dose,
            "images are decay corrected to the injection: the dose is not decayed",
        )  # fmt: skip
        return SuvCalibration(
            units, bqml_per_unit, weight, dose, half_life, injection, decay, at_injection, (),
            scanner, (),
        )  # fmt: skip
    if decay != "START":
        raise ImagingError(
            f"{where}: DecayCorrection (0054,1102) is {decay or 'absent'!r}; SUV is computed for "
            "images decay corrected to the acquisition start (START) or the injection (ADMIN). "
            "Export the series with decay correction."
        )
    acquisitions = [_acquisition_time(h, where) for h in headers]
    earliest = min(acquisitions)
    series = _series_time(first, where)
    injection = _injection_time(first, drug, earliest, where)

    def reading(name: str, time: dt.datetime, how: str) -> DecayReference:
        elapsed = (time - injection).total_seconds()
        decayed = dose * 2.0 ** (-elapsed / half_life)
        return DecayReference(name, time, elapsed, weight * 1000.0 / decayed, how)

    candidates: list[DecayReference] = []
    if series is not None and series <= earliest:
        used = reading("series time", series, "Series Date/Time, not later than the acquisition")
    else:
        why = (
            f"Series Time {series.time().isoformat()} is later than the earliest acquisition"
            if series is not None
            else "no Series Time"
        )
        used = reading("earliest acquisition time", earliest, f"{why} (QIBA rule)")
        if series is not None:
            warnings.append(
                f"{why}: the series time was rewritten after the scan (reconstruction or "
                "de-identification); the dose is decayed to the earliest acquisition time"
            )
    candidates.append(used)
    frame_based = _frame_reference_start(headers, acquisitions)
    if frame_based is not None and abs((frame_based - used.time).total_seconds()) >= 0.5:
        candidates.append(
            reading(
                "acquisition time - frame reference time",
                frame_based,
                "the series reference time that Frame Reference Time (0054,1300) is measured from",
            )
        )
    if elapsed_bad := [c for c in candidates if not 0 <= c.elapsed_s < 86400]:
        bad = elapsed_bad[0]
        raise ImagingError(
            f"{where}: the injection time {injection.isoformat()} is "
            f"{bad.elapsed_s / 60:.1f} min from the scan ({bad.name} {bad.time.isoformat()}); "
            "check RadiopharmaceuticalStartTime/DateTime (0018,1072/1078) and the series dates."
        )
    calibration = SuvCalibration(
        units, bqml_per_unit, weight, dose, half_life, injection, decay, used,
        tuple(candidates[1:]), scanner, tuple(warnings),
    )  # fmt: skip
    ratio = calibration.scanner_ratio()
    if ratio is not None and abs(ratio - 1.0) > AGREEMENT_TOLERANCE:
        calibration = _with_warning(
            calibration,
            f"the SUV factor from the headers ({calibration.suv_per_unit:.6g}) differs by "
            f"{(ratio - 1) * 100:+.1f} % from the scanner's own (7053,1000) "
            f"{scanner:.6g}; SUVs are shown with the headers' factor",
        )
    return calibration


def _with_warning(calibration: SuvCalibration, warning: str) -> SuvCalibration:
    from dataclasses import replace

    return replace(calibration, warnings=(*calibration.warnings, warning))


def _same(headers: Sequence[Dataset], keyword: str, where: str) -> str | None:
    values = {str(h.get(keyword, "")).strip().upper() for h in headers}
    if len(values) > 1:
        raise ImagingError(
            f"{where}: {keyword} differs between slices ({', '.join(sorted(values))}); the "
            "series mixes reconstructions. Export one PET reconstruction."
        )
    value = values.pop()
    return value or None


def _bqml_per_unit(headers: Sequence[Dataset], units: str, where: str) -> float:
    if units == "BQML":
        return 1.0
    if units == "CNTS":
        factor = _philips(headers, _PHILIPS_BQML_FACTOR, where)
        if factor is None:
            raise ImagingError(
                f"{where}: Units (0054,1001) is CNTS (counts) without the vendor's activity "
                "concentration factor (Philips (7053,1009)); export the series in Bq/ml (BQML)."
            )
        return factor
    raise ImagingError(
        f"{where}: Units (0054,1001) is {units or 'absent'!r}; SUV is computed from BQML, CNTS "
        "(Philips) or GML. Export the PET in Bq/ml."
    )


def _philips(headers: Sequence[Dataset], element: int, where: str) -> float | None:
    values = set()
    for header in headers:
        try:
            block = header.private_block(0x7053, PHILIPS_CREATOR)
            value = block[element].value
        except KeyError:
            return None
        try:
            values.add(float(value.decode() if isinstance(value, bytes) else value))
        except (TypeError, ValueError):
            return None
    if len(values) > 1:
        raise ImagingError(
            f"{where}: the Philips factor (7053,10{element:02X}) differs between slices "
            f"({', '.join(f'{v:g}' for v in sorted(values))}); export one reconstruction."
        )
    value = values.pop()
    return value if value > 0 else None


def _weight(header: Dataset, where: str) -> float:
    try:
        weight = float(header.get("PatientWeight") or 0.0)
    except (TypeError, ValueError):
        weight = 0.0
    if not 1.0 <= weight <= 500.0:
        raise ImagingError(
            f"{where}: PatientWeight (0010,1030) is {header.get('PatientWeight')!r}; SUV body "
            "weight needs the patient's weight in kg. Export the PET with the weight recorded."
        )
    return weight


def _radiopharmaceutical(header: Dataset, where: str) -> Dataset:
    sequence = header.get("RadiopharmaceuticalInformationSequence")
    if not sequence:
        raise ImagingError(
            f"{where}: no RadiopharmaceuticalInformationSequence (0054,0016); the injected dose "
            "and time are needed for SUV. Export the PET series with its radiopharmaceutical data."
        )
    item: Dataset = sequence[0]
    return item


def _positive(item: Dataset, keyword: str, what: str, where: str) -> float:
    try:
        value = float(item.get(keyword) or 0.0)
    except (TypeError, ValueError):
        value = 0.0
    if not value > 0:
        raise ImagingError(f"{where}: {keyword} {what} is missing or not positive; SUV needs it.")
    return value


def _injection_time(
    header: Dataset, drug: Dataset, scan: dt.datetime | None, where: str
) -> dt.datetime:
    text = str(drug.get("RadiopharmaceuticalStartDateTime", "")).strip()
    if text:
        return _parse_datetime(text[:8], text[8:], "RadiopharmaceuticalStartDateTime", where)
    time = str(drug.get("RadiopharmaceuticalStartTime", "")).strip()
    if not time:
        raise ImagingError(
            f"{where}: no RadiopharmaceuticalStartTime (0018,1072); the injection time is "
            "needed for SUV. Export the PET series with its radiopharmaceutical data."
        )
    date = str(header.get("SeriesDate") or header.get("AcquisitionDate") or "").strip()
    injection = _parse_datetime(date, time, "RadiopharmaceuticalStartTime", where)
    if scan is not None and injection > scan:  # injected before midnight, scanned after
        injection -= dt.timedelta(days=1)
    return injection


def _acquisition_time(header: Dataset, where: str) -> dt.datetime:
    date = str(header.get("AcquisitionDate") or header.get("SeriesDate") or "").strip()
    time = str(header.get("AcquisitionTime") or "").strip()
    if not time:
        raise ImagingError(
            f"{where}: AcquisitionTime (0008,0032) is missing; SUV decay correction needs it."
        )
    return _parse_datetime(date, time, "AcquisitionTime", where)


def _series_time(header: Dataset, where: str) -> dt.datetime | None:
    time = str(header.get("SeriesTime") or "").strip()
    if not time:
        return None
    date = str(header.get("SeriesDate") or header.get("AcquisitionDate") or "").strip()
    return _parse_datetime(date, time, "SeriesTime", where)


def _parse_datetime(date: str, time: str, what: str, where: str) -> dt.datetime:
    """DICOM DA (YYYYMMDD, may be empty) + TM (HHMMSS.FFFFFF, or HH:MM:SS in old files)."""
    clean = time.replace(":", "").split("+")[0].split("-")[0]
    try:
        whole, _dot, fraction = clean.partition(".")
        whole = whole.ljust(6, "0")
        moment = dt.time(
            int(whole[:2]), int(whole[2:4]), int(whole[4:6]), int((fraction + "000000")[:6])
        )
        day = dt.datetime.strptime(date, "%Y%m%d").date() if date else dt.date(1900, 1, 1)
    except ValueError:
        raise ImagingError(
            f"{where}: {what} {date!r} {time!r} is not a DICOM date/time; fix the header."
        ) from None
    return dt.datetime.combine(day, moment)


def _frame_reference_start(
    headers: Sequence[Dataset], acquisitions: Sequence[dt.datetime]
) -> dt.datetime | None:
    """Acquisition time - Frame Reference Time, when every slice agrees within a second."""
    starts = []
    for header, acquired in zip(headers, acquisitions, strict=True):
        offset = header.get("FrameReferenceTime")
        if offset is None or str(offset).strip() == "":
            return None
        starts.append(acquired - dt.timedelta(milliseconds=float(offset)))
    spread = (max(starts) - min(starts)).total_seconds()
    return min(starts) if spread <= 1.0 else None
