"""Offscreen VTK rendering set-up.

VTK renders offscreen through Mesa's EGL (Debian packages ``libegl1 libgl1-mesa-dri``, installed
by ``scripts/setup.sh``); without them VTK crashes on the first render. Call
:func:`configure_offscreen` before the first render window is created.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import vtk


def configure_offscreen() -> None:
    """Select VTK's EGL render window and pyvista's offscreen mode, unless already chosen.

    Respects an existing ``VTK_DEFAULT_OPENGL_WINDOW`` (e.g. an X window under Xvfb).
    """
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")
    import pyvista

    pyvista.OFF_SCREEN = True


def window_with_viewports(
    render_window: vtk.vtkRenderWindow | None,
    size: tuple[int, int],
    viewports: Mapping[str, tuple[float, float, float, float]],
) -> tuple[vtk.vtkRenderWindow, dict[str, vtk.vtkRenderer]]:
    """``render_window`` (an offscreen one of ``size`` when None, no multisampling) with one
    renderer per named viewport ((x0, y0, x1, y1) in 0..1): (window, renderers by name)."""
    if render_window is None:
        render_window = vtk.vtkRenderWindow()
        render_window.SetOffScreenRendering(True)
        render_window.SetSize(*size)
    render_window.SetMultiSamples(0)
    renderers: dict[str, vtk.vtkRenderer] = {}
    for name, viewport in viewports.items():
        renderer = vtk.vtkRenderer()
        renderer.SetViewport(*viewport)
        render_window.AddRenderer(renderer)
        renderers[name] = renderer
    return render_window, renderers
