"""The registration actions of the navigation window (a mixin of
:class:`~navigation.app.window.NavigationWindow`): collect, register, accept (refused for a
registration that failed its checks), the override dialog, exclude with a reason, landmark
check, skin sweep. Each calls the session and shows its answer in the status bar; the
registration panel is refreshed after each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6 import QtCore

from navigation.app.override_dialog import OverrideDialog
from registration.core.checks import InputError

if TYPE_CHECKING:
    from navigation.app.registration_panel import RegistrationPanel
    from navigation.app.session import NavigationSession


class SweepOptions(Protocol):
    """What the actions read of the window's options (``WindowOptions`` has it)."""

    @property
    def sweep_s(self) -> float: ...


class RegistrationActions:
    """Needs ``session``, ``registration_panel``, ``say``, ``_sweep_timer`` and
    ``options.sweep_s`` on the window it is mixed into."""

    session: NavigationSession
    registration_panel: RegistrationPanel
    override_dialog: OverrideDialog | None
    options: SweepOptions
    say: Callable[[str], None]
    _sweep_timer: QtCore.QTimer

    def _act(self, action: Callable[[], str]) -> None:
        try:
            self.say(action())
        except InputError as error:  # FiducialCollectionError is one
            self.say(str(error))
        self.registration_panel.refresh()

    def collect(self) -> None:
        def run() -> str:
            collected = self.session.collect_fiducial()
            return f"collected (spread {collected.spread_mm:.2f} mm)"

        self._act(run)

    def register(self) -> None:
        def run() -> str:
            result = self.session.register()
            if result.verified:
                return f"registered: FRE {result.fre_mm:.2f} mm; accept with A"
            return (
                f"REFUSED: {result.checks.summary}. Re-touch or exclude (X) the suspect, or "
                "override (O)"
            )

        self._act(run)

    def accept_registration(self) -> None:
        """Accept the candidate; one that failed its checks is refused (the message says
        what to do: re-touch, exclude, or the override dialog)."""

        def run() -> str:
            result = self.session.accept()
            return f"registration accepted ({result.method}); check a landmark (V)"

        self._act(run)

    def open_override(self) -> None:
        """Open the confirmation dialog for a candidate that failed its checks."""
        state = self.session.workflow.state()
        candidate = state.candidate
        if candidate is None or state.result_outdated:
            self.say("nothing to override: register first")
            return
        if candidate.verified:
            self.say("this registration passed its checks: accept it with A")
            return
        dialog = OverrideDialog(candidate, self)  # type: ignore[arg-type]
        dialog.accepted.connect(lambda: self._apply_override(dialog.reason()))
        self.override_dialog = dialog
        dialog.open()

    def _apply_override(self, reason: str) -> None:
        def run() -> str:
            result = self.session.accept(override_reason=reason)
            return f"UNVERIFIED registration in use ({result.checks.summary}); check a landmark"

        self._act(run)

    def toggle_exclude(self) -> None:
        def run() -> str:
            state = self.session.workflow.state()
            index = self.registration_panel.selected_index()
            if index is None:
                index = state.current_index
            if index is None:
                return "select a fiducial to exclude"
            excluded = not state.rows[index].excluded
            reason = self.session.set_excluded(index, excluded)
            name = state.rows[index].name
            return f"{name} excluded: {reason}" if excluded else f"{name} included"

        self._act(run)

    def landmark_check(self) -> None:
        def run() -> str:
            return self.session.landmark_check().describe()

        self._act(run)

    def start_sweep(self) -> None:
        if not self.session.status().sweeping:
            self.session.start_sweep()
            self.say("sweeping the skin: slide the pointer over the face")

    def finish_sweep(self) -> None:
        if not self.session.status().sweeping:
            return

        def run() -> str:
            result = self.session.refine()
            assert result.surface is not None
            return (
                f"refined with {result.surface.point_count} skin points: "
                f"RMS {result.surface.rms_distance_mm:.2f} mm"
            )

        self._act(run)

    def timed_sweep(self) -> None:
        self.start_sweep()
        self._sweep_timer.start(round(1000 * self.options.sweep_s))

    def cancel_sweep(self) -> None:
        if self.session.status().sweeping:
            self._sweep_timer.stop()
            self.session.stop_sweep()
            self.say("sweep cancelled")
