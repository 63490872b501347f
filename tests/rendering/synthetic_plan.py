"""A small synthetic plan with known geometry, for the view tests (LPS mm).

A skin ellipsoid (semi-axes 70, 90, 100 mm about the origin), a tumour sphere of radius 12 mm on
the patient's right and anterior (x = -20 mm), and a marker sphere of radius 6 mm on the
patient's LEFT (x = +45 mm, positive LPS x), as meshes and as a label map on an
:class:`ImageGeometry` (1.5 mm voxels).
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

from registration.core.geometry import ImageGeometry
from rendering.scene3d import SurfaceModel
from rendering.slice_views import SliceVolumes

SKIN_SEMI_AXES_MM = np.array([70.0, 90.0, 100.0])
TUMOUR_CENTRE = np.array([-20.0, -40.0, 10.0])
TUMOUR_RADIUS_MM = 12.0
MARKER_CENTRE = np.array([45.0, -30.0, 0.0])
MARKER_RADIUS_MM = 6.0
SKIN, TUMOUR, MARKER = 1, 2, 3
SKIN_RGB = (0.9, 0.75, 0.65)
TUMOUR_RGB = (0.8, 0.25, 0.2)
MARKER_RGB = (0.0, 0.0, 1.0)
LABEL_COLORS = {SKIN: SKIN_RGB, TUMOUR: TUMOUR_RGB, MARKER: MARKER_RGB}
GEOMETRY = ImageGeometry(
    size_ijk=(121, 147, 147),
    origin_lps_mm=np.array([-90.0, -110.0, -110.0]),
    spacing_mm=np.full(3, 1.5),
)


def label_map(geometry: ImageGeometry = GEOMETRY) -> np.ndarray:
    """(k, j, i) int16 labels of the skin, tumour and marker, sampled at voxel centres."""
    n_k, n_j, n_i = geometry.shape_kji
    k = np.arange(n_k, dtype=float)[:, None, None]
    j = np.arange(n_j, dtype=float)[None, :, None]
    i = np.arange(n_i, dtype=float)[None, None, :]
    m = geometry.lps_from_ijk  # per axis, broadcast: the same affine as ijk_to_lps
    x, y, z = (m[a, 3] + m[a, 0] * i + m[a, 1] * j + m[a, 2] * k for a in range(3))
    labels = np.zeros(geometry.shape_kji, dtype=np.int16)
    a, b, c = SKIN_SEMI_AXES_MM
    labels[(x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= 1.0] = SKIN
    for value, centre, radius in (
        (TUMOUR, TUMOUR_CENTRE, TUMOUR_RADIUS_MM),
        (MARKER, MARKER_CENTRE, MARKER_RADIUS_MM),
    ):
        inside = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2
        labels[inside] = value
    return labels


def volumes(geometry: ImageGeometry = GEOMETRY, labels: np.ndarray | None = None) -> SliceVolumes:
    return SliceVolumes(geometry, label_map(geometry) if labels is None else labels, LABEL_COLORS)


def tumour_mesh() -> pv.PolyData:
    return pv.Sphere(
        radius=TUMOUR_RADIUS_MM, center=TUMOUR_CENTRE, theta_resolution=80, phi_resolution=80
    )


def models() -> list[SurfaceModel]:
    skin = pv.Sphere(radius=1.0, theta_resolution=120, phi_resolution=120).scale(
        SKIN_SEMI_AXES_MM, inplace=False
    )
    marker = pv.Sphere(radius=MARKER_RADIUS_MM, center=MARKER_CENTRE)
    return [
        SurfaceModel("skin", skin, SKIN_RGB, role="skin"),
        SurfaceModel("tumour", tumour_mesh(), TUMOUR_RGB, role="tumour"),
        SurfaceModel("marker", marker, MARKER_RGB),
    ]
