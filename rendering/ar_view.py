"""The AR view: the plan's model drawn over the live camera frame from the tracked camera pose.

VTK draws the scene through the calibrated camera itself: the camera is placed at the tracked
pose (``image_from_camera``, OpenCV frame: x right, y down, z forward) and its projection is
the pinhole of the intrinsics, set as VTK's explicit projection matrix
(:func:`opengl_projection`; ``vtkCamera.SetExplicitProjectionTransformMatrix``), so a model
point lands on the pixel :meth:`rendering.fluorescence.camera_model.CameraModel.project_pinhole`
gives it. The frame is undistorted first
(:meth:`~rendering.fluorescence.camera_model.CameraModel.undistort_frame`, OpenCV remap keeping the
camera matrix): pinhole geometry on both sides. It is drawn as a textured plane in the scene, just
inside the far plane, whose pixel (u, v) lies on the ray through pixel (u, v); the models are drawn
in front of it.

What is drawn over the frame: the tumour (and lymph nodes) filled faintly with their outline
(``vtkPolyDataSilhouette`` from this camera), and the fused fluorescence map on its mesh with
the one fluorescence colour scale of the application (:mod:`rendering.colour_scale`: the same
colours as the 3-D view and the offline pictures), half transparent, never-seen vertices not
drawn at all, with its colour bar. The frame is drawn at its native size (one viewport pixel
per camera pixel), centred, and scaled down (aspect kept) only when the viewport is smaller
(:func:`frame_scale`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vtk
from vtkmodules.util.numpy_support import numpy_to_vtk

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import check_rigid
from rendering.colour_scale import band_colours, colour_bar, lookup_table
from rendering.scene3d import SurfaceModel
from rendering.view_state import FluorescenceOverlay

NEAR_MM = 10.0
FAR_MM = 5000.0
#: Where the frame's plane sits, as a fraction of the far plane (inside the view volume).
_FRAME_DEPTH = 0.98
#: Opacity of the fluorescence colours over the frame, and of the tumour fill.
MAP_OPACITY = 0.55
FILL_OPACITY = 0.3
_FLUORESCENCE = "fluorescence"
#: Roles drawn over the frame (skin and bone would hide it).
AR_ROLES = ("tumour", "node")


def opengl_projection(
    intrinsics: CameraIntrinsics,
    *,
    near_mm: float = NEAR_MM,
    far_mm: float = FAR_MM,
    viewport_px: tuple[int, int] | None = None,
) -> Float64Array:
    """(4, 4) OpenGL projection (eye coordinates: x right, y up, looking down -z) of the
    intrinsics' pinhole camera matrix K.

    An eye point (x, y, z) is the OpenCV camera point (x, -y, -z); its normalised device x is
    ``2 (u + 0.5) / W - 1`` and y is ``1 - 2 (v + 0.5) / H`` with (u, v) = K's pixel (pixel
    centres on integers, as OpenCV), so the frame's W x H pixels fill [-1, 1]^2. With
    ``viewport_px`` (width, height), the frame is drawn centred in it at :func:`frame_scale`
    viewport pixels per camera pixel. Depth maps [near, far] to [-1, 1].
    """
    k = intrinsics.camera_matrix
    width, height = intrinsics.image_size_px
    fx, skew, cx, fy, cy = k[0, 0], k[0, 1], k[0, 2], k[1, 1], k[1, 2]
    sx = sy = 1.0
    if viewport_px is not None:
        view_w, view_h = (max(1, int(v)) for v in viewport_px)
        fit = frame_scale(intrinsics, (view_w, view_h))
        sx, sy = width * fit / view_w, height * fit / view_h
    projection = np.zeros((4, 4))
    projection[0, 0] = sx * 2.0 * fx / width
    projection[0, 1] = -sx * 2.0 * skew / width
    projection[0, 2] = sx * (1.0 - 2.0 * (cx + 0.5) / width)
    projection[1, 1] = sy * 2.0 * fy / height
    projection[1, 2] = sy * (2.0 * (cy + 0.5) / height - 1.0)
    projection[2, 2] = -(far_mm + near_mm) / (far_mm - near_mm)
    projection[2, 3] = -2.0 * far_mm * near_mm / (far_mm - near_mm)
    projection[3, 2] = -1.0
    return projection


def frame_scale(intrinsics: CameraIntrinsics, viewport_px: tuple[int, int]) -> float:
    """Viewport pixels per camera pixel: 1 (native size) when the frame fits, less (aspect
    kept) when it does not; never enlarged."""
    width, height = intrinsics.image_size_px
    view_w, view_h = (max(1, int(v)) for v in viewport_px)
    return min(1.0, view_w / width, view_h / height)


def _vtk_matrix(m: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(np.asarray(m, dtype=np.float64).ravel().tolist())
    return matrix


def place_camera(
    camera: vtk.vtkCamera,
    image_from_camera: Float64Array,
    intrinsics: CameraIntrinsics,
    viewport_px: tuple[int, int] | None = None,
) -> None:
    """Make ``camera`` the calibrated camera at ``image_from_camera`` (world = image LPS)."""
    pose = check_rigid(image_from_camera, "image_from_camera")
    centre, forward, down = pose[:3, 3], pose[:3, 2], pose[:3, 1]
    camera.SetPosition(*centre)
    camera.SetFocalPoint(*(centre + forward * 100.0))
    camera.SetViewUp(*(-down))
    camera.SetClippingRange(NEAR_MM, FAR_MM)
    projection = opengl_projection(intrinsics, viewport_px=viewport_px)
    camera.SetExplicitProjectionTransformMatrix(_vtk_matrix(projection))
    camera.SetUseExplicitProjectionTransformMatrix(True)


class ARView:
    """The model over the camera frame in ``renderer`` (see the module docstring).

    models : the plan's surfaces (those with a role in :data:`AR_ROLES` are drawn) and the
        fluorescence field's model (named by the maps it receives).
    """

    def __init__(self, renderer: vtk.vtkRenderer, models: Sequence[SurfaceModel]) -> None:
        self.renderer = renderer
        renderer.SetBackground(0.0, 0.0, 0.0)
        self._frame_image = vtk.vtkImageData()
        self._frame_pixels: np.ndarray | None = None
        self.frame_actor = vtk.vtkImageActor()
        self.frame_actor.GetMapper().SetInputData(self._frame_image)
        self.frame_actor.GetMapper().BorderOn()  # pixel u covers [u - 0.5, u + 0.5]
        self.frame_actor.InterpolateOff()
        self.frame_actor.ForceOpaqueOn()
        self.frame_actor.VisibilityOff()
        renderer.AddViewProp(self.frame_actor)
        self.fills: dict[str, vtk.vtkActor] = {}
        self.outlines: dict[str, vtk.vtkActor] = {}
        self.meshes: dict[str, vtk.vtkPolyData] = {m.name: m.mesh for m in models}
        for model in models:
            if model.role not in AR_ROLES:
                continue
            self.fills[model.name] = _surface_actor(model.mesh, model.color, FILL_OPACITY)
            silhouette = vtk.vtkPolyDataSilhouette()
            silhouette.SetInputData(model.mesh)
            silhouette.SetCamera(renderer.GetActiveCamera())
            silhouette.SetEnableFeatureAngle(False)
            silhouette.BorderEdgesOn()
            outline = _surface_actor(silhouette, model.color, 1.0)
            outline.GetProperty().SetLineWidth(3.0)
            outline.GetProperty().LightingOff()
            self.outlines[model.name] = outline
        for actor in (*self.fills.values(), *self.outlines.values()):
            renderer.AddActor(actor)
        self._map_actor: vtk.vtkActor | None = None
        self._map_key: tuple[object, ...] | None = None
        self.colour_bar: vtk.vtkScalarBarActor | None = None
        self.caption = vtk.vtkTextActor()
        self.caption.GetTextProperty().SetFontSize(16)
        self.caption.GetTextProperty().SetBold(True)
        self.caption.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.caption.SetPosition(0.01, 0.01)
        renderer.AddViewProp(self.caption)
        self.intrinsics: CameraIntrinsics | None = None
        self._pose: Float64Array | None = None

    def update(
        self,
        frame_rgb: np.ndarray | None,
        image_from_camera: Float64Array | None,
        intrinsics: CameraIntrinsics,
        *,
        fluorescence: FluorescenceOverlay | None = None,
        caption: str = "",
    ) -> None:
        """Show an undistorted frame ((H, W, 3) uint8, the intrinsics' size) with the models
        from ``image_from_camera``; None for either shows nothing but the caption."""
        self.intrinsics = intrinsics
        self.caption.SetInput(caption)
        if frame_rgb is None or image_from_camera is None:
            self.frame_actor.VisibilityOff()
            for actor in (*self.fills.values(), *self.outlines.values()):
                actor.VisibilityOff()
            if self._map_actor is not None:
                self._map_actor.VisibilityOff()
            return
        width, height = intrinsics.image_size_px
        if frame_rgb.shape != (height, width, 3) or frame_rgb.dtype != np.uint8:
            raise InputError(
                f"the AR frame must be ({height}, {width}, 3) uint8 (the camera's size); got "
                f"{frame_rgb.dtype} {frame_rgb.shape}."
            )
        self._pose = np.asarray(image_from_camera, dtype=np.float64)
        self.fit_viewport()
        self._set_frame(frame_rgb, image_from_camera, intrinsics)
        for actor in (*self.fills.values(), *self.outlines.values()):
            actor.VisibilityOn()
        self._set_map(fluorescence)

    def _set_frame(
        self, frame_rgb: np.ndarray, image_from_camera: Float64Array, intrinsics: CameraIntrinsics
    ) -> None:
        """The frame on the plane at depth d whose pixel (u, v) lies on the ray of (u, v)."""
        height, width, _ = frame_rgb.shape
        pixels = np.ascontiguousarray(frame_rgb)
        self._frame_pixels = pixels  # the VTK array shares this memory
        image = self._frame_image
        image.SetDimensions(width, height, 1)
        image.SetOrigin(0.0, 0.0, 0.0)
        image.SetSpacing(1.0, 1.0, 1.0)
        image.GetPointData().SetScalars(numpy_to_vtk(pixels.reshape(-1, 3), deep=False))
        image.Modified()
        k = intrinsics.camera_matrix
        depth = _FRAME_DEPTH * FAR_MM
        camera_from_pixel = np.array(
            [
                [depth / k[0, 0], 0.0, 0.0, -k[0, 2] * depth / k[0, 0]],
                [0.0, depth / k[1, 1], 0.0, -k[1, 2] * depth / k[1, 1]],
                [0.0, 0.0, 1.0, depth],
                [0.0, 0.0, 0.0, 1.0],
            ]
        )
        self.frame_actor.SetUserMatrix(_vtk_matrix(image_from_camera @ camera_from_pixel))
        self.frame_actor.VisibilityOn()

    def fit_viewport(self) -> None:
        """Place the camera again for the renderer's current size (after a resize)."""
        if self._pose is None or self.intrinsics is None:
            return
        size = self.renderer.GetSize()
        place_camera(self.renderer.GetActiveCamera(), self._pose, self.intrinsics, size)

    def set_map(self, fluorescence: FluorescenceOverlay | None) -> None:
        """Show another fused map over the current frame (None hides it)."""
        self._set_map(fluorescence)

    def _set_map(self, fluorescence: FluorescenceOverlay | None) -> None:
        if fluorescence is None or fluorescence.mesh_name not in self.meshes:
            if self._map_actor is not None:
                self._map_actor.VisibilityOff()
            if self.colour_bar is not None:
                self.colour_bar.VisibilityOff()
            return
        key = (fluorescence.mesh_name, id(fluorescence.values), fluorescence.scale_max,
               fluorescence.close_threshold, fluorescence.positive_threshold)  # fmt: skip
        if key != self._map_key:
            mesh = self.meshes[fluorescence.mesh_name]
            if fluorescence.values.shape != (mesh.GetNumberOfPoints(),):
                raise InputError(
                    f"fluorescence on {fluorescence.mesh_name!r} has "
                    f"{fluorescence.values.shape[0]} values for {mesh.GetNumberOfPoints()} "
                    "vertices."
                )
            self._draw_map(mesh, fluorescence)
            self._map_key = key
        assert self._map_actor is not None and self.colour_bar is not None
        self._map_actor.VisibilityOn()
        self.colour_bar.VisibilityOn()

    def _draw_map(self, mesh: vtk.vtkPolyData, fluorescence: FluorescenceOverlay) -> None:
        """Per-vertex RGBA: the scale's colours at :data:`MAP_OPACITY`, unseen transparent."""
        values = np.asarray(fluorescence.values)
        rgba = np.empty((len(values), 4), np.uint8)
        rgba[:, :3] = np.rint(band_colours(values, fluorescence) * 255.0)
        rgba[:, 3] = np.where(np.isnan(values), 0, round(MAP_OPACITY * 255))
        coloured = vtk.vtkPolyData()
        coloured.ShallowCopy(mesh)
        colours = numpy_to_vtk(rgba, deep=True)
        colours.SetName(_FLUORESCENCE)
        coloured.GetPointData().SetScalars(colours)
        if self._map_actor is None:
            self._map_actor = vtk.vtkActor()
            mapper = vtk.vtkPolyDataMapper()
            mapper.SetColorModeToDirectScalars()
            mapper.ScalarVisibilityOn()
            self._map_actor.SetMapper(mapper)
            self._map_actor.GetProperty().LightingOff()
            self.renderer.AddActor(self._map_actor)
        self._map_actor.GetMapper().SetInputData(coloured)
        if self.colour_bar is not None:
            self.renderer.RemoveViewProp(self.colour_bar)
        self.colour_bar = colour_bar(lookup_table(fluorescence), fluorescence.quantity)
        self.colour_bar.SetPosition(0.88, 0.1)
        self.colour_bar.SetWidth(0.1)
        self.colour_bar.SetHeight(0.6)
        self.renderer.AddViewProp(self.colour_bar)

    def pixel_of(self, point_lps_mm: Float64Array) -> tuple[float, float]:
        """(u, v) frame pixel (OpenCV convention) where VTK draws an image point, read back
        through VTK's own world-to-display transform (for tests)."""
        coordinate = vtk.vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        coordinate.SetValue(*np.asarray(point_lps_mm, dtype=np.float64))
        x, y = coordinate.GetComputedDoubleDisplayValue(self.renderer)
        x0, y0 = self.renderer.GetOrigin()
        view_w, view_h = self.renderer.GetSize()
        assert self.intrinsics is not None
        width, height = self.intrinsics.image_size_px
        fit = frame_scale(self.intrinsics, (view_w, view_h))
        left = x0 + (view_w - width * fit) / 2.0
        bottom = y0 + (view_h - height * fit) / 2.0
        u = (x - left) / fit - 0.5
        v = (height * fit - (y - bottom)) / fit - 0.5
        return float(u), float(v)


def _surface_actor(
    source: vtk.vtkPolyData | vtk.vtkAlgorithm, rgb: tuple[float, float, float], opacity: float
) -> vtk.vtkActor:
    mapper = vtk.vtkPolyDataMapper()
    if isinstance(source, vtk.vtkAlgorithm):
        mapper.SetInputConnection(source.GetOutputPort())
    else:
        mapper.SetInputData(source)
    mapper.ScalarVisibilityOff()
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*rgb)
    actor.GetProperty().SetOpacity(opacity)
    actor.VisibilityOff()
    return actor


def frame_rgb(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 of a camera frame: grey frames windowed at their 1st-99.5th percentile
    (NaN from undistortion black), colour frames as they are."""
    values = np.asarray(pixels)
    if values.ndim == 3 and values.shape[2] == 3 and values.dtype == np.uint8:
        return values
    grey = values.astype(np.float32)
    finite = np.isfinite(grey)
    if not finite.any():
        return np.zeros((*grey.shape[:2], 3), np.uint8)
    low, high = np.percentile(grey[finite][::7], [1.0, 99.5])
    scaled = np.clip((np.nan_to_num(grey, nan=low) - low) / max(float(high - low), 1.0), 0, 1)
    out = np.rint(scaled * 255.0).astype(np.uint8)
    return np.repeat(out[:, :, np.newaxis], 3, axis=2)


__all__ = ["ARView", "frame_rgb", "frame_scale", "opengl_projection", "place_camera"]
