"""Small Qt building blocks shared by the window's panels and views (PySide6)."""

from __future__ import annotations

import sys

import vtk
from PySide6 import QtWidgets


def large_label(size: int, *, bold: bool = False) -> QtWidgets.QLabel:
    """A word-wrapped label in ``size``-point type (readable at a glance from the table)."""
    label = QtWidgets.QLabel()
    font = label.font()
    font.setPointSize(size)
    font.setBold(bold)
    label.setFont(font)
    label.setWordWrap(True)
    return label


def embeddable_render_window() -> vtk.vtkRenderWindow:
    """An on-screen render window Qt can embed (X11 GLX on Linux whatever VTK's default)."""
    if sys.platform.startswith("linux"):
        from vtkmodules.vtkRenderingOpenGL2 import vtkXOpenGLRenderWindow

        return vtkXOpenGLRenderWindow()
    return vtk.vtkRenderWindow()
