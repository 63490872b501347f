"""How the navigation window is arranged: named layouts, their keys, fitting the screen, and
remembering the surgeon's choice (Qt's ``QSettings``).

Layouts (:data:`WINDOW_LAYOUTS`): "views" (the 3-D view large with the three slices), "3d"
(the 3-D view alone) and "ar" (the AR view of the camera beside the 3-D view). Each names the
arrangement of the VTK views (:data:`rendering.layout.LAYOUTS`) and whether the AR view is
shown. The registration/fluorescence panel stays on the right in every layout: the
registration in force must always be visible.

The widgets that make the arrangement: the VTK views' widget (:func:`views_widget`), the
side panel (:func:`side_panel`) and the status bar's label (:func:`status_label`).

Fitting: the window takes the screen's available area (up to :data:`LARGEST_WINDOW`), the
panel about a quarter of its width (360-560 px), and nothing has a minimum size that could
push the window past a 1280 x 1024 screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vtk
from PySide6 import QtCore, QtGui, QtWidgets
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from navigation.app.qt_widgets import embeddable_render_window


@dataclass(frozen=True)
class WindowLayout:
    """title : menu text. arrangement : the VTK views' arrangement. ar : show the AR view."""

    title: str
    arrangement: str
    ar: bool


WINDOW_LAYOUTS: dict[str, WindowLayout] = {
    "views": WindowLayout("3-D + slices", "views", False),
    "3d": WindowLayout("3-D only", "3d", False),
    "ar": WindowLayout("AR + 3-D", "3d", True),
}
#: Keys choosing a layout directly (L cycles through them).
LAYOUT_KEYS: dict[str, str] = {"F5": "views", "F6": "3d", "F7": "ar"}
DEFAULT_LAYOUT = "views"
#: The window never asks for more than this (a 4K screen gets a 3840 x 2160 window).
LARGEST_WINDOW = (3840, 2160)
#: The smallest screen the window must fit without clipping.
SMALLEST_SCREEN = (1280, 1024)
PANEL_MIN_PX, PANEL_MAX_PX = 380, 560
SETTINGS_KEY = "window/layout"


def panel_width(window_width: int) -> int:
    """The side panel's width for a window this wide (px)."""
    return max(PANEL_MIN_PX, min(PANEL_MAX_PX, round(0.27 * window_width)))


def fitted_size(available: QtCore.QSize) -> QtCore.QSize:
    """The window size for a screen's available area: all of it, up to :data:`LARGEST_WINDOW`
    (window decorations are the window manager's and come on top)."""
    return QtCore.QSize(
        min(available.width(), LARGEST_WINDOW[0]), min(available.height(), LARGEST_WINDOW[1])
    )


def open_settings(path: str | Path | None = None) -> QtCore.QSettings:
    """The settings store: an INI file at ``path``, else the user's ``igcs/navigate``."""
    if path is not None:
        return QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)
    return QtCore.QSettings("igcs", "navigate")


def saved_layout(settings: QtCore.QSettings) -> str:
    """The layout chosen last time (the default when none or an unknown one was saved)."""
    name = settings.value(SETTINGS_KEY, DEFAULT_LAYOUT)
    return name if isinstance(name, str) and name in WINDOW_LAYOUTS else DEFAULT_LAYOUT


def save_layout(settings: QtCore.QSettings, name: str) -> None:
    settings.setValue(SETTINGS_KEY, name)
    settings.sync()


def next_layout(name: str) -> str:
    """The layout after ``name`` in :data:`WINDOW_LAYOUTS` order (wrapping)."""
    names = list(WINDOW_LAYOUTS)
    return names[(names.index(name) + 1) % len(names)]


class ArView(QtWidgets.QLabel):
    """The AR view of the "ar" layout: the camera picture (the model drawn over the frame when
    fluorescence mapping runs, else the live frame) at its native size, scaled down only when
    it does not fit, aspect kept."""

    def __init__(self) -> None:
        super().__init__("no camera frame")
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: black; color: #aaa")
        self.setMinimumSize(240, 180)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored
        )
        self._pixmap: QtGui.QPixmap | None = None

    def show_picture(self, picture: np.ndarray | None) -> None:
        """Show a (H, W, 3) uint8 RGB or (H, W) grey picture (None: "no camera frame")."""
        if picture is None:
            self._pixmap = None
            self.setText("no camera frame")
            return
        array = np.asarray(picture)
        if array.ndim == 2:
            grey = array.astype(np.float64)
            span = max(float(grey.max() - grey.min()), 1e-9)
            array = np.repeat(((grey - grey.min()) / span * 255).astype(np.uint8)[..., None], 3, 2)
        rgb = np.ascontiguousarray(array, dtype=np.uint8)
        height, width, _ = rgb.shape
        image = QtGui.QImage(rgb.data, width, height, 3 * width, QtGui.QImage.Format.Format_RGB888)
        self._pixmap = QtGui.QPixmap.fromImage(image.copy())
        self._fit()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is None:
            return
        if self._pixmap.width() <= self.width() and self._pixmap.height() <= self.height():
            self.setPixmap(self._pixmap)  # native size: one camera pixel per screen pixel
        else:
            self.setPixmap(
                self._pixmap.scaled(
                    self.size(),
                    QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                    QtCore.Qt.TransformationMode.SmoothTransformation,
                )
            )


def views_widget(parent: QtWidgets.QWidget) -> QVTKRenderWindowInteractor:
    """The VTK views' Qt widget: trackball camera, no keyboard focus and none of VTK's own keys
    ('e' exits, 'w' wireframe...): the window handles every key."""
    widget = QVTKRenderWindowInteractor(parent, rw=embeddable_render_window())
    widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    widget.setMinimumSize(480, 400)
    interactor = widget.GetRenderWindow().GetInteractor()
    interactor.SetInteractorStyle(vtk.vtkInteractorStyleTrackballCamera())
    for event in ("CharEvent", "KeyPressEvent", "KeyReleaseEvent"):
        interactor.RemoveObservers(event)
    return widget


def side_panel(*panels: tuple[QtWidgets.QWidget, int]) -> QtWidgets.QScrollArea:
    """The panels (widget, stretch) stacked in a scroll area, so they never squeeze each other;
    none of them takes the keyboard focus (the keys always reach the window)."""
    side = QtWidgets.QWidget()
    side_layout = QtWidgets.QVBoxLayout(side)
    for panel, stretch in panels:
        side_layout.addWidget(panel, stretch=stretch)
    area = QtWidgets.QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(side)
    area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(PANEL_MIN_PX)
    area.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    for widget in side.findChildren(QtWidgets.QWidget):
        widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    return area


def status_label() -> QtWidgets.QLabel:
    """The status bar's message: large type; long messages wrap, never widen the window."""
    label = QtWidgets.QLabel()
    font = label.font()
    font.setPointSize(16)
    label.setFont(font)
    label.setMinimumWidth(1)
    label.setWordWrap(True)
    return label
