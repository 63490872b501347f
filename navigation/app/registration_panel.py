"""The registration panel (Qt): fiducials with their state and residuals, exclude (with the
reason shown), register, the checks' verdict, predicted TRE at the tumour (only for a verified
registration, else "not valid"), skin sweep, accept, override, landmark check.

The banner is the registration actually in use (:meth:`RegistrationState.banner`): green
when verified, red "UNVERIFIED REGISTRATION" when in use through the override; the latest
result, when it is not the one in use, is listed below it as the *candidate* with its verdict.
Accept is enabled only for a candidate that passed its checks; Override only for one that did
not (it opens the window's confirmation dialog).

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

from navigation.app.qt_widgets import fit_label_heights, large_label
from navigation.app.registration_state import RegistrationResult, RegistrationState
from navigation.app.session import NavigationSession, SessionStatus

_COLUMNS = ("Fiducial", "State", "mm", "Excl.")
_GREEN, _AMBER, _RED = "#1b8a1b", "#c77700", "#c01010"
#: Banner colours by :meth:`RegistrationState.banner` level.
BANNER_COLOURS = {"none": _AMBER, "verified": _GREEN, "unverified": _RED}


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
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setWordWrap(False)
        font = self.table.font()
        font.setPointSize(14)
        self.table.setFont(font)
        self.table.itemChanged.connect(self._item_changed)
        self.table.cellClicked.connect(self._cell_clicked)
        layout.addWidget(self.table, stretch=1)
        self.live = large_label(14)
        layout.addWidget(self.live)
        self.numbers = large_label(15)
        layout.addWidget(self.numbers)
        self.candidate = large_label(15)
        layout.addWidget(self.candidate)
        self.landmark = large_label(15)
        layout.addWidget(self.landmark)
        self.message = large_label(14)
        layout.addWidget(self.message)
        grid = QtWidgets.QGridLayout()
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for position, (name, text) in enumerate(
            (
                ("collect", "Collect [Space]"),
                ("register", "Register [R]"),
                ("sweep", "Sweep 10 s [S]"),
                ("accept", "Accept [A]"),
                ("exclude", "Exclude [X]"),
                ("check", "Landmark [V]"),
                ("override", "Override [O]..."),
            )
        ):
            button = QtWidgets.QPushButton(text)
            button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            button.setMinimumHeight(44)
            font = button.font()
            font.setPointSize(13)
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
        text, level = state.banner()
        self.banner.setText(text)
        self.banner.setStyleSheet(
            f"background: {BANNER_COLOURS[level]}; color: white; padding: 6px"
        )
        self.live.setText(self._live_text(status))
        accepted = state.accepted
        if accepted is None:
            self.numbers.setText(
                f"{state.collected_count}/{len(state.rows)} collected; "
                f"FLE assumed {self.session.config.fle_rms_mm:.2f} mm"
            )
        else:
            self.numbers.setText("In use: " + "\n".join(result_lines(accepted)))
        self.candidate.setText(self._candidate_text(state))
        self.landmark.setText(self._landmark_text(state))
        self.message.setText(state.message)
        candidate = state.candidate
        ready = candidate is not None and not state.result_outdated
        self.buttons["accept"].setEnabled(ready and candidate is not None and candidate.verified)
        self.buttons["override"].setEnabled(
            ready and candidate is not None and not candidate.verified
        )
        fit_label_heights(self)

    def _live_text(self, status: SessionStatus) -> str:
        spread = status.collector_spread_mm
        if not status.tip_known:
            return "pointer tip calibration unknown: collection impossible"
        if status.sweeping:
            return f"SWEEPING: {status.sweep_points} skin points"
        spread_text = "-" if math.isnan(spread) else f"{spread:.2f} mm"
        return (
            f"pointer window: {status.collector_samples}/"
            f"{self.session.config.collect_window_samples} samples, spread {spread_text}"
        )

    @staticmethod
    def _candidate_text(state: RegistrationState) -> str:
        lines = [
            f"{row.name} excluded: {row.excluded_reason}" for row in state.rows if row.excluded
        ]
        candidate = state.candidate
        if candidate is not None:
            verdict = (
                "passed its checks: Accept [A] to use it"
                if candidate.verified
                else ("REFUSED: re-touch, exclude, or Override")
            )
            lines.append(f"Candidate (NOT in use), {verdict}:")
            lines += result_lines(candidate)
            if state.result_outdated:
                lines.append("fiducials changed: register again")
        if state.last_sweep is not None and state.last_sweep.refused is not None:
            lines.append(f"last sweep: {state.last_sweep.points} points, refused")
        if state.last_failure is not None:
            lines.append(state.last_failure)
        return "\n".join(lines)

    @staticmethod
    def _landmark_text(state: RegistrationState) -> str:
        if state.accepted is None:
            return ""
        check = state.landmark
        if check is None:
            return "Landmark check: touch a known landmark (a fiducial) and press V"
        return check.describe()

    def _fill_table(self, state: RegistrationState) -> None:
        if self.table.rowCount() != len(state.rows):
            self.table.setRowCount(len(state.rows))
            row_height = self.table.verticalHeader().defaultSectionSize()
            header = self.table.horizontalHeader().sizeHint().height()
            self.table.setMinimumHeight(header + row_height * min(len(state.rows), 10) + 4)
        suspects = () if state.result is None else state.result.checks.suspects
        residuals_of = "cand. mm" if state.candidate is not None else "mm"
        column_title = self.table.horizontalHeaderItem(2)
        if column_title is not None and column_title.text() != residuals_of:
            column_title.setText(residuals_of)  # the residuals are the latest result's
        for row in state.rows:
            if row.collected is None:
                text, colour = ("NEXT" if row.index == state.current_index else "-"), None
            else:
                text = "done"
                colour = _GREEN
                if row.index == state.current_index:
                    text = "REDO"
                if row.name in suspects and not row.excluded:
                    text, colour = f"SUSPECT {text}", _RED
            if row.excluded:
                text, colour = "EXCLUDED", _AMBER
            residual = "-" if row.residual_mm is None else f"{row.residual_mm:.2f}"
            cells = [row.name, text, residual]
            for column, value in enumerate(cells):
                item = self.table.item(row.index, column)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(row.index, column, item)
                item.setText(value)
                if column == 1 and row.excluded:
                    item.setToolTip(f"excluded: {row.excluded_reason}")
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


def result_lines(result: RegistrationResult) -> list[str]:
    """A registration's numbers and verdict, one fact a line (predicted TRE only if valid)."""
    tre = result.tre_at_tumour_predicted_mm
    if result.verified:
        tre_text = "-" if tre is None else f"{tre:.2f} mm RMS (~{1.6 * tre:.1f} mm 95 %)"
    else:
        tre_text = "NOT VALID (registration failed its checks)"
    lines = [
        result.describe(),
        f"FRE {result.fre_mm:.2f} mm (expected ~{result.expected_fre_mm:.2f} mm for FLE "
        f"{result.fle_rms_mm:.2f} mm; FRE is not accuracy)",
        f"predicted TRE at tumour: {tre_text}",
    ]
    if result.surface is not None:
        lines.append(
            f"skin sweep: {result.surface.point_count} points, RMS "
            f"{result.surface.rms_distance_mm:.2f} mm to the skin"
        )
    lines += [f"REFUSED: {refusal.message}" for refusal in result.checks.refusals]
    lines += [f"caution: {text}" for text in result.checks.cautions]
    return lines


__all__ = ["BANNER_COLOURS", "RegistrationPanel", "result_lines"]
