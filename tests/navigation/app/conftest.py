"""Fixtures for the app tests: a small plan with a label map, a fast simulated scenario served
over loopback OpenIGTLink, and truth-derived registrations."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from navigation.app.session import NavigationSession
from navigation.simulation.simulator import POINTER, Scenario, SimulationConfig
from navigation.simulation.simulator_io import serve_scenario
from navigation.tracking.fiducial_collection import CollectedFiducial
from navigation.tracking.igtl_transport import IgtlServer
from navigation.tracking.messages import IgtlMessage
from registration.core.transforms import apply_transform
from tests.navigation.plan_factory import write_plan

#: A quick story: 0.5 s rest, then per fiducial 0.8 s travel and a 1.6 s dwell (the automatic
#: registration needs 1 s of stillness after smoothing).
FAST = SimulationConfig(rest_s=0.5, travel_s=0.8, dwell_s=1.6, dropout_s=0.5, sweep_s=4.0)


@pytest.fixture(scope="session")
def nav_plan(tmp_path_factory):
    """The ellipsoid-head plan with a label map (6 fiducials, tumour sphere r = 10 mm)."""
    return write_plan(tmp_path_factory.mktemp("navplan") / "plan", label_map=True)


@dataclass
class Served:
    """A scenario streamed over loopback: ``server``, the start time (monotonic, s), the
    time of the last pointer message sent, and an event that stops sending the pointer."""

    scenario: Scenario
    server: IgtlServer
    started_s: float = float("nan")
    last_pointer_sent_s: float = float("nan")
    drop_pointer: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def scenario_time(self) -> float:
        return time.monotonic() - self.started_s

    def start(self) -> None:
        def send(message: IgtlMessage) -> None:
            if message.device_name == POINTER:
                if self.drop_pointer.is_set():
                    return
                self.server.send(message)
                self.last_pointer_sent_s = time.monotonic()
                return
            self.server.send(message)

        # The simulator builds its camera scene on the first frame (about a second); do it
        # now, or the stream would start with a late burst that blurs the first dwell.
        self.scenario.frame_source(self.scenario.image_from_camera_at(0.0), 0.0)

        def run() -> None:
            # As igcs simulate does by default: the story starts when the app is connected.
            while not self.server.wait_connected(0.1):
                if self.stop.is_set():
                    return
            self.started_s = time.monotonic()
            serve_scenario(self.scenario, send, stop=self.stop)

        self.thread = threading.Thread(target=run, name="test-simulator", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5.0)
        self.server.stop()


@pytest.fixture
def serve() -> Iterator:
    """``serve(scenario) -> Served`` (server started, streaming not yet started)."""
    made: list[Served] = []

    def start(scenario: Scenario) -> Served:
        served = Served(scenario, IgtlServer("127.0.0.1", 0).start())
        made.append(served)
        return served

    yield start
    for served in made:
        served.close()


def wait_for(condition, timeout: float, what: str, step: float = 0.01) -> None:
    """Poll ``condition()`` until true or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def accept_true_registration(
    session: NavigationSession, scenario: Scenario, shift_mm: tuple[float, float, float] = (0, 0, 0)
) -> None:
    """Collect the planned fiducials at their true reference-frame positions, register and
    accept: the registration in force is the simulator's true one (to ~1e-12 mm), or that one
    moved by ``shift_mm`` (reference frame) when every point is shifted."""
    truth = scenario.truth
    planned = truth.fiducials_planned_in_image
    in_reference = apply_transform(truth.reference_from_image, planned) + np.asarray(shift_mm)
    for index, point in enumerate(in_reference):
        session.store_fiducial(
            CollectedFiducial(point, 0.0, 0.0, 20, np.nan, np.nan), index, source="truth"
        )
    session.register()
    session.accept()


def true_tre_mm(image_from_reference: np.ndarray, scenario: Scenario, target: np.ndarray) -> float:
    """Distance between where a registration and the truth put an image target (mm)."""
    truth = scenario.truth
    mapped = apply_transform(image_from_reference @ truth.reference_from_image, target)
    return float(np.linalg.norm(mapped - target))
