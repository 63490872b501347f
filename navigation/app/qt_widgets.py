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


def fit_label_heights(widget: QtWidgets.QWidget) -> None:
    """Give every word-wrapped label under ``widget`` the height its text needs at its width.

    Layouts in a scroll area do not ask wrapped labels their height for the width they get,
    and squeeze them so lines overlap or are cut off; call after changing texts or widths.
    """
    for label in widget.findChildren(QtWidgets.QLabel):
        if label.wordWrap() and label.isVisibleTo(widget):
            width = max(label.width(), 50)
            needed = label.heightForWidth(width) if label.text() else 0
            if label.minimumHeight() != needed:
                label.setMinimumHeight(needed)
