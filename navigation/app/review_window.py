"""The planner's review window (PySide6 + VTK): ``igcs review PLAN``.

The views are a :class:`~rendering.review_layout.ReviewLayout` (the navigation's 3-D and slice
views) in the render window of VTK's ``QVTKRenderWindowInteractor``; the side panel is a
:class:`~navigation.app.review_panel.ReviewPanel`. The one state is the
:class:`~navigation.review.model.ReviewModel`: the commands below run the review's logic on it,
the model notifies, and one redraw (coalesced by a zero-delay ``QTimer``) re-cuts the slices
after a label change, swaps changed meshes, recomputes the predicted TRE after a landmark or
tumour change, refreshes the panel and draws a frame.

Keys (the VTK widget never takes the focus, so they reach the window):

=========  ==============================================================
N P M      click does: navigate / place a landmark / move the selected landmark
S B I      click does: tumour seed / a box corner (tumour, clipping) / remove the island
Delete     delete the selected landmark
Return     accept the tumour preview; Esc: back to navigate (a half box is dropped)
W          slice window presets (CT soft tissue, bone, auto); Home: whole volume
T          skin opacity (hidden / 35 % / 70 % / opaque); F: fill labels on/off
1-6        3-D camera presets; Ctrl+S save; Ctrl+Q quit
=========  ==============================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import vtk
from PySide6 import QtCore, QtGui, QtWidgets
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from navigation.app.qt_widgets import embeddable_render_window
from navigation.app.review_mouse import ReviewMouse
from navigation.app.review_panel import TOOLS, ReviewPanel
from navigation.app.slice_mouse import reset_view
from navigation.planning.tissue_thresholds import CtPreset
from navigation.review import landmarks, slicer_link, structures
from navigation.review.model import INTERACTIONS, ReviewModel
from navigation.review.saving import save_review
from registration.core.checks import InputError
from rendering.orientation import CAMERA_PRESETS
from rendering.review_layout import ReviewLayout
from rendering.window_level import next_preset

log = logging.getLogger(__name__)
SKIN_STEPS = (0.0, 0.35, 0.7, 1.0)
PRESET_KEYS = dict(zip(range(1, 7), CAMERA_PRESETS, strict=False))
#: A click this close (mm) to a landmark selects it in the move tool.
SELECT_MM = 10.0


class ReviewWindow(QtWidgets.QMainWindow):
    """The review of one plan; see the module docstring."""

    def __init__(self, model: ReviewModel, *, view_size: tuple[int, int] = (1100, 860)) -> None:
        super().__init__()
        self.model = model
        self.setWindowTitle(f"igcs review - {model.plan.root.name}")
        self.vtk_widget = QVTKRenderWindowInteractor(self, rw=embeddable_render_window())
        self.vtk_widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.vtk_widget.setMinimumSize(*view_size)
        interactor = self.vtk_widget.GetRenderWindow().GetInteractor()
        interactor.SetInteractorStyle(vtk.vtkInteractorStyleTrackballCamera())
        for event in ("CharEvent", "KeyPressEvent", "KeyReleaseEvent"):
            interactor.RemoveObservers(event)
        self.layout_views = ReviewLayout(
            model.surface_models(),
            model.slice_volumes(),
            render_window=self.vtk_widget.GetRenderWindow(),
        )
        self._drawn: dict[str, int] = {m.name: id(m.mesh) for m in model.surface_models()}
        self.mouse = ReviewMouse(
            self.vtk_widget,
            self.layout_views,
            model,
            self.click,
            lambda: self._changed({"display"}),
        )
        self.vtk_widget.installEventFilter(self.mouse)
        self.commands: dict[str, Callable[..., None]] = {
            "tool": self.set_tool,
            "snap": self._snap,
            "fill": self._fill,
            "delete": self.delete_selected,
            "rename": self._rename,
            "select": self._select,
            "fle": self._fle,
            "regrow": self._regrow,
            "accept": self.accept_tumour,
            "discard": lambda: self._act(lambda: structures.discard_tumour(model)),
            "edit": self._edit,
            "clear box": self.clear_box,
            "resegment": self._resegment,
            "slicer": lambda: self._act(lambda: slicer_link.open_in_slicer(model)),
            "reimport": lambda: self._act(lambda: slicer_link.reimport_from_slicer(model)),
            "save": self.save,
        }
        self.panel = ReviewPanel(self.commands)
        dock = QtWidgets.QDockWidget("Plan", self)
        dock.setWidget(self.panel)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.setCentralWidget(self.vtk_widget)
        self.message = QtWidgets.QLabel()
        self.statusBar().addWidget(self.message, 1)
        self.tre = landmarks.tre_status(model)
        self._pending: set[str] = set()
        self._closed = False
        model.subscribe(self._changed)
        self._changed({"landmarks", "labels", "tumour"})

    # ------------------------------------------------------------------ drawing
    def _changed(self, aspects: set[str]) -> None:
        if self._closed:
            return
        if not self._pending:
            QtCore.QTimer.singleShot(0, self.redraw)
        self._pending |= aspects | {"frame"}

    def redraw(self) -> None:
        """Apply the pending changes to the views and the panel, then draw a frame."""
        aspects, self._pending = self._pending, set()
        if not aspects or self._closed:
            return
        model = self.model
        if aspects & {"labels", "tumour", "fill"}:
            self.layout_views.set_volumes(model.slice_volumes())
        if aspects & {"meshes", "tumour"}:
            for name in {e.name for e in model.shown_table()} | set(self._drawn):
                surface = model.surface_model(name)
                if self._drawn.get(name) != (None if surface is None else id(surface.mesh)):
                    self.layout_views.set_model(surface, name)
                    self._drawn[name] = 0 if surface is None else id(surface.mesh)
        if aspects & {"landmarks", "labels", "tumour", "fle"}:
            self.tre = landmarks.tre_status(model)
        self.panel.refresh(model, self.tre, aspects)
        hint = self.tre.hint_lps_mm
        self.layout_views.render(
            model.snapshot(), model.marks(hint, "+1" if hint is not None else "")
        )
        self.message.setText(model.status)

    # ------------------------------------------------------------------ commands
    def _act(self, action: Callable[[], Any]) -> None:
        """Run a command; a refused one says why on the status line (never a traceback)."""
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            action()
        except (InputError, OSError, ValueError) as error:
            self.model.say(f"not done: {error}")
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()

    def set_tool(self, mode: str) -> None:
        if mode not in INTERACTIONS:
            raise InputError(f"unknown tool {mode!r}.")
        self.model.interaction = mode
        self.model.box_corner_lps_mm = None
        caption = next(c for m, c, _k in TOOLS if m == mode)
        self.model.say(f"click: {caption.split(' (')[0].lower()}")

    def click(self, view: str, column: float, row: float) -> None:
        """A click in ``view`` at a render-window pixel: what the current tool does."""
        self._act(lambda: self._click(view, column, row))

    def _click(self, view: str, column: float, row: float) -> None:
        model = self.model
        mode = model.interaction
        if view == "3d":
            names = ["skin"] if mode in ("place", "move") else None
            picked = self.layout_views.pick_surface(column, row, names)
            if picked is None:
                raise InputError("no surface under the mouse" + (" (the skin)" if names else ""))
            point = picked[0]
        else:
            point = self.layout_views.slice_point_at(view, column, row)
        if mode == "place":
            name = landmarks.add_landmark(model, point)
            model.say(f"landmark {name} placed")
        elif mode == "move":
            chosen = model.selected or landmarks.nearest_landmark(model, point, SELECT_MM)
            if chosen is None:
                raise InputError("select a landmark (in the table, or click near it) to move it")
            if model.selected is None:
                model.selected = chosen
                model.say(f"{chosen} selected: click where it goes")
                model.notify("landmarks")
                return
            landmarks.move_landmark(model, chosen, point)
            model.say(f"landmark {chosen} moved")
        elif mode == "seed":
            structures.preview_tumour(model, seed_lps_mm=point)
        elif mode == "box":
            self._box_corner(point)
            return
        elif mode == "island":
            structures.edit_label(
                model, self.panel.label.currentText(), "remove island", point_lps_mm=point
            )
        model.cursor_lps_mm = np.asarray(point, dtype=np.float64)
        model.notify("display")

    def _box_corner(self, point: np.ndarray) -> None:
        model = self.model
        if model.box_corner_lps_mm is None:
            model.box_corner_lps_mm = np.asarray(point, dtype=np.float64)
            model.box_lps_mm = None
            model.say("box: first corner set; click the opposite corner")
            model.notify("display")
            return
        first = model.box_corner_lps_mm
        corners = np.stack([first, np.asarray(point, dtype=np.float64)])
        span = np.abs(corners[1] - corners[0])
        flat = int(np.argmin(span))
        if span[flat] < float(np.max(model.geometry.spacing_mm)):
            # both corners on one slice: as deep as the box is wide, centred on the slice
            depth = float(np.mean(np.delete(span, flat))) / 2.0
            corners[0, flat] -= depth
            corners[1, flat] += depth
        model.box_corner_lps_mm = None
        model.box_lps_mm = np.stack([corners.min(axis=0), corners.max(axis=0)])
        model.log("box set", box_lps_mm=np.round(model.box_lps_mm, 2).tolist())
        size = np.round(model.box_lps_mm[1] - model.box_lps_mm[0]).astype(int).tolist()
        model.say(
            f"box {size} mm set: Grow grows the tumour in it, Clip to the box clips the chosen "
            "label"
        )
        model.notify("display")

    def clear_box(self) -> None:
        self.model.box_lps_mm = None
        self.model.box_corner_lps_mm = None
        self.model.say("box cleared")
        self.model.notify("display")

    def delete_selected(self) -> None:
        if self.model.selected is None:
            self.model.say("select a landmark to delete (table or Move tool)")
            return
        name = self.model.selected
        self._act(lambda: landmarks.delete_landmark(self.model, name))

    def _rename(self, row: int, text: str) -> None:
        old = self.model.landmarks[row].name
        self._act(lambda: landmarks.rename_landmark(self.model, old, text))
        self.model.notify("landmarks")  # a refused name goes back in the table

    def _select(self, row: int) -> None:
        landmark = self.model.landmarks[row]
        self.model.selected = landmark.name
        self.model.cursor_lps_mm = landmark.position_lps_mm.copy()
        self.model.notify("display")

    def _snap(self, on: bool) -> None:
        self.model.snap_to_skin = bool(on)
        self.model.notify("display")

    def _fill(self, on: bool) -> None:
        self.model.fill_labels = bool(on)
        self.model.notify("fill")

    def _fle(self, value: float) -> None:
        self.model.fle_rms_mm = float(value)
        self.model.notify("fle")

    def _regrow(self, low: float | None, high: float | None) -> None:
        window = None if low is None or high is None else (float(low), float(high))
        self._act(lambda: structures.preview_tumour(self.model, window=window))

    def accept_tumour(self) -> None:
        self._act(lambda: structures.accept_tumour(self.model))

    def _edit(self, label: str, operation: str, options: dict[str, Any]) -> None:
        self._act(lambda: structures.edit_label(self.model, label, operation, **options))

    def _resegment(self, name: str, body: float, bone: float, airway: float) -> None:
        def run() -> None:
            current = self.model.preset or CtPreset()
            preset = replace(current, body_hu=body, bone_hu=bone, air_hu=airway)
            structures.resegment(self.model, name, preset)

        self._act(run)

    def save(self) -> None:
        if self.model.tumour_preview is not None:
            self.model.say("accept or discard the tumour preview before saving")
            return
        self._act(lambda: save_review(self.model))
        self.model.notify("landmarks")

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key, keys = event.key(), QtCore.Qt.Key
        control = bool(event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier)
        tools = {getattr(keys, f"Key_{k}"): m for m, _c, k in TOOLS}
        model = self.model
        if control and key == keys.Key_S:
            self.save()
        elif control and key == keys.Key_Q:
            self.close()
        elif key in tools and not control:
            self.set_tool(tools[key])
        elif key == keys.Key_Delete:
            self.delete_selected()
        elif key in (keys.Key_Return, keys.Key_Enter):
            self.accept_tumour()
        elif key == keys.Key_Escape:
            self.set_tool("navigate")
        elif key == keys.Key_W:
            presets = self.layout_views.volumes.presets
            if presets:
                current = model.display.window_level or self.layout_views.volumes.default_window
                model.display = replace(model.display, window_level=next_preset(current, presets))
                model.say(f"slice window {model.display.window_level.caption()}")  # type: ignore[union-attr]
        elif key == keys.Key_Home:
            model.display = reset_view(model.display)
            model.notify("display")
        elif key == keys.Key_T:
            steps = SKIN_STEPS
            now = min(range(len(steps)), key=lambda n: abs(steps[n] - model.display.skin_opacity))
            model.display = replace(model.display, skin_opacity=steps[(now + 1) % len(steps)])
            model.notify("display")
        elif key == keys.Key_F:
            self._fill(not model.fill_labels)
        elif QtCore.Qt.Key.Key_1 <= key <= QtCore.Qt.Key.Key_6:
            self.layout_views.scene.apply_camera_preset(PRESET_KEYS[key - QtCore.Qt.Key.Key_0])
            model.notify("display")
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if self.model.edits:
            log.warning("review closed with %d unsaved edit(s)", len(self.model.edits))
        self._closed = True
        self._pending.clear()
        self.layout_views.close()
        super().closeEvent(event)


def grab_window(window: ReviewWindow) -> QtGui.QImage:
    """The whole window as an image, the views drawn in from VTK's own frame (a GL widget
    may grab black)."""
    window.redraw()
    # the panel's texts may have new heights: lay them out before painting (else the grab shows
    # the old positions, lines over each other)
    QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.LayoutRequest)
    image = window.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    pixels = window.layout_views.screenshot()
    views = QtGui.QImage(
        pixels.tobytes(),
        pixels.shape[1],
        pixels.shape[0],
        3 * pixels.shape[1],
        QtGui.QImage.Format.Format_RGB888,
    ).scaled(window.vtk_widget.size())
    painter = QtGui.QPainter(image)
    painter.drawImage(window.vtk_widget.mapTo(window, QtCore.QPoint(0, 0)), views)
    painter.end()
    return image


def run_review(model: ReviewModel, *, screenshot: str | None = None) -> int:
    """Open the review window and run Qt's event loop until it closes (with ``screenshot``:
    draw once, save the window as PNG there and close). Returns the exit status."""
    import sys

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = ReviewWindow(model)
    window.show()
    if screenshot is not None:
        for _ in range(5):
            app.processEvents()
        window.redraw()
        if not grab_window(window).save(screenshot):
            raise OSError(f"could not write {screenshot}")
        window.close()
        return 0
    return int(app.exec())
