"""Live fluorescence mapping for the navigation app: the pose chain and one fuse step per frame.

The map lives on the plan's exposed-field mesh (:func:`navigation.fluorescence.field.build_field`,
the same mesh ``igcs fluorescence`` maps onto offline). Per new camera frame at time ``t``:

1. ``tracker_from_cameramarker(t)`` and ``tracker_from_reference(t)``: the tools' poses at the
   frame's time. Frames and poses are not simultaneous: interpolate them at ``t`` with a
   :class:`~registration.pose_interpolation.PoseTrack` over the recent OK samples when the
   history is at hand; the newest OK pose is acceptable only when it is within about one frame
   period of ``t`` (at 30 deg/s of camera rotation, 33 ms of lag moves the map ~0.5 mm at
   300 mm). Never use a tool that is not OK (out of view, stale, invalid).
2. ``image_from_camera = image_from_reference @ reference_from_tracker(t) @
   tracker_from_cameramarker(t) @ cameramarker_from_camera`` (:func:`live_camera_pose`):
   the registration in force (to the patient reference), the reference and camera-marker poses,
   the hand-eye calibration.
3. ``sample = projector.project(frame, image_from_camera, timestamp_s=t)`` and
   ``fmap.fuse(sample)``: :class:`LiveFluorescence` does both under a lock and keeps the map's
   quantification (SBR over the background ring, per-vertex SBR for colouring).

Reset the map when the registration changes: samples fused under another registration sit on
the wrong vertices.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from numpy.typing import ArrayLike

from navigation.fluorescence.field import SurgicalField
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import check_rigid, invert_rigid
from registration.pose_interpolation import compose_camera_pose
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.fusion import FluorescenceMap, FusedFluorescence
from rendering.fluorescence.metrics import Quantification, quantify
from rendering.fluorescence.nir_camera import image_from_camera_looking_at
from rendering.fluorescence.projection import FrameProjector, FrameSample
from rendering.fluorescence.radiometry import RadiometricCalibration


def live_camera_pose(
    *,
    image_from_reference: ArrayLike,
    tracker_from_reference: ArrayLike,
    tracker_from_cameramarker: ArrayLike,
    cameramarker_from_camera: ArrayLike,
) -> Float64Array:
    """(4, 4) ``image_from_camera`` from the registration, the reference and camera-marker
    poses at the frame's time and the hand-eye calibration (module docstring, step 2)."""
    image_from_tracker = check_rigid(image_from_reference, "image_from_reference") @ invert_rigid(
        check_rigid(tracker_from_reference, "tracker_from_reference")
    )
    return compose_camera_pose(
        image_from_tracker=image_from_tracker,
        tracker_from_cameramarker=tracker_from_cameramarker,
        cameramarker_from_camera=cameramarker_from_camera,
    )


class LiveFluorescence:
    """The live map on a field mesh: project + fuse per frame, thread-safe.

    field_ : the mapping mesh and its regions. intrinsics : the NIR camera.
    radiometry : its dark level, flat field and saturation (default: none, 12-bit saturation).
    """

    def __init__(
        self,
        field_: SurgicalField,
        intrinsics: CameraIntrinsics,
        *,
        radiometry: RadiometricCalibration | None = None,
    ) -> None:
        self.field = field_
        self.projector = FrameProjector(
            field_.mesh,
            CameraModel(intrinsics),
            calibration=radiometry or RadiometricCalibration(),
        )
        self._map = FluorescenceMap(field_.mesh.vertex_count)
        self._lock = threading.Lock()

    @property
    def frame_count(self) -> int:
        """Frames fused since the last reset."""
        return self._map.frame_count

    def add_frame(
        self,
        pixels: ArrayLike,
        *,
        timestamp_s: float,
        image_from_camera: ArrayLike,
        mask: ArrayLike | None = None,
    ) -> FrameSample:
        """Project one raw (H, W) frame from ``image_from_camera`` and fuse it; returns the
        frame's samples (``sample.sampled`` says which vertices it saw)."""
        with self._lock:
            sample = self.projector.project(
                pixels, image_from_camera, timestamp_s=timestamp_s, mask=mask
            )
            self._map.fuse(sample)
        return sample

    def warm_up(self) -> float:
        """Run the mapping once on a dark uint16 frame seen from 300 mm along the field's
        approach, into a throwaway map, and return the seconds it took.

        numba compiles the kernels on first use (tens of seconds in a fresh checkout, holding
        the GIL): done while tracking streams, it starves the transport thread and the tools go
        STALE. Call this before connecting. The live map is untouched."""
        started = time.perf_counter()
        geometry = self.field.geometry
        centre = geometry.floor_point_lps_mm
        helper = np.array([0.0, 0.0, 1.0])
        if abs(float(helper @ geometry.approach_lps)) > 0.9:
            helper = np.array([0.0, 1.0, 0.0])
        image_from_camera = image_from_camera_looking_at(
            centre + 300.0 * geometry.approach_lps, centre, up_in_image=helper
        )
        width, height = self.projector.camera.image_size_px
        dark = np.zeros((height, width), dtype=np.uint16)
        with self._lock:
            self.field.mesh.bvh()
            sample = self.projector.project(dark, image_from_camera, timestamp_s=0.0)
            FluorescenceMap(self.field.mesh.vertex_count).fuse(sample)
        return time.perf_counter() - started

    def reset(self) -> None:
        """Forget every sample (e.g. after a new registration)."""
        with self._lock:
            self._map.reset()

    def snapshot(self) -> FusedFluorescence:
        """An immutable copy of the fused map."""
        with self._lock:
            return self._map.snapshot()

    def quantification(self, fused: FusedFluorescence | None = None) -> Quantification | None:
        """SBR/CNR of the field's target over its background ring; None until both are seen."""
        values = (fused or self.snapshot()).mean
        field_ = self.field
        try:
            return quantify(
                values,
                field_.target_mask,
                field_.background_mask,
                target_region=field_.target_region,
                background_region=field_.background_region,
                vertex_areas=field_.mesh.vertex_areas(),
            )
        except InputError:
            return None

    def vertex_sbr(self) -> Float64Array:
        """(N,) per-vertex SBR over the background ring's mean (NaN where unseen, and
        everywhere until the ring has been seen): the values to colour."""
        fused = self.snapshot()
        stats = self.quantification(fused)
        if stats is None or not stats.background_mean > 0:
            return np.full(fused.mean.shape, np.nan)
        return fused.mean / stats.background_mean
