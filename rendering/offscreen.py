"""Offscreen VTK rendering set-up.

VTK renders offscreen through Mesa's EGL (Debian packages ``libegl1 libgl1-mesa-dri``, installed
by ``scripts/setup.sh``); without them VTK crashes on the first render. Call
:func:`configure_offscreen` before the first render window is created.
"""

from __future__ import annotations

import os


def configure_offscreen() -> None:
    """Select VTK's EGL render window and pyvista's offscreen mode, unless already chosen.

    Respects an existing ``VTK_DEFAULT_OPENGL_WINDOW`` (e.g. an X window under Xvfb).
    """
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")
    import pyvista

    pyvista.OFF_SCREEN = True
