"""OpenIGTLink under stress: ``igcs navigate --headless`` flooded with and without recording,
and the framer's resynchronisation cost.

Run: ``python benchmarks/bench_igtl_stress.py [--runs 3] [--seconds 10] [--plan PLAN]``
(about 2 minutes for 3 runs of each; add a minute when the phantom has to be planned).

1. Flood. A sender process (plain sockets, messages encoded once, header timestamps patched
   with each sample's time on the wall clock: the CRC does not cover them) streams 1000 TRANSFORM/s
   (PointerToTracker and ReferenceToTracker, 500/s each) and 30 fps 1280x1024 uint16 IMAGE
   frames from the camera (``Camera``) to ``igcs navigate --headless --auto-register`` on the
   phantom plan. The pointer first visits the plan's fiducials in plan order, resting 2 s on
   each (so the app registers itself: the latency is measured on frames that draw the tip),
   then moves gently in front of the face for ``--seconds``. Runs alternate recording on
   (the default, a session file in a temporary folder) and ``--no-record``, so both see the
   same machine load. Reported per run from the navigation summary: tool STALE episodes of
   the pointer and reference, the render rate, the tracking-to-screen latency p95, the
   recorder's drops and peak queue; then the ratio of the median render rates.
2. Resynchronisation. The framer (:class:`~navigation.tracking.igtl_framing.IgtlFramer`) fed in
   64 KiB chunks, CPU time of this thread per MiB: random bytes, look-alike bytes (version
   marks and capitals every few bytes: a candidate header to check each time), a 20 MiB
   message of an undecoded type over its cap (skipped by its size, on probation), and a fake
   in-range IMAGE header followed by valid poses (the time until they resume).

The machine is reported with its load: figures measured on a shared machine are for ratios in
the same run, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from navigation.tracking import igtl_wire as wire  # noqa: E402
from navigation.tracking.igtl_codec import encode_message  # noqa: E402
from navigation.tracking.igtl_framing import IgtlFramer  # noqa: E402
from navigation.tracking.messages import IgtlMessage, TransformBody  # noqa: E402

SENDER = r"""
import socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from scipy.spatial.transform import Rotation
from navigation.planning.plan import load_plan
from navigation.tracking.igtl_codec import encode_message
from navigation.tracking.messages import IgtlMessage, ImageBody, TransformBody
seconds, tip = float(sys.argv[3]), np.array([0.0, 0.0, -160.0])
fiducials = load_plan(sys.argv[2]).fiducials_lps_mm  # image = reference frame here
tracker_from_reference = np.eye(4)
tracker_from_reference[:3, :3] = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix()
tracker_from_reference[:3, 3] = [-120.0, 40.0, -1500.0]
rest = fiducials.mean(axis=0) + [0.0, -120.0, 0.0]  # in front of the face, in the air
stops = [rest, *fiducials, rest]  # rest, each fiducial in plan order (2 s), rest
def tip_at(t):
    if t < 1.0:
        return rest
    leg, into = divmod(t - 1.0, 2.3)
    leg = int(leg)
    if leg >= len(stops) - 1:
        return rest + [3.0 * np.sin(2.0 * t), 0.0, 0.0]  # the surgeon's hand, after the visits
    start, end = stops[leg], stops[leg + 1]
    return start + (end - start) * min(into / 0.3, 1.0)
def pointer_bytes(t):
    reference_from_pointer = np.eye(4)
    reference_from_pointer[:3, 3] = tip_at(t) + noise.normal(0, 0.01, 3) - tip
    pose = tracker_from_reference @ reference_from_pointer
    message = IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(pose), 1.0)
    return bytearray(encode_message(message))
noise = np.random.default_rng(1)
reference = bytearray(encode_message(
    IgtlMessage("TRANSFORM", "ReferenceToTracker", TransformBody(tracker_from_reference), 1.0)
))
frame = np.random.default_rng(0).integers(0, 4096, (1, 1024, 1280), dtype=np.uint16)
image = bytearray(encode_message(IgtlMessage("IMAGE", "Camera", ImageBody(frame, np.eye(4)), 1.0)))
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
sock, _ = listener.accept()
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def stamp(data, t):  # the sample's time (a tracker's clock), not the batch's send time
    now = wall_start + t; whole = int(now)
    data[34:42] = struct.pack(">Q", (whole << 32) | int((now - whole) * 4294967296.0))
    return data
start, wall_start = time.monotonic(), time.time(); sent = [0, 0]; pose_index = frame_index = 0
try:
    while time.monotonic() - start < seconds:
        now = time.monotonic() - start
        while pose_index < now * 1000:  # 1000/s, in whatever batches the sleep allows
            data = reference if pose_index % 2 else pointer_bytes(pose_index / 1000)
            sock.sendall(stamp(data, pose_index / 1000)); pose_index += 1; sent[0] += 1
        if frame_index < now * 30:
            sock.sendall(stamp(image, frame_index / 30)); frame_index += 1; sent[1] += 1
        time.sleep(0.002)
except OSError:
    pass
print(sent[0], sent[1], flush=True)
"""


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} cores"


def phantom_plan(folder: Path) -> Path:
    """The digital phantom planned as ``igcs demo`` plans it."""
    from navigation.cli import main as igcs
    from navigation.simulation.phantom import load_truth, write_phantom

    phantom = folder / "phantom_ct"
    write_phantom(phantom, modality="CT", seed=0, size="small")
    truth = load_truth(phantom)
    seed = ",".join(repr(float(v)) for v in truth.tumour_seed_lps_mm)
    plan = folder / "plan"
    status = igcs(["plan", str(phantom / "dicom"), "--out", str(plan), f"--tumour-seed={seed}",
                   "--expected-fiducials", str(len(truth.fiducial_names))])  # fmt: skip
    if status != 0:
        raise SystemExit("planning the phantom failed")
    return plan


def visits_s(plan: Path) -> float:
    """How long the sender's pointer takes to visit the plan's fiducials (see SENDER)."""
    from navigation.planning.plan import load_plan

    return 1.0 + 2.3 * (len(load_plan(plan).fiducials_lps_mm) + 1) + 1.0


def flood_run(plan: Path, folder: Path, seconds: float, record: bool, index: int) -> dict:
    sender = subprocess.Popen(
        [sys.executable, "-c", SENDER, str(ROOT), str(plan), f"{seconds + 60:.1f}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sender.stdout is not None
    port = int(sender.stdout.readline())
    out = folder / f"run{index}"
    recording = ["--record", str(out / "session.igcsrec")] if record else ["--no-record"]
    out.mkdir()
    navigate = subprocess.run(
        [sys.executable, "-m", "navigation", "navigate", "--plan", str(plan), "--igtl",
         f"127.0.0.1:{port}", "--headless", "--screenshot", str(out / "shots"),
         "--duration", f"{seconds + visits_s(plan):.0f}", "--screenshot-every", "1000",
         "--auto-register", "--pointer-tip", "0,0,-160", "--fle", "0.3", *recording],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    sender.kill()
    sender.wait()
    if navigate.returncode != 0:
        raise SystemExit(f"igcs navigate failed:\n{navigate.stderr[-2000:]}")
    summary = json.loads((out / "shots" / "summary.json").read_text())
    changes = summary["tools"]["state_changes"]
    stale = {
        tool: changes.get(f"{tool}ToTracker", {}).get("STALE", 0)
        for tool in ("Pointer", "Reference")
    }
    recording_counts = summary["link"]["recording"]
    return {
        "record": record,
        "stale_pointer": stale["Pointer"],
        "stale_reference": stale["Reference"],
        "render_fps": summary["render_fps"],
        "latency_ms_p95": summary["latency_ms_p95"],
        "transforms": summary["messages"].get("TRANSFORM", 0),
        "images": summary["messages"].get("IMAGE", 0),
        "recorder_dropped": None if recording_counts is None else recording_counts["dropped"],
        "recorder_peak_mb": (
            None if recording_counts is None else recording_counts["peak_queued_bytes"] / 1e6
        ),
        "link_lost": summary["link"]["disconnects"],
        "registered": summary["fre_mm"] is not None,
    }


def flood(plan: Path, runs: int, seconds: float) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(2 * runs):
            record = index % 2 == 0
            result = flood_run(plan, Path(folder), seconds, record, index)
            results.append(result)
            print(
                f"  run {index + 1}: {'record' if record else 'no-record'}: "
                f"{number(result['render_fps'], '.1f')} fps, "
                f"p95 {number(result['latency_ms_p95'], '.0f')} ms, "
                f"registered {result['registered']}, "
                f"STALE pointer {result['stale_pointer']} reference {result['stale_reference']}, "
                f"{result['transforms']} TRANSFORM, {result['images']} IMAGE, "
                f"recorder dropped {result['recorder_dropped']}  [{load_text()}]",
                flush=True,
            )
    return results


def number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def median(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return statistics.median(finite) if finite else None


def pose_bytes(count: int, start: int = 0) -> bytes:
    return b"".join(
        encode_message(IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(np.eye(4)),
                                   1.7e9 + i))
        for i in range(start, start + count)
    )  # fmt: skip


def cpu_per_mib(data: bytes, repeats: int = 3) -> tuple[float, int]:
    """Best-of CPU seconds per MiB of this thread feeding ``data`` in 64 KiB chunks, and the
    number of messages it delivered."""
    best = float("inf")
    delivered = 0
    for _ in range(repeats):
        framer = IgtlFramer()
        started = time.thread_time()
        delivered = 0
        for offset in range(0, len(data), 65536):
            delivered += len(framer.feed(data[offset : offset + 65536]))
        best = min(best, time.thread_time() - started)
    return best / (len(data) / 2**20), delivered


def resync_rows() -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    random = rng.integers(0, 256, 8 * 2**20, dtype=np.uint8).tobytes()
    pieces = (b"\x00\x01T", b"\x00\x01", b"\x00\x01IM", b"xy", b"\x00")
    look_alike = b"".join(pieces[i] for i in rng.integers(0, len(pieces), 2**20 // 2))[: 2**20]
    body = (np.arange(10 * 2**20) % 3).astype(">u2").tobytes()
    oversize = wire.pack_header(1, "POLYDATA", "Skin", 1.7e9, body) + body
    poses = pose_bytes(1000)
    rows = []
    for name, data in (
        ("random bytes", random + poses),
        ("look-alike bytes (a candidate every ~4 bytes)", look_alike + poses),
        ("20 MiB POLYDATA over its cap (skipped by size)", oversize + poses),
        ("valid TRANSFORMs only (reference)", pose_bytes(20_000)),
    ):
        per_mib, delivered = cpu_per_mib(data)
        rows.append((f"resync CPU per MiB: {name}", f"{per_mib * 1e3:.1f} ms ({delivered} poses)"))
    fake = wire.HEADER_STRUCT.pack(1, b"IMAGE", b"NIRCamera", 0, 300_000_000, 0)
    framer = IgtlFramer()
    started = time.perf_counter()
    out = framer.feed(fake) + framer.feed(poses)
    rows.append(
        (
            "fake 300 MB IMAGE header, then 1000 poses (one feed)",
            f"{len(out)} delivered in {(time.perf_counter() - started) * 1e3:.1f} ms",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each (record, no-record)")
    parser.add_argument("--seconds", type=float, default=10.0, help="flood duration per run")
    parser.add_argument("--plan", type=Path, help="plan folder (default: plan the phantom)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {load_text()}")
    rows = resync_rows()
    for name, value in rows:
        print(f"{name:<55} {value}")
    with tempfile.TemporaryDirectory() as folder:
        plan = args.plan or phantom_plan(Path(folder))
        print(f"flood: 1000 TRANSFORM/s + 30 fps 1280x1024 uint16 IMAGE, {args.seconds:.0f} s")
        results = flood(plan, args.runs, args.seconds)
    recorded = [r for r in results if r["record"]]
    plain = [r for r in results if not r["record"]]

    def stale_runs(runs: list[dict]) -> int:
        return sum(1 for r in runs if r["stale_pointer"] or r["stale_reference"])

    fps_on = median([r["render_fps"] for r in recorded])
    fps_off = median([r["render_fps"] for r in plain])
    print("-" * 100)
    for label, runs, fps in (("recording on", recorded, fps_on), ("--no-record", plain, fps_off)):
        extra = ""
        if runs is recorded:
            dropped = sum(r["recorder_dropped"] or 0 for r in runs)
            peak = max(r["recorder_peak_mb"] or 0 for r in runs)
            extra = f", recorder dropped {dropped}, peak queue {peak:.1f} MB"
        print(
            f"{label:<13}: runs with STALE {stale_runs(runs)}/{len(runs)}, median "
            f"{number(fps, '.1f')} fps, latency p95 median "
            f"{number(median([r['latency_ms_p95'] for r in runs]), '.0f')} ms{extra}"
        )
    if fps_on and fps_off:
        print(f"render rate, recording on / off: {fps_on / fps_off:.2f} (acceptance: >= 0.90)")
    print(f"after: {load_text()}")


if __name__ == "__main__":
    main()
