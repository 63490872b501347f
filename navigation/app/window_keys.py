"""The navigation window's keys and view actions (a mixin of
:class:`~navigation.app.window.NavigationWindow`): one table from key to action (the keys are
listed in :mod:`navigation.app.window`'s docstring and beside the menu items), and the actions
that change what the views show (camera presets, follow the tool, skin transparency, full
screen, fluorescence reset). The registration actions the keys call are
:mod:`navigation.app.window_actions`'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui

from navigation.app.fluorescence import FluorescenceMapper
from navigation.app.slice_mouse import ZOOM_STEP, SliceMouse
from rendering.layout import NavigationLayout
from rendering.orientation import CAMERA_PRESETS

if TYPE_CHECKING:
    from navigation.app.session import NavigationSession

PRESET_KEYS = dict(zip(range(1, 7), CAMERA_PRESETS, strict=False))
SKIN_STEPS = (0.0, 0.35, 0.7, 1.0)


class WindowKeys:
    """Needs the window's session, fluorescence mapper, views, slice mouse, status bar
    (``say``), its registration actions, layouts, notes and Qt's full-screen calls."""

    session: NavigationSession
    fluorescence: FluorescenceMapper | None
    layout_views: NavigationLayout
    slice_mouse: SliceMouse
    say: Callable[[str], None]
    _sweep_timer: QtCore.QTimer
    close: Callable[[], bool]
    isFullScreen: Callable[[], bool]
    showNormal: Callable[[], None]
    showFullScreen: Callable[[], None]
    collect: Callable[[], None]
    register: Callable[[], None]
    accept_registration: Callable[[], None]
    open_override: Callable[[], None]
    start_sweep: Callable[[], None]
    finish_sweep: Callable[[], None]
    cancel_sweep: Callable[[], None]
    toggle_exclude: Callable[[], None]
    landmark_check: Callable[[], None]
    cycle_layout: Callable[[], None]
    set_layout: Callable[..., None]
    snapshot: Callable[[], object]
    bookmark: Callable[[], None]

    def reset_fluorescence(self) -> None:
        if self.fluorescence is not None:
            self.fluorescence.reset()
        else:
            self.session.reset_fluorescence()
        self.say("fluorescence map reset")

    def set_preset(self, name: str) -> None:
        self.layout_views.apply_camera_preset(name)
        self.say(CAMERA_PRESETS[name].caption.replace("\n", " "))

    def toggle_follow(self) -> None:
        display = self.session.set_display(follow_tool=not self.session.display.follow_tool)
        self.say("follow tool on" if display.follow_tool else "follow tool off")

    def cycle_skin(self) -> None:
        current = self.session.display.skin_opacity
        later = [s for s in SKIN_STEPS if s > current + 1e-6]
        opacity = later[0] if later else SKIN_STEPS[0]
        self.session.set_display(skin_opacity=opacity)
        self.say(f"skin opacity {opacity:.0%}")

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def handle_key_press(self, event: QtGui.QKeyEvent) -> bool:
        """Act on a key of the window's table (module docstring of
        :mod:`navigation.app.window`); False when the key is not one of them."""
        key = event.key()
        keys = QtCore.Qt.Key
        if event.isAutoRepeat():
            return True
        if key == keys.Key_Q and event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.close()
            return True
        simple: dict[int, Callable[[], object]] = {
            keys.Key_Space: self.collect,
            keys.Key_R: self.register,
            keys.Key_A: self.accept_registration,
            keys.Key_O: self.open_override,
            keys.Key_S: self.start_sweep,
            keys.Key_X: self.toggle_exclude,
            keys.Key_V: self.landmark_check,
            keys.Key_F: self.toggle_follow,
            keys.Key_T: self.cycle_skin,
            keys.Key_C: self.reset_fluorescence,
            keys.Key_W: lambda: self.say(self.slice_mouse.cycle_window()),
            keys.Key_G: lambda: self.say(self.slice_mouse.cycle_target()),
            keys.Key_Home: lambda: self.say(self.slice_mouse.reset()),
            keys.Key_Plus: lambda: self.say(self.slice_mouse.zoom(ZOOM_STEP)),
            keys.Key_Equal: lambda: self.say(self.slice_mouse.zoom(ZOOM_STEP)),
            keys.Key_Minus: lambda: self.say(self.slice_mouse.zoom(1.0 / ZOOM_STEP)),
            keys.Key_F11: self.toggle_fullscreen,
            keys.Key_Escape: self._escape,
            keys.Key_L: self.cycle_layout,
            keys.Key_P: self.snapshot,
            keys.Key_B: self.bookmark,
            keys.Key_F5: lambda: self.set_layout("views"),
            keys.Key_F6: lambda: self.set_layout("3d"),
            keys.Key_F7: lambda: self.set_layout("ar"),
        }
        if key in simple:
            simple[key]()
            return True
        number = key - keys.Key_0
        if number in PRESET_KEYS:
            self.set_preset(PRESET_KEYS[number])
            return True
        return False

    def handle_key_release(self, event: QtGui.QKeyEvent) -> bool:
        """The sweep key's release refines (unless a timed sweep runs); False for other keys."""
        if event.key() == QtCore.Qt.Key.Key_S and not event.isAutoRepeat():
            if not self._sweep_timer.isActive():
                self.finish_sweep()
            return True
        return False

    def _escape(self) -> None:
        if self.session.status().sweeping:
            self.cancel_sweep()
        elif self.isFullScreen():
            self.showNormal()
