"""What the offline mapper needs besides frames and poses, and where each piece comes from.

:class:`MappingInputs`: the camera intrinsics, the hand-eye calibration
``cameramarker_from_camera``, the registration in force and the radiometric calibration, each
with its source in words (reported in ``metrics.json``). :func:`resolve_inputs` takes, for each
piece, the first of:

1. an explicit file: ``--intrinsics`` (``igcs-camera-intrinsics``), ``--hand-eye``
   (``igcs-hand-eye``), ``--registration`` (see below), ``--dark-level``/``--flat-field``;
2. what the session recorded: the app's ``session_start`` event (``intrinsics``,
   ``cameramarker_from_camera``) and its last ``registration_accepted`` event
   (``image_from_reference``);
3. the simulator's ground truth (``--truth``, schema ``igcs-simulation-truth``):
   ``camera_intrinsics``, ``cameramarker_from_camera``, the *true* ``image_from_reference`` and
   the synthetic sensor's dark level, flat field and saturation, labelled "simulator ground
   truth" (a real session never has these).

**Registration frames.** igcs registers to the patient reference: the app records
``image_from_reference`` (schema ``igcs-navigation-registration`` or the
``registration_accepted`` event), and the chain is ``image_from_camera = image_from_reference @
reference_from_tracker(t) @ tracker_from_cameramarker(t) @ cameramarker_from_camera``, which
follows the patient if it moves with its reference. A ``reg.json`` from ``igcs register``
stores ``image_from_tracker``: the transform from whatever frame its tracked fiducials were
given in. By default (``registration_frame="reference"``) those are taken to be reference-frame
points (as the app and PLUS's ``PointerToReference`` give them) and the matrix is used as
``image_from_reference``; with ``registration_frame="tracker"`` (fiducials in the tracker's own
frame) the chain is ``image_from_tracker @ tracker_from_cameramarker(t) @
cameramarker_from_camera``, valid only while the patient does not move relative to the tracker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from navigation.fluorescence.field import FieldGeometry
from navigation.fluorescence.model_field import geometry_from_dict
from navigation.tracking.recording import SessionEvent
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError, check_finite
from registration.core.transforms import check_rigid
from registration.hand_eye import HandEye
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.nir_camera import NirSensorModel
from rendering.fluorescence.radiometry import RadiometricCalibration
from rendering.highlights import HighlightDetector

SIMULATION_TRUTH_SCHEMA = "igcs-simulation-truth"
REGISTRATION_FRAMES = ("reference", "tracker")
SIMULATOR_LABEL = "simulator ground truth (--truth)"


@dataclass(frozen=True)
class Registration:
    """The registration in force: ``image_from_frame`` (4, 4), ``frame`` "reference" (the
    patient reference) or "tracker", and where it came from."""

    image_from_frame: Float64Array
    frame: str
    source: str

    def __post_init__(self) -> None:
        if self.frame not in REGISTRATION_FRAMES:
            raise InputError(f"registration frame must be one of {REGISTRATION_FRAMES}.")
        object.__setattr__(
            self, "image_from_frame", check_rigid(self.image_from_frame, "registration")
        )

    @property
    def chain(self) -> str:
        """The pose chain in words."""
        if self.frame == "reference":
            return (
                "image_from_camera = image_from_reference @ reference_from_tracker(t) @ "
                "tracker_from_cameramarker(t) @ cameramarker_from_camera"
            )
        return (
            "image_from_camera = image_from_tracker @ tracker_from_cameramarker(t) @ "
            "cameramarker_from_camera"
        )


@dataclass(frozen=True)
class MappingInputs:
    """Everything the mapper needs besides the session (module docstring)."""

    intrinsics: CameraIntrinsics
    cameramarker_from_camera: Float64Array
    registration: Registration
    radiometry: RadiometricCalibration
    sources: Mapping[str, str]


@dataclass(frozen=True)
class SimulationTruth:
    """The parts of the simulator's truth JSON the mapper and its accuracy report use."""

    path: Path
    intrinsics: CameraIntrinsics
    cameramarker_from_camera: Float64Array
    image_from_reference: Float64Array
    fluorescence: Mapping[str, Any] | None

    def sensor(self) -> NirSensorModel | None:
        """The synthetic sensor model the frames were made with (None if not recorded)."""
        entry = (self.fluorescence or {}).get("nir_sensor")
        return NirSensorModel(**entry) if entry else None

    def geometry(self) -> FieldGeometry | None:
        """The field the simulator's camera looked at (None if not recorded)."""
        entry = (self.fluorescence or {}).get("field")
        return geometry_from_dict(entry) if entry else None


def highlight_detector(
    radiometry: RadiometricCalibration,
    *,
    sensor: NirSensorModel | None = None,
    requested: bool = False,
) -> HighlightDetector | None:
    """The specular/saturation mask settings for a camera, or None when not wanted: asked for
    (``requested``, e.g. ``--highlight-mask``) or implied by a synthetic sensor that renders
    highlights. Dark and saturation levels come from the radiometric calibration, the noise
    model from the sensor when known (the difference frame of ambient subtraction has twice
    the read noise variance)."""
    if not requested and (sensor is None or sensor.specular_dn <= 0):
        return None
    electrons = 4.0 if sensor is None else sensor.electrons_per_dn
    read = 2.0 if sensor is None else sensor.read_noise_dn
    if sensor is not None and sensor.ambient_subtraction:
        read *= 2.0**0.5
    return HighlightDetector(
        dark_level_dn=radiometry.dark_level,
        saturation_dn=radiometry.saturation_level,
        electrons_per_dn=electrons,
        read_noise_dn=read,
    )


def load_simulation_truth(path: str | Path) -> SimulationTruth:
    """Read ``igcs simulate --truth`` output; clear errors for other files."""
    file = Path(path)
    raw = _read_json(file)
    if raw.get("schema") != SIMULATION_TRUTH_SCHEMA:
        raise InputError(
            f"{file} is not a simulator truth file (schema {raw.get('schema')!r}, expected "
            f"{SIMULATION_TRUTH_SCHEMA!r}); write one with `igcs simulate --truth FILE`."
        )
    try:
        return SimulationTruth(
            path=file.resolve(),
            intrinsics=_intrinsics(raw["camera_intrinsics"], str(file)),
            cameramarker_from_camera=check_rigid(
                np.asarray(raw["cameramarker_from_camera"], dtype=np.float64),
                f"{file} cameramarker_from_camera",
            ),
            image_from_reference=check_rigid(
                np.asarray(raw["image_from_reference"], dtype=np.float64),
                f"{file} image_from_reference",
            ),
            fluorescence=raw.get("fluorescence"),
        )
    except KeyError as error:
        raise InputError(f"{file} is missing the field {error.args[0]!r}.") from None


def load_registration(path: str | Path, *, frame: str = "reference") -> Registration:
    """A registration file: the app's (``image_from_reference``) or ``igcs register``'s
    (``image_from_tracker``, read as from ``frame``: see the module docstring)."""
    file = Path(path)
    raw = _read_json(file)
    if frame not in REGISTRATION_FRAMES:
        raise InputError(f"registration frame must be one of {REGISTRATION_FRAMES}; got {frame!r}.")
    if "image_from_reference" in raw:
        matrix = np.asarray(raw["image_from_reference"], dtype=np.float64)
        return Registration(matrix, "reference", f"{file} (image_from_reference)")
    if "image_from_tracker" in raw:
        matrix = np.asarray(raw["image_from_tracker"], dtype=np.float64)
        how = "as image_from_reference" if frame == "reference" else "in the tracker frame"
        return Registration(matrix, frame, f"{file} (igcs register's image_from_tracker, {how})")
    raise InputError(
        f"{file} holds neither image_from_reference nor image_from_tracker; give the JSON "
        "written by `igcs register` or the navigation app."
    )


def recorded_inputs(events: Iterable[SessionEvent]) -> dict[str, Any]:
    """What a session recorded: ``intrinsics``, ``cameramarker_from_camera`` (from
    ``session_start``) and ``image_from_reference`` (the last ``registration_accepted``)."""
    found: dict[str, Any] = {}
    for event in events:
        if event.kind == "session_start":
            if event.data.get("intrinsics"):
                found["intrinsics"] = _intrinsics(event.data["intrinsics"], "session_start")
            if event.data.get("cameramarker_from_camera") is not None:
                found["cameramarker_from_camera"] = np.asarray(
                    event.data["cameramarker_from_camera"], dtype=np.float64
                )
        elif event.kind == "registration_accepted" and "image_from_reference" in event.data:
            found["image_from_reference"] = np.asarray(
                event.data["image_from_reference"], dtype=np.float64
            )
    return found


def resolve_inputs(
    *,
    recorded: Mapping[str, Any],
    intrinsics_path: str | Path | None = None,
    hand_eye_path: str | Path | None = None,
    registration_path: str | Path | None = None,
    registration_frame: str = "reference",
    truth: SimulationTruth | None = None,
    dark_level: float | None = None,
    flat_field_path: str | Path | None = None,
    saturation_level: float | None = None,
) -> MappingInputs:
    """Pick each input by the precedence of the module docstring; InputError naming what is
    missing and how to supply it."""
    sources: dict[str, str] = {}
    if intrinsics_path is not None:
        intrinsics = CameraIntrinsics.load(intrinsics_path)
        sources["intrinsics"] = str(intrinsics_path)
    elif "intrinsics" in recorded:
        intrinsics, sources["intrinsics"] = recorded["intrinsics"], "session (session_start)"
    elif truth is not None:
        intrinsics, sources["intrinsics"] = truth.intrinsics, SIMULATOR_LABEL
    else:
        raise InputError(
            "no camera intrinsics: the session recorded none; give --intrinsics cam.json "
            "(igcs camera-calibration) or, for a simulated session, --truth."
        )
    if hand_eye_path is not None:
        hand_eye = HandEye.load(hand_eye_path).cameramarker_from_camera
        sources["hand_eye"] = str(hand_eye_path)
    elif "cameramarker_from_camera" in recorded:
        hand_eye = recorded["cameramarker_from_camera"]
        sources["hand_eye"] = "session (session_start)"
    elif truth is not None:
        hand_eye, sources["hand_eye"] = truth.cameramarker_from_camera, SIMULATOR_LABEL
    else:
        raise InputError(
            "no hand-eye calibration: the session recorded none; give --hand-eye "
            "hand_eye.json (igcs hand-eye) or, for a simulated session, --truth."
        )
    if registration_path is not None:
        registration = load_registration(registration_path, frame=registration_frame)
    elif "image_from_reference" in recorded:
        registration = Registration(
            recorded["image_from_reference"], "reference", "session (registration_accepted)"
        )
    elif truth is not None:
        registration = Registration(truth.image_from_reference, "reference", SIMULATOR_LABEL)
    else:
        raise InputError(
            "no registration: the session has no accepted registration; give --registration "
            "reg.json (igcs register or the navigation app) or, for a simulated session, --truth."
        )
    sources["registration"] = registration.source
    radiometry, sources["radiometry"] = _radiometry(
        intrinsics, truth, dark_level, flat_field_path, saturation_level
    )
    return MappingInputs(
        intrinsics=intrinsics,
        cameramarker_from_camera=check_rigid(hand_eye, "cameramarker_from_camera"),
        registration=registration,
        radiometry=radiometry,
        sources=sources,
    )


def _radiometry(
    intrinsics: CameraIntrinsics,
    truth: SimulationTruth | None,
    dark_level: float | None,
    flat_field_path: str | Path | None,
    saturation_level: float | None,
) -> tuple[RadiometricCalibration, str]:
    sensor = truth.sensor() if truth is not None else None
    parts = []
    dark = dark_level
    if dark is None and sensor is not None:
        dark = sensor.dark_level_dn
        parts.append(f"dark level {dark:g} DN ({SIMULATOR_LABEL})")
    elif dark is not None:
        parts.append(f"dark level {dark:g} DN (--dark-level)")
    else:
        dark = 0.0
        parts.append("no dark level (0): ratios are biased towards 1 by the sensor offset")
    flat = None
    if flat_field_path is not None:
        try:
            flat = check_finite(np.load(flat_field_path), "flat_field")
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read the flat field {flat_field_path}: {error}") from None
        parts.append(f"flat field {flat_field_path}")
    elif sensor is not None:
        flat = sensor.flat_field(CameraModel(intrinsics))
        parts.append(f"flat field cos^{sensor.vignetting_cos_power:g} ({SIMULATOR_LABEL})")
    else:
        parts.append("no flat field (vignetting uncorrected)")
    saturation = saturation_level
    if saturation is None:
        saturation = float(sensor.saturation_dn) if sensor is not None else 4095.0
    parts.append(f"saturation {saturation:g} DN")
    width, height = intrinsics.image_size_px
    if flat is not None and flat.shape != (height, width):
        raise InputError(
            f"the flat field is {flat.shape[1]}x{flat.shape[0]} but the camera is "
            f"{width}x{height}; use the flat field of this camera and resolution."
        )
    calibration = RadiometricCalibration(
        dark_level=float(dark), flat_field=flat, saturation_level=float(saturation)
    )
    return calibration, "; ".join(parts)


def _intrinsics(data: Any, where: str) -> CameraIntrinsics:
    try:
        return CameraIntrinsics(
            camera_matrix=np.asarray(data["camera_matrix"], dtype=np.float64),
            distortion=np.asarray(data["distortion"], dtype=np.float64),
            image_size_px=(int(data["image_size_px"][0]), int(data["image_size_px"][1])),
            rms_reprojection_px=data.get("rms_reprojection_px"),
        )
    except (KeyError, TypeError, IndexError) as error:
        raise InputError(f"{where}: camera intrinsics are incomplete ({error}).") from None


def _read_json(file: Path) -> dict[str, Any]:
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{file} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{file} is not readable JSON: {error}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{file} does not hold a JSON object.")
    return raw
