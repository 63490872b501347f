"""The explicit confirmation to use a registration that failed its checks (Qt).

Names every risk (each refused check, with what it means), says what follows (red
"UNVERIFIED REGISTRATION" on screen while it is in use, no predicted TRE, the decision
recorded in the session). It cannot be confirmed by a stray key: Cancel is the default button
(Enter and Escape cancel) and the confirm button stays disabled until "I understand" is
ticked. Opened window-modal and non-blocking (:meth:`QDialog.open`); the window applies the
override on ``accepted``.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from navigation.app.qt_widgets import large_label
from navigation.app.registration_state import RegistrationResult

CONFIRM_TEXT = "Use UNVERIFIED registration"


class OverrideDialog(QtWidgets.QDialog):
    """Confirmation of an override for ``result`` (a registration that failed its checks)."""

    def __init__(self, result: RegistrationResult, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Override the registration checks?")
        self.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        layout = QtWidgets.QVBoxLayout(self)
        title = large_label(18, bold=True)
        title.setText("This registration FAILED its checks")
        title.setStyleSheet("color: #c01010")
        layout.addWidget(title)
        risks = large_label(14)
        risks.setText(
            "\n".join(f"- {refusal.message}" for refusal in result.checks.refusals)
            + f"\n\n{result.describe()}"
        )
        layout.addWidget(risks)
        consequences = large_label(14)
        consequences.setText(
            "Positions shown may be wrong by much more than the FRE: a wrong position shown "
            "with confidence can send the instrument to the wrong place. If you use it, the "
            "screen shows a red UNVERIFIED REGISTRATION for as long as it is in use, the "
            "pointer is drawn as untrusted, no predicted TRE is shown, and this decision is "
            "recorded in the session. Prefer: re-touch the suspect fiducials or exclude them."
        )
        layout.addWidget(consequences)
        self.understood = QtWidgets.QCheckBox(
            "I understand the risk and have a reason to use it (check a landmark next)"
        )
        layout.addWidget(self.understood)
        self.reason_edit = QtWidgets.QLineEdit()
        self.reason_edit.setPlaceholderText("reason (recorded in the session)")
        layout.addWidget(self.reason_edit)
        buttons = QtWidgets.QDialogButtonBox()
        self.cancel_button = buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.confirm_button = buttons.addButton(
            CONFIRM_TEXT, QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.confirm_button.setEnabled(False)
        self.confirm_button.setAutoDefault(False)
        self.confirm_button.setDefault(False)
        self.confirm_button.setStyleSheet("background: #c01010; color: white; padding: 6px")
        self.cancel_button.setDefault(True)
        self.understood.toggled.connect(self.confirm_button.setEnabled)
        buttons.accepted.connect(self._confirm)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.cancel_button.setFocus()

    def _confirm(self) -> None:
        if self.understood.isChecked():  # the button is disabled otherwise; belt and braces
            self.accept()

    def reason(self) -> str:
        """What the user typed, or a note that the box was ticked."""
        text = self.reason_edit.text().strip()
        return text or "confirmed in the override dialog (no reason typed)"
