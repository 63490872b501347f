"""The skin sweep: tip positions (reference frame, mm) collected while the pointer slides over
the face, for surface refinement of a registration (:meth:`~navigation.app.registration_workflow.
RegistrationWorkflow.refine`). A position equal to the last one (no new pointer pose) is not
added twice.

Not thread-safe on its own: the session adds and reads under its lock.
"""

from __future__ import annotations

import numpy as np

from registration.core.checks import Float64Array


class SkinSweep:
    """Collects tip positions between :meth:`start` and :meth:`stop`."""

    def __init__(self) -> None:
        self._points: list[Float64Array] | None = None

    @property
    def active(self) -> bool:
        return self._points is not None

    @property
    def count(self) -> int:
        return 0 if self._points is None else len(self._points)

    def start(self) -> None:
        self._points = []

    def add(self, tip_in_reference: Float64Array) -> None:
        """A tip position while sweeping (ignored otherwise, or when it repeats the last)."""
        points = self._points
        if points is not None and (not points or not np.array_equal(tip_in_reference, points[-1])):
            points.append(tip_in_reference)

    def stop(self) -> Float64Array:
        """Stop; the points (N, 3), reference frame, mm (none if it was not started)."""
        points = np.array(self._points or [], dtype=np.float64).reshape(-1, 3)
        self._points = None
        return points
