"""Small Qt building blocks shared by the window's panels (PySide6)."""

from __future__ import annotations

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
