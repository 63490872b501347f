"""Speed of the tracking state: pose store ingest and queries, PLUS import, simulator.

Run: ``python benchmarks/bench_tracking_state.py`` (from the project root). Prints a table.
Targets: the store must not limit >= 5,000 TRANSFORM/s ingest with p99 <= 2 ms from
socket to store, so ingest itself should cost well under 200 us per message. Wall-clock
percentiles include preemption on a loaded machine; the thread CPU time does not.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import MappingProxyType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from navigation.simulation.simulator import SimulationConfig
from navigation.simulation.simulator_io import scenario_from_plan
from navigation.tracking.messages import IgtlMessage, TransformBody
from navigation.tracking.plus_sequence import read_plus_sequence
from navigation.tracking.pose_store import PoseStore
from registration.core.transforms import random_rigid

SHARED = Path(
    os.environ.get("IGCS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def _percentiles(samples_s: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_s)
    return ordered[len(ordered) // 2] * 1e6, ordered[int(len(ordered) * 0.99)] * 1e6


def bench_ingest(count: int = 50_000) -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    matrices = [random_rigid(rng, max_translation_mm=500.0) for _ in range(64)]
    metadata = MappingProxyType({"TransformStatus": "OK"})
    names = ("PointerToTracker", "ReferenceToTracker", "CameraToTracker")
    bodies = [TransformBody(m) for m in matrices]
    store = PoseStore()
    per_message, cpu_per_message = [], []
    total = 0.0
    for i in range(count):
        now = time.monotonic()  # a live message: sent now, arrived now
        message = IgtlMessage(
            "TRANSFORM",
            names[i % 3],
            bodies[i % 64],
            timestamp_s=1.7e9 + now,
            header_version=2,
            metadata=metadata,
            arrival_s=now,
        )
        before, cpu_before = time.perf_counter(), time.thread_time()
        store.ingest(message)
        elapsed = time.perf_counter() - before
        cpu_per_message.append(time.thread_time() - cpu_before)
        per_message.append(elapsed)
        total += elapsed
    p50, p99 = _percentiles(per_message)
    c50, c99 = _percentiles(cpu_per_message)
    queries = []
    for _ in range(20_000):
        before = time.perf_counter()
        store.transform("Reference", "Pointer")
        queries.append(time.perf_counter() - before)
    q50, q99 = _percentiles(queries)
    return [
        (
            "PoseStore.ingest TRANSFORM",
            f"{count / total:,.0f} msg/s; wall p50 {p50:.1f} us, p99 {p99:.1f} us; "
            f"CPU p50 {c50:.1f} us, p99 {c99:.1f} us",
        ),
        ("PoseStore.transform (composed)", f"p50 {q50:.1f} us, p99 {q99:.1f} us"),
    ]


def bench_socket_to_store() -> list[tuple[str, str]]:
    """TRANSFORM from a sender process over loopback through ``IgtlClient`` into the store:
    latency = after ``PoseStore.ingest`` returns minus the send time (the sender of
    ``bench_igtl.py`` stamps ``time.monotonic()`` into each header)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_igtl import Recorder, percentiles_ms, run_sender, throughput, timeout

    from navigation.tracking.igtl_transport import IgtlClient

    rows = []
    for label, count, rate in (
        ("flood", 20_000, 0.0),
        ("at 1000/s", 5000, 1000.0),
        ("at 5000/s", 25_000, 5000.0),
    ):
        store = PoseStore()
        recorder = Recorder(count)

        def deliver(
            message: IgtlMessage, store: PoseStore = store, recorder: Recorder = recorder
        ) -> None:
            store.ingest(message)
            recorder(message.timestamp_s)

        process, port = run_sender("transform", count, rate)
        client = IgtlClient("127.0.0.1", port, on_message=deliver).start()
        recorder.done.wait(timeout(count, rate))
        client.stop()
        process.wait()
        p50, p99 = percentiles_ms(recorder)
        rows.append(
            (
                f"socket -> PoseStore TRANSFORM, {label}",
                f"{throughput(recorder):,.0f} msg/s; p50 {p50:.3f} ms, p99 {p99:.3f} ms; "
                f"{recorder.received}/{count} delivered",
            )
        )
    return rows


def bench_plus() -> list[tuple[str, str]]:
    path = SHARED / "tracking-plus" / "EightLandmarkPointsTrackedForPhantomRegistration.igs.mha"
    if not path.is_file():
        return [("read_plus_sequence", f"skipped: {path} missing")]
    times = []
    for _ in range(5):
        before = time.perf_counter()
        read_plus_sequence(path)
        times.append(time.perf_counter() - before)
    return [
        ("read_plus_sequence (1000 frames, 2 tools)", f"{statistics.median(times) * 1e3:.1f} ms")
    ]


def bench_simulator() -> list[tuple[str, str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "navigation"))
    from simple_plan import write_simple_plan  # type: ignore[import-not-found]

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        plan = write_simple_plan(Path(folder))
        for size in ((320, 256), (1280, 1024)):
            config = SimulationConfig(seed=0, image_size_px=size, camera_fps=10.0)
            before = time.perf_counter()
            scenario = scenario_from_plan(plan, config)
            build = time.perf_counter() - before
            frames, messages = 0, 0
            before = time.perf_counter()
            for _, message in scenario.timeline():
                messages += 1
                frames += message.type == "IMAGE"
            generate = time.perf_counter() - before
            rows.append(
                (
                    f"simulator {size[0]}x{size[1]}, {scenario.duration_s:.0f} s story",
                    f"build {build * 1e3:.0f} ms; timeline {messages} msg in {generate:.2f} s "
                    f"({scenario.duration_s / generate:.1f}x real time, {frames} frames)",
                )
            )
    return rows


def main() -> int:
    rows = bench_ingest() + bench_socket_to_store() + bench_plus() + bench_simulator()
    width = max(len(name) for name, _ in rows)
    print(f"{'benchmark'.ljust(width)}  result")
    print(f"{'-' * width}  {'-' * 60}")
    for name, result in rows:
        print(f"{name.ljust(width)}  {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
