"""Pictures of a markerless registration on the patient's skin (pyvista, offscreen).

- ``registration_landmarks.png``: the skin from the front and from the side, the planned
  landmarks (red, labelled), where the pointer touched them after registration (yellow, joined
  to their plan position: the landmark residuals), and the swept points (blue).
- ``registration_residuals.png``: the residual map: each swept point coloured by its signed
  distance to the skin after registration (mm, positive outside), from the front and the side,
  with its scale; a surface registration that fits shows noise, one that does not shows a
  pattern (a tilt, a shifted region).

All positions are image LPS mm; the views are named from the patient as in
:mod:`rendering.snapshot` (anterior: camera at -y, the patient's left on the picture's right).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
from numpy.typing import ArrayLike

from registration.core.checks import check_points
from rendering.offscreen import configure_offscreen

SKIN_RGB = (0.85, 0.70, 0.60)
#: (direction from the focal point to the camera, view-up), LPS: front and left-front.
_VIEWS = (((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)), ((0.7, -0.7, 0.0), (0.0, 0.0, 1.0)))


def write_registration_pictures(
    skin: Any,
    out: str | Path,
    *,
    landmark_names: list[str],
    landmarks_planned_lps_mm: ArrayLike,
    landmarks_touched_lps_mm: ArrayLike,
    sweep_points_lps_mm: ArrayLike,
    sweep_residuals_mm: ArrayLike,
    window_size: tuple[int, int] = (1400, 700),
) -> dict[str, Path]:
    """Write both pictures into the folder ``out``; returns their paths by name.

    skin : ``pyvista.PolyData``, LPS mm. landmarks_* : (N, 3) in plan order. sweep_points :
    (M, 3) registered into the image. sweep_residuals_mm : (M,) signed distances to the skin.
    """
    configure_offscreen()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    planned = check_points(landmarks_planned_lps_mm, "landmarks_planned_lps_mm")
    touched = check_points(landmarks_touched_lps_mm, "landmarks_touched_lps_mm")
    sweep = check_points(sweep_points_lps_mm, "sweep_points_lps_mm")
    residuals = np.asarray(sweep_residuals_mm, dtype=np.float64)
    focus = np.vstack([planned, sweep])
    centre = 0.5 * (focus.min(axis=0) + focus.max(axis=0))
    radius = 0.5 * float(np.linalg.norm(focus.max(axis=0) - focus.min(axis=0)))
    region = skin.clip_box([*(centre - 1.6 * radius), *(centre + 1.6 * radius)], invert=False)
    region = region if region.n_points else skin
    paths = {
        "landmarks": folder / "registration_landmarks.png",
        "residuals": folder / "registration_residuals.png",
    }
    limit = max(1.0, float(np.percentile(np.abs(residuals), 98))) if residuals.size else 1.0

    def draw(plotter: pv.Plotter, picture: str) -> None:
        plotter.add_mesh(region, color=SKIN_RGB, opacity=0.55, smooth_shading=True)
        if picture == "landmarks":
            plotter.add_points(sweep, color=(0.2, 0.35, 0.95), point_size=4)
            plotter.add_points(planned, color="red", point_size=14, render_points_as_spheres=True)
            plotter.add_points(touched, color="yellow", point_size=9, render_points_as_spheres=True)
            for a, b in zip(planned, touched, strict=True):
                plotter.add_mesh(pv.Line(a, b), color="yellow", line_width=3)
            plotter.add_point_labels(
                planned, landmark_names, font_size=12, point_size=1, shape_opacity=0.4
            )
        else:
            cloud = pv.PolyData(sweep)
            cloud.point_data["residual (mm)"] = residuals
            plotter.add_mesh(
                cloud,
                scalars="residual (mm)",
                cmap="coolwarm",
                clim=(-limit, limit),
                point_size=7,
                render_points_as_spheres=True,
                scalar_bar_args={"title": "distance to the skin after registration (mm)"},
            )

    for name, path in paths.items():
        plotter = pv.Plotter(off_screen=True, shape=(1, 2), window_size=list(window_size))
        for column, (direction, up) in enumerate(_VIEWS):
            plotter.subplot(0, column)
            draw(plotter, name)
            view = np.asarray(direction) / np.linalg.norm(direction)
            plotter.camera.focal_point = tuple(centre)
            plotter.camera.position = tuple(centre + 3.0 * radius * view)
            plotter.camera.up = up
            plotter.reset_camera_clipping_range()
        plotter.screenshot(str(path))
        plotter.close()
    return paths
