"""The mouse in the slice views (Qt): window/level, zoom and pan, as in 3D Slicer.

=====================  ============================================================
left drag              window/level: right widens the window, up raises the level
right drag, wheel      zoom (drag up or wheel forward: closer), centred on the slice point
middle / Shift+left    pan: the picture follows the mouse
=====================  ============================================================

:class:`SliceMouse` is an event filter on the VTK widget: events over a slice view are taken
(the 3-D view keeps VTK's trackball); each change goes to the session's display options (the
one source of truth), and the views redraw from the next snapshot. The arithmetic is in pure
functions (:func:`zoomed`, :func:`panned`) the tests check on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from PySide6 import QtCore, QtGui

from navigation.app.session import NavigationSession
from rendering.layout import SLICE_NAMES, NavigationLayout
from rendering.view_state import DisplayOptions
from rendering.window_level import next_preset

#: Field of view change per wheel notch (or per 40 px of right drag).
ZOOM_STEP = 1.15
MIN_FIELD_OF_VIEW_MM = 10.0


def zoomed(display: DisplayOptions, shown_height_mm: float, factor: float) -> DisplayOptions:
    """The display with the slices' field of view divided by ``factor`` (> 1 zooms in) from
    the height now shown, never below :data:`MIN_FIELD_OF_VIEW_MM`."""
    fov = max(MIN_FIELD_OF_VIEW_MM, float(shown_height_mm) / float(factor))
    return replace(display, slice_field_of_view_mm=fov)


def panned(
    display: DisplayOptions,
    screen_right_lps: np.ndarray,
    screen_up_lps: np.ndarray,
    moved_right_mm: float,
    moved_up_mm: float,
) -> DisplayOptions:
    """The display after dragging the picture by (right, up) mm on screen: the view's centre
    moves the other way, so what was under the mouse stays under it."""
    right, up = np.asarray(screen_right_lps), np.asarray(screen_up_lps)
    shift = -(right * moved_right_mm + up * moved_up_mm)
    pan = np.asarray(display.slice_pan_lps_mm) + shift
    return replace(display, slice_pan_lps_mm=(float(pan[0]), float(pan[1]), float(pan[2])))


def reset_view(display: DisplayOptions) -> DisplayOptions:
    """Whole volume, no pan (the window is kept)."""
    return replace(display, slice_field_of_view_mm=None, slice_pan_lps_mm=(0.0, 0.0, 0.0))


@dataclass
class _Drag:
    view: str
    mode: str  # "window", "zoom" or "pan"
    last: QtCore.QPointF


class SliceMouse(QtCore.QObject):
    """Takes mouse events over the slice views of ``layout`` drawn in ``widget``.

    on_change() is called after each change (the window asks for a frame).
    """

    def __init__(
        self,
        widget: QtCore.QObject,
        layout: NavigationLayout,
        session: NavigationSession,
        on_change: Callable[[], None],
    ) -> None:
        super().__init__(widget)
        self.widget = widget
        self.layout = layout
        self.session = session
        self.on_change = on_change
        self._drag: _Drag | None = None

    # ------------------------------------------------------------------ keys' actions
    def cycle_window(self) -> str:
        """The next window preset of the image; returns its caption for the status line."""
        presets = self.session.scene.volumes.presets
        if not presets:
            return "no image in this plan: no window to choose"
        display = self.session.display
        current = display.window_level or self.session.scene.volumes.default_window
        chosen = next_preset(current, presets)
        self.session.set_display(window_level=chosen)
        self.on_change()
        return f"slice window {chosen.caption()}"

    def zoom(self, factor: float, view: str = "axial") -> str:
        """Zoom the slices by ``factor`` (> 1 closer) from what ``view`` shows now."""
        slice_view = self.layout.slices[view]
        shown = slice_view.mm_per_pixel * max(1, slice_view.renderer.GetSize()[1])
        display = self.session.set_display(**_changes(zoomed(self.session.display, shown, factor)))
        self.on_change()
        return f"slices show {display.slice_field_of_view_mm:.0f} mm"

    def reset(self) -> str:
        """The whole volume, no pan."""
        self.session.set_display(**_changes(reset_view(self.session.display)))
        self.on_change()
        return "slices show the whole volume"

    def cycle_target(self) -> str:
        """The target view's next aim: the closest tumour point, then each planned target."""
        names = [None, *(t.name for t in self.session.scene.plan.targets)]
        current = self.session.display.target
        chosen = names[(names.index(current) + 1) % len(names)] if current in names else None
        self.session.set_display(target=chosen)
        self.on_change()
        return f"target view: {chosen or 'closest tumour point'}"

    # ------------------------------------------------------------------ events
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        types = QtCore.QEvent.Type
        if kind == types.Wheel:
            assert isinstance(event, QtGui.QWheelEvent)
            view = self._view_at(event.position())
            if view is None:
                return False
            steps = event.angleDelta().y() / 120.0
            if steps:
                self.zoom(ZOOM_STEP**steps, view)  # the status line is the window's
            return True
        if kind == types.MouseButtonPress:
            assert isinstance(event, QtGui.QMouseEvent)
            view = self._view_at(event.position())
            mode = _mode(event.button(), event.modifiers())
            if view is None or mode is None:
                return False
            self._drag = _Drag(view, mode, event.position())
            return True
        if kind == types.MouseMove and self._drag is not None:
            assert isinstance(event, QtGui.QMouseEvent)
            self._dragged(self._drag, event.position())
            return True
        if kind == types.MouseButtonRelease and self._drag is not None:
            self._drag = None
            return True
        return False

    def _dragged(self, drag: _Drag, position: QtCore.QPointF) -> None:
        right_px = position.x() - drag.last.x()
        up_px = drag.last.y() - position.y()  # Qt's y runs down
        drag.last = position
        view = self.layout.slices[drag.view]
        width_px, height_px = self._view_size(drag.view)
        display = self.session.display
        if drag.mode == "window":
            volumes = self.session.scene.volumes
            current = display.window_level or volumes.default_window
            if current is None:
                return
            changed = current.dragged(
                right_px / width_px, up_px / height_px, span=volumes.value_span
            )
            self.session.set_display(window_level=changed)
        elif drag.mode == "zoom":
            shown = view.mm_per_pixel * max(1, view.renderer.GetSize()[1])
            self.session.set_display(
                **_changes(zoomed(display, shown, ZOOM_STEP ** (up_px / 40.0)))
            )
        else:
            # Widget (logical) pixels to the view's millimetres: the render window may have
            # more pixels than the widget (high-DPI).
            mm = view.mm_per_pixel * view.renderer.GetSize()[1] / height_px
            right, up = view.view.screen_right, view.view.view_up
            self.session.set_display(
                **_changes(panned(display, right, up, right_px * mm, up_px * mm))
            )
        self.on_change()

    def _view_size(self, view: str) -> tuple[float, float]:
        """(width, height) of a view in the widget's logical pixels."""
        x0, y0, x1, y1 = self.layout.renderers[view].GetViewport()
        size = self.widget.size()  # type: ignore[attr-defined]
        return max(1.0, (x1 - x0) * size.width()), max(1.0, (y1 - y0) * size.height())

    def _view_at(self, position: QtCore.QPointF) -> str | None:
        size = self.widget.size()  # type: ignore[attr-defined]
        x = position.x() / max(1, size.width())
        y = 1.0 - position.y() / max(1, size.height())
        view = self.layout.view_at(x, y)
        return view if view in SLICE_NAMES else None


def _mode(button: QtCore.Qt.MouseButton, modifiers: QtCore.Qt.KeyboardModifier) -> str | None:
    buttons = QtCore.Qt.MouseButton
    if button == buttons.MiddleButton or (
        button == buttons.LeftButton and modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier
    ):
        return "pan"
    if button == buttons.LeftButton:
        return "window"
    if button == buttons.RightButton:
        return "zoom"
    return None


def _changes(display: DisplayOptions) -> dict[str, object]:
    return {
        "slice_field_of_view_mm": display.slice_field_of_view_mm,
        "slice_pan_lps_mm": display.slice_pan_lps_mm,
    }
