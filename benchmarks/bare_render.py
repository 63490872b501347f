"""The baseline the view benchmarks divide by: a bare VTK render of the same meshes.

One renderer, the meshes alone (no slices, badges, text or scalars), the same window size and
materials as the layout, camera from the patient's anterior (-y, LPS). Shared by
``bench_views.py`` and ``bench_app_latency.py`` (run as scripts, so imported by file name).
"""

from __future__ import annotations

from collections.abc import Iterable

import vtk

WINDOW = (1280, 1024)


def bare_window(
    meshes: Iterable[tuple[vtk.vtkPolyData, tuple[float, float, float], float]],
    size: tuple[int, int] = WINDOW,
) -> vtk.vtkRenderWindow:
    """An offscreen window drawing each (mesh, colour, opacity), nothing else."""
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(*size)
    window.SetMultiSamples(0)
    renderer = vtk.vtkRenderer()
    renderer.SetBackground(0.12, 0.13, 0.16)
    window.AddRenderer(renderer)
    for mesh, color, opacity in meshes:
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputData(mesh)
        mapper.ScalarVisibilityOff()
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*color)
        actor.GetProperty().SetOpacity(opacity)
        renderer.AddActor(actor)
    camera = renderer.GetActiveCamera()
    camera.SetPosition(0.0, -500.0, 0.0)
    camera.SetFocalPoint(0.0, 0.0, 0.0)
    camera.SetViewUp(0.0, 0.0, 1.0)
    renderer.ResetCamera()
    return window
