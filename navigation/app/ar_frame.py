"""The AR view fed from the session: the newest camera frame at the camera's tracked pose.

:func:`camera_pose_at` is the one place the app composes a camera frame's pose (the
fluorescence mapper uses it too)::

    image_from_camera = image_from_reference @ reference_from_cameramarker(t)
                        @ cameramarker_from_camera                      (hand-eye)

with ``reference_from_cameramarker`` interpolated at the frame's local arrival time ``t``
(:meth:`~navigation.app.session.NavigationSession.camera_track`; frames and poses are paired on
the arrival clock) and the registration in force.

:class:`ARPresenter` owns a :class:`~rendering.ar_view.ARView` in a renderer it is given (the
Qt AR widget's, or an offscreen window for ``igcs navigate --headless``) and redraws it when a
new frame can be placed: the frame is undistorted with the camera model (OpenCV remap) so the
pinhole projection of the model matches it. A frame whose pose is not yet in (the marker
sample after it is on its way) is retried on the next call; the view keeps the last frame it
could place, and says why a newer one is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vtk

from navigation.app.camera_feed import CameraFrame
from navigation.app.registration_workflow import RegistrationResult
from navigation.app.session import NavigationSession
from registration.core.checks import Float64Array, InputError
from rendering.ar_view import ARView, frame_rgb
from rendering.fluorescence.camera_model import CameraModel
from rendering.scene3d import SurfaceModel
from rendering.view_state import FluorescenceOverlay


@dataclass(frozen=True)
class CameraPose:
    """A frame's camera pose, or why there is none.

    image_from_camera : (4, 4) camera (OpenCV frame) to image LPS, or None.
    problem : why there is none ("" when found). pending : the marker pose after the frame has
    not arrived yet (try again shortly).
    """

    image_from_camera: Float64Array | None
    problem: str = ""
    pending: bool = False


def camera_pose_at(
    session: NavigationSession,
    accepted: RegistrationResult | None,
    arrival_s: float,
    *,
    wait_for_later: bool,
) -> CameraPose:
    """The camera's pose at a frame's local arrival time (module docstring).

    wait_for_later : when the newest marker pose is older than the frame, report ``pending``
        instead of extrapolating or failing.
    """
    if accepted is None:
        return CameraPose(None, "not registered")
    hand_eye = session.cameramarker_from_camera
    if hand_eye is None:
        return CameraPose(None, "no hand-eye calibration")
    track = session.camera_track(arrival_s)
    if track is None:
        return CameraPose(None, f"camera {session.config.camera} not tracked")
    if wait_for_later and track.timestamps_s[-1] < arrival_s:
        return CameraPose(None, "", pending=True)
    try:
        reference_from_marker = track.at(arrival_s)
    except InputError as error:
        return CameraPose(None, f"no camera pose at the frame's time: {error}")
    return CameraPose(accepted.image_from_reference @ reference_from_marker @ hand_eye)


class ARPresenter:
    """Draws the session's newest placeable camera frame into ``renderer`` with the models.

    models : the plan's models (tumour and nodes are drawn) and the fluorescence field's.
    """

    def __init__(
        self,
        session: NavigationSession,
        renderer: vtk.vtkRenderer,
        models: list[SurfaceModel],
    ) -> None:
        if session.intrinsics is None:
            raise InputError("the AR view needs the camera intrinsics (--camera-intrinsics).")
        self.session = session
        self.camera = CameraModel(session.intrinsics)
        self.view = ARView(renderer, models)
        self.shown_index = 0
        self.note = "no camera frame yet"
        self._map: FluorescenceOverlay | None = None
        self.view.update(None, None, session.intrinsics, caption=self.note)

    def refresh(self, *, wait: bool = True, viewport_changed: bool = False) -> bool:
        """Show the newest frame if it is new and placeable (or the map or the viewport's size
        changed); True when the view changed and needs a render. ``wait``: leave a frame whose
        pose after it has not arrived for a later call (else place it with the poses there
        are)."""
        intrinsics = self.session.intrinsics
        assert intrinsics is not None
        fluorescence = self.session.live_state().fluorescence
        frame = self.session.latest_frame
        map_changed = fluorescence is not self._map
        if frame is None or frame.index == self.shown_index:
            if viewport_changed and self.shown_index:
                self.view.fit_viewport()
                return True
            if map_changed and self.shown_index:
                self._map = fluorescence
                self.view.set_map(fluorescence)
                return True
            return False
        pose = camera_pose_at(
            self.session,
            self.session.workflow.accepted,
            frame.arrival_s,
            wait_for_later=wait and self.session.clock() - frame.arrival_s < 0.5,
        )
        if pose.pending:
            return False
        if pose.image_from_camera is None:
            self.note = f"frame {frame.index} not placed: {pose.problem}"
            self.view.caption.SetInput(self.note)
            return True
        self._show(frame, pose.image_from_camera, fluorescence)
        return True

    def _show(
        self,
        frame: CameraFrame,
        image_from_camera: Float64Array,
        fluorescence: FluorescenceOverlay | None,
    ) -> None:
        undistorted = self.camera.undistort_frame(np.asarray(frame.pixels, dtype=np.float32))
        self.shown_index = frame.index
        self._map = fluorescence
        self.note = f"frame {frame.index} at the camera's tracked pose"
        assert self.session.intrinsics is not None
        self.view.update(
            frame_rgb(undistorted),
            image_from_camera,
            self.session.intrinsics,
            fluorescence=fluorescence,
            caption=self.note,
        )
