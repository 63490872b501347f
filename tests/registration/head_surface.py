"""A real head skin surface and pointer sweeps over it, for surface-registration tests and the
ICP benchmark.

The CT is VTK's classic ``headsq`` (``../shared/data/vtk-head-volumes/headsq``): 93 raw
int16 slices of 64 x 64, spacing 3.2 x 3.2 x 1.5 mm, read with igcs's own loader
(``navigation.imaging.loading.load_volume``: identity direction, origin 0, which is the "image"
frame of these tests; the face looks towards -y). The skin is the 500 iso-surface (the value
VTK's Medical examples use for skin) of the Gaussian-smoothed volume, meshed with
scikit-image's marching cubes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from skimage.measure import marching_cubes

SPACING_IJK_MM = (3.2, 3.2, 1.5)
SKIN_LEVEL = 500.0


@dataclass(frozen=True)
class SkinMesh:
    """vertices (V, 3) mm image frame, triangles (T, 3) int, normals (V, 3) unit."""

    vertices: np.ndarray
    triangles: np.ndarray
    normals: np.ndarray


def load_headsq(folder: Path) -> sitk.Image:
    """The headsq CT as a float SimpleITK image (origin 0, identity direction, 3.2/3.2/1.5 mm)."""
    from navigation.imaging.loading import load_volume

    image = load_volume(folder / "quarter.nhdr").volume.to_sitk()
    if image.GetSpacing() != SPACING_IJK_MM or image.GetDirection() != (1, 0, 0, 0, 1, 0, 0, 0, 1):
        raise AssertionError(f"unexpected headsq geometry {image.GetSpacing()}")
    return sitk.Cast(image, sitk.sitkFloat32)


def skin_mesh(image: sitk.Image, *, level: float = SKIN_LEVEL, sigma_mm: float = 1.0) -> SkinMesh:
    """Marching-cubes skin surface of the smoothed CT, in the image frame (x, y, z = i, j, k)."""
    smoothed = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(image, sigma_mm))
    spacing_kji = tuple(reversed(image.GetSpacing()))
    vertices_kji, faces, normals_kji, _ = marching_cubes(smoothed, level=level, spacing=spacing_kji)
    vertices = np.ascontiguousarray(vertices_kji[:, ::-1], dtype=np.float64)
    normals = np.ascontiguousarray(normals_kji[:, ::-1], dtype=np.float64)
    # reversing the axis order mirrors the mesh; reverse the winding to keep it consistent
    triangles = np.ascontiguousarray(faces[:, ::-1], dtype=np.int64)
    return SkinMesh(vertices, triangles, normals)


def sample_surface(
    mesh: SkinMesh, count: int, rng: np.random.Generator, *, region: np.ndarray | None = None
) -> np.ndarray:
    """``count`` points uniformly (by area) on the mesh triangles, optionally only on the
    triangles where ``region`` (T,) is True."""
    corners = mesh.vertices[mesh.triangles]
    area = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    if region is not None:
        area = np.where(region, area, 0.0)
    chosen = rng.choice(len(area), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    c = corners[chosen]
    return c[:, 0] + u[:, None] * (c[:, 1] - c[:, 0]) + v[:, None] * (c[:, 2] - c[:, 0])


def face_region(mesh: SkinMesh, *, depth_mm: float = 45.0) -> np.ndarray:
    """(T,) bool: triangles of the face, i.e. within ``depth_mm`` of the most anterior skin
    point (the face looks towards -y in this volume) and facing forwards."""
    corners = mesh.vertices[mesh.triangles]
    centroid_y = corners[:, :, 1].mean(axis=1)
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1), 1e-12)[:, None]
    front = mesh.vertices[:, 1].min()
    return (centroid_y < front + depth_mm) & (np.abs(normal[:, 1]) > 0.3)


def face_sweep(
    mesh: SkinMesh,
    rng: np.random.Generator,
    *,
    count: int = 300,
    noise_mm: float = 0.2,
    outlier_fraction: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Pointer sweep over the face in the image frame: points on the skin with isotropic Gaussian
    noise, plus outliers lifted 4-15 mm off the skin along the outward direction (the pointer
    lifted or pressed into soft tissue). Returns (points_in_image (N, 3), is_outlier (N,))."""
    points = sample_surface(mesh, count, rng, region=face_region(mesh))
    points = points + rng.normal(scale=noise_mm, size=points.shape)
    outlier = rng.random(count) < outlier_fraction
    lift = rng.uniform(4.0, 15.0, size=outlier.sum())
    points[outlier, 1] -= lift  # anterior, away from the face
    return points, outlier
