"""``igcs navigate --start-tracking`` against a tracker that streams TDATA/QTDATA only when
asked (as OpenIGTLink's ``TrackingDataServer`` and some PLUS set-ups do): without the request
the app receives nothing; with it the tools are tracked at the resolution asked for."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from navigation.cli import main
from navigation.tracking.igtl_transport import IgtlServer
from navigation.tracking.messages import (
    IgtlMessage,
    QuaternionTrackingDataBody,
    QuaternionTrackingElement,
    RequestBody,
    TrackingDataBody,
    TrackingElement,
)

pytestmark = pytest.mark.slow

POINTER = np.eye(4)
POINTER[:3, 3] = [12.0, -30.0, 55.0]


class RequestedStream:
    """A server that streams TDATA or QTDATA (Pointer and Reference) only after STT_<type>,
    at the requested resolution, until STP_<type>."""

    def __init__(self) -> None:
        self.requests: list[RequestBody] = []
        self._stop = threading.Event()
        self._streaming: RequestBody | None = None
        self.server = IgtlServer(port=0, on_message=self._on_request).start()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_request(self, message: IgtlMessage) -> None:
        if isinstance(message.body, RequestBody):
            self.requests.append(message.body)
            if message.body.prefix == "STT":
                self._streaming = message.body

    def _run(self) -> None:
        while not self._stop.is_set():
            request = self._streaming
            if request is None:
                self._stop.wait(0.01)
                continue
            now = time.time()
            if request.base_type == "TDATA":
                body: object = TrackingDataBody(
                    (
                        TrackingElement("PointerToTracker", 2, POINTER),
                        TrackingElement("ReferenceToTracker", 2, np.eye(4)),
                    )
                )
            else:
                body = QuaternionTrackingDataBody(
                    tuple(
                        QuaternionTrackingElement(
                            name,
                            2,
                            matrix[:3, 3],
                            Rotation.from_matrix(matrix[:3, :3]).as_quat(),
                        )
                        for name, matrix in (
                            ("PointerToTracker", POINTER),
                            ("ReferenceToTracker", np.eye(4)),
                        )
                    )
                )
            self.server.send(IgtlMessage(request.base_type, "Tracker", body, now))  # type: ignore[arg-type]
            self._stop.wait(max(request.resolution_ms or 0, 5) / 1000)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.server.stop()


def navigate(plan, port: int, out, *extra: str) -> dict:
    status = main(
        [
            "navigate", "--plan", str(plan), "--igtl", f"127.0.0.1:{port}", "--headless",
            "--screenshot", str(out), "--duration", "2.5", "--screenshot-every", "100",
            "--no-record", "--no-fluorescence", "--connect-timeout", "2", *extra,
        ]
    )  # fmt: skip
    assert status == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["TDATA", "QTDATA"])
def test_navigate_start_tracking_asks_for_the_stream(nav_plan, tmp_path, kind):
    tracker = RequestedStream()
    try:
        summary = navigate(
            nav_plan,
            tracker.server.port,
            tmp_path / "asked",
            "--start-tracking",
            kind,
            "--tracking-resolution",
            "25",
        )
    finally:
        tracker.close()
    assert [(r.prefix, r.base_type, r.resolution_ms) for r in tracker.requests[:1]] == [
        ("STT", kind, 25)
    ]
    assert summary["messages"].get(kind, 0) > 30  # ~40 per second asked for
    changes = summary["tools"]["state_changes"]
    assert changes["PointerToTracker"].get("OK", 0) >= 1
    assert summary["link"]["settings"]["start_tracking"] == kind


@pytest.mark.slow
def test_without_the_request_the_app_receives_nothing(nav_plan, tmp_path):
    tracker = RequestedStream()
    try:
        summary = navigate(nav_plan, tracker.server.port, tmp_path / "silent")
    finally:
        tracker.close()
    assert tracker.requests == [] and summary["messages"] == {}
