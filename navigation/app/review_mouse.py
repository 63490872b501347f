"""The mouse in the review window (Qt): clicks place, drags adjust the views.

=====================  ============================================================
left click             what the current tool does (navigate, place a landmark, ...)
left drag (slices)     window/level, as in 3D Slicer and the navigation window
right drag, wheel      zoom the slices; middle or Shift+left drag: pan
left drag (3-D)        turn the camera (VTK's trackball)
=====================  ============================================================

A press and release less than :data:`CLICK_PIXELS` apart is a click: :class:`ReviewMouse`
hands it to ``on_click(view, column, row)`` in render-window pixels (row 0 at the top). Drags
over a slice change the model's display options with the navigation's own arithmetic
(:func:`navigation.app.slice_mouse.zoomed`, :func:`~navigation.app.slice_mouse.panned`);
drags over the 3-D view are left to VTK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6 import QtCore, QtGui

from navigation.app.slice_mouse import ZOOM_STEP, panned, zoomed
from navigation.review.model import ReviewModel
from rendering.review_layout import SLICE_NAMES, ReviewLayout

#: A press and release closer than this (widget pixels) is a click, not a drag.
CLICK_PIXELS = 4.0


@dataclass
class _Press:
    view: str
    button: QtCore.Qt.MouseButton
    shift: bool
    start: QtCore.QPointF
    last: QtCore.QPointF
    dragged: bool = False


class ReviewMouse(QtCore.QObject):
    """Event filter on the VTK widget showing ``layout``; see the module docstring."""

    def __init__(
        self,
        widget: QtCore.QObject,
        layout: ReviewLayout,
        model: ReviewModel,
        on_click: Callable[[str, float, float], None],
        on_display: Callable[[], None],
    ) -> None:
        super().__init__(widget)
        self.widget, self.layout, self.model = widget, layout, model
        self.on_click, self.on_display = on_click, on_display
        self._press: _Press | None = None

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind, types = event.type(), QtCore.QEvent.Type
        if kind == types.Wheel:
            assert isinstance(event, QtGui.QWheelEvent)
            view = self._view_at(event.position())
            if view not in SLICE_NAMES:
                return False
            self.zoom(ZOOM_STEP ** (event.angleDelta().y() / 120.0), view)
            return True
        if kind == types.MouseButtonPress:
            assert isinstance(event, QtGui.QMouseEvent)
            view = self._view_at(event.position())
            if view is None:
                return False
            shift = bool(event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
            self._press = _Press(view, event.button(), shift, event.position(), event.position())
            return view != "3d"  # VTK turns the camera on its own
        if kind == types.MouseMove and self._press is not None:
            assert isinstance(event, QtGui.QMouseEvent)
            press = self._press
            moved = event.position() - press.start
            if abs(moved.x()) + abs(moved.y()) > CLICK_PIXELS:
                press.dragged = True
            if press.view == "3d":
                return False
            if press.dragged:
                self._drag(press, event.position())
            return True
        if kind == types.MouseButtonRelease and self._press is not None:
            assert isinstance(event, QtGui.QMouseEvent)
            press, self._press = self._press, None
            if not press.dragged and press.button == QtCore.Qt.MouseButton.LeftButton:
                column, row = self._pixels(event.position())
                self.on_click(press.view, column, row)
            return press.view != "3d"
        return False

    def zoom(self, factor: float, view: str = "axial") -> None:
        slice_view = self.layout.slices[view]
        shown = slice_view.mm_per_pixel * max(1, slice_view.renderer.GetSize()[1])
        self.model.display = zoomed(self.model.display, shown, factor)
        self.on_display()

    def _drag(self, press: _Press, position: QtCore.QPointF) -> None:
        right_px = position.x() - press.last.x()
        up_px = press.last.y() - position.y()
        press.last = position
        view = self.layout.slices[press.view]
        width, height = self._view_size(press.view)
        display = self.model.display
        volumes = self.layout.volumes
        buttons = QtCore.Qt.MouseButton
        if press.button == buttons.MiddleButton or (
            press.button == buttons.LeftButton and press.shift
        ):
            mm = view.mm_per_pixel * view.renderer.GetSize()[1] / height
            right, up = view.view.screen_right, view.view.view_up
            self.model.display = panned(display, right, up, right_px * mm, up_px * mm)
        elif press.button == buttons.LeftButton:
            current = display.window_level or volumes.default_window
            if current is None:
                return
            changed = current.dragged(right_px / width, up_px / height, span=volumes.value_span)
            self.model.display = replace(display, window_level=changed)
        elif press.button == buttons.RightButton:
            shown = view.mm_per_pixel * max(1, view.renderer.GetSize()[1])
            self.model.display = zoomed(display, shown, ZOOM_STEP ** (up_px / 40.0))
        self.on_display()

    def _pixels(self, position: QtCore.QPointF) -> tuple[float, float]:
        """Widget (logical) pixels to render-window pixels (high-DPI screens differ)."""
        size = self.widget.size()  # type: ignore[attr-defined]
        width, height = self.layout.render_window.GetSize()
        return (
            position.x() * width / max(1, size.width()),
            position.y() * height / max(1, size.height()),
        )

    def _view_size(self, view: str) -> tuple[float, float]:
        x0, y0, x1, y1 = self.layout.renderers[view].GetViewport()
        size = self.widget.size()  # type: ignore[attr-defined]
        return max(1.0, (x1 - x0) * size.width()), max(1.0, (y1 - y0) * size.height())

    def _view_at(self, position: QtCore.QPointF) -> str | None:
        column, row = self._pixels(position)
        return self.layout.view_at(column, row)
