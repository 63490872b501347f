"""Write a fused fluorescence map: ``.vtp`` with per-vertex arrays and PNG views (offscreen).

Point arrays of the ``.vtp`` (pyvista / VTK XML PolyData, LPS mm):
``fluorescence_mean``, ``fluorescence_linear_mean``, ``fluorescence_max`` (NaN = unseen),
``fluorescence_count``, ``fluorescence_saturated_count``, ``fluorescence_last_seen_s``,
``fluorescence_weight``, and with a background mean ``fluorescence_sbr`` and
``fluorescence_flag`` (-1 unseen, 0 negative, 1 close, 2 positive). Field data record the
background mean and the thresholds with their source. Files are written atomically.

PNG views colour the per-vertex SBR in the application's one fluorescence colour scale
(:mod:`rendering.colour_scale`: blue below close, amber close, red-magenta positive, the same
colours as the live 3-D and AR views) with the close/positive thresholds marked on the colour
bar; unseen vertices are neutral grey, never coloured. The caption says what the colour means:
fluorophore within a few millimetres under the surface, not a depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from registration.core.atomic_files import atomic_path
from registration.core.checks import InputError
from rendering.colour_scale import NEUTRAL_RGB, table_rgba
from rendering.fluorescence.fusion import FusedFluorescence
from rendering.fluorescence.metrics import MarginThresholds, margin_flags, vertex_sbr
from rendering.fluorescence.surface_mesh import SurfaceMesh
from rendering.offscreen import configure_offscreen
from rendering.surface_polydata import polydata_from_surface
from rendering.view_state import FluorescenceOverlay

UNSEEN_COLOUR = NEUTRAL_RGB
CAPTION = "Fluorescence SBR on the surface (fluorophore within a few mm under it; not a depth)"


def fluorescence_polydata(
    mesh: SurfaceMesh,
    fused: FusedFluorescence,
    *,
    background_mean: float | None = None,
    thresholds: MarginThresholds | None = None,
) -> Any:
    """A pyvista ``PolyData`` of the mesh with the map's per-vertex arrays (module docstring)."""
    if fused.mean.shape != (mesh.vertex_count,):
        raise InputError(
            f"the map has {fused.mean.shape[0]} vertices, the mesh {mesh.vertex_count}."
        )
    poly = polydata_from_surface(mesh)
    arrays = {
        "fluorescence_mean": fused.mean,
        "fluorescence_linear_mean": fused.linear_mean,
        "fluorescence_max": fused.maximum,
        "fluorescence_count": fused.count,
        "fluorescence_saturated_count": fused.saturated_count,
        "fluorescence_last_seen_s": fused.last_seen_s,
        "fluorescence_weight": fused.weight_sum,
    }
    for name, values in arrays.items():
        poly.point_data[name] = np.array(values)
    if background_mean is not None:
        limits = thresholds or MarginThresholds()
        poly.point_data["fluorescence_sbr"] = vertex_sbr(fused.mean, background_mean)
        poly.point_data["fluorescence_flag"] = margin_flags(
            fused.mean, background_mean, thresholds=limits
        )
        poly.field_data["background_mean"] = np.array([background_mean])
        poly.field_data["positive_sbr"] = np.array([limits.positive_sbr])
        poly.field_data["close_sbr"] = np.array([limits.close_sbr])
        poly.field_data["thresholds_source"] = np.array([limits.source])
    return poly


def write_fluorescence_vtp(
    path: str | Path,
    mesh: SurfaceMesh,
    fused: FusedFluorescence,
    *,
    background_mean: float | None = None,
    thresholds: MarginThresholds | None = None,
) -> Path:
    """Write the map as ``.vtp`` (atomically); returns the path."""
    target = Path(path)
    if target.suffix != ".vtp":
        raise InputError(f"{target}: the fluorescence map is written as .vtp.")
    poly = fluorescence_polydata(
        mesh, fused, background_mean=background_mean, thresholds=thresholds
    )
    with atomic_path(target) as tmp:
        poly.save(tmp)
    return target


def write_fluorescence_png(
    path: str | Path,
    mesh: SurfaceMesh,
    fused: FusedFluorescence,
    *,
    background_mean: float,
    thresholds: MarginThresholds | None = None,
    camera_position: Any = None,
    window_size: tuple[int, int] = (1024, 768),
    scale_max: float | None = None,
    context: Sequence[tuple[Any, tuple[float, float, float], float]] = (),
) -> Path:
    """Render the per-vertex SBR on the model offscreen and write a PNG (atomically).

    camera_position : a pyvista camera position ``[(position), (focal point), (view up)]`` in
        LPS mm; None looks at the seen part of the surface along its mean normal.
    scale_max : top of the colour scale (SBR); default 1.5 x the positive threshold, as in the
        live views.
    context : more surfaces drawn around the map, as (``pyvista.PolyData`` in LPS mm, colour
        r, g, b in 0..1, opacity): the patient's anatomy around a surgical field.
    """
    configure_offscreen()
    import pyvista

    limits = thresholds or MarginThresholds()
    poly = fluorescence_polydata(mesh, fused, background_mean=background_mean, thresholds=limits)
    scale = FluorescenceOverlay(
        "fluorescence",
        np.asarray(poly.point_data["fluorescence_sbr"]),
        thresholds=limits,
        scale_max=scale_max,
    )
    top = float(scale.scale_max or 0.0)
    table = pyvista.LookupTable(
        values=table_rgba(scale), scalar_range=(0.0, top), nan_color=UNSEEN_COLOUR
    )
    plotter = pyvista.Plotter(off_screen=True, window_size=list(window_size))
    try:
        plotter.set_background("white")  # type: ignore[arg-type]
        plotter.add_mesh(
            poly,
            scalars="fluorescence_sbr",
            cmap=table,
            clim=[0.0, top],
            nan_color=UNSEEN_COLOUR,
            smooth_shading=True,
            annotations={
                limits.close_sbr: f"close {limits.close_sbr:g}",
                limits.positive_sbr: f"positive {limits.positive_sbr:g}",
            },
            scalar_bar_args={
                "title": "SBR",
                "color": "black",
                "n_labels": 5,
                "vertical": True,
                "position_x": 0.84,
                "position_y": 0.15,
                "height": 0.7,
                "width": 0.07,
            },
        )
        for surface, colour, opacity in context:
            plotter.add_mesh(surface, color=colour, opacity=opacity, smooth_shading=True)
        plotter.add_text(CAPTION + f"\nthresholds: {limits.source}", font_size=9, color="black")
        if camera_position is None:
            plotter.camera_position = _default_view(mesh, fused)
            plotter.reset_camera()  # type: ignore[call-arg]
        else:
            plotter.camera_position = camera_position
        image = np.asarray(plotter.screenshot(return_img=True))
    finally:
        plotter.close()
    target = Path(path)
    import matplotlib.image

    with atomic_path(target) as tmp:
        matplotlib.image.imsave(tmp, image)
    return target


def _default_view(mesh: SurfaceMesh, fused: FusedFluorescence) -> list[tuple[float, ...]]:
    seen = fused.seen if fused.seen.any() else np.ones(mesh.vertex_count, dtype=bool)
    points = mesh.vertices_in_image[seen]
    centre = points.mean(axis=0)
    normal = mesh.normals[seen].mean(axis=0)
    normal = normal / max(np.linalg.norm(normal), 1e-9)
    extent = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    up = np.cross(normal, (1.0, 0.0, 0.0))
    if np.linalg.norm(up) < 1e-3:
        up = np.cross(normal, (0.0, 1.0, 0.0))
    return [tuple(centre + 1.5 * extent * normal), tuple(centre), tuple(up)]
