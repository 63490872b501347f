"""Work the session does off its lock and off the UI: each call on a daemon thread of its own
(e.g. the Monte Carlo TRE prediction of a refined registration, seconds of work), with a wait
for all of them (tests, shutdown). A failure is logged, never lost silently, and never ends the
session."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class BackgroundWork:
    """Runs each submitted call on its own daemon thread; :meth:`wait` for all of them."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pending = 0
        self._condition = threading.Condition()

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        with self._condition:
            self._pending += 1

        def run() -> None:
            try:
                function(*args)
            except Exception:  # never lose the session to a failed background computation
                log.exception("%s failed", self._name)
            finally:
                with self._condition:
                    self._pending -= 1
                    self._condition.notify_all()

        threading.Thread(target=run, name=self._name, daemon=True).start()

    def wait(self, timeout_s: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout_s)
