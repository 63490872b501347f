"""Offscreen pictures of surface meshes (pyvista), e.g. the plan's meshes for the demo.

Meshes are in patient LPS mm. The views are named from the patient: ``anterior`` looks at the
face (camera on -y, looking toward +y, +z up), so the patient's left (+x) is on the picture's
right; ``left`` looks at the patient's left side (camera on +x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv

from rendering.offscreen import configure_offscreen

#: view name -> (direction from the focal point to the camera, view-up), LPS.
VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "anterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "left": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
}


@dataclass(frozen=True)
class MeshLayer:
    """One mesh to draw: colour r, g, b in 0..1 and opacity."""

    mesh: pv.PolyData
    color: tuple[float, float, float]
    opacity: float = 1.0
    name: str = ""


def snapshot_meshes(
    layers: Sequence[MeshLayer],
    path: str | Path,
    *,
    views: Sequence[str] = ("anterior", "left"),
    window_size: tuple[int, int] = (1280, 640),
    title: str | None = None,
) -> Path:
    """Render ``layers`` offscreen side by side from each of ``views`` and save a PNG.

    Returns the PNG path. Raises ValueError for an unknown view name or no non-empty mesh.
    """
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; choose from {', '.join(VIEWS)}.")
    drawn = [layer for layer in layers if layer.mesh.n_points > 0]
    if not drawn:
        raise ValueError("nothing to draw: every mesh is empty.")
    configure_offscreen()
    bounds = np.array([layer.mesh.bounds for layer in drawn])
    low = bounds[:, [0, 2, 4]].min(axis=0)
    high = bounds[:, [1, 3, 5]].max(axis=0)
    centre, radius = 0.5 * (low + high), 0.5 * float(np.linalg.norm(high - low))
    plotter = pv.Plotter(off_screen=True, shape=(1, len(views)), window_size=list(window_size))
    for column, view in enumerate(views):
        plotter.subplot(0, column)
        for layer in drawn:
            plotter.add_mesh(
                layer.mesh, color=layer.color, opacity=layer.opacity, smooth_shading=True
            )
        direction, up = VIEWS[view]
        plotter.camera.focal_point = tuple(centre)
        plotter.camera.position = tuple(centre + 3.2 * radius * np.asarray(direction))
        plotter.camera.up = up
        plotter.reset_camera_clipping_range()
        label = f"{title} - {view}" if title else view
        plotter.add_text(label, font_size=10)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(target))
    plotter.close()
    return target


def snapshot_landmarks(
    layers: Sequence[MeshLayer],
    names: Sequence[str],
    points_lps_mm: np.ndarray,
    path: str | Path,
    *,
    window_size: tuple[int, int] = (1200, 600),
) -> Path:
    """The meshes from the front and the left around labelled landmarks (red spheres), focused
    on the landmarks (a head CT's face); returns the PNG path."""
    configure_offscreen()
    points = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
    centre = points.mean(axis=0)
    radius = max(60.0, float(np.linalg.norm(points - centre, axis=1).max()) * 1.6)
    plotter = pv.Plotter(off_screen=True, shape=(1, 2), window_size=list(window_size))
    for column, view in enumerate(("anterior", "left")):
        plotter.subplot(0, column)
        for layer in layers:
            clipped = layer.mesh.clip_box(
                [*(centre - 1.5 * radius), *(centre + 1.5 * radius)], invert=False
            )
            plotter.add_mesh(
                clipped if clipped.n_points else layer.mesh,
                color=layer.color,
                opacity=layer.opacity,
                smooth_shading=True,
            )
        plotter.add_points(points, color="red", point_size=14, render_points_as_spheres=True)
        plotter.add_point_labels(points, list(names), font_size=12, point_size=1)
        direction, up = VIEWS[view]
        plotter.camera.focal_point = tuple(centre)
        plotter.camera.position = tuple(centre + 3.5 * radius * np.asarray(direction))
        plotter.camera.up = up
        plotter.reset_camera_clipping_range()
        plotter.add_text(view, font_size=10)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(target))
    plotter.close()
    return target
