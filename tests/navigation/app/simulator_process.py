"""Serve a simulated scenario from a separate process, for tests that also map fluorescence.

numba's workqueue threading layer (selected by :mod:`rendering.fluorescence.rasterizer`) is not
thread-safe: the simulator's synthetic NIR frames and the app's fluorescence mapper both run numba
kernels, so in one process they can run concurrently and numba aborts the process. A real tracker
(PLUS, or ``igcs simulate``) is another process anyway.

Run: ``python -m tests.navigation.app.simulator_process PLAN TRUTH.json DWELL_S`` from the
project root. Prints the listening port on the first line of stdout, waits for a client, then
streams the story (:data:`tests.navigation.app.conftest.FAST` with ``dwell_s``) once.
"""

from __future__ import annotations

import dataclasses
import sys

from navigation.simulation.simulator_io import scenario_from_plan, serve_scenario, write_truth
from navigation.tracking.igtl_transport import IgtlServer
from tests.navigation.app.conftest import FAST


def main(argv: list[str]) -> int:
    plan, truth_path, dwell_s = argv[0], argv[1], float(argv[2])
    scenario = scenario_from_plan(plan, dataclasses.replace(FAST, dwell_s=dwell_s))
    write_truth(truth_path, scenario)
    scenario.frame_source(scenario.image_from_camera_at(0.0), 0.0)  # build the camera scene
    server = IgtlServer("127.0.0.1", 0).start()
    print(server.port, flush=True)
    try:
        if not server.wait_connected(60.0):
            return 1
        serve_scenario(scenario, server.send)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
