"""Live fluorescence for the navigation app: frames onto the model, the fused map, TBR/SBR/CNR.

:class:`FluorescenceMapper` runs one thread (the numba kernels of :mod:`rendering.rasterizer`
are not re-entrant: one mapping thread per process) that takes the session's newest camera
frame (newest wins: frames that arrive while one is mapped are skipped and counted), pairs it
with the camera marker pose interpolated at the frame's arrival time
(:class:`~registration.pose_interpolation.PoseTrack`; the sender's clock is mapped only for
poses, so frames and poses are paired on the local arrival clock), composes

    image_from_camera = image_from_reference @ reference_from_cameramarker
                        @ cameramarker_from_camera                      (hand-eye)

with the registration in force, and projects the frame
(:class:`~rendering.fluorescence_projection.FrameProjector`: occlusion, dark/flat, excitation
correction) onto two plan models, fusing each into its
:class:`~rendering.fluorescence_map.FluorescenceMap`:

- the target model (default the tumour): the map drawn in the 3-D view;
- the background model (default the skin): the background region.

Quantification (:func:`~rendering.fluorescence_metrics.quantify`): target region = the target
model's seen vertices, background region = the background model's seen vertices (both stated
in the result), area-weighted; the 3-D view shows the per-vertex SBR (fused value / background
mean) with the margin thresholds of :class:`~rendering.fluorescence_metrics.MarginThresholds`
(de Wit et al. 2023; tracer- and device-specific). Each model's visibility is computed within
that model (the target is mapped as exposed, as in the resection bed; another model does not
occlude it). Fluorescence on the surface means "fluorophore within a few mm under it", never a
depth.

The mapper also makes the panel's pictures: the live frame (8-bit, windowed at the 1st-99.5th
percentile) and the AR view: the same frame with the target's and background's visible vertices
drawn where the calibrated camera model projects them (the model drawn over the frame).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field, replace

import numpy as np
import pyvista as pv
from scipy.ndimage import binary_dilation

from navigation.app.plan_scene import outward_normals
from navigation.app.session import CameraFrame, NavigationSession
from registration.checks import Float64Array, InputError
from rendering.camera_model import CameraModel
from rendering.fluorescence_map import FluorescenceMap
from rendering.fluorescence_metrics import MarginThresholds, Quantification, quantify
from rendering.fluorescence_projection import FrameProjector
from rendering.radiometry import RadiometricCalibration
from rendering.surface_mesh import SurfaceMesh
from rendering.view_state import FluorescenceMap as ViewFluorescence

log = logging.getLogger(__name__)

TARGET_RGB = np.array([255, 40, 40], dtype=np.uint8)
BACKGROUND_RGB = np.array([60, 200, 255], dtype=np.uint8)


@dataclass(frozen=True)
class FluorescenceSettings:
    """What the live map is made of.

    target_model : plan model the map is drawn on (None: the plan's tumour model).
    background_model : plan model whose seen part is the background region (None: no SBR).
    calibration : the camera's dark level / flat field / saturation (raw counts).
    thresholds : per-vertex SBR marks (positive, close).
    pose_wait_s : how long a frame waits for the camera pose after it before being dropped.
    """

    target_model: str | None = None
    background_model: str | None = "skin"
    calibration: RadiometricCalibration = field(default_factory=RadiometricCalibration)
    thresholds: MarginThresholds = field(default_factory=MarginThresholds)
    pose_wait_s: float = 0.2


@dataclass(frozen=True)
class FluorescenceState:
    """What the fluorescence panel and the summary read (immutable).

    frames_mapped, frames_skipped : counts since the last reset (skipped: not registered, no
    pose, superseded by a newer frame). last_problem : why the last frame was not mapped.
    quantification : target vs background statistics, or None. target_seen_fraction : area
    fraction of the target model seen. positive_fraction, close_fraction : area fractions of
    the seen target at or above the thresholds. live_rgb, ar_rgb : (H, W, 3) uint8 pictures
    of the last frame (None before one).
    """

    frames_mapped: int
    frames_skipped: int
    last_problem: str
    quantification: Quantification | None
    target_seen_fraction: float
    positive_fraction: float
    close_fraction: float
    live_rgb: np.ndarray | None
    ar_rgb: np.ndarray | None
    target_model: str
    background_model: str | None
    thresholds: MarginThresholds

    def metrics(self) -> dict[str, object]:
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
            "positive_fraction": _finite(self.positive_fraction),
            "close_fraction": _finite(self.close_fraction),
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
    settings : models, calibration, thresholds.
    """

    def __init__(
        self, session: NavigationSession, settings: FluorescenceSettings | None = None
    ) -> None:
        if session.intrinsics is None or session.cameramarker_from_camera is None:
            raise InputError(
                "fluorescence mapping needs the camera intrinsics and the hand-eye calibration "
                "(--camera-intrinsics, --hand-eye)."
            )
        self.session = session
        self.settings = settings or FluorescenceSettings()
        scene = session.scene
        target = self.settings.target_model or scene.tumour_model
        if target is None:
            raise InputError("the plan has no tumour model; name the fluorescence target model.")
        self.target_name = target
        self.background_name = self.settings.background_model
        if self.background_name == target:
            raise InputError("the fluorescence target and background models must differ.")
        self.camera = CameraModel(session.intrinsics)
        self._target_mesh = _surface_mesh(scene.model(target).mesh, f"model {target!r}")
        self._target_areas = self._target_mesh.vertex_areas()
        self._target_projector = FrameProjector(
            self._target_mesh, self.camera, calibration=self.settings.calibration
        )
        self._target_map = FluorescenceMap(self._target_mesh.vertex_count)
        self._background_mesh: SurfaceMesh | None = None
        self._background_projector: FrameProjector | None = None
        self._background_map: FluorescenceMap | None = None
        if self.background_name is not None:
            self._background_mesh = _surface_mesh(
                scene.model(self.background_name).mesh, f"model {self.background_name!r}"
            )
            self._background_areas = self._background_mesh.vertex_areas()
            self._background_projector = FrameProjector(
                self._background_mesh, self.camera, calibration=self.settings.calibration
            )
            self._background_map = FluorescenceMap(self._background_mesh.vertex_count)
        self._lock = threading.Lock()
        self._state = self._empty_state()
        self._reset_requested = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_index = 0
        self._mapped = 0
        self._skipped = 0

    # ------------------------------------------------------------------ control
    def start(self) -> FluorescenceMapper:
        """Start the mapping thread."""
        if self._thread is None:
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
        """Forget the fused map (done by the mapping thread before its next frame)."""
        self._reset_requested.set()
        self.session.reset_fluorescence()
        if self._thread is None:
            self._apply_reset()

    def state(self) -> FluorescenceState:
        with self._lock:
            return self._state

    def process_pending(self) -> bool:
        """Map the newest frame now if there is a new one (for callers without the thread,
        e.g. tests); returns True when a frame was mapped."""
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
        if self._reset_requested.is_set():
            self._apply_reset()
        frame = self.session.latest_frame
        if frame is None or frame.index == self._last_index:
            return False
        accepted = self.session.workflow.accepted
        if accepted is None:
            return self._skip(frame, "not registered")
        track = self.session.camera_track(frame.arrival_s)
        if track is None:
            return self._skip(frame, f"camera {self.session.config.camera} not tracked")
        if track.timestamps_s[-1] < frame.arrival_s:
            if self.session.clock() - frame.arrival_s < self.settings.pose_wait_s:
                return False  # the pose after the frame is on its way
        try:
            reference_from_marker = track.at(frame.arrival_s)
        except InputError as error:
            return self._skip(frame, f"no camera pose at the frame's time: {error}")
        assert self.session.cameramarker_from_camera is not None
        image_from_camera = (
            accepted.image_from_reference
            @ reference_from_marker
            @ self.session.cameramarker_from_camera
        )
        self._map(frame, image_from_camera)
        return True

    def _skip(self, frame: CameraFrame, why: str) -> bool:
        skipped = frame.index - self._last_index
        self._last_index = frame.index
        self._skipped += skipped
        with self._lock:
            self._state = _replace_counts(self._state, self._mapped, self._skipped, why)
        return False

    def _map(self, frame: CameraFrame, image_from_camera: Float64Array) -> None:
        self._skipped += max(0, frame.index - self._last_index - 1)  # superseded frames
        self._last_index = frame.index
        pixels = frame.pixels
        try:
            target = self._target_projector.project(
                pixels, image_from_camera, timestamp_s=frame.arrival_s
            )
            background = None
            if self._background_projector is not None:
                background = self._background_projector.project(
                    pixels, image_from_camera, timestamp_s=frame.arrival_s
                )
        except InputError as error:
            self._skipped += 1
            with self._lock:
                self._state = _replace_counts(self._state, self._mapped, self._skipped, str(error))
            return
        self._target_map.fuse(target)
        if background is not None and self._background_map is not None:
            self._background_map.fuse(background)
        self._mapped += 1
        live = _windowed(pixels)
        ar = _overlay(live, target.visibility.pixels_uv[target.visibility.visible], TARGET_RGB)
        if background is not None:
            uv = background.visibility.pixels_uv[background.visibility.visible]
            ar = _overlay(ar, uv, BACKGROUND_RGB, alpha=0.25)
        state, view_map = self._quantify(live, ar)
        with self._lock:
            self._state = state
        self.session.set_fluorescence(view_map)

    def _quantify(
        self, live: np.ndarray, ar: np.ndarray
    ) -> tuple[FluorescenceState, ViewFluorescence | None]:
        fused = self._target_map.snapshot()
        seen = fused.seen
        areas = self._target_areas
        seen_fraction = float(areas[seen].sum() / areas.sum())
        quantification = None
        view_map = None
        problem = ""
        positive = close = math.nan
        if self._background_map is not None and self._background_mesh is not None:
            background = self._background_map.snapshot()
            values = np.concatenate([fused.mean, background.mean])
            n_target = len(fused.mean)
            target_mask = np.zeros(len(values), dtype=bool)
            target_mask[:n_target] = True
            try:
                quantification = quantify(
                    values,
                    target_mask,
                    ~target_mask,
                    target_region=f"{self.target_name} model, seen part",
                    background_region=f"{self.background_name} model, seen part",
                    vertex_areas=np.concatenate([areas, self._background_areas]),
                )
            except InputError as error:
                problem = str(error)
                quantification = None
            if quantification is not None and quantification.background_mean > 0:
                sbr = fused.mean / quantification.background_mean
                thresholds = self.settings.thresholds
                view_map = ViewFluorescence(
                    self.target_name,
                    sbr,
                    positive_threshold=thresholds.positive_sbr,
                    close_threshold=thresholds.close_sbr,
                    quantity="SBR",
                )
                seen_area = areas[seen].sum()
                if seen_area > 0:
                    positive = float(areas[seen & (sbr >= thresholds.positive_sbr)].sum()
                                     / seen_area)  # fmt: skip
                    close = float(areas[seen & (sbr >= thresholds.close_sbr)].sum() / seen_area)
        state = FluorescenceState(
            frames_mapped=self._mapped,
            frames_skipped=self._skipped,
            last_problem=problem,
            quantification=quantification,
            target_seen_fraction=seen_fraction,
            positive_fraction=positive,
            close_fraction=close,
            live_rgb=live,
            ar_rgb=ar,
            target_model=self.target_name,
            background_model=self.background_name,
            thresholds=self.settings.thresholds,
        )
        return state, view_map

    def _apply_reset(self) -> None:
        self._reset_requested.clear()
        self._target_map.reset()
        if self._background_map is not None:
            self._background_map.reset()
        self._mapped = 0
        self._skipped = 0
        with self._lock:
            self._state = self._empty_state()
        self.session.set_fluorescence(None)

    def _empty_state(self) -> FluorescenceState:
        return FluorescenceState(
            0, 0, "", None, 0.0, math.nan, math.nan, None, None,
            self.target_name, self.background_name, self.settings.thresholds,
        )  # fmt: skip


def _surface_mesh(mesh: pv.PolyData, name: str) -> SurfaceMesh:
    """The model's full-resolution mesh with outward normals (same vertices, same order)."""
    return SurfaceMesh(*outward_normals(mesh, name))


def _windowed(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 grey picture of a raw frame, windowed at its 1st-99.5th percentile."""
    values = np.asarray(pixels, dtype=np.float32)
    low, high = np.percentile(values[::4, ::4], [1.0, 99.5])
    scaled = np.clip((values - low) / max(float(high - low), 1.0), 0.0, 1.0)
    grey = np.rint(scaled * 255.0).astype(np.uint8)
    return np.repeat(grey[:, :, np.newaxis], 3, axis=2)


def _overlay(
    picture: np.ndarray, uv: np.ndarray, rgb: np.ndarray, *, alpha: float = 0.55
) -> np.ndarray:
    """The picture with the pixels at (u, v) (dilated by one pixel) tinted with ``rgb``."""
    height, width, _ = picture.shape
    result = picture.copy()
    finite = np.isfinite(uv).all(axis=1)
    columns = np.rint(uv[finite, 0]).astype(int)
    rows = np.rint(uv[finite, 1]).astype(int)
    inside = (columns >= 0) & (columns < width) & (rows >= 0) & (rows < height)
    mask = np.zeros((height, width), dtype=bool)
    mask[rows[inside], columns[inside]] = True
    mask = binary_dilation(mask, iterations=1)
    tinted = (1.0 - alpha) * result[mask].astype(np.float32) + alpha * rgb.astype(np.float32)
    result[mask] = np.rint(tinted).astype(np.uint8)
    return result


def _replace_counts(
    state: FluorescenceState, mapped: int, skipped: int, problem: str
) -> FluorescenceState:
    return replace(state, frames_mapped=mapped, frames_skipped=skipped, last_problem=problem)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
