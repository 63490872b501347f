"""The review window's side panel (PySide6): the plan's facts and the planner's controls.

The panel holds no state of its own: :meth:`ReviewPanel.refresh` rewrites every display from the
:class:`~navigation.review.model.ReviewModel`, and every control calls one of the window's
commands (a name -> callable table, as the navigation window's panels do), which run the
review's logic and report errors on the status line. The numbers typed into spin boxes are the
arguments of the next command, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from navigation.app.qt_widgets import large_label
from navigation.review.landmarks import TreStatus
from navigation.review.model import ReviewModel
from navigation.review.saving import current_warnings

#: Interaction modes shown as tool buttons: (mode, caption, key).
TOOLS = (
    ("navigate", "Navigate (N)", "N"),
    ("place", "Place landmark (P)", "P"),
    ("move", "Move landmark (M)", "M"),
    ("seed", "Tumour seed (S)", "S"),
    ("box", "Box corners (B)", "B"),
    ("island", "Remove island (I)", "I"),
)


def _spin(
    low: float, high: float, value: float, step: float, suffix: str
) -> QtWidgets.QDoubleSpinBox:
    spin = QtWidgets.QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(2 if step < 1 else 0)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setSuffix(suffix)
    spin.setKeyboardTracking(False)
    return spin


class ReviewPanel(QtWidgets.QScrollArea):
    """Facts, tools, landmarks, tumour, label corrections, thresholds, Slicer, save."""

    def __init__(self, commands: dict[str, Callable[..., None]]) -> None:
        super().__init__()
        self.commands = commands
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(420)
        body = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(body)
        self.setWidget(body)

        self.facts = large_label(11)
        self.facts.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.tre = large_label(12, bold=True)
        self.hint = large_label(10)
        self.warnings = large_label(10)
        self.warnings.setStyleSheet("color: #c00000")
        for widget in (self.facts, self.tre, self.hint, self.warnings):
            column.addWidget(widget)

        tools = QtWidgets.QGroupBox("Click does")
        grid = QtWidgets.QGridLayout(tools)
        self.tool_buttons: dict[str, QtWidgets.QToolButton] = {}
        group = QtWidgets.QButtonGroup(self)
        for n, (mode, caption, _key) in enumerate(TOOLS):
            button = QtWidgets.QToolButton()
            button.setText(caption)
            button.setCheckable(True)
            button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(
                QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed
            )
            button.clicked.connect(lambda _=False, m=mode: self.commands["tool"](m))
            group.addButton(button)
            grid.addWidget(button, n // 2, n % 2)
            self.tool_buttons[mode] = button
        self.snap = QtWidgets.QCheckBox("snap landmarks to the skin")
        self.snap.clicked.connect(lambda on: self.commands["snap"](on))
        self.fill = QtWidgets.QCheckBox("fill labels in the slices")
        self.fill.clicked.connect(lambda on: self.commands["fill"](on))
        grid.addWidget(self.snap, 3, 0, 1, 2)
        grid.addWidget(self.fill, 4, 0, 1, 2)
        column.addWidget(tools)

        marks = QtWidgets.QGroupBox("Landmarks (LPS mm)")
        layout = QtWidgets.QVBoxLayout(marks)
        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["name", "L", "P", "S"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.itemChanged.connect(self._renamed)
        self.table.itemSelectionChanged.connect(self._selected)
        self.table.setMinimumHeight(160)
        layout.addWidget(self.table)
        row = QtWidgets.QHBoxLayout()
        self.fle = _spin(0.05, 10.0, 1.0, 0.05, " mm FLE")
        self.fle.valueChanged.connect(lambda v: self.commands["fle"](v))
        delete = QtWidgets.QPushButton("Delete selected")
        delete.clicked.connect(lambda: self.commands["delete"]())
        row.addWidget(delete)
        row.addWidget(self.fle)
        layout.addLayout(row)
        column.addWidget(marks)

        tumour = QtWidgets.QGroupBox("Tumour (growth window, image units)")
        form = QtWidgets.QGridLayout(tumour)
        self.window_low = _spin(-3000.0, 5000.0, 0.0, 5.0, "")
        self.window_high = _spin(-3000.0, 5000.0, 100.0, 5.0, "")
        regrow = QtWidgets.QPushButton("Grow, this window")
        regrow.clicked.connect(
            lambda: self.commands["regrow"](self.window_low.value(), self.window_high.value())
        )
        auto = QtWidgets.QPushButton("Grow, window found")
        auto.clicked.connect(lambda: self.commands["regrow"](None, None))
        accept = QtWidgets.QPushButton("Accept tumour")
        accept.clicked.connect(lambda: self.commands["accept"]())
        discard = QtWidgets.QPushButton("Discard")
        discard.clicked.connect(lambda: self.commands["discard"]())
        form.addWidget(QtWidgets.QLabel("lower"), 0, 0)
        form.addWidget(self.window_low, 0, 1)
        form.addWidget(QtWidgets.QLabel("upper"), 0, 2)
        form.addWidget(self.window_high, 0, 3)
        form.addWidget(regrow, 1, 0, 1, 2)
        form.addWidget(auto, 1, 2, 1, 2)
        form.addWidget(accept, 2, 0, 1, 2)
        form.addWidget(discard, 2, 2, 1, 2)
        column.addWidget(tumour)
        column.addWidget(self._corrections())
        column.addWidget(self._thresholds())

        slicer = QtWidgets.QGroupBox("Free-hand editing")
        row = QtWidgets.QHBoxLayout(slicer)
        edit = QtWidgets.QPushButton("Edit in 3D Slicer")
        edit.clicked.connect(lambda: self.commands["slicer"]())
        back = QtWidgets.QPushButton("Re-import")
        back.clicked.connect(lambda: self.commands["reimport"]())
        row.addWidget(edit)
        row.addWidget(back)
        column.addWidget(slicer)
        self.save = QtWidgets.QPushButton("Save plan (Ctrl+S)")
        self.save.setMinimumHeight(40)
        self.save.clicked.connect(lambda: self.commands["save"]())
        column.addWidget(self.save)
        column.addStretch(1)
        self._refreshing = False

    def _corrections(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Correct a label")
        grid = QtWidgets.QGridLayout(box)
        self.label = QtWidgets.QComboBox()
        grid.addWidget(self.label, 0, 0, 1, 4)

        def run(operation: str, **options: object) -> Callable[[], None]:
            return lambda: self.commands["edit"](self.label.currentText(), operation, options)

        largest = QtWidgets.QPushButton("Keep largest island")
        largest.clicked.connect(run("keep largest"))
        grid.addWidget(largest, 1, 0, 1, 2)
        clip = QtWidgets.QPushButton("Clip to the box")
        clip.clicked.connect(run("clip box"))
        grid.addWidget(clip, 1, 2)
        clear = QtWidgets.QPushButton("Clear box")
        clear.clicked.connect(lambda: self.commands["clear box"]())
        grid.addWidget(clear, 1, 3)
        self.small = _spin(0.0, 1000.0, 0.1, 0.05, " ml")
        small = QtWidgets.QPushButton("Remove islands under")
        small.clicked.connect(
            lambda: self.commands["edit"](
                self.label.currentText(), "remove small", {"min_volume_ml": self.small.value()}
            )
        )
        grid.addWidget(small, 2, 0, 1, 2)
        grid.addWidget(self.small, 2, 2, 1, 2)
        self.low = _spin(-3000.0, 5000.0, -100.0, 10.0, "")
        self.high = _spin(-3000.0, 5000.0, 200.0, 10.0, "")
        threshold = QtWidgets.QPushButton("Keep range")
        threshold.clicked.connect(
            lambda: self.commands["edit"](
                self.label.currentText(),
                "threshold",
                {"low": self.low.value(), "high": self.high.value()},
            )
        )
        grid.addWidget(threshold, 3, 0)
        grid.addWidget(self.low, 3, 1)
        grid.addWidget(QtWidgets.QLabel("to"), 3, 2)
        grid.addWidget(self.high, 3, 3)
        self.margin = _spin(0.1, 50.0, 1.0, 0.5, " mm")
        for column, (caption, sign) in enumerate((("Grow", 1.0), ("Shrink", -1.0))):
            button = QtWidgets.QPushButton(caption)
            button.clicked.connect(
                lambda _=False, s=sign: self.commands["edit"](
                    self.label.currentText(), "margin", {"margin_mm": s * self.margin.value()}
                )
            )
            grid.addWidget(button, 4, column)
        grid.addWidget(self.margin, 4, 2, 1, 2)
        return box

    def _thresholds(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("CT thresholds (HU): re-segment one tissue")
        grid = QtWidgets.QGridLayout(box)
        self.body = _spin(-1000.0, 500.0, -500.0, 10.0, "")
        self.bone = _spin(-500.0, 3000.0, 300.0, 10.0, "")
        self.airway = _spin(-1024.0, 500.0, -500.0, 10.0, "")
        for column, (name, spin) in enumerate(
            (("skin", self.body), ("bone", self.bone), ("airway", self.airway))
        ):
            button = QtWidgets.QPushButton(f"Re-run {name}")
            button.clicked.connect(
                lambda _=False, n=name: self.commands["resegment"](
                    n, self.body.value(), self.bone.value(), self.airway.value()
                )
            )
            grid.addWidget(spin, 0, column)
            grid.addWidget(button, 1, column)
        return box

    # ------------------------------------------------------------------ from the model
    def refresh(self, model: ReviewModel, tre: TreStatus, aspects: set[str]) -> None:
        """Rewrite the displays from the model (``aspects``: what changed)."""
        self._refreshing = True
        try:
            self._facts(model)
            self.tre.setText(tre.caption())
            self.hint.setText(
                ""
                if tre.hint_lps_mm is None
                else f"one more landmark helps most at {np.round(tre.hint_lps_mm, 1).tolist()} "
                f"LPS mm (green): TRE {tre.hint_tre_mm:.2f} mm"
            )
            for mode, button in self.tool_buttons.items():
                button.setChecked(mode == model.interaction)
            self.snap.setChecked(model.snap_to_skin)
            self.fill.setChecked(model.fill_labels)
            if "landmarks" in aspects or self.table.rowCount() != len(model.landmarks):
                self._landmarks(model)
            names = [e.name for e in model.table]
            if [self.label.itemText(i) for i in range(self.label.count())] != names:
                current = self.label.currentText()
                self.label.clear()
                self.label.addItems(names)
                if current in names:
                    self.label.setCurrentText(current)
            if model.tumour_window is not None and "tumour" in aspects:
                self.window_low.setValue(model.tumour_window[0])
                self.window_high.setValue(model.tumour_window[1])
            if model.preset is not None:
                self.body.setValue(model.preset.body_hu)
                self.bone.setValue(model.preset.bone_hu)
                self.airway.setValue(model.preset.air_hu)
        finally:
            self._refreshing = False
        self._fit_heights()

    def _fit_heights(self) -> None:
        """Word-wrapped labels in a scroll area get the height their text needs at their width
        (Qt's layouts do not ask them, and squeeze the lines over each other)."""
        for label in (self.facts, self.tre, self.hint, self.warnings):
            needed = label.heightForWidth(max(label.width(), 50)) if label.text() else 0
            if label.minimumHeight() != needed:
                label.setMinimumHeight(needed)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_heights()

    def _facts(self, model: ReviewModel) -> None:
        rows = [
            f"<b>{model.plan.root.name}</b> ({model.modality}, "
            f"{'x'.join(str(n) for n in model.geometry.size_ijk)} voxels)"
        ]
        for entry in model.shown_table():
            region = model.shown_regions()[entry.name]
            mark = " (edited)" if entry.name in model.changed_labels else ""
            preview = " (preview)" if entry.name == "tumour" and model.tumour_preview else ""
            rows.append(f"{entry.name}: {region.volume_ml(model.geometry):.2f} ml{mark}{preview}")
        tumour = model.plan.raw.get("tumour") or {}
        if tumour and "tumour" not in model.changed_labels:
            centre = np.round(np.asarray(tumour["centroid_lps_mm"]), 1).tolist()
            rows.append(
                f"tumour from {tumour.get('source') or 'region growing'}, centroid {centre} LPS mm"
            )
        rows.append(f"landmarks: {len(model.landmarks)}; unsaved edits: {len(model.edits)}")
        self.facts.setText("<br>".join(rows))
        warnings = current_warnings(model, model.plan.raw, len(model.landmarks))
        self.warnings.setText("\n".join(f"warning: {w}" for w in warnings))

    def _landmarks(self, model: ReviewModel) -> None:
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(model.landmarks))
        for row, landmark in enumerate(model.landmarks):
            name = QtWidgets.QTableWidgetItem(landmark.name)
            self.table.setItem(row, 0, name)
            for column, value in enumerate(landmark.position_lps_mm, start=1):
                item = QtWidgets.QTableWidgetItem(f"{value:.1f}")
                item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, column, item)
            if landmark.name == model.selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)

    # ------------------------------------------------------------------ to the commands
    def _renamed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._refreshing or item.column() != 0:
            return
        self.commands["rename"](item.row(), item.text())

    def _selected(self) -> None:
        if self._refreshing:
            return
        rows = {index.row() for index in self.table.selectedIndexes()}
        if rows:
            self.commands["select"](min(rows))
