"""Each warning's state in the session recording, and the margin sound.

:class:`WarningMonitor` looks at every frame the render loop builds (what is about to be
shown) and records a ``warning`` event in the session whenever a warning starts or ends:

- ``tracking_lost``: per tool (pointer, reference), with its state and the seconds since its
  last good pose (the red border of the 3-D view);
- ``margin``: the tip within the margin of the tumour, with the signed distance (the red band);
- ``unverified_registration``: a registration that failed its checks is in use (the red
  UNVERIFIED label).

A margin warning that starts also calls ``on_margin`` (the window's optional sound). The
counts of warnings started are kept for the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from navigation.app.frame_builder import FrameState
from navigation.app.session import NavigationSession


class WarningMonitor:
    """Edge-triggered recording of the warnings shown (see the module docstring)."""

    def __init__(
        self, session: NavigationSession, *, on_margin: Callable[[], None] | None = None
    ) -> None:
        self.session = session
        self.on_margin = on_margin
        self._tracking: dict[str, str] = {}
        self._margin = False
        self._unverified = False
        self.started: Counter[str] = Counter()

    def observe(self, frame: FrameState) -> None:
        """Compare the frame's warnings with the last frame's; record what changed."""
        snapshot = frame.snapshot
        now = {alarm.tool: alarm for alarm in snapshot.tracking_alarms}
        for tool, alarm in now.items():
            if self._tracking.get(tool) != alarm.state:
                self._record(
                    "tracking_lost",
                    True,
                    tool=tool,
                    state=alarm.state,
                    since_good_s=alarm.since_good_s,
                )
        for tool in self._tracking.keys() - now.keys():
            self._record("tracking_lost", False, tool=tool, state="OK")
        self._tracking = {tool: alarm.state for tool, alarm in now.items()}

        guidance = snapshot.guidance
        margin = bool(snapshot.pointer_ok and guidance is not None and guidance.margin_warning)
        if margin != self._margin:
            details: dict[str, Any] = {}
            if guidance is not None:
                details = {
                    "distance_mm": guidance.signed_distance_mm,
                    "warning_distance_mm": guidance.warning_distance_mm,
                }
            self._record("margin", margin, **details)
            if margin and self.on_margin is not None:
                self.on_margin()
            self._margin = margin

        registration = snapshot.registration
        unverified = registration is not None and not registration.verified
        if unverified != self._unverified:
            self._record(
                "unverified_registration",
                unverified,
                text=None if registration is None else registration.text,
            )
            self._unverified = unverified

    def _record(self, kind: str, active: bool, **details: Any) -> None:
        if active:
            self.started[kind] += 1
        self.session.record_event("warning", {"kind": kind, "active": active, **details})

    def counts(self) -> dict[str, int]:
        """Warnings started so far, by kind."""
        return {
            kind: self.started.get(kind, 0)
            for kind in ("tracking_lost", "margin", "unverified_registration")
        }
