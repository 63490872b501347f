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
pan (middle or Shift+left drag): :mod:`navigation.app.slice_mouse`. The window's parts: the
keys and view actions (:mod:`navigation.app.window_keys`), the registration actions
(:mod:`navigation.app.window_actions`), the arrangement (:mod:`navigation.app.window_layout`),
the snapshot (:mod:`navigation.app.window_snapshot`). The AR layout (F7) shows
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

from PySide6 import QtCore, QtGui, QtWidgets

from navigation.app.ar_widget import ARWidget
from navigation.app.fluorescence import FluorescenceMapper
from navigation.app.fluorescence_panel import FluorescencePanel
from navigation.app.link_panel import LinkPanel
from navigation.app.override_dialog import OverrideDialog
from navigation.app.registration_panel import RegistrationPanel
from navigation.app.render_loop import RenderLoop
from navigation.app.session import NavigationSession
from navigation.app.slice_mouse import SliceMouse
from navigation.app.window_actions import RegistrationActions
from navigation.app.window_keys import WindowKeys
from navigation.app.window_layout import (
    DEFAULT_LAYOUT,
    LAYOUT_KEYS,
    WINDOW_LAYOUTS,
    ArView,
    fitted_size,
    next_layout,
    open_settings,
    panel_width,
    save_layout,
    saved_layout,
    side_panel,
    status_label,
    views_widget,
)
from navigation.app.window_snapshot import grab_window, save_snapshot, snapshot_footer
from rendering.layout import NavigationLayout
from rendering.scene3d import DEFAULT_TRIANGLE_BUDGET

log = logging.getLogger(__name__)


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


class NavigationWindow(RegistrationActions, WindowKeys, QtWidgets.QMainWindow):
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

        self.vtk_widget = views_widget(self)
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
        self.side_panel = side_panel(
            (self.link_panel, 0), (self.registration_panel, 3), (self.fluorescence_panel, 2)
        )
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
        self.message = status_label()
        self.statusBar().addWidget(self.message, 1)
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

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if not self.handle_key_press(event):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QtGui.QKeyEvent) -> None:
        if not self.handle_key_release(event):
            super().keyReleaseEvent(event)

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
        ar_view = self.ar_view if isinstance(self.ar_view, ARWidget) else None
        image = grab_window(
            self, self.vtk_widget, self.layout_views.screenshot(),
            snapshot_footer(when, frame.snapshot.frame_index, state), ar_view,
        )  # fmt: skip
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
