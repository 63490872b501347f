"""The fluorescence panel (Qt): the fused map's numbers, reset, and the AR view's button.

Holds no state: :meth:`FluorescencePanel.refresh` redraws from the mapper's immutable
:class:`~navigation.app.fluorescence.FluorescenceState`. The fused map itself is drawn on the
model in the 3-D view and over the live frame in the AR view (one colour scale with the
positive / close marks); this panel gives its numbers: TBR/SBR and CNR with the raw means and
the regions they come from, the share of the target seen and at or above each threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from navigation.app.fluorescence import FluorescenceMapper
from navigation.app.qt_widgets import fit_label_heights, large_label


class FluorescencePanel(QtWidgets.QWidget):
    """Reads a :class:`FluorescenceMapper` (or says that there is none)."""

    def __init__(
        self,
        mapper: FluorescenceMapper | None,
        reset: Callable[[], None],
        parent: QtWidgets.QWidget | None = None,
        *,
        show_ar: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.mapper = mapper
        layout = QtWidgets.QVBoxLayout(self)
        title = large_label(18, bold=True)
        title.setText("Fluorescence")
        layout.addWidget(title)
        self.ar_button = QtWidgets.QPushButton("AR view  [F7]")
        self.ar_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.ar_button.setMinimumHeight(44)
        self.ar_button.setEnabled(show_ar is not None)
        if show_ar is not None:
            self.ar_button.clicked.connect(show_ar)
        layout.addWidget(self.ar_button)
        self.numbers = large_label(15)
        layout.addWidget(self.numbers)
        note = large_label(12)
        note.setText(
            "Fused map on the 3-D model: fluorophore within a few mm under the surface, "
            "not a depth. Thresholds are tracer- and device-specific."
        )
        layout.addWidget(note)
        self.reset_button = QtWidgets.QPushButton("Reset map  [C]")
        self.reset_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.reset_button.setMinimumHeight(44)
        self.reset_button.clicked.connect(reset)
        layout.addWidget(self.reset_button)
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the mapper's state."""
        if self.mapper is None:
            self.numbers.setText(
                "no fluorescence mapping (give --camera-intrinsics and --hand-eye)"
            )
            self.reset_button.setEnabled(False)
            fit_label_heights(self)
            return
        state = self.mapper.state()
        lines = [f"{state.frames_mapped} frames mapped, {state.frames_skipped} skipped"]
        if state.last_problem:
            lines.append(f"last: {state.last_problem}")
        lines.append(
            f"tumour dome: {100 * state.target_seen_fraction:.0f} % seen"
            + (
                ""
                if math.isnan(state.positive_area_mm2)
                else f"; positive (SBR >= {state.thresholds.positive_sbr:g}) "
                f"{state.positive_area_mm2:.0f} mm2, close (>= {state.thresholds.close_sbr:g}) "
                f"{state.close_area_mm2:.0f} mm2"
            )
        )
        if state.dice is not None and state.boundary_error_mm is not None:
            lines.append(
                f"vs the true patch ({state.truth_source}): Dice {state.dice:.2f}, boundary "
                f"{state.boundary_error_mm:.2f} mm"
            )
        q = state.quantification
        if q is not None:
            lines += [
                f"TBR/SBR {q.sbr:.2f}   CNR {q.cnr:.1f}",
                f"means: target {q.target_mean:.1f}, background {q.background_mean:.1f} "
                f"(sd {q.background_std:.1f})",
                f"target: {q.target_region}; background: {q.background_region}",
            ]
        self.numbers.setText("\n".join(lines))
        fit_label_heights(self)
