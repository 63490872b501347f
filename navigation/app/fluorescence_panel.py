"""The fluorescence panel (Qt): the live NIR frame, the AR view, the fused map's numbers, reset.

Holds no state: :meth:`FluorescencePanel.refresh` redraws from the mapper's immutable
:class:`~navigation.app.fluorescence.FluorescenceState`. The fused map itself is drawn on the
model in the 3-D view (colour scale with the positive / close marks); this panel gives its
numbers: TBR/SBR and CNR with the raw means and the regions they come from, the share of the
target seen and at or above each threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from navigation.app.fluorescence import FluorescenceMapper
from navigation.app.qt_widgets import fit_label_heights, large_label


def pixmap_of(rgb: np.ndarray) -> QtGui.QPixmap:
    """A QPixmap of a (H, W, 3) uint8 RGB picture (copied)."""
    picture = np.ascontiguousarray(rgb)
    height, width, _ = picture.shape
    image = QtGui.QImage(picture.data, width, height, 3 * width, QtGui.QImage.Format.Format_RGB888)
    return QtGui.QPixmap.fromImage(image.copy())


class FluorescencePanel(QtWidgets.QWidget):
    """Reads a :class:`FluorescenceMapper` (or says that there is none)."""

    def __init__(
        self,
        mapper: FluorescenceMapper | None,
        reset: Callable[[], None],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.mapper = mapper
        layout = QtWidgets.QVBoxLayout(self)
        title = large_label(18, bold=True)
        title.setText("Fluorescence")
        layout.addWidget(title)
        pictures = QtWidgets.QHBoxLayout()
        self.live = QtWidgets.QLabel("no frame")
        self.ar = QtWidgets.QLabel("no AR view")
        for picture, caption in ((self.live, "live NIR frame"), (self.ar, "AR: model on frame")):
            box = QtWidgets.QVBoxLayout()
            picture.setMinimumSize(150, 112)
            picture.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            picture.setStyleSheet("background: black; color: #aaa")
            box.addWidget(picture)
            text = large_label(12)
            text.setText(caption)
            box.addWidget(text)
            pictures.addLayout(box)
        layout.addLayout(pictures)
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
        if state.live_rgb is not None:
            self.live.setPixmap(self._scaled(state.live_rgb))
        if state.ar_rgb is not None:
            self.ar.setPixmap(self._scaled(state.ar_rgb))
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

    def _scaled(self, rgb: np.ndarray) -> QtGui.QPixmap:
        return pixmap_of(rgb).scaled(
            self.live.width(),
            self.live.height(),
            QtCore.Qt.AspectRatioMode.KeepAspectRatio,
            QtCore.Qt.TransformationMode.SmoothTransformation,
        )
