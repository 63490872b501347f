"""The navigation window (PySide6 + VTK): the views, the registration and fluorescence panels.

The views are one :class:`~rendering.layout.NavigationLayout` drawn into the render window of
VTK's ``QVTKRenderWindowInteractor`` (an X11 OpenGL window on Linux, also under Xvfb). A
:class:`~navigation.app.render_loop.RenderLoop` driven by a single-shot ``QTimer`` draws the
session's newest state at the target rate (newest wins, no backlog); the panels are refreshed
5 times a second from the session and hold no state.

Keys (no widget takes the keyboard focus, so they always reach the window):

=========  ==============================================================
Space      collect the current fiducial (the pointer held still on it)
R          register (paired points)
A          accept the registration
S (hold)   sweep the skin while held; on release refine (surface ICP)
X          exclude / include the selected (else the current) fiducial
V          landmark check: tip distance from the nearest planned fiducial
1-6        camera presets: anterior, posterior, left, right, superior, inferior
F          follow the tool (camera centred on the tip)
T          skin transparency: cycles hidden / 35 % / 70 % / opaque
C          reset the fluorescence map
F11        full screen on / off
Esc        leave full screen; cancel a sweep
Ctrl+Q     quit
=========  ==============================================================
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

import vtk
from PySide6 import QtCore, QtGui, QtWidgets
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from navigation.app.fluorescence import FluorescenceMapper
from navigation.app.fluorescence_panel import FluorescencePanel
from navigation.app.link_panel import LinkPanel
from navigation.app.registration_panel import RegistrationPanel
from navigation.app.render_loop import RenderLoop
from navigation.app.session import NavigationSession
from registration.checks import InputError
from rendering.layout import NavigationLayout
from rendering.orientation import CAMERA_PRESETS
from rendering.scene3d import DEFAULT_TRIANGLE_BUDGET

log = logging.getLogger(__name__)

PRESET_KEYS = dict(zip(range(1, 7), CAMERA_PRESETS, strict=False))
SKIN_STEPS = (0.0, 0.35, 0.7, 1.0)


@dataclass(frozen=True)
class WindowOptions:
    """Window settings: render rate, the views' size, full screen, level of detail, the
    sweep button's duration (s), panel refresh rate (Hz), stall threshold (s)."""

    target_fps: float = 12.0
    view_size: tuple[int, int] = (1280, 1024)
    fullscreen: bool = False
    triangle_budget: int = DEFAULT_TRIANGLE_BUDGET
    sweep_s: float = 10.0
    panel_hz: float = 5.0
    stall_threshold_s: float = 1.0


def _render_window() -> vtk.vtkRenderWindow:
    """An on-screen render window Qt can embed (X11 GLX on Linux whatever VTK's default)."""
    if sys.platform.startswith("linux"):
        from vtkmodules.vtkRenderingOpenGL2 import vtkXOpenGLRenderWindow

        return vtkXOpenGLRenderWindow()
    return vtk.vtkRenderWindow()


class NavigationWindow(QtWidgets.QMainWindow):
    """The surgeon's window over one session (see the module docstring for the keys)."""

    wake_requested = QtCore.Signal()

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
        self.setWindowTitle(f"igcs navigate - {session.scene.plan.root.name}")
        font = self.font()
        font.setPointSize(14)
        self.setFont(font)

        self.vtk_widget = QVTKRenderWindowInteractor(self, rw=_render_window())
        self.vtk_widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        width, height = self.options.view_size
        self.vtk_widget.setMinimumSize(min(width, 640), min(height, 512))
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
        self.loop = RenderLoop(session, self.layout_views, target_fps=self.options.target_fps)

        self.commands: dict[str, Callable[[], None]] = {
            "collect": self.collect,
            "register": self.register,
            "accept": self.accept_registration,
            "sweep": self.timed_sweep,
            "exclude": self.toggle_exclude,
            "check": self.landmark_check,
        }
        self.registration_panel = RegistrationPanel(session, self.commands)
        self.fluorescence_panel = FluorescencePanel(fluorescence, self.reset_fluorescence)
        self.link_panel = LinkPanel(session)
        side = QtWidgets.QWidget()
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.addWidget(self.link_panel)
        side_layout.addWidget(self.registration_panel, stretch=3)
        side_layout.addWidget(self.fluorescence_panel, stretch=2)
        scroll = QtWidgets.QScrollArea()  # the panels never squeeze each other
        scroll.setWidgetResizable(True)
        scroll.setWidget(side)
        scroll.setMinimumWidth(500)
        scroll.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.vtk_widget)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self.setCentralWidget(splitter)
        self.message = QtWidgets.QLabel()
        status_font = self.message.font()
        status_font.setPointSize(16)
        self.message.setFont(status_font)
        self.statusBar().addWidget(self.message, 1)
        for widget in side.findChildren(QtWidgets.QWidget):
            widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)

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
        self.resize(width + 500, height)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Show the window and start rendering (call once)."""
        if self.options.fullscreen:
            self.showFullScreen()
        else:
            self.show()
        self.vtk_widget.Initialize()
        self.loop.start_watchdog(self.options.stall_threshold_s)
        self._render_timer.start(0)
        self._panel_timer.start()

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
        self.vtk_widget.Finalize()

    def _render_frame(self) -> None:
        if self._closed:
            return
        try:
            self.loop.tick()
        except Exception:  # a failing frame must not stop the display
            log.exception("frame failed")
        if not self._closed:
            self._render_timer.start(round(1000 * self.loop.delay_to_next_s()))

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

    # ------------------------------------------------------------------ actions
    def _act(self, action: Callable[[], str]) -> None:
        try:
            self.say(action())
        except InputError as error:  # FiducialCollectionError is one
            self.say(str(error))
        self.registration_panel.refresh()

    def collect(self) -> None:
        def run() -> str:
            collected = self.session.collect_fiducial()
            return f"collected (spread {collected.spread_mm:.2f} mm)"

        self._act(run)

    def register(self) -> None:
        def run() -> str:
            result = self.session.register()
            return f"registered: FRE {result.fre_mm:.2f} mm"

        self._act(run)

    def accept_registration(self) -> None:
        def run() -> str:
            result = self.session.accept()
            return f"registration accepted ({result.method})"

        self._act(run)

    def toggle_exclude(self) -> None:
        def run() -> str:
            state = self.session.workflow.state()
            index = self.registration_panel.selected_index()
            if index is None:
                index = state.current_index
            if index is None:
                return "select a fiducial to exclude"
            excluded = not state.rows[index].excluded
            self.session.set_excluded(index, excluded)
            return f"{state.rows[index].name} {'excluded' if excluded else 'included'}"

        self._act(run)

    def landmark_check(self) -> None:
        def run() -> str:
            check = self.session.landmark_check()
            return f"tip {check.distance_mm:.1f} mm from {check.fiducial}"

        self._act(run)

    def start_sweep(self) -> None:
        if not self.session.status().sweeping:
            self.session.start_sweep()
            self.say("sweeping the skin: slide the pointer over the face")

    def finish_sweep(self) -> None:
        if not self.session.status().sweeping:
            return

        def run() -> str:
            result = self.session.refine()
            assert result.surface is not None
            return (
                f"refined with {result.surface.point_count} skin points: "
                f"RMS {result.surface.rms_distance_mm:.2f} mm"
            )

        self._act(run)

    def timed_sweep(self) -> None:
        self.start_sweep()
        self._sweep_timer.start(round(1000 * self.options.sweep_s))

    def cancel_sweep(self) -> None:
        if self.session.status().sweeping:
            self._sweep_timer.stop()
            self.session.stop_sweep()
            self.say("sweep cancelled")

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
        simple: dict[int, Callable[[], None]] = {
            keys.Key_Space: self.collect,
            keys.Key_R: self.register,
            keys.Key_A: self.accept_registration,
            keys.Key_S: self.start_sweep,
            keys.Key_X: self.toggle_exclude,
            keys.Key_V: self.landmark_check,
            keys.Key_F: self.toggle_follow,
            keys.Key_T: self.cycle_skin,
            keys.Key_C: self.reset_fluorescence,
            keys.Key_F11: self.toggle_fullscreen,
            keys.Key_Escape: self._escape,
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
