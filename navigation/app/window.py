"""The navigation window (PySide6 + VTK): the views, the registration and fluorescence panels.

The views are one :class:`~rendering.layout.NavigationLayout` drawn into the render window of
VTK's ``QVTKRenderWindowInteractor`` (an X11 OpenGL window on Linux, also under Xvfb). A
:class:`~navigation.app.render_loop.RenderLoop` driven by a single-shot ``QTimer`` draws the
session's newest state at the target rate (newest wins, no backlog); the panels are refreshed
5 times a second from the session and hold no state.

The window takes the screen's available area (1280 x 1024 up to 4K), the panel about a quarter
of it (:mod:`navigation.app.window_layout`), and has the keyboard focus from the start. Keys
(no widget takes the keyboard focus, so they always reach the window):

=========  ==============================================================
Space      collect the current fiducial (the pointer held still on it)
R          register (paired points)
A          accept the registration (only one that passed its checks)
O          override: open the confirmation dialog for a registration that failed its checks
S (hold)   sweep the skin while held; on release refine (surface ICP)
X          exclude / include the selected (else the current) fiducial
V          landmark check: tip distance from the nearest planned fiducial
1-6        camera presets: anterior, posterior, left, right, superior, inferior
F          follow the tool (camera centred on the tip)
T          skin transparency: cycles hidden / 35 % / 70 % / opaque
W          slice window: cycles the image's presets (CT soft tissue, bone, auto)
+ / -      zoom the slices in / out (centred on the tip); Home: whole volume
G          target view: cycles the closest tumour point and the planned targets
C          reset the fluorescence map
F5 F6 F7   layout: 3-D + slices, 3-D only, AR + 3-D (L: the next one; remembered)
P          snapshot: PNG of the whole window with time and state, in the session folder
B          bookmark: a note at the pointer's pose, in the session recording
F11        full screen on / off
Esc        leave full screen; cancel a sweep
Ctrl+Q     quit
=========  ==============================================================

The mouse over a slice view adjusts window/level (left drag), zoom (right drag, wheel) and
pan (middle or Shift+left drag): :mod:`navigation.app.slice_mouse`. The AR layout (F7) shows
:class:`~navigation.app.ar_widget.ARWidget`: the model over the live frame through the
calibrated camera.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import vtk
from PySide6 import QtCore, QtGui, QtWidgets
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from navigation.app.ar_widget import ARWidget
from navigation.app.fluorescence import FluorescenceMapper
from navigation.app.fluorescence_panel import FluorescencePanel
from navigation.app.link_panel import LinkPanel
from navigation.app.override_dialog import OverrideDialog
from navigation.app.qt_widgets import embeddable_render_window
from navigation.app.registration_panel import RegistrationPanel
from navigation.app.render_loop import RenderLoop
from navigation.app.session import NavigationSession
from navigation.app.slice_mouse import ZOOM_STEP, SliceMouse
from navigation.app.window_actions import RegistrationActions
from navigation.app.window_layout import (
    DEFAULT_LAYOUT,
    LAYOUT_KEYS,
    PANEL_MIN_PX,
    WINDOW_LAYOUTS,
    ArView,
    fitted_size,
    next_layout,
    open_settings,
    panel_width,
    save_layout,
    saved_layout,
)
from navigation.app.window_snapshot import compose_snapshot, save_snapshot
from rendering.layout import NavigationLayout
from rendering.orientation import CAMERA_PRESETS
from rendering.pictures import grab_rgb
from rendering.scene3d import DEFAULT_TRIANGLE_BUDGET

log = logging.getLogger(__name__)

PRESET_KEYS = dict(zip(range(1, 7), CAMERA_PRESETS, strict=False))
SKIN_STEPS = (0.0, 0.35, 0.7, 1.0)


@dataclass(frozen=True)
class WindowOptions:
    """Window settings.

    target_fps : render rate. view_size : the window's size (px) wished for; None takes the
    screen's available area; clipped to the screen either way. fullscreen : start full screen.
    triangle_budget : level of detail. sweep_s : the sweep button's duration (s). panel_hz :
    panel refresh rate. stall_threshold_s : display stall threshold. margin_sound : beep when
    the margin warning starts. settings_path : an INI file for the remembered choices (layout);
    None: the user's ``igcs/navigate`` settings. snapshot_dir : where snapshots go; None: the
    session folder (beside the recording).
    """

    target_fps: float = 12.0
    view_size: tuple[int, int] | None = None
    fullscreen: bool = False
    triangle_budget: int = DEFAULT_TRIANGLE_BUDGET
    sweep_s: float = 10.0
    panel_hz: float = 5.0
    stall_threshold_s: float = 1.0
    margin_sound: bool = False
    settings_path: Path | None = None
    snapshot_dir: Path | None = None


class NavigationWindow(RegistrationActions, QtWidgets.QMainWindow):
    """The surgeon's window over one session (see the module docstring for the keys)."""

    wake_requested = QtCore.Signal()
    options: WindowOptions

    def __init__(
        self,
        session: NavigationSession,
        options: WindowOptions | None = None,
        *,
        fluorescence: FluorescenceMapper | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.options = options or WindowOptions()
        self.fluorescence = fluorescence
        self.settings = open_settings(self.options.settings_path)
        self.setWindowTitle(f"igcs navigate - {session.scene.plan.root.name}")
        font = self.font()
        font.setPointSize(14)
        self.setFont(font)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

        self.vtk_widget = QVTKRenderWindowInteractor(self, rw=embeddable_render_window())
        self.vtk_widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.vtk_widget.setMinimumSize(480, 400)
        interactor = self.vtk_widget.GetRenderWindow().GetInteractor()
        interactor.SetInteractorStyle(vtk.vtkInteractorStyleTrackballCamera())
        for event in ("CharEvent", "KeyPressEvent", "KeyReleaseEvent"):
            interactor.RemoveObservers(event)  # VTK's keys ('e' exits, 'w' wireframe...) off
        scene = session.scene
        models = list(scene.models)
        if fluorescence is not None:
            models.append(fluorescence.display_model)
        self.layout_views = NavigationLayout(
            models,
            scene.volumes,
            render_window=self.vtk_widget.GetRenderWindow(),
            triangle_budget=self.options.triangle_budget,
            preset="anterior" if fluorescence is None else fluorescence.facing_preset,
        )
        self.loop = RenderLoop(
            session,
            self.layout_views,
            target_fps=self.options.target_fps,
            on_margin=QtWidgets.QApplication.beep if self.options.margin_sound else None,
        )
        self.slice_mouse = SliceMouse(self.vtk_widget, self.layout_views, session, self._wake)
        self.vtk_widget.installEventFilter(self.slice_mouse)

        self.commands: dict[str, Callable[[], None]] = {
            "collect": self.collect,
            "register": self.register,
            "accept": self.accept_registration,
            "sweep": self.timed_sweep,
            "exclude": self.toggle_exclude,
            "check": self.landmark_check,
            "override": self.open_override,
        }
        self.override_dialog: OverrideDialog | None = None
        self.registration_panel = RegistrationPanel(session, self.commands)
        self.fluorescence_panel = FluorescencePanel(
            fluorescence, self.reset_fluorescence, show_ar=lambda: self.set_layout("ar")
        )
        self.link_panel = LinkPanel(session)
        side = QtWidgets.QWidget()
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.addWidget(self.link_panel)
        side_layout.addWidget(self.registration_panel, stretch=3)
        side_layout.addWidget(self.fluorescence_panel, stretch=2)
        self.side_panel = QtWidgets.QScrollArea()  # the panels never squeeze each other
        self.side_panel.setWidgetResizable(True)
        self.side_panel.setWidget(side)
        self.side_panel.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side_panel.setMinimumWidth(PANEL_MIN_PX)
        self.side_panel.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        # The AR layout's view: the model drawn over the frame through the calibrated camera
        # (VTK), or without intrinsics the raw frame alone.
        self.ar_view: ARWidget | ArView = (
            ArView() if session.intrinsics is None else ARWidget(session, models)
        )
        self.views_splitter = QtWidgets.QSplitter()
        self.views_splitter.addWidget(self.vtk_widget)
        self.views_splitter.addWidget(self.ar_view)
        self.splitter = QtWidgets.QSplitter()
        self.splitter.addWidget(self.views_splitter)
        self.splitter.addWidget(self.side_panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
        self.message = QtWidgets.QLabel()
        status_font = self.message.font()
        status_font.setPointSize(16)
        self.message.setFont(status_font)
        self.message.setMinimumWidth(1)  # long messages wrap, never widen the window
        self.message.setWordWrap(True)
        self.statusBar().addWidget(self.message, 1)
        for widget in side.findChildren(QtWidgets.QWidget):
            widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self._build_menu()
        self.layout_name = DEFAULT_LAYOUT
        self.set_layout(saved_layout(self.settings), remember=False)

        self._render_timer = QtCore.QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self._render_frame)
        self._panel_timer = QtCore.QTimer(self)
        self._panel_timer.setInterval(round(1000 / self.options.panel_hz))
        self._panel_timer.timeout.connect(self.refresh_panels)
        self._sweep_timer = QtCore.QTimer(self)
        self._sweep_timer.setSingleShot(True)
        self._sweep_timer.timeout.connect(self.finish_sweep)
        self._stalls_seen = 0
        self._closed = False
        # Tool state changes (pose store threads) ask for a frame now, through Qt's queue.
        self.wake_requested.connect(self._wake, QtCore.Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = session.store.subscribe(lambda _event: self.wake_requested.emit())
        self._ar_shown: object = None

    def _build_menu(self) -> None:
        """View (layouts, full screen) and Session (snapshot, bookmark) menus; the keys are
        shown beside the items and handled by :meth:`keyPressEvent` (one path for keys)."""
        menu_bar = self.menuBar()
        menu_bar.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        view = menu_bar.addMenu("&View")
        self.layout_actions: dict[str, QtGui.QAction] = {}
        group = QtGui.QActionGroup(self)
        keys = {name: key for key, name in LAYOUT_KEYS.items()}
        for name, layout in WINDOW_LAYOUTS.items():
            action = view.addAction(f"{layout.title}\t{keys[name]}")
            action.setCheckable(True)
            action.triggered.connect(lambda _checked=False, n=name: self.set_layout(n))
            group.addAction(action)
            self.layout_actions[name] = action
        view.addAction("Next layout\tL").triggered.connect(self.cycle_layout)
        view.addSeparator()
        view.addAction("Full screen\tF11").triggered.connect(self.toggle_fullscreen)
        session_menu = menu_bar.addMenu("&Session")
        session_menu.addAction("Snapshot (PNG)\tP").triggered.connect(self.snapshot)
        session_menu.addAction("Bookmark: note at this pose\tB").triggered.connect(self.bookmark)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Fit the screen, show the window with the keyboard focus, start rendering (once)."""
        if self.options.fullscreen:
            self.showFullScreen()
        else:
            self.fit_to_screen()
            self.show()
        self.vtk_widget.Initialize()
        self.activateWindow()
        self.raise_()
        self.setFocus(QtCore.Qt.FocusReason.ActiveWindowFocusReason)
        self.loop.start_watchdog(self.options.stall_threshold_s)
        self._render_timer.start(0)
        self._panel_timer.start()

    def fit_to_screen(self, available: QtCore.QRect | None = None) -> QtCore.QSize:
        """Size the window for a screen's available area (default: this window's screen):
        the wished size clipped to it, the side panel about a quarter of the width."""
        if available is None:
            screen = self.screen() or QtGui.QGuiApplication.primaryScreen()
            available = screen.availableGeometry()
        size = fitted_size(available.size())
        if self.options.view_size is not None:
            size = size.boundedTo(QtCore.QSize(*self.options.view_size))
        chrome = self.frameGeometry().size() - self.geometry().size()  # 0 before shown
        size -= chrome
        self.resize(size)
        panel = panel_width(size.width())
        self.splitter.setSizes([size.width() - panel, panel])
        return size

    def set_layout(self, name: str, *, remember: bool = True) -> None:
        """Show a layout of :data:`~navigation.app.window_layout.WINDOW_LAYOUTS` (remembered
        for the next start unless ``remember`` is False)."""
        layout = WINDOW_LAYOUTS[name]
        self.layout_views.set_arrangement(layout.arrangement)
        self.ar_view.setVisible(layout.ar)
        if layout.ar:
            total = max(2, self.views_splitter.width())
            self.views_splitter.setSizes([total // 2, total - total // 2])
        self.layout_actions[name].setChecked(True)
        self.layout_name = name
        if remember:
            save_layout(self.settings, name)
            self.say(f"layout: {layout.title}")
        if hasattr(self, "_render_timer"):
            self._wake()

    def cycle_layout(self) -> None:
        self.set_layout(next_layout(self.layout_name))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the timers and the watchdog, release the views (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for timer in (self._render_timer, self._panel_timer, self._sweep_timer):
            timer.stop()
        self.loop.close()
        self._unsubscribe()
        self.session.record_event("window_closed", {"render": self.loop.stats().to_dict()})
        if isinstance(self.ar_view, ARWidget):
            self.ar_view.shutdown()
        self.vtk_widget.Finalize()

    def _render_frame(self) -> None:
        if self._closed:
            return
        try:
            self.loop.tick()
            if self.layout_name == "ar":
                self._show_ar()
        except Exception:  # a failing frame must not stop the display
            log.exception("frame failed")
        if not self._closed:
            self._render_timer.start(round(1000 * self.loop.delay_to_next_s()))

    def _show_ar(self) -> None:
        """The AR view: the model over the newest placeable frame (or, without intrinsics, the
        live frame alone) at native size."""
        if isinstance(self.ar_view, ARWidget):
            self.ar_view.refresh()
            return
        frame = self.session.latest_frame
        picture = None if frame is None else frame.pixels
        if picture is not self._ar_shown:
            self._ar_shown = picture
            self.ar_view.show_picture(picture)

    def _wake(self) -> None:
        if not self._closed:
            self._render_timer.start(0)

    def refresh_panels(self) -> None:
        self.registration_panel.refresh()
        self.fluorescence_panel.refresh()
        self.link_panel.refresh()
        stats = self.loop.stats()
        if stats.stalls > self._stalls_seen:
            self._stalls_seen = stats.stalls
            self.say(f"DISPLAY STALLED (longest {stats.longest_stall_ms / 1000:.1f} s)")

    def say(self, text: str) -> None:
        """Show a message in the status bar (large type)."""
        self.message.setText(text)

    # ------------------------------------------------------------------ session notes
    def snapshot(self) -> Path | None:
        """A PNG of the whole window with the time and state, in the session folder
        (recorded as a ``snapshot`` event); returns its path."""
        frame = self.loop.last_frame
        if frame is None:
            self.say("no frame drawn yet: nothing to snapshot")
            return None
        when = datetime.now().astimezone()
        state = self._state_for_notes()
        footer = [
            f"igcs snapshot {when:%Y-%m-%d %H:%M:%S}  frame {frame.snapshot.frame_index}",
            state["registration"],
            "tools: " + ", ".join(f"{k} {v}" for k, v in state["tools"].items()),
            f"guidance: {state['guidance']}",
            "warnings: " + ("; ".join(state["warnings"].values()) or "none").replace("\n", "; "),
        ]
        origin = self.vtk_widget.mapTo(self, QtCore.QPoint(0, 0))
        views = QtCore.QRect(origin, self.vtk_widget.size())
        more = []
        if isinstance(self.ar_view, ARWidget) and self.ar_view.isVisible():
            corner = self.ar_view.mapTo(self, QtCore.QPoint(0, 0))
            ar_rect = QtCore.QRect(corner, self.ar_view.size())
            more.append((grab_rgb(self.ar_view.GetRenderWindow()), ar_rect))
        image = compose_snapshot(
            self.grab().toImage(), self.layout_views.screenshot(), views, footer, more_views=more
        )
        folder = self.options.snapshot_dir or self.session.session_folder
        try:
            path = save_snapshot(image, folder, when, state)
        except OSError as error:
            self.say(f"snapshot not saved: {error}")
            return None
        self.session.record_event("snapshot", {"path": str(path), **state})
        self.say(f"snapshot saved: {path}")
        return path

    def bookmark(self) -> None:
        """Record a note at the pointer's pose now (``bookmark`` event)."""
        note = self.session.bookmark(self._state_for_notes())
        tip = note["tip_lps_mm"]
        where = (
            "pointer not placed" if tip is None else "tip at " + ", ".join(f"{v:.1f}" for v in tip)
        )
        self.say(f"bookmark {note['index']}: {where}")

    def _state_for_notes(self) -> dict[str, Any]:
        """What the screen shows now, for snapshots and bookmarks."""
        frame = self.loop.last_frame
        snapshot = None if frame is None else frame.snapshot
        return {
            "registration": self.session.workflow.state().banner()[0],
            "layout": self.layout_name,
            "tools": {} if snapshot is None else dict(snapshot.tool_states),
            "guidance": self.layout_views.guidance.text,
            "warnings": dict(self.layout_views.alarms.shown),
        }

    # ------------------------------------------------------------------ actions
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

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key = event.key()
        keys = QtCore.Qt.Key
        if event.isAutoRepeat():
            return
        if key == keys.Key_Q and event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.close()
            return
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
            return
        number = key - keys.Key_0
        if number in PRESET_KEYS:
            self.set_preset(PRESET_KEYS[number])
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == QtCore.Qt.Key.Key_S and not event.isAutoRepeat():
            if not self._sweep_timer.isActive():
                self.finish_sweep()
            return
        super().keyReleaseEvent(event)

    def _escape(self) -> None:
        if self.session.status().sweeping:
            self.cancel_sweep()
        elif self.isFullScreen():
            self.showNormal()


def run_window(
    session: NavigationSession,
    options: WindowOptions | None = None,
    *,
    fluorescence: FluorescenceMapper | None = None,
) -> int:
    """Open the window over a (connected) session and run Qt's event loop until it closes.
    Returns the exit status."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = NavigationWindow(session, options, fluorescence=fluorescence)
    window.start()
    status = app.exec()
    window.shutdown()
    return int(status)
