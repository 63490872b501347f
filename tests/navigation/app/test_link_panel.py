"""The link panel and the connection dialog under Xvfb: a tracker that waits for STT_TDATA
shows DISCONNECTED with the reason (it sends nothing); choosing TDATA in the dialog
reconnects and the tools come in; the recorder's health is on the panel."""

from __future__ import annotations

import os
import time

import pytest

from tests.conftest import IN_CI

pytestmark = [pytest.mark.gui, pytest.mark.slow]

if not os.environ.get("DISPLAY"):
    if IN_CI:
        pytest.fail("the GUI tests need an X display in CI (run them under xvfb-run)")
    pytest.skip("no X display (run under xvfb-run -a)", allow_module_level=True)

from navigation.app.config import NavigationConfig  # noqa: E402
from navigation.app.launch import open_recorder  # noqa: E402
from navigation.app.link_panel import ConnectionDialog, LinkPanel  # noqa: E402
from navigation.app.session import NavigationSession  # noqa: E402
from navigation.planning.plan_scene import load_plan_scene  # noqa: E402
from navigation.tracking.link_settings import LinkSettings  # noqa: E402
from navigation.tracking.pose_store import ToolState  # noqa: E402
from tests.navigation.app.test_start_tracking import RequestedStream  # noqa: E402


def test_link_panel_and_connection_dialog(qtbot, nav_plan, tmp_path):
    tracker = RequestedStream()
    session = NavigationSession(
        load_plan_scene(nav_plan),
        NavigationConfig(),
        recorder=open_recorder(tmp_path / "s.igcsrec"),
    )
    panel = LinkPanel(session)
    qtbot.addWidget(panel)
    try:
        session.connect_link(LinkSettings(port=tracker.server.port))

        def says(text: str) -> bool:
            panel.refresh()
            return text in panel.link.text()

        lost = "DISCONNECTED (no bytes for 0.50 s; reconnecting)"
        qtbot.waitUntil(lambda: says(lost), timeout=5000)
        assert "d00000" in panel.link.styleSheet()  # in red
        pose = session.store.pose("PointerToTracker")
        assert pose.state in (ToolState.DISCONNECTED, ToolState.STALE)

        dialog = ConnectionDialog(session.link_settings or LinkSettings())
        qtbot.addWidget(dialog)
        dialog.host.setText("")
        dialog.accept()
        assert dialog.settings is None and "host is empty" in dialog.error.text()
        dialog.host.setText("127.0.0.1")
        dialog.start_tracking.setCurrentText("TDATA")
        dialog.resolution.setValue(25)
        dialog.accept()
        assert dialog.settings == LinkSettings(
            port=tracker.server.port, start_tracking="TDATA", tracking_resolution_ms=25
        )
        session.reconnect(dialog.settings)
        qtbot.waitUntil(
            lambda: session.store.pose("PointerToTracker").state is ToolState.OK, timeout=5000
        )
        time.sleep(0.6)  # longer than the link timeout: it stays up now
        assert says("CONNECTED") and not says("DISCONNECTED")
        assert "Recording: " in panel.recording.text() and "OK" in panel.recording.text()
        assert tracker.requests[-1].resolution_ms == 25
    finally:
        session.close()
        tracker.close()
