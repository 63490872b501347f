"""Configuration of a navigation session: tool names, thresholds, the FLE assumed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from navigation.tracking.device_names import CAMERA_IMAGE_DEVICE, TIP_CALIBRATION_DEVICE
from registration.core.checks import InputError, check_positive


@dataclass(frozen=True)
class NavigationConfig:
    """What the app needs to know about the tracking set-up and the surgeon's thresholds.

    Tool names are frame names of PLUS transform names: the pointer arrives as
    ``{pointer}To{tracker}`` (``tracker_from_pointer``), the patient reference as
    ``{reference}To{tracker}``, the NIR camera's marker body as ``{camera}To{tracker}``.

    Attributes
    ----------
    pointer, reference, camera, tracker : frame names (badges show the first three).
    fle_rms_mm : fiducial localisation error assumed for TRE predictions (RMS 3-D, mm); 1 mm
        is the worked head-and-neck example (6 fiducials on zygoma, nasion and mandible) for
        Fitzpatrick, West & Maurer 1998.
    margin_warning_mm : the guidance warns when the tip is closer to the tumour than this.
    pointer_tip_mm : (3,) tip in the pointer frame (pivot calibration), or None to take it
        from the STRING ``tip_calibration_device`` (16 numbers, row-major ``pointer_from_tip``)
        when the tracker sends one.
    tip_calibration_device, camera_image_device : device names of the tip STRING and the
        camera's IMAGE frames.
    collect_window_samples, collect_max_spread_mm : a fiducial is the mean tip over this many
        consecutive still samples with at most this RMS spread.
    stale_timeout_s : a tool not updated for longer is STALE. 150 ms here, below the pose
        store's 250 ms default (IBIS uses 0.2 s, CustusX 0.5 s), so that a lost tool is *on
        screen* as STALE within 300 ms with a software renderer taking 40-80 ms a frame: 150 ms is
        4-9 missed samples of a 30-60 Hz tracker; raise it for a tracker streaming slower than
        about 20 Hz (``--stale-ms``).
    history_s : pointer poses kept for automatic registration (s).
    """

    pointer: str = "Pointer"
    reference: str = "Reference"
    camera: str = "Camera"
    tracker: str = "Tracker"
    fle_rms_mm: float = 1.0
    margin_warning_mm: float = 5.0
    pointer_tip_mm: tuple[float, float, float] | None = None
    tip_calibration_device: str = TIP_CALIBRATION_DEVICE
    camera_image_device: str = CAMERA_IMAGE_DEVICE
    collect_window_samples: int = 20
    collect_max_spread_mm: float = 0.5
    stale_timeout_s: float = 0.15
    history_s: float = 180.0

    def __post_init__(self) -> None:
        names = [self.pointer, self.reference, self.camera, self.tracker]
        if len(set(names)) != len(names) or not all(n and "To" not in n for n in names):
            raise InputError(
                f"tool names must be distinct, non-empty and free of 'To'; got {names}."
            )
        for name in ("fle_rms_mm", "margin_warning_mm", "collect_max_spread_mm"):
            check_positive(getattr(self, name), name)
        check_positive(self.stale_timeout_s, "stale_timeout_s")
        check_positive(self.history_s, "history_s")
        if int(self.collect_window_samples) < 2:
            raise InputError("collect_window_samples must be at least 2.")
        if self.pointer_tip_mm is not None:
            tip = np.asarray(self.pointer_tip_mm, dtype=np.float64)
            if tip.shape != (3,) or not np.isfinite(tip).all():
                raise InputError(f"pointer_tip_mm must be 3 finite numbers; got {tip.tolist()}.")
            object.__setattr__(self, "pointer_tip_mm", tuple(float(v) for v in tip))

    def transform_name(self, tool: str) -> str:
        """The PLUS name of a tool's pose: ``{tool}To{tracker}``."""
        return f"{tool}To{self.tracker}"
