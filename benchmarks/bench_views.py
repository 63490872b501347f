"""Frame cost of the navigation layout against a bare VTK render of the same meshes.

Run: ``python benchmarks/bench_views.py [--frames N] [--budget TRIANGLES]``

For input plans of about 100k and 500k triangles (skin, bone, tumour, three nodes) it renders
the full layout (3-D view with the fluorescence map on the tumour, the closest tumour point and
its line + three slice views of the grey image (windowed) with label outlines, cross-hair,
closest-point ring and line + the target view + badges + guidance, the pointer moving every
frame so every slice is recut) offscreen at 1280x1024, interleaved frame by frame with

- a bare VTK render of the same input meshes (one renderer, same window size, same colours and
  skin opacity, nothing else), the issue's reference; and
- a bare VTK render of the decimated meshes the layout actually draws (what the layout's own
  overhead costs on top of the renderer).

With ``--warnings`` every layout frame also shows the warnings nobody can miss (the full-width
margin band and the red UNVERIFIED REGISTRATION label: the alarm overlay's worst steady case).

Each frame ends with ``WaitForCompletion`` (glFinish) so the software rasteriser's work is
counted. Medians of per-frame wall times; the machine is shared, so ratios from interleaved
frames are more stable than absolute times.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")

import numpy as np
import pyvista as pv
import vtk
from bare_render import bare_window  # benchmarks/bare_render.py (run as a script)

from registration.core.geometry import ImageGeometry
from rendering.layout import NavigationLayout
from rendering.scene3d import DEFAULT_TRIANGLE_BUDGET, SurfaceModel
from rendering.slice_views import SliceVolumes
from rendering.view_state import (
    DisplayOptions,
    FluorescenceOverlay,
    Guidance,
    RegistrationStatus,
    ViewSnapshot,
)

WINDOW = (1280, 1024)
SKIN_OPACITY = 0.35
TUMOUR_CENTRE = np.array([-20.0, -50.0, 10.0])


def _ellipsoid(total: int, semi_axes: tuple[float, float, float]) -> pv.PolyData:
    """A UV ellipsoid with about ``total`` triangles (2 * theta * (phi - 2))."""
    theta = max(8, int(np.sqrt(total)))
    phi = max(6, int(total / (2 * theta)) + 2)
    return pv.Sphere(radius=1.0, theta_resolution=theta, phi_resolution=phi).scale(
        semi_axes, inplace=False
    )


def make_plan(total_triangles: int) -> tuple[list[SurfaceModel], SliceVolumes]:
    """Synthetic head: skin 70 %, bone 25 %, tumour 3 %, nodes 2 % of the triangles."""
    skin = _ellipsoid(int(0.70 * total_triangles), (70.0, 90.0, 100.0))
    bone = _ellipsoid(int(0.25 * total_triangles), (60.0, 78.0, 88.0))
    tumour = _ellipsoid(int(0.03 * total_triangles), (12.0, 12.0, 12.0)).translate(TUMOUR_CENTRE)
    models = [
        SurfaceModel("skin", skin, (0.9, 0.75, 0.65), role="skin"),
        SurfaceModel("bone", bone, (0.95, 0.93, 0.85), role="bone"),
        SurfaceModel("tumour", tumour, (0.8, 0.25, 0.2), role="tumour"),
    ]
    for index, centre in enumerate(([35.0, -40.0, -60.0], [-35.0, -40.0, -60.0], [0, -60, -70])):
        node = _ellipsoid(int(0.02 * total_triangles / 3), (5.0, 5.0, 7.0)).translate(centre)
        models.append(SurfaceModel(f"node{index}", node, (0.3, 0.8, 0.3), role="node"))
    geometry = ImageGeometry((141, 181, 201), np.array([-70.0, -90.0, -100.0]), np.ones(3))
    n_k, n_j, n_i = geometry.shape_kji
    z, y, x = np.meshgrid(
        np.arange(n_k) - 100.0, np.arange(n_j) - 90.0, np.arange(n_i) - 70.0, indexing="ij"
    )
    labels = np.zeros(geometry.shape_kji, np.int16)
    labels[(x / 70) ** 2 + (y / 90) ** 2 + (z / 100) ** 2 <= 1] = 1
    labels[(x / 60) ** 2 + (y / 78) ** 2 + (z / 88) ** 2 <= 1] = 2
    labels[(x + 20) ** 2 + (y + 50) ** 2 + (z - 10) ** 2 <= 144] = 3
    background = (labels * 300.0 - 1000.0).astype(np.float32)
    volumes = SliceVolumes(
        geometry,
        labels,
        {1: (0.9, 0.75, 0.65), 2: (0.95, 0.93, 0.85), 3: (0.8, 0.25, 0.2)},
        background=background,
        background_window=(-1000.0, 1000.0),
    )
    return models, volumes


def bare_of(meshes: list[tuple[pv.PolyData, SurfaceModel]]) -> vtk.vtkRenderWindow:
    """The bare VTK render of these meshes, with the layout's materials."""
    return bare_window(
        (mesh, model.color, SKIN_OPACITY if model.role == "skin" else 1.0) for mesh, model in meshes
    )


def timed(action: Callable[[], None], window: vtk.vtkRenderWindow) -> tuple[float, float]:
    """(wall ms, CPU ms of this process: all threads, including the rasteriser's)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    window.WaitForCompletion()
    return (time.perf_counter() - wall) * 1000.0, (time.process_time() - cpu) * 1000.0


def run(total_triangles: int, frames: int, budget: int, warnings: bool = False) -> dict[str, float]:
    models, volumes = make_plan(total_triangles)
    start = time.perf_counter()
    layout = NavigationLayout(models, volumes, window_size=WINDOW, triangle_budget=budget)
    build_s = time.perf_counter() - start
    tumour = next(m for m in models if m.name == "tumour").mesh
    x = np.asarray(tumour.points)[:, 0]
    values = np.where(x < TUMOUR_CENTRE[0], 2.6, np.nan)
    values[(x >= TUMOUR_CENTRE[0] - 4.0) & (x < TUMOUR_CENTRE[0])] = 1.7
    values.setflags(write=False)
    fluorescence = FluorescenceOverlay("tumour", values)
    display = DisplayOptions(skin_opacity=SKIN_OPACITY)
    inputs = bare_of([(m.mesh, m) for m in models])
    drawn = bare_of([(layout.scene.display_meshes[m.name].mesh, m) for m in models])
    layout_ms: list[tuple[float, float]] = []
    input_ms: list[tuple[float, float]] = []
    drawn_ms: list[tuple[float, float]] = []
    for frame in range(frames + 3):
        tip = TUMOUR_CENTRE + np.array([10.0 * np.sin(frame / 7), -25.0, 10.0 * np.cos(frame / 7)])
        pose = np.eye(4)
        pose[:3, 3] = tip + np.array([-40.0, -80.0, 60.0])
        towards_tip = (tip - TUMOUR_CENTRE) / np.linalg.norm(tip - TUMOUR_CENTRE)
        closest = TUMOUR_CENTRE + 12.0 * towards_tip  # on the tumour sphere (r = 12 mm)
        snapshot = ViewSnapshot(
            frame,
            frame / 30.0,
            {"Pointer": "OK", "Reference": "OK", "NIRCamera": "OUT_OF_VIEW"},
            image_from_pointer=pose,
            pointer_tip_lps_mm=tip,
            fluorescence=fluorescence,
            guidance=Guidance(
                3.0 if warnings else 12.0,
                None if warnings else 0.8,
                warnings,
                5.0,
                closest_point_lps_mm=closest,
                target_lps_mm=closest,
                tre_valid=not warnings,
            ),
            display=display,
            registration=RegistrationStatus(
                not warnings, "UNVERIFIED REGISTRATION (override): FRE 40.10 mm > alarm 1.35 mm"
            ),
        )
        times = (
            timed(lambda s=snapshot: layout.render(s), layout.render_window),
            timed(inputs.Render, inputs),
            timed(drawn.Render, drawn),
        )
        if frame >= 3:  # warm-up frames build textures and shaders
            for series, value in zip((layout_ms, input_ms, drawn_ms), times, strict=True):
                series.append(value)
    lay, inp, drw = (np.array(series) for series in (layout_ms, input_ms, drawn_ms))
    result = {
        "input_triangles": float(sum(m.mesh.n_cells for m in models)),
        "drawn_triangles": float(layout.scene.triangle_count),
        "build_s": build_s,
        "layout_ms": float(np.median(lay[:, 0])),
        "layout_p95_ms": float(np.percentile(lay[:, 0], 95)),
        "layout_cpu_ms": float(np.median(lay[:, 1])),
        "bare_input_ms": float(np.median(inp[:, 0])),
        "bare_input_cpu_ms": float(np.median(inp[:, 1])),
        "bare_drawn_ms": float(np.median(drw[:, 0])),
        "ratio_input": float(np.median(lay[:, 0] / inp[:, 0])),
        "ratio_input_cpu": float(np.median(lay[:, 1] / inp[:, 1])),
        "ratio_drawn": float(np.median(lay[:, 0] / drw[:, 0])),
        "ratio_drawn_cpu": float(np.median(lay[:, 1] / drw[:, 1])),
    }
    for window in (inputs, drawn):
        window.Finalize()
    layout.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="timed frames per size")
    parser.add_argument("--budget", type=int, default=DEFAULT_TRIANGLE_BUDGET)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 500_000])
    parser.add_argument(
        "--warnings", action="store_true", help="margin band and UNVERIFIED label in every frame"
    )
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.platform()}, "
        f"VTK {vtk.vtkVersion.GetVTKVersion()} offscreen "
        f"({os.environ['VTK_DEFAULT_OPENGL_WINDOW']}), window {WINDOW[0]}x{WINDOW[1]}, "
        f"triangle budget {args.budget}, {args.frames} frames"
        + (", warnings shown" if args.warnings else "")
    )
    header = (
        f"{'input tri':>10} {'drawn tri':>10} {'build s':>8} {'layout ms':>10} {'p95 ms':>7} "
        f"{'cpu ms':>7} {'bare(in) ms':>12} {'cpu ms':>7} {'ratio(in)':>10} {'cpu':>5} "
        f"{'bare(drawn) ms':>15} {'ratio(drawn)':>13} {'cpu':>5}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        r = run(size, args.frames, args.budget, args.warnings)
        print(
            f"{r['input_triangles']:>10.0f} {r['drawn_triangles']:>10.0f} {r['build_s']:>8.2f} "
            f"{r['layout_ms']:>10.1f} {r['layout_p95_ms']:>7.1f} {r['layout_cpu_ms']:>7.1f} "
            f"{r['bare_input_ms']:>12.1f} {r['bare_input_cpu_ms']:>7.1f} "
            f"{r['ratio_input']:>10.2f} {r['ratio_input_cpu']:>5.2f} "
            f"{r['bare_drawn_ms']:>15.1f} {r['ratio_drawn']:>13.2f} {r['ratio_drawn_cpu']:>5.2f}"
        )
    print(
        "ms = median wall time per frame (glFinish included); cpu = this process's CPU time "
        "(all threads), robust to other load on a shared machine. ratio = median over frames of "
        "layout / bare VTK in the same frame pair (target <= 1.2 against the input meshes); "
        "bare(drawn) renders the decimated meshes the layout draws."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
