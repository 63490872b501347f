"""The render cadence: newest state wins, no backlog, latency and stalls measured.

:class:`RenderLoop` draws one frame per :meth:`RenderLoop.tick`: it takes the session's newest
state (:meth:`~navigation.app.session.NavigationSession.frame`), renders it, waits until the
frame is complete (``WaitForCompletion``: glFinish, so the software rasteriser's work is in the
frame) and measures

- the frame time (tick start to presentation) and the frame rate;
- the tracking-to-screen latency: presentation time minus the local arrival time of the newest
  tool pose the frame draws (messages that arrive while a frame renders are simply not seen
  until the next one: nothing queues).

Who calls :meth:`tick` sets the cadence: the Qt window's timer, or :meth:`RenderLoop.run_for`
(headless). :meth:`RenderLoop.delay_to_next_s` gives the wait to the next frame at the target
rate; a frame slower than the period starts the next one at once. A tool changing state (the
pose store's events, e.g. the watchdog finding a tool STALE) wakes the loop for a frame at
once (:meth:`RenderLoop.wake`), so a lost tool is shown within the stale limit plus about one
frame time, whatever the cadence.

Stalls (a frozen display must be visible, not mistaken for a still patient): the views draw
a heartbeat (frame counter and a pulse square that alternates every frame). A frame slower
than ``slow_frame_s`` is counted and recorded; a watchdog thread (:meth:`start_watchdog`) notices a
loop that stopped presenting (a blocked UI thread) and records ``render_stall`` with its length.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from navigation.app.frame_builder import FrameState
from navigation.app.session import NavigationSession
from navigation.app.warning_monitor import WarningMonitor
from registration.core.checks import check_positive
from rendering.layout import NavigationLayout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameRecord:
    """One rendered frame: index, start and presentation times (s), frame time and
    tracking-to-screen latency (ms; NaN when no tracked tool was drawn), the pointer's state as
    its badge showed it, and the time the app took to build the snapshot (ms; the rest of the
    frame is the views' update and the render)."""

    index: int
    start_s: float
    presented_s: float
    frame_ms: float
    latency_ms: float
    pointer_state: str = ""
    snapshot_ms: float = math.nan


@dataclass(frozen=True)
class RenderStats:
    """Summary of the frames so far (times in ms; percentiles over the kept frames)."""

    frames: int
    render_fps: float
    frame_ms_p50: float
    frame_ms_p95: float
    snapshot_ms_p50: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_samples: int
    slow_frames: int
    stalls: int
    longest_stall_ms: float
    target_fps: float

    def to_dict(self) -> dict[str, float | int | None]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


class RenderLoop:
    """Draws the session's newest state into a layout, one frame per :meth:`tick`.

    Parameters
    ----------
    session : the source of truth. layout : the views (offscreen or a Qt widget's window).
    target_fps : the cadence :meth:`delay_to_next_s` and :meth:`run_for` aim at (software
        rendering costs about 60-100 ms per frame here: 10-15 fps).
    slow_frame_s : a frame longer than this is counted as slow and recorded.
    keep_frames : frame records kept for the statistics.
    sync_to_tracker_s : wait at most this long for a fresh pointer sample before a frame
        (about one tracker period; 0 disables): latency then excludes the sample's wait for
        the frame, about half a tracker period on average.
    clock : monotonic clock (s), the one the transport stamps arrivals with.
    on_margin : called when a margin warning starts (the window's optional sound).

    Every frame's warnings go through :attr:`warnings` (a
    :class:`~navigation.app.warning_monitor.WarningMonitor`): their changes are recorded in
    the session.
    """

    def __init__(
        self,
        session: NavigationSession,
        layout: NavigationLayout,
        *,
        target_fps: float = 12.0,
        slow_frame_s: float = 0.5,
        keep_frames: int = 100_000,
        sync_to_tracker_s: float = 0.04,
        clock: Callable[[], float] = time.monotonic,
        on_margin: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.warnings = WarningMonitor(session, on_margin=on_margin)
        self.sync_to_tracker_s = float(sync_to_tracker_s)
        self.layout = layout
        self.target_fps = check_positive(target_fps, "target_fps")
        self.slow_frame_s = check_positive(slow_frame_s, "slow_frame_s")
        self.clock = clock
        self._records: deque[FrameRecord] = deque(maxlen=keep_frames)
        self._recent: deque[float] = deque(maxlen=30)
        self._lock = threading.Lock()
        self._frame_index = 0
        self._slow = 0
        self._stalls = 0
        self._longest_stall_s = 0.0
        self._last_present_s = math.nan
        self._last_start_s = -math.inf
        self.last_frame: FrameState | None = None
        self._watchdog: threading.Thread | None = None
        self._watchdog_stop = threading.Event()
        self._wake = threading.Event()
        # A tool changing state (e.g. going STALE) is drawn at once, not at the next tick.
        self._unsubscribe = session.store.subscribe(lambda _event: self.wake())

    @property
    def period_s(self) -> float:
        return 1.0 / self.target_fps

    def fps(self) -> float | None:
        """Frames per second over the last 30 frames (None before two frames)."""
        with self._lock:
            if len(self._recent) < 2 or self._recent[-1] <= self._recent[0]:
                return None
            return (len(self._recent) - 1) / (self._recent[-1] - self._recent[0])

    def tick(self) -> FrameRecord:
        """Render the newest state now; returns the frame's measurements.

        With ``sync_to_tracker_s`` > 0 and the pointer drawn in the last frame, first wait (at
        most that long) for the next pointer sample to arrive, so the snapshot is taken just
        after a sample rather than up to a tracker period later.
        """
        if (
            self.sync_to_tracker_s > 0
            and self.last_frame is not None
            and self.last_frame.snapshot.pointer_ok
        ):
            self.session.wait_for_pointer_sample(self.clock(), self.sync_to_tracker_s)
        start = self.clock()
        self._last_start_s = start
        frame = self.session.frame(frame_index=self._frame_index, render_fps=self.fps())
        self.warnings.observe(frame)
        built = self.clock()
        self.layout.render(frame.snapshot)
        self.layout.render_window.WaitForCompletion()
        presented = self.clock()
        latency = (presented - frame.newest_arrival_s) * 1000.0
        record = FrameRecord(
            self._frame_index,
            start,
            presented,
            (presented - start) * 1000.0,
            latency,
            frame.snapshot.pointer_state,
            (built - start) * 1000.0,
        )
        self.last_frame = frame
        with self._lock:
            self._records.append(record)
            self._recent.append(presented)
            self._last_present_s = presented
            self._frame_index += 1
        if presented - start > self.slow_frame_s:
            self._slow += 1
            log.warning("slow frame %d: %.0f ms", record.index, record.frame_ms)
            self.session.record_event(
                "render_stall", {"kind": "slow_frame", "frame": record.index,
                                 "duration_ms": record.frame_ms},
            )  # fmt: skip
        return record

    def wake(self) -> None:
        """Ask for a frame now (thread-safe): :meth:`run_for` stops waiting."""
        self._wake.set()

    def wait_next(self, limit_s: float = float("inf")) -> None:
        """Block until the next frame is due, a wake-up, or ``limit_s`` seconds."""
        wait = min(self.delay_to_next_s(), limit_s)
        if wait > 0 and not self._wake.is_set():
            self._wake.wait(wait)
        self._wake.clear()

    def delay_to_next_s(self) -> float:
        """Seconds to wait before the next tick to keep ``target_fps`` (0 when late)."""
        return max(0.0, self._last_start_s + self.period_s - self.clock())

    def run_for(
        self,
        duration_s: float,
        *,
        on_frame: Callable[[FrameRecord], None] | None = None,
        stop: threading.Event | None = None,
    ) -> RenderStats:
        """Tick at the target rate for ``duration_s`` seconds (headless); returns the stats."""
        halt = stop or threading.Event()
        end = self.clock() + check_positive(duration_s, "duration_s")
        while self.clock() < end and not halt.is_set():
            record = self.tick()
            if on_frame is not None:
                on_frame(record)
            self.wait_next(max(0.0, end - self.clock()))
            if halt.is_set():
                break
        return self.stats()

    @property
    def records(self) -> tuple[FrameRecord, ...]:
        with self._lock:
            return tuple(self._records)

    def stats(self) -> RenderStats:
        """Frame rate, frame time and latency percentiles so far."""
        records = self.records
        frame_ms = np.array([r.frame_ms for r in records])
        latency = np.array([r.latency_ms for r in records])
        latency = latency[np.isfinite(latency)]
        fps = math.nan
        if len(records) >= 2 and records[-1].presented_s > records[0].presented_s:
            fps = (len(records) - 1) / (records[-1].presented_s - records[0].presented_s)

        def pct(values: np.ndarray, q: float) -> float:
            return float(np.percentile(values, q)) if len(values) else math.nan

        return RenderStats(
            frames=self._frame_index,
            render_fps=fps,
            frame_ms_p50=pct(frame_ms, 50),
            frame_ms_p95=pct(frame_ms, 95),
            snapshot_ms_p50=pct(np.array([r.snapshot_ms for r in records]), 50),
            latency_ms_p50=pct(latency, 50),
            latency_ms_p95=pct(latency, 95),
            latency_samples=len(latency),
            slow_frames=self._slow,
            stalls=self._stalls,
            longest_stall_ms=self._longest_stall_s * 1000.0,
            target_fps=self.target_fps,
        )

    # ------------------------------------------------------------------ watchdog
    def start_watchdog(self, threshold_s: float = 1.0, period_s: float = 0.1) -> None:
        """Watch for a loop that stopped presenting frames for longer than ``threshold_s``
        (a frozen display): logs and records ``render_stall`` when it happens and when the
        display comes back, with the stall's length."""
        check_positive(threshold_s, "threshold_s")
        if self._watchdog is not None:
            return
        self._watchdog_stop.clear()

        def watch() -> None:
            stalled_since: float | None = None
            while not self._watchdog_stop.wait(period_s):
                with self._lock:
                    last = self._last_present_s
                if not math.isfinite(last):
                    continue
                now = self.clock()
                if stalled_since is None and now - last > threshold_s:
                    stalled_since = last
                    self._stalls += 1
                    log.warning("display stalled: no frame for %.1f s", now - last)
                    self.session.record_event("render_stall", {"kind": "stalled", "since_s": last})
                elif stalled_since is not None and last > stalled_since:
                    length = last - stalled_since
                    self._longest_stall_s = max(self._longest_stall_s, length)
                    log.warning("display resumed after %.1f s", length)
                    self.session.record_event(
                        "render_stall", {"kind": "resumed", "duration_s": length}
                    )
                    stalled_since = None

        self._watchdog = threading.Thread(target=watch, name="render-watchdog", daemon=True)
        self._watchdog.start()

    def close(self) -> None:
        """Stop the watchdog and stop listening to the session's tool states."""
        self.stop_watchdog()
        self._unsubscribe()

    def stop_watchdog(self) -> None:
        thread, self._watchdog = self._watchdog, None
        if thread is not None:
            self._watchdog_stop.set()
            thread.join(timeout=2.0)
