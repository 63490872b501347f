"""The AR view's projection against the camera model, and its pixels (offscreen VTK)."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
import vtk
from vtkmodules.util.numpy_support import vtk_to_numpy

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.transforms import apply_transform, invert_rigid, make_rigid, random_rigid
from rendering.ar_view import MAP_OPACITY, ARView, frame_scale, opengl_projection, place_camera
from rendering.colour_scale import band_colours
from rendering.fluorescence.camera_model import CameraModel
from rendering.scene3d import SurfaceModel
from rendering.view_state import FluorescenceOverlay

#: An off-centre camera with unequal focal lengths (a real calibration's shape).
INTRINSICS = CameraIntrinsics(
    np.array([[812.4, 0.0, 331.7], [0.0, 806.9, 251.2], [0.0, 0.0, 1.0]]),
    np.array([-0.12, 0.08, 0.001, -0.002, 0.0]),
    (640, 480),
)


def pixels_from_projection(projection: np.ndarray, points_in_camera: np.ndarray) -> np.ndarray:
    """(N, 2) OpenCV pixels of camera points through an OpenGL projection (full frame)."""
    eye = points_in_camera * np.array([1.0, -1.0, -1.0])
    clip = np.c_[eye, np.ones(len(eye))] @ projection.T
    ndc = clip[:, :2] / clip[:, 3:]
    width, height = INTRINSICS.image_size_px
    return np.c_[(ndc[:, 0] + 1) / 2 * width - 0.5, (1 - ndc[:, 1]) / 2 * height - 0.5]


def test_projection_matrix_is_the_pinhole(rng):
    points = np.c_[rng.uniform(-80, 80, (50, 2)), rng.uniform(150, 600, 50)]
    expected = CameraModel(INTRINSICS).project_pinhole(points)
    found = pixels_from_projection(opengl_projection(INTRINSICS), points)
    np.testing.assert_allclose(found, expected, atol=1e-9)


def window(size=(640, 480)) -> tuple[vtk.vtkRenderWindow, vtk.vtkRenderer]:
    render_window = vtk.vtkRenderWindow()
    render_window.SetOffScreenRendering(True)
    render_window.SetSize(*size)
    render_window.SetMultiSamples(0)
    renderer = vtk.vtkRenderer()
    render_window.AddRenderer(renderer)
    return render_window, renderer


def screenshot(render_window: vtk.vtkRenderWindow) -> np.ndarray:
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(render_window)
    grab.ReadFrontBufferOff()
    grab.Update()
    image = grab.GetOutput()
    width, height, _ = image.GetDimensions()
    pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return pixels[::-1, :, :3].copy()


@pytest.mark.parametrize("size", [(640, 480), (900, 500), (400, 360)])
def test_vtk_draws_points_where_the_camera_model_projects_them(rng, size):
    """VTK's own world-to-display transform, through the camera placed at a random pose,
    agrees with project_pinhole to sub-pixel: at native size, centred in a larger viewport,
    and scaled down (aspect kept) in a smaller one."""
    render_window, renderer = window(size)
    image_from_camera = random_rigid(rng, max_translation_mm=300.0)
    tumour = SurfaceModel("tumour", pv.Sphere(radius=5.0), (0.9, 0.2, 0.2), role="tumour")
    view = ARView(renderer, [tumour])
    frame = np.zeros((480, 640, 3), np.uint8)
    view.update(frame, image_from_camera, INTRINSICS)
    render_window.Render()
    in_camera = np.c_[rng.uniform(-60, 60, (20, 2)), rng.uniform(200, 800, 20)]
    in_image = apply_transform(image_from_camera, in_camera)
    expected = CameraModel(INTRINSICS).project_pinhole(in_camera)
    found = np.array([view.pixel_of(p) for p in in_image])
    np.testing.assert_allclose(found, expected, atol=1e-3)
    render_window.Finalize()


def test_frame_pixels_and_model_land_on_their_camera_pixels():
    """At native size: a bright frame pixel stays on its pixel; a 6 mm sphere 300 mm ahead,
    off-axis, is drawn (fill and outline) centred where project_pinhole puts its centre."""
    render_window, renderer = window()
    # Looking posterior (+y) from in front of the face, camera down = inferior.
    looking_back = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    image_from_camera = make_rigid(looking_back, (20.0, -400.0, 30.0))
    centre_in_camera = np.array([[25.0, -15.0, 300.0]])
    centre = apply_transform(image_from_camera, centre_in_camera)[0]
    tumour = SurfaceModel(
        "tumour", pv.Sphere(radius=6.0, center=centre, theta_resolution=48, phi_resolution=48),
        (1.0, 0.0, 0.0), role="tumour",
    )  # fmt: skip
    skin = SurfaceModel("skin", pv.Sphere(radius=500.0), (0.0, 1.0, 0.0), role="skin")
    view = ARView(renderer, [tumour, skin])
    frame = np.full((480, 640, 3), 40, np.uint8)
    frame[100, 500] = (0, 0, 255)  # one blue pixel at (u, v) = (500, 100)
    view.update(frame, image_from_camera, INTRINSICS, caption="")
    render_window.Render()
    shot = screenshot(render_window).astype(int)
    assert tuple(shot[100, 500]) == (0, 0, 255) and tuple(shot[300, 100]) == (40, 40, 40)
    red = (shot[..., 0] > 80) & (shot[..., 1] < 60)
    rows, cols = np.nonzero(red)
    expected = CameraModel(INTRINSICS).project_pinhole(centre_in_camera)[0]
    np.testing.assert_allclose([cols.mean(), rows.mean()], expected, atol=0.5)
    radius_px = 6.0 / 300.0 * 810.0
    assert abs(np.sqrt(red.sum() / np.pi) - radius_px) < 1.5  # the disc, outline included
    assert not (shot[..., 1] > 150).any()  # the skin is not drawn over the frame
    render_window.Finalize()


def test_fluorescence_is_blended_in_the_one_colour_scale():
    """A plane of SBR 2.6 (positive) facing the camera: its pixels are the scale's colour at
    the map opacity over the frame; unseen (NaN) vertices leave the frame untouched."""
    render_window, renderer = window()
    plane = pv.Plane(center=(0, 0, 250.0), direction=(0, 0, -1), i_size=120, j_size=80,
                     i_resolution=40, j_resolution=40).triangulate()  # fmt: skip
    values = np.where(np.asarray(plane.points)[:, 0] < 0, 2.6, np.nan)
    values.setflags(write=False)
    field = SurfaceModel("surgical field", plane, (0.8, 0.6, 0.6), role="other")
    view = ARView(renderer, [field])
    frame = np.full((480, 640, 3), 100, np.uint8)
    fluorescence = FluorescenceOverlay("surgical field", values)
    view.update(frame, np.eye(4), INTRINSICS, fluorescence=fluorescence)
    render_window.Render()
    shot = screenshot(render_window).astype(float)
    left = CameraModel(INTRINSICS).project_pinhole(np.array([[-30.0, 0.0, 250.0]]))[0]
    right = CameraModel(INTRINSICS).project_pinhole(np.array([[30.0, 0.0, 250.0]]))[0]
    colour = band_colours(np.array([2.6]), fluorescence)[0] * 255
    expected = MAP_OPACITY * colour + (1 - MAP_OPACITY) * 100
    u, v = (round(c) for c in left)
    np.testing.assert_allclose(shot[v, u], expected, atol=3)
    u, v = (round(c) for c in right)
    np.testing.assert_allclose(shot[v, u], [100, 100, 100], atol=1)
    assert view.colour_bar is not None and view.colour_bar.GetVisibility()
    render_window.Finalize()


def test_place_camera_looks_along_the_optical_axis(rng):
    camera = vtk.vtkCamera()
    pose = random_rigid(rng, max_translation_mm=100.0)
    place_camera(camera, pose, INTRINSICS)
    np.testing.assert_allclose(camera.GetDirectionOfProjection(), pose[:3, 2], atol=1e-9)
    np.testing.assert_allclose(camera.GetViewUp(), -pose[:3, 1], atol=1e-9)
    ahead = apply_transform(pose, np.array([[0.0, 0.0, 100.0]]))[0]
    np.testing.assert_allclose(camera.GetFocalPoint(), ahead, atol=1e-9)
    assert np.allclose(invert_rigid(invert_rigid(pose)), pose)


def test_frame_is_native_in_a_larger_viewport_and_scaled_down_in_a_smaller_one():
    assert frame_scale(INTRINSICS, (900, 500)) == 1.0
    assert frame_scale(INTRINSICS, (400, 360)) == pytest.approx(0.625)
    render_window, renderer = window((900, 600))
    view = ARView(renderer, [])
    frame = np.full((480, 640, 3), 40, np.uint8)
    frame[100, 500] = (0, 0, 255)
    view.update(frame, np.eye(4), INTRINSICS)
    render_window.Render()
    shot = screenshot(render_window).astype(int)
    # Centred at one screen pixel per camera pixel: (900 - 640) / 2 = 130, (600 - 480) / 2 = 60.
    assert tuple(shot[60 + 100, 130 + 500]) == (0, 0, 255)
    assert tuple(shot[10, 10]) == (0, 0, 0) and tuple(shot[300, 450]) == (40, 40, 40)
    render_window.Finalize()
