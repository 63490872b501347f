"""The registration panel (Qt): fiducials with their state and residuals, exclude, register,
predicted TRE at the tumour, skin sweep, accept.

Holds no state: :meth:`RegistrationPanel.refresh` rewrites every widget from the session's
:meth:`~navigation.app.registration_workflow.RegistrationWorkflow.state` and
:meth:`~navigation.app.session.NavigationSession.status`; the buttons call the session's
actions (the window binds the same actions to keys). Large type, no focusable widgets: the
keyboard always drives the window's shortcuts.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from navigation.app.qt_widgets import large_label
from navigation.app.registration_workflow import RegistrationState
from navigation.app.session import NavigationSession

_COLUMNS = ("Fiducial", "State", "Residual", "Exclude")
_GREEN, _AMBER, _RED = "#1b8a1b", "#c77700", "#c01010"


class RegistrationPanel(QtWidgets.QWidget):
    """Reads the session; its buttons call ``actions[name]()`` (the window's actions)."""

    def __init__(
        self,
        session: NavigationSession,
        actions: dict[str, Callable[[], None]],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        layout = QtWidgets.QVBoxLayout(self)
        title = large_label(18, bold=True)
        title.setText("Registration")
        layout.addWidget(title)
        self.banner = large_label(20, bold=True)
        self.banner.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.banner)
        self.table = QtWidgets.QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        font = self.table.font()
        font.setPointSize(15)
        self.table.setFont(font)
        self.table.itemChanged.connect(self._item_changed)
        self.table.cellClicked.connect(self._cell_clicked)
        layout.addWidget(self.table, stretch=1)
        self.live = large_label(14)
        layout.addWidget(self.live)
        self.numbers = large_label(15)
        layout.addWidget(self.numbers)
        self.message = large_label(14)
        layout.addWidget(self.message)
        grid = QtWidgets.QGridLayout()
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for position, (name, text) in enumerate(
            (
                ("collect", "Collect  [Space]"),
                ("register", "Register  [R]"),
                ("sweep", "Sweep 10 s  [hold S]"),
                ("accept", "Accept  [A]"),
                ("exclude", "Exclude/include  [X]"),
                ("check", "Landmark check  [V]"),
            )
        ):
            button = QtWidgets.QPushButton(text)
            button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            button.setMinimumHeight(44)
            font = button.font()
            font.setPointSize(14)
            button.setFont(font)
            if name in actions:
                button.clicked.connect(actions[name])
            grid.addWidget(button, position // 2, position % 2)
            self.buttons[name] = button
        layout.addLayout(grid)
        self._updating = False
        self.refresh()

    def selected_index(self) -> int | None:
        """The fiducial row selected in the table (None when none is)."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def refresh(self) -> None:
        """Rewrite every widget from the session."""
        state = self.session.workflow.state()
        status = self.session.status()
        self._updating = True
        try:
            self._fill_table(state)
        finally:
            self._updating = False
        accepted = state.accepted
        if accepted is None:
            self.banner.setText("NOT REGISTERED")
            self.banner.setStyleSheet(f"background: {_RED}; color: white; padding: 6px")
        else:
            self.banner.setText(f"REGISTERED ({accepted.method})  FRE {accepted.fre_mm:.2f} mm")
            self.banner.setStyleSheet(f"background: {_GREEN}; color: white; padding: 6px")
        spread = status.collector_spread_mm
        if not status.tip_known:
            live = "pointer tip calibration unknown: collection impossible"
        elif status.sweeping:
            live = f"SWEEPING: {status.sweep_points} skin points"
        else:
            spread_text = "-" if math.isnan(spread) else f"{spread:.2f} mm"
            live = (
                f"pointer window: {status.collector_samples}/"
                f"{self.session.config.collect_window_samples} samples, spread {spread_text}"
            )
        self.live.setText(live)
        result = state.result
        if result is None:
            self.numbers.setText(
                f"{state.collected_count}/{len(state.rows)} collected; "
                f"FLE assumed {self.session.config.fle_rms_mm:.2f} mm"
            )
        else:
            tre = result.tre_at_tumour_predicted_mm
            lines = [
                f"FRE {result.fre_mm:.2f} mm (expected ~{result.expected_fre_mm:.2f} mm "
                f"for FLE {result.fle_rms_mm:.2f} mm; FRE is not accuracy)",
                "predicted TRE at tumour: "
                + ("-" if tre is None else f"{tre:.2f} mm RMS (~{1.6 * tre:.1f} mm 95 %)"),
            ]
            if result.surface is not None:
                lines.append(
                    f"skin sweep: {result.surface.point_count} points, RMS "
                    f"{result.surface.rms_distance_mm:.2f} mm to the skin"
                )
            if state.result_outdated:
                lines.append("fiducials changed: register again")
            lines += [f"warning: {w}" for w in result.warnings]
            self.numbers.setText("\n".join(lines))
        self.message.setText(state.message)
        self.buttons["accept"].setEnabled(result is not None and not state.result_outdated)

    def _fill_table(self, state: RegistrationState) -> None:
        if self.table.rowCount() != len(state.rows):
            self.table.setRowCount(len(state.rows))
            row_height = self.table.verticalHeader().defaultSectionSize()
            header = self.table.horizontalHeader().sizeHint().height()
            self.table.setMinimumHeight(header + row_height * min(len(state.rows), 10) + 4)
        for row in state.rows:
            if row.collected is None:
                text, colour = ("NEXT" if row.index == state.current_index else "-"), None
            else:
                text = f"done ({row.collected.spread_mm:.2f})"
                colour = _GREEN
                if row.index == state.current_index:
                    text = "REDO"
            residual = "-" if row.residual_mm is None else f"{row.residual_mm:.2f} mm"
            cells = [row.name, text, residual]
            for column, value in enumerate(cells):
                item = self.table.item(row.index, column)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(row.index, column, item)
                item.setText(value)
                if column == 1:
                    item.setForeground(QtGui.QBrush(QtGui.QColor(colour or "#202020")))
            check = self.table.item(row.index, 3)
            if check is None:
                check = QtWidgets.QTableWidgetItem()
                check.setFlags(
                    QtCore.Qt.ItemFlag.ItemIsUserCheckable | QtCore.Qt.ItemFlag.ItemIsEnabled
                )
                check.setCheckState(QtCore.Qt.CheckState.Unchecked)  # shows the box
                self.table.setItem(row.index, 3, check)
            wanted = (
                QtCore.Qt.CheckState.Checked if row.excluded else QtCore.Qt.CheckState.Unchecked
            )
            if check.checkState() != wanted:
                check.setCheckState(wanted)

    def _item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._updating or item.column() != 3:
            return
        excluded = item.checkState() == QtCore.Qt.CheckState.Checked
        self.session.set_excluded(item.row(), excluded)
        self.refresh()

    def _cell_clicked(self, row: int, column: int) -> None:
        if column != 3:
            self.session.select_fiducial(row)
            self.refresh()
