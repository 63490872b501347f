"""The pointer tip calibration in use: the tip in the pointer frame (mm), where it came from,
and the fiducial collector built on it.

Two sources, in order of precedence: the configuration (``--pointer-tip``), then the tracker's
``PointerTipToPointer`` STRING (PLUS sends the pivot calibration as a 4x4 matrix in text). A
tracker tip that differs from the configured one by more than 0.5 mm is reported and ignored;
a malformed STRING is reported and ignored. Every tip put in use is recorded
(``tip_calibration``) through the callback the session gives.

Not thread-safe on its own: the session calls it under its lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from navigation.app.config import NavigationConfig
from navigation.tracking.fiducial_collection import FiducialCollector
from navigation.tracking.messages import IgtlMessage, StringBody
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import check_rigid

log = logging.getLogger(__name__)


class TipCalibration:
    """The tip in use (``tip``, read-only (3,) or None), its ``source`` and the ``collector``
    that averages it over a still window (None until a tip is known).

    on_change : called with (tip, source) whenever a tip is put in use (the session records it).
    """

    def __init__(
        self, config: NavigationConfig, on_change: Callable[[Float64Array, str], None]
    ) -> None:
        self._config = config
        self._on_change = on_change
        self.tip: Float64Array | None = None
        self.source = ""
        self.collector: FiducialCollector | None = None
        if config.pointer_tip_mm is not None:
            self.set(np.asarray(config.pointer_tip_mm), "configuration")

    def take_string(self, message: IgtlMessage) -> None:
        """Use the tip of a ``PointerTipToPointer`` STRING unless the configuration's holds."""
        body = message.body
        if not isinstance(body, StringBody):
            return
        try:
            values = np.array([float(v) for v in body.text.split()], dtype=np.float64)
            pointer_from_tip = check_rigid(values.reshape(4, 4), "PointerTipToPointer")
        except (ValueError, InputError) as error:
            log.warning("ignoring tip calibration STRING %r: %s", body.text[:80], error)
            return
        tip = pointer_from_tip[:3, 3]
        if self.tip is not None and self.source == "configuration":
            if np.linalg.norm(tip - self.tip) > 0.5:
                log.warning(
                    "the tracker's tip calibration %s differs from --pointer-tip %s; using "
                    "--pointer-tip",
                    np.round(tip, 2).tolist(),
                    np.round(self.tip, 2).tolist(),
                )
            return
        if self.tip is None or not np.array_equal(tip, self.tip):
            self.set(tip, message.device_name)

    def set(self, tip: Float64Array, source: str) -> None:
        """Put ``tip`` in use: a new collector on it; reported to ``on_change``."""
        self.tip = np.array(tip, dtype=np.float64)
        self.tip.setflags(write=False)
        self.source = source
        config = self._config
        self.collector = FiducialCollector(
            self.tip,
            window_samples=config.collect_window_samples,
            max_spread_mm=config.collect_max_spread_mm,
            max_gap_s=max(0.25, config.stale_timeout_s),
        )
        self._on_change(self.tip, source)
