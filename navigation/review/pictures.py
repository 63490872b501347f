"""The review's pictures without a window (``igcs plan --review-pictures``): what a planner
checks before surgery, drawn by the review window's own views offscreen.

Into ``PLAN/review/``: ``axial.png``, ``coronal.png`` and ``sagittal.png`` (the scan windowed
as the review shows it, every label outlined and faintly filled, the registration points
marked), each through the tumour centroid (else the centre of the scan), at
:data:`SLICE_PIXELS` pixels; ``meshes.png``, the 3-D meshes from the front and the patient's
left side (skin half transparent); and ``overview.png``, the review window's four views. The
same :class:`~rendering.review_layout.ReviewLayout` draws them as in ``igcs review``: one
rendering path for the window and the pictures.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import vtk

from navigation.review.landmarks import tumour_centroid
from navigation.review.model import ReviewModel
from rendering.offscreen import configure_offscreen
from rendering.pictures import grab_rgb, write_png
from rendering.review_layout import SLICE_NAMES, ReviewLayout
from rendering.review_marks import SliceReviewMarks
from rendering.scene3d import Scene3D
from rendering.slice_views import SliceView

REVIEW_FOLDER = "review"
SLICE_PIXELS = 900
OVERVIEW_PIXELS = (1600, 1100)
MESH_PIXELS = (1600, 800)


def write_review_pictures(plan_folder: str | Path) -> dict[str, str]:
    """Draw the pictures of the plan folder into its ``review/`` folder; returns
    ``{name: relative path}`` (the plan.json ``files`` entries, ``review_<name>``)."""
    configure_offscreen()
    folder = Path(plan_folder)
    model = ReviewModel.open(folder)
    centre = tumour_centroid(model)
    if centre is not None:
        model.cursor_lps_mm = centre
    model.display = replace(model.display, skin_opacity=0.5)
    out = folder / REVIEW_FOLDER
    out.mkdir(exist_ok=True)
    files: dict[str, str] = {}
    snapshot, marks = model.snapshot(), model.marks()
    volumes = model.slice_volumes()
    for name in SLICE_NAMES:
        window = _offscreen((SLICE_PIXELS, SLICE_PIXELS))
        renderer = vtk.vtkRenderer()
        window.AddRenderer(renderer)
        view = SliceView(renderer, name, volumes)
        view.update(snapshot)
        spacing = float(max(model.geometry.spacing_mm)) / 2.0 + 1e-6
        SliceReviewMarks(renderer).place(marks, view.lps_from_slice, view.mm_per_pixel, spacing)
        files[name] = _save(window, out / f"{name}.png")
    window = _offscreen(MESH_PIXELS)
    for column, preset in enumerate(("anterior", "left")):
        renderer = vtk.vtkRenderer()
        renderer.SetViewport(column / 2, 0.0, (column + 1) / 2, 1.0)
        window.AddRenderer(renderer)
        scene = Scene3D(renderer, model.surface_models(), preset=preset)
        scene.update(replace(snapshot, tool_states={}))
    files["meshes"] = _save(window, out / "meshes.png")
    layout = ReviewLayout(model.surface_models(), volumes, window_size=OVERVIEW_PIXELS)
    layout.render(snapshot, marks)
    write_png(out / "overview.png", layout.screenshot())
    layout.close()
    files["overview"] = f"{REVIEW_FOLDER}/overview.png"
    return {f"review_{name}": path for name, path in files.items()}


def _offscreen(size: tuple[int, int]) -> vtk.vtkRenderWindow:
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetMultiSamples(0)
    window.SetSize(*size)
    return window


def _save(window: vtk.vtkRenderWindow, path: Path) -> str:
    window.Render()
    write_png(path, grab_rgb(window))
    window.Finalize()
    return f"{REVIEW_FOLDER}/{path.name}"
