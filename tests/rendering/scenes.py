"""Analytic test scenes for fluorescence mapping: a curved tissue sheet with a tumour-like bump,
a corrugated (self-occluding) sheet with a floating blob, cameras placed around them, and an
independent ray-casting reference (VTK's vtkOBBTree)."""

from __future__ import annotations

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.transforms import apply_transform, invert_rigid
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.surface_mesh import SurfaceMesh

#: A 1280 x 1024 NIR camera with real-looking barrel distortion.
INTRINSICS = CameraIntrinsics(
    np.array([[1500.0, 0.0, 641.3], [0.0, 1502.0, 509.7], [0.0, 0.0, 1.0]]),
    np.array([-0.12, 0.08, 0.001, -0.0008, 0.01]),
    (1280, 1024),
)


_CAMERA = CameraModel(INTRINSICS)


def camera() -> CameraModel:
    """The shared test camera (one instance: its undistortion tables are cached)."""
    return _CAMERA


def grid_triangles(columns: int, rows: int) -> np.ndarray:
    """Triangles of a rows x columns vertex grid (vertex index = row * columns + column),
    wound so that face normals point +z when x grows with column and y with row."""
    index = np.arange(rows * columns).reshape(rows, columns)
    v00 = index[:-1, :-1].ravel()
    v10 = index[:-1, 1:].ravel()
    v01 = index[1:, :-1].ravel()
    v11 = index[1:, 1:].ravel()
    return np.concatenate([np.stack([v00, v10, v11], 1), np.stack([v00, v11, v01], 1)])


def bump_height(x, y, *, bump_mm=6.0, sigma_mm=8.0, radius_mm=300.0):
    return -(x * x) / (2.0 * radius_mm) + bump_mm * np.exp(-(x * x + y * y) / (2 * sigma_mm**2))


def bump_surface(spacing_mm: float, half_size_mm: float = 60.0):
    """The tissue sheet z = h(x, y) in its own frame (normals +z); returns (vertices, triangles,
    normals) with analytic normals."""
    count = round(2 * half_size_mm / spacing_mm) + 1
    axis = np.linspace(-half_size_mm, half_size_mm, count)
    x, y = np.meshgrid(axis, axis)
    z = bump_height(x, y)
    eps = 1e-4
    dzdx = (bump_height(x + eps, y) - bump_height(x - eps, y)) / (2 * eps)
    dzdy = (bump_height(x, y + eps) - bump_height(x, y - eps)) / (2 * eps)
    normals = np.stack([-dzdx, -dzdy, np.ones_like(z)], -1).reshape(-1, 3)
    normals /= np.linalg.norm(normals, axis=1)[:, None]
    vertices = np.stack([x, y, z], -1).reshape(-1, 3)
    return vertices, grid_triangles(count, count), normals


def placed_mesh(vertices, triangles, normals, image_from_scene) -> SurfaceMesh:
    return SurfaceMesh(
        apply_transform(image_from_scene, vertices),
        triangles,
        normals @ image_from_scene[:3, :3].T,
    )


def look_at(position, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """image_from_camera for an OpenCV camera at ``position`` looking at ``target``."""
    position = np.asarray(position, float)
    forward = np.asarray(target, float) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6:
        right = np.cross(forward, (1.0, 0.0, 0.0))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, position
    return pose


def obb_tree(points: np.ndarray, triangles: np.ndarray) -> vtk.vtkOBBTree:
    """VTK's oriented-bounding-box tree over a triangle mesh (points (N, 3), triangles (M, 3)):
    an independent ray caster for the visibility tests."""
    poly = vtk.vtkPolyData()
    vtk_points = vtk.vtkPoints()
    vtk_points.SetData(numpy_to_vtk(points, deep=True))
    poly.SetPoints(vtk_points)
    cells = vtk.vtkCellArray()
    offsets = np.arange(0, 3 * len(triangles) + 1, 3, dtype=np.int64)
    cells.SetData(
        numpy_to_vtkIdTypeArray(offsets, deep=True),
        numpy_to_vtkIdTypeArray(triangles.ravel().astype(np.int64), deep=True),
    )
    poly.SetPolys(cells)
    tree = vtk.vtkOBBTree()
    tree.SetDataSet(poly)
    tree.BuildLocator()
    return tree


def ray_cast_occluded(mesh: SurfaceMesh, camera_from_image, indices) -> np.ndarray:
    """Reference: whether a triangle not containing vertex i crosses the segment camera -> i,
    by vtkOBBTree (all intersections, incident triangles excluded). Returns (len(indices),)."""
    points = apply_transform(camera_from_image, mesh.vertices_in_image)
    tree = obb_tree(points, mesh.triangles)
    hits = vtk.vtkPoints()
    ids = vtk.vtkIdList()
    result = np.zeros(len(indices), dtype=bool)
    triangles = mesh.triangles
    for k, i in enumerate(indices):
        end = points[i] * (1.0 - 1e-6)
        tree.IntersectWithLine((0.0, 0.0, 0.0), tuple(end), hits, ids)
        for j in range(ids.GetNumberOfIds()):
            if i not in triangles[ids.GetId(j)]:
                result[k] = True
                break
    return result


def camera_from_image_of(image_from_camera) -> np.ndarray:
    return invert_rigid(image_from_camera)


def corrugated_scene(
    spacing_mm: float = 0.5, half_size_mm: float = 40.0, sphere_resolution: int = 120
) -> SurfaceMesh:
    """A self-occluding test mesh in its own frame: a sheet with deep ridges
    z = 8 sin(2 pi x / 20) (normals +z side), plus a sphere (r 12 mm) floating 35 mm above it,
    overlapping, triangle soup with outward normals. Concave everywhere between the ridges."""
    import pyvista

    count = round(2 * half_size_mm / spacing_mm) + 1
    axis = np.linspace(-half_size_mm, half_size_mm, count)
    x, y = np.meshgrid(axis, axis)
    z = 8.0 * np.sin(2 * np.pi * x / 20.0)
    dzdx = 8.0 * 2 * np.pi / 20.0 * np.cos(2 * np.pi * x / 20.0)
    sheet_normals = np.stack([-dzdx, np.zeros_like(z), np.ones_like(z)], -1).reshape(-1, 3)
    sheet_normals /= np.linalg.norm(sheet_normals, axis=1)[:, None]
    sheet = np.stack([x, y, z], -1).reshape(-1, 3)
    sphere = pyvista.Sphere(
        radius=12.0,
        center=(5.0, 0.0, 35.0),
        theta_resolution=sphere_resolution,
        phi_resolution=sphere_resolution,
    ).compute_normals(point_normals=True)
    sphere_faces = np.asarray(sphere.faces).reshape(-1, 4)[:, 1:] + len(sheet)
    vertices = np.concatenate([sheet, np.asarray(sphere.points, float)])
    normals = np.concatenate([sheet_normals, np.asarray(sphere.point_data["Normals"], float)])
    triangles = np.concatenate([grid_triangles(count, count), sphere_faces])
    return SurfaceMesh(vertices, triangles, normals)


# --- the glowing bump: analytic truth for the mapping tests -------------------------------------

PATCH_RADIUS_MM = 10.0
PATCH_BLUR_MM = 1.0
PATCH_PEAK = 1.0
PATCH_BACKGROUND = 0.25


def true_positive_radius(sbr: float = 2.0) -> float:
    """Distance from the apex where the true emission over the background equals ``sbr``:
    b + (p - b) erfc(u) / 2 = sbr * b, so
    d* = R + sqrt(2) sigma erfcinv(2 (sbr - 1) b / (p - b))."""
    from scipy.special import erfcinv

    b, p = PATCH_BACKGROUND, PATCH_PEAK
    return PATCH_RADIUS_MM + np.sqrt(2.0) * PATCH_BLUR_MM * float(
        erfcinv(2.0 * (sbr - 1.0) * b / (p - b))
    )


class BumpScene:
    """The tissue sheet with a glowing bump, placed in the image frame by a fixed rigid
    transform (so nothing is axis-aligned by luck)."""

    def __init__(self, spacing_mm: float = 0.5, half_size_mm: float = 60.0, emission=None):
        from registration.core.transforms import make_rigid, rotation_about
        from rendering.fluorescence.nir_camera import glowing_patch_emission

        self.vertices, self.triangles, self.normals = bump_surface(spacing_mm, half_size_mm)
        self.apex = np.array([0.0, 0.0, float(bump_height(0.0, 0.0))])
        self.distance_to_apex = np.linalg.norm(self.vertices - self.apex, axis=1)
        self.image_from_scene = make_rigid(
            rotation_about([0.3, -1.0, 0.4], 57.0), [12.0, -140.0, 35.0]
        )
        self.mesh = placed_mesh(self.vertices, self.triangles, self.normals, self.image_from_scene)
        if emission is None:
            emission = glowing_patch_emission(
                self.distance_to_apex - PATCH_RADIUS_MM,
                peak=PATCH_PEAK,
                background=PATCH_BACKGROUND,
                blur_mm=PATCH_BLUR_MM,
            )
        self.emission = emission
        self.tumour = self.distance_to_apex <= PATCH_RADIUS_MM

    def camera_pose(
        self, distance_mm: float, tilt_deg: float, azimuth_deg: float, target=(0.0, 0.0)
    ) -> np.ndarray:
        """image_from_camera looking at the sheet point above ``target`` (x, y; default the
        apex) from ``distance_mm``, tilted ``tilt_deg`` from the sheet's normal towards
        azimuth ``azimuth_deg``."""
        from rendering.fluorescence.nir_camera import image_from_camera_looking_at

        tilt, azimuth = np.radians(tilt_deg), np.radians(azimuth_deg)
        direction = np.array(
            [np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)]
        )
        aim = np.array([target[0], target[1], float(bump_height(target[0], target[1]))])
        position = aim + distance_mm * direction
        image_from_scene = self.image_from_scene
        up = np.cross(direction, [np.cos(azimuth + 1.0), np.sin(azimuth + 1.0), 0.0])
        return image_from_camera_looking_at(
            apply_transform(image_from_scene, position),
            apply_transform(image_from_scene, aim),
            up_in_image=image_from_scene[:3, :3] @ up,
        )

    def true_boundary(self, radius_mm: float, samples: int = 4000) -> np.ndarray:
        """(samples, 3) points (scene frame) on the surface at distance ``radius_mm`` from
        the apex: the true boundary curve of the positive region."""
        from scipy.optimize import brentq

        points = []
        for phi in np.linspace(0.0, 2 * np.pi, samples, endpoint=False):
            c, s = np.cos(phi), np.sin(phi)

            def gap(rho, c=c, s=s):
                x, y = rho * c, rho * s
                return np.linalg.norm([x, y, bump_height(x, y) - self.apex[2]]) - radius_mm

            rho = brentq(gap, 0.0, 2.0 * radius_mm, xtol=1e-10)
            points.append([rho * c, rho * s, bump_height(rho * c, rho * s)])
        return np.array(points)
