"""The tracker link panel (Qt): link state and why it went down, the recording's health, and
the connection settings dialog (address, liveness, STT_TDATA/STT_QTDATA request).

Holds no state: :meth:`LinkPanel.refresh` redraws from the session's
:class:`~navigation.app.link_status.LinkStatus`. A lost link is also on every tool badge
(DISCONNECTED, with the reason); here it is in red with the reason and the reconnect count, and
messages the recorder could not write in time are in red too. "Connection..." opens
:class:`ConnectionDialog`; accepting it reconnects the session with the new
:class:`~navigation.tracking.link_settings.LinkSettings`.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from navigation.app.qt_widgets import large_label
from navigation.app.session import NavigationSession
from navigation.tracking.link_settings import START_TRACKING_TYPES, LinkSettings
from registration.core.checks import InputError

_RED = "color: #d00000; font-weight: bold"
_NORMAL = ""
_NO_STREAM_REQUEST = "none (the server streams by itself)"


class LinkPanel(QtWidgets.QWidget):
    """Shows the session's link and recording; opens the connection settings."""

    def __init__(self, session: NavigationSession, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QtWidgets.QVBoxLayout(self)
        title = large_label(18, bold=True)
        title.setText("Tracker link")
        layout.addWidget(title)
        self.link = large_label(15)
        self.recording = large_label(13)
        layout.addWidget(self.link)
        layout.addWidget(self.recording)
        self.settings_button = QtWidgets.QPushButton("Connection...")
        self.settings_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.settings_button.setMinimumHeight(40)
        self.settings_button.clicked.connect(self.edit_settings)
        layout.addWidget(self.settings_button)
        self.refresh()

    def refresh(self) -> None:
        status = self.session.link_status()
        self.link.setText(status.text())
        self.link.setStyleSheet(_NORMAL if status.connected else _RED)
        self.recording.setText(status.recording_text())
        dropped = status.recording is not None and status.recording.dropped > 0
        self.recording.setStyleSheet(_RED if dropped else _NORMAL)

    def edit_settings(self) -> None:
        dialog = ConnectionDialog(self.session.link_settings or LinkSettings(), self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted and dialog.settings:
            self.session.reconnect(dialog.settings)
            self.refresh()


class ConnectionDialog(QtWidgets.QDialog):
    """Edit :class:`LinkSettings`; :attr:`settings` holds the accepted ones."""

    def __init__(self, current: LinkSettings, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tracker connection")
        self.settings: LinkSettings | None = None
        form = QtWidgets.QFormLayout(self)
        self.host = QtWidgets.QLineEdit(current.host)
        self.port = QtWidgets.QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(current.port)
        self.start_tracking = QtWidgets.QComboBox()
        self.start_tracking.addItems([_NO_STREAM_REQUEST, *START_TRACKING_TYPES])
        if current.start_tracking is not None:
            self.start_tracking.setCurrentText(current.start_tracking)
        self.resolution = QtWidgets.QSpinBox()
        self.resolution.setRange(0, 10_000)
        self.resolution.setSuffix(" ms")
        self.resolution.setValue(current.tracking_resolution_ms)
        self.timeout = QtWidgets.QDoubleSpinBox()
        self.timeout.setRange(0.1, 60.0)
        self.timeout.setSingleStep(0.1)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(current.link_timeout_s)
        self.header_version = QtWidgets.QComboBox()
        self.header_version.addItems(["1", "2"])
        self.header_version.setCurrentText(str(current.header_version))
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Start tracking (STT_)", self.start_tracking)
        form.addRow("Tracking resolution", self.resolution)
        form.addRow("Link lost after", self.timeout)
        form.addRow("Header version", self.header_version)
        self.error = QtWidgets.QLabel()
        self.error.setStyleSheet(_RED)
        self.error.setWordWrap(True)
        form.addRow(self.error)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def chosen(self) -> LinkSettings:
        """The settings the fields describe; InputError when they are not valid."""
        stream = self.start_tracking.currentText()
        return LinkSettings(
            host=self.host.text().strip(),
            port=self.port.value(),
            start_tracking=None if stream == _NO_STREAM_REQUEST else stream,
            tracking_resolution_ms=self.resolution.value(),
            link_timeout_s=self.timeout.value(),
            header_version=int(self.header_version.currentText()),
        )

    def accept(self) -> None:
        try:
            self.settings = self.chosen()
        except InputError as error:
            self.error.setText(str(error))
            return
        super().accept()
