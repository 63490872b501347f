"""A small synthetic plan with known geometry, for the view tests (LPS mm).

A skin ellipsoid (semi-axes 70, 90, 100 mm about the origin), a tumour sphere of radius 12 mm on
the patient's right and anterior (x = -20 mm), and a marker sphere of radius 6 mm on the
patient's LEFT (x = +45 mm, positive LPS x), as meshes and as a label map on an
:class:`ImageGeometry` (1.5 mm voxels).
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

from registration.geometry import ImageGeometry
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
    k, j, i = np.indices(geometry.shape_kji)
    ijk = np.stack([i, j, k], axis=-1).reshape(-1, 3)
    lps = geometry.ijk_to_lps(ijk).reshape(*geometry.shape_kji, 3)
    labels = np.zeros(geometry.shape_kji, dtype=np.int16)
    labels[(((lps / SKIN_SEMI_AXES_MM) ** 2).sum(axis=-1)) <= 1.0] = SKIN
    labels[np.linalg.norm(lps - TUMOUR_CENTRE, axis=-1) <= TUMOUR_RADIUS_MM] = TUMOUR
    labels[np.linalg.norm(lps - MARKER_CENTRE, axis=-1) <= MARKER_RADIUS_MM] = MARKER
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
