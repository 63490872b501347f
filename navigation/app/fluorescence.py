"""Live fluorescence for the navigation app: the mapping thread, the map drawn, its numbers.

The map lives on the plan's exposed surgical field (:mod:`navigation.fluorescence.field`: the
tissue bed and the tumour's exposed dome, the mesh ``igcs fluorescence`` maps onto offline) and
is fused by :class:`~navigation.fluorescence.live.LiveFluorescence` (projection with occlusion,
dark/flat/excitation correction, weighted fusion, SBR over the bed ring). This module adds what
the app needs around it:

- :class:`FluorescenceMapper` runs one thread (the numba kernels of
  :mod:`rendering.fluorescence.rasterizer` are not re-entrant: one mapping thread per process) that
  takes the session's newest camera frame (newest wins: frames that arrive while one is mapped are
  skipped and counted), pairs it with the camera marker pose interpolated at the frame's arrival
  time (:meth:`~navigation.app.session.NavigationSession.camera_track`, the recent
  ``reference_from_cameramarker`` samples; the sender's clock is mapped only for poses, so
  frames and poses are paired on the local arrival clock), and composes

      image_from_camera = image_from_reference @ reference_from_cameramarker(t)
                          @ cameramarker_from_camera                      (hand-eye)

  with the registration in force; a new accepted registration resets the map (samples fused
  under another registration sit on the wrong vertices).
- The field is one more model in the 3-D view (:attr:`FluorescenceMapper.display_model`); the
  snapshot's map is its per-vertex SBR with the margin thresholds of
  :class:`~rendering.fluorescence.metrics.MarginThresholds` (de Wit et al. 2023; tracer- and
  device-specific). Fluorescence on the surface means "fluorophore within a few mm under it",
  never a depth.
- The frame with the model and the map over it is the AR view (:mod:`navigation.app.ar_frame`,
  :mod:`rendering.ar_view`), drawn by VTK through the calibrated camera at native size; the
  frame's pose comes from :func:`navigation.app.ar_frame.camera_pose_at`, as here.
- Metrics (:meth:`FluorescenceState.metrics`): TBR/SBR and CNR with the raw means and the
  regions, the seen and flagged areas, and, when the caller gives an evaluator (the evaluation
  hook, :mod:`navigation.fluorescence.evaluation`: a simulation's or phantom's truth, never
  read here), the Dice and boundary error of the mapped positive region against the true patch
  (:func:`rendering.fluorescence.accuracy.region_accuracy`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from navigation.app.ar_frame import camera_pose_at
from navigation.app.camera_feed import CameraFrame
from navigation.app.session import NavigationSession
from navigation.fluorescence.evaluation import FieldEvaluator
from navigation.fluorescence.field import FieldGeometry, SurgicalField
from navigation.fluorescence.live import LiveFluorescence
from navigation.fluorescence.model_field import mapping_field
from registration.core.checks import Float64Array, InputError
from rendering.fluorescence.accuracy import region_accuracy
from rendering.fluorescence.metrics import (
    CLOSE,
    POSITIVE,
    MarginThresholds,
    Quantification,
    margin_flags,
)
from rendering.fluorescence.radiometry import RadiometricCalibration
from rendering.highlights import HighlightDetector, highlight_mask
from rendering.orientation import CAMERA_PRESETS
from rendering.scene3d import SurfaceModel
from rendering.surface_polydata import polydata_from_surface
from rendering.view_state import FluorescenceOverlay

log = logging.getLogger(__name__)

#: Name of the field's model in the 3-D view.
FIELD_MODEL = "surgical field"
FIELD_RGB = (0.80, 0.62, 0.58)


@dataclass(frozen=True)
class FluorescenceSettings:
    """How the live map is made.

    radiometry : the camera's dark level / flat field / saturation (raw counts).
    thresholds : per-vertex SBR marks (positive, close).
    geometry : the field's bed (default: :func:`navigation.fluorescence.field.field_geometry`
        of the plan, as the simulator builds it).
    evaluator : the truth to score the map against (the evaluation hook; None: not scored).
    highlights : mask specular highlights and saturation in each frame before mapping
        (:mod:`rendering.highlights`), or None.
    pose_wait_s : how long a frame waits for the camera pose after it before being dropped.
    sources : where the camera's intrinsics, hand-eye and radiometry came from (reported).
    """

    radiometry: RadiometricCalibration = field(default_factory=RadiometricCalibration)
    thresholds: MarginThresholds = field(default_factory=MarginThresholds)
    geometry: FieldGeometry | None = None
    evaluator: FieldEvaluator | None = None
    highlights: HighlightDetector | None = None
    pose_wait_s: float = 0.2
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FluorescenceState:
    """What the fluorescence panel and the summary read (immutable).

    frames_mapped, frames_skipped : counts since the last reset (skipped: not registered, no
    pose, superseded by a newer frame). last_problem : why the last frame was not mapped.
    quantification : target vs background statistics, or None before both are seen.
    target_seen_fraction : area share of the target (tumour dome) seen.
    positive_area_mm2, close_area_mm2 : seen area at or above each threshold.
    dice, boundary_error_mm : mapped positive region vs the true patch (None without truth).
    """

    frames_mapped: int
    frames_skipped: int
    last_problem: str
    quantification: Quantification | None
    target_seen_fraction: float
    positive_area_mm2: float
    close_area_mm2: float
    dice: float | None
    boundary_error_mm: float | None
    truth_source: str | None
    thresholds: MarginThresholds

    def metrics(self) -> dict[str, Any]:
        """JSON-ready numbers (the headless summary's ``fluorescence``)."""
        q = self.quantification
        return {
            "frames_mapped": self.frames_mapped,
            "frames_skipped": self.frames_skipped,
            "target_region": None if q is None else q.target_region,
            "background_region": None if q is None else q.background_region,
            "target_mean": None if q is None else _finite(q.target_mean),
            "background_mean": None if q is None else _finite(q.background_mean),
            "background_std": None if q is None else _finite(q.background_std),
            "tbr": None if q is None else _finite(q.sbr),
            "sbr": None if q is None else _finite(q.sbr),
            "cnr": None if q is None else _finite(q.cnr),
            "target_seen_fraction": _finite(self.target_seen_fraction),
            "positive_area_mm2": _finite(self.positive_area_mm2),
            "close_area_mm2": _finite(self.close_area_mm2),
            "dice": self.dice,
            "boundary_error_mm": self.boundary_error_mm,
            "truth_source": self.truth_source,
            "thresholds": {
                "positive_sbr": self.thresholds.positive_sbr,
                "close_sbr": self.thresholds.close_sbr,
                "source": self.thresholds.source,
            },
            "meaning": "fluorophore within a few mm under the surface; not a depth",
        }


class FluorescenceMapper:
    """Maps the session's camera frames in a thread; publishes the map to the session.

    Parameters
    ----------
    session : the source of truth (frames, poses, registration, intrinsics, hand-eye).
    settings : radiometry, thresholds, field geometry, evaluator.
    """

    def __init__(
        self, session: NavigationSession, settings: FluorescenceSettings | None = None
    ) -> None:
        if session.intrinsics is None or session.cameramarker_from_camera is None:
            raise InputError(
                "fluorescence mapping needs the camera intrinsics and the hand-eye calibration "
                "(--camera-intrinsics and --hand-eye, or --simulation-truth)."
            )
        self.session = session
        self.settings = settings or FluorescenceSettings()
        self.field: SurgicalField = mapping_field(
            session.scene.plan,
            geometry=self.settings.geometry,
            evaluator=self.settings.evaluator,
            thresholds=self.settings.thresholds,
        )
        self.live = LiveFluorescence(
            self.field, session.intrinsics, radiometry=self.settings.radiometry
        )
        self._areas = self.field.mesh.vertex_areas()
        self._lock = threading.Lock()
        self._state = self._empty_state()
        self._reset_requested = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_index = 0
        self._mapped = 0
        self._skipped = 0
        # The registration the map was made under (a result whose prediction arrives later is
        # the same registration: only a new matrix resets the map).
        self._registration: np.ndarray | None = None

    @property
    def facing_preset(self) -> str:
        """The 3-D camera preset that looks at the field face-on (against its approach)."""
        approach = self.field.geometry.approach_lps
        return max(
            CAMERA_PRESETS,
            key=lambda name: -float(CAMERA_PRESETS[name].direction_of_projection @ approach),
        )

    @property
    def display_model(self) -> SurfaceModel:
        """The field as a model of the 3-D view (the map is drawn on it)."""
        return SurfaceModel(
            FIELD_MODEL, polydata_from_surface(self.field.mesh), FIELD_RGB, role="other"
        )

    # ------------------------------------------------------------------ control
    def start(self) -> FluorescenceMapper:
        """Compile the mapping kernels (see :meth:`LiveFluorescence.warm_up`), then start the
        mapping thread. Start the mapper before connecting to the tracker."""
        if self._thread is None:
            log.info("fluorescence kernels ready in %.1f s", self.live.warm_up())
            self._thread = threading.Thread(
                target=self._run, name="fluorescence-mapper", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the mapping thread (joined)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("fluorescence mapper did not stop within %.1f s", timeout)

    def reset(self) -> None:
        """Forget the fused map (done by the mapping thread before its next frame; recorded)."""
        self._reset_requested.set()
        self.session.reset_fluorescence()
        if self._thread is None:
            self._apply_reset()

    def state(self) -> FluorescenceState:
        with self._lock:
            return self._state

    def metrics(self) -> dict[str, Any]:
        """The state's numbers (:meth:`FluorescenceState.metrics`) and where the camera's
        calibration came from (``camera``)."""
        return {**self.state().metrics(), "camera": dict(self.settings.sources)}

    def process_pending(self) -> bool:
        """Map the newest frame now if there is a new one (for callers without the thread);
        returns True when a frame was mapped."""
        return self._step()

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                mapped = self._step()
            except Exception:  # never let one bad frame end the mapping
                log.exception("fluorescence mapping failed on a frame")
                mapped = False
            if not mapped:
                self._stop.wait(0.01)

    def _step(self) -> bool:
        accepted = self.session.workflow.accepted
        matrix = None if accepted is None else accepted.image_from_reference
        if matrix is not None and (
            self._registration is None or not np.array_equal(matrix, self._registration)
        ):
            if self._registration is not None:
                self._reset_requested.set()  # samples under the old registration are wrong
            self._registration = matrix
        if self._reset_requested.is_set():
            self._apply_reset()
        frame = self.session.latest_frame
        if frame is None or frame.index == self._last_index:
            return False
        waited_s = self.session.clock() - frame.arrival_s
        pose = camera_pose_at(
            self.session, accepted, frame.arrival_s,
            wait_for_later=waited_s < self.settings.pose_wait_s,
        )  # fmt: skip
        if pose.pending:
            return False  # the pose after the frame is on its way
        if pose.image_from_camera is None:
            return self._skip(frame, pose.problem)
        self._map(frame, pose.image_from_camera)
        return True

    def _skip(self, frame: CameraFrame, why: str) -> bool:
        self._skipped += frame.index - self._last_index
        self._last_index = frame.index
        with self._lock:
            self._state = replace(
                self._state,
                frames_mapped=self._mapped,
                frames_skipped=self._skipped,
                last_problem=why,
            )
        return False

    def _map(self, frame: CameraFrame, image_from_camera: Float64Array) -> None:
        self._skipped += max(0, frame.index - self._last_index - 1)  # superseded frames
        self._last_index = frame.index
        detector = self.settings.highlights
        mask = None if detector is None else highlight_mask(frame.pixels, detector)
        try:
            self.live.add_frame(
                frame.pixels,
                timestamp_s=frame.arrival_s,
                image_from_camera=image_from_camera,
                mask=mask,
            )
        except InputError as error:
            self._skip(frame, str(error))
            self._skipped += 1
            return
        self._mapped += 1
        state, view_map = self._measure()
        with self._lock:
            self._state = state
        self.session.set_fluorescence(view_map)

    def _measure(self) -> tuple[FluorescenceState, FluorescenceOverlay | None]:
        fused = self.live.snapshot()
        quantification = self.live.quantification(fused)
        areas = self._areas
        target = self.field.target_mask
        seen_fraction = float(areas[target & fused.seen].sum() / areas[target].sum())
        limits = self.settings.thresholds
        view_map = None
        positive = close = math.nan
        dice = boundary = None
        if quantification is not None and quantification.background_mean > 0:
            sbr = fused.mean / quantification.background_mean
            view_map = FluorescenceOverlay(
                FIELD_MODEL,
                sbr,
                thresholds=limits,
                quantity="SBR",
            )
            flags = margin_flags(fused.mean, quantification.background_mean, thresholds=limits)
            positive = float(areas[flags == POSITIVE].sum())
            close = float(areas[flags == CLOSE].sum())
            if self.field.truth is not None:
                accuracy = region_accuracy(
                    self.field.mesh, sbr, self.field.truth.true_sbr, level=limits.positive_sbr
                )
                dice = _finite(accuracy.dice)
                boundary = _finite(accuracy.boundary_error_mm)
        state = FluorescenceState(
            frames_mapped=self._mapped,
            frames_skipped=self._skipped,
            last_problem="" if quantification is not None else "background ring not seen yet",
            quantification=quantification,
            target_seen_fraction=seen_fraction,
            positive_area_mm2=positive,
            close_area_mm2=close,
            dice=dice,
            boundary_error_mm=boundary,
            truth_source=None if self.field.truth is None else self.field.truth.source,
            thresholds=limits,
        )
        return state, view_map

    def _apply_reset(self) -> None:
        self._reset_requested.clear()
        self.live.reset()
        self._mapped = 0
        self._skipped = 0
        with self._lock:
            self._state = self._empty_state()
        self.session.set_fluorescence(None)

    def _empty_state(self) -> FluorescenceState:
        return FluorescenceState(
            0, 0, "", None, 0.0, math.nan, math.nan, None, None,
            None if self.field.truth is None else self.field.truth.source,
            self.settings.thresholds,
        )  # fmt: skip


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
