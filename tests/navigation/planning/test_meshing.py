from __future__ import annotations

import numpy as np
import pytest

from navigation.planning.meshing import MeshOptions, mesh_region, save_mesh
from navigation.planning.regions import RegionMask, SurfaceLevel
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry
from registration.core.transforms import rotation_about


def _sphere_image(geometry: ImageGeometry, centre: np.ndarray, radius: float):
    """Partial-volume image of a sphere (1 inside, 0 outside) and its mask at 0.5."""
    kji = np.indices(geometry.shape_kji).reshape(3, -1).T
    distance = np.linalg.norm(geometry.kji_to_lps(kji) - centre, axis=1) - radius
    width = float(np.mean(geometry.spacing_mm))
    image = np.clip(0.5 - distance / width, 0, 1).reshape(geometry.shape_kji).astype(np.float32)
    return image, RegionMask.from_full(image > 0.5)


@pytest.mark.parametrize("flip", [False, True])
def test_vertices_land_on_the_sphere_in_lps_with_any_direction_matrix(flip):
    """Rotated, anisotropic grid (and a mirrored one, det -1): the one index-to-LPS mapping
    puts the surface where the sphere is; normals point outward."""
    direction = rotation_about([1, 2, 3], 35.0)
    if flip:
        direction = direction @ np.diag([1.0, -1.0, 1.0])
    geometry = ImageGeometry(
        (48, 40, 30), np.array([12.0, -40.0, 300.0]), np.array([0.6, 0.7, 0.9]), direction
    )
    centre = geometry.ijk_to_lps([24, 20, 15])
    image, region = _sphere_image(geometry, centre, 8.0)
    for level in (None, SurfaceLevel(0.5)):
        mesh = mesh_region(region, geometry, image=image, level=level)
        points = np.asarray(mesh.points)
        radial = np.linalg.norm(points - centre, axis=1)
        tolerance = 0.5 * geometry.spacing_mm.min() if level else 0.5 * geometry.spacing_mm.max()
        assert np.abs(radial - 8.0).max() < tolerance
        np.testing.assert_allclose(points.mean(axis=0), centre, atol=0.05)
        outward = np.einsum("ij,ij->i", mesh.point_data["Normals"], points - centre)
        assert (outward > 0).mean() > 0.99


def test_decimation_reaches_the_target_and_empty_masks_give_empty_meshes(tmp_path):
    geometry = ImageGeometry((60, 60, 60), np.zeros(3), np.full(3, 0.5))
    _image, region = _sphere_image(geometry, geometry.ijk_to_lps([30, 30, 30]), 12.0)
    native = MeshOptions(contour_spacing_mm=0.0)
    full = mesh_region(region, geometry, options=native)
    small = mesh_region(
        region, geometry, options=MeshOptions(target_triangles=2000, contour_spacing_mm=0.0)
    )
    assert full.n_cells > 10_000 and small.n_cells <= 2000
    radial = np.linalg.norm(np.asarray(small.points) - geometry.ijk_to_lps([30, 30, 30]), axis=1)
    assert np.abs(radial - 12.0).max() < 0.3  # 0.6 voxel after 10x decimation
    empty = mesh_region(RegionMask.from_full(np.zeros((3, 3, 3), bool)), geometry)
    assert empty.n_points == 0
    save_mesh(small, tmp_path / "s.vtp")
    save_mesh(small, tmp_path / "s.stl")
    import pyvista as pv

    assert pv.read(tmp_path / "s.vtp").n_cells == small.n_cells
    np.testing.assert_allclose(pv.read(tmp_path / "s.stl").bounds, small.bounds, atol=1e-4)
    with pytest.raises(InputError, match=r"must end in .vtp or .stl"):
        save_mesh(small, tmp_path / "s.obj")


def test_fine_voxels_are_contoured_on_a_coarser_grid_without_losing_the_surface():
    """0.5 mm voxels, contour spacing 1 mm: 2x2x2 blocks averaged, a quarter of the
    triangles, vertices still within half a (fine) voxel of the sphere."""
    geometry = ImageGeometry((80, 80, 80), np.array([-20.0, 5.0, 7.0]), np.full(3, 0.5))
    centre = geometry.ijk_to_lps([41.3, 38.6, 40.2])
    image, region = _sphere_image(geometry, centre, 12.0)
    fine = mesh_region(
        region,
        geometry,
        image=image,
        level=SurfaceLevel(0.5),
        options=MeshOptions(contour_spacing_mm=0.0),
    )
    before = image.copy()
    coarse = mesh_region(region, geometry, image=image, level=SurfaceLevel(0.5))
    np.testing.assert_array_equal(image, before)  # the float32 input is not modified
    assert coarse.n_cells < 0.35 * fine.n_cells
    for mesh in (fine, coarse):
        radial = np.linalg.norm(np.asarray(mesh.points) - centre, axis=1)
        assert np.abs(radial - 12.0).max() < 0.25
        np.testing.assert_allclose(np.asarray(mesh.points).mean(axis=0), centre, atol=0.05)


def test_a_flat_fin_left_by_decimation_is_removed_and_the_surface_stays_closed():
    """Edge collapse can leave a triangle together with its reversed copy (a flat fin whose
    edges only the two copies share; 4 in 150 000 on a real head and neck skin). The closed
    surface check used to fail on it, so the skin was kept undecimated (582 000 triangles
    instead of 150 000). The fin's copies go; the rest is untouched and closed."""
    import pyvista as pv

    from navigation.planning.meshing import _closed_manifold, _manifold

    sphere = pv.Icosphere(radius=10.0, nsub=3)
    points = np.asarray(sphere.points, dtype=np.float64)
    triangles = sphere.faces.reshape(-1, 4)[:, 1:]
    assert _closed_manifold(triangles, len(points))
    # three vertices far apart: none of the fin's edges is an edge of the sphere
    fin = np.array([0, int(np.argmax(points[:, 0])), int(np.argmin(points[:, 1]))])
    with_fin = np.vstack([triangles, fin, fin[::-1]])
    assert not _closed_manifold(with_fin, len(points))
    repaired_points, repaired, changed = _manifold(points, with_fin)
    assert changed and _closed_manifold(repaired, len(repaired_points))
    np.testing.assert_array_equal(repaired, triangles)
    np.testing.assert_array_equal(repaired_points, points)
