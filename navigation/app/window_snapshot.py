"""The snapshot button: a PNG of the whole window with the time and the state, in the session
folder.

The window's own grab does not contain the OpenGL views reliably (a native GL child), so the
views' rendered frame (:meth:`rendering.layout.NavigationLayout.screenshot`) is painted over
their place; a footer strip below says when and what was shown (registration in force, tool
states, guidance, warnings). The same state goes into the PNG as text chunks (``igcs-time``,
``igcs-state``: JSON) and into the session recording (``snapshot`` event). Written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from rendering.pictures import grab_rgb

FOOTER_FONT_PT = 14


def qimage_of(rgb: np.ndarray) -> QtGui.QImage:
    """A QImage (copy) of a (H, W, 3) uint8 RGB picture."""
    picture = np.ascontiguousarray(rgb)
    height, width, _ = picture.shape
    image = QtGui.QImage(picture.data, width, height, 3 * width, QtGui.QImage.Format.Format_RGB888)
    return image.copy()


def compose_snapshot(
    window: QtGui.QImage,
    views_rgb: np.ndarray,
    views_rect: QtCore.QRect,
    footer: list[str],
    *,
    more_views: Sequence[tuple[np.ndarray, QtCore.QRect]] = (),
) -> QtGui.QImage:
    """The window picture with the views' frame painted at ``views_rect`` (window
    coordinates), each of ``more_views`` (another GL view's frame and its rectangle, e.g. the
    AR view) likewise, and ``footer`` lines in a strip below."""
    font = _footer_font()
    metrics = QtGui.QFontMetrics(font)
    flags = int(QtCore.Qt.TextFlag.TextWordWrap)
    boxes = [
        metrics.boundingRect(QtCore.QRect(0, 0, window.width() - 16, 10_000), flags, line)
        for line in footer
    ]
    strip = sum(box.height() + 4 for box in boxes) + 12
    result = QtGui.QImage(
        window.width(), window.height() + strip, QtGui.QImage.Format.Format_RGB888
    )
    result.fill(QtGui.QColor("#101018"))
    painter = QtGui.QPainter(result)
    try:
        painter.drawImage(0, 0, window)
        for rgb, rect in ((views_rgb, views_rect), *more_views):
            painter.drawImage(rect, qimage_of(rgb))
        painter.setFont(font)
        painter.setPen(QtGui.QColor("white"))
        y = window.height() + 6
        for line, box in zip(footer, boxes, strict=True):
            painter.drawText(QtCore.QRect(8, y, window.width() - 16, box.height()), flags, line)
            y += box.height() + 4
    finally:
        painter.end()
    return result


def snapshot_footer(when: datetime, frame_index: int, state: dict[str, Any]) -> list[str]:
    """The footer's lines: when, which frame, and what ``state`` says was shown."""
    return [
        f"igcs snapshot {when:%Y-%m-%d %H:%M:%S}  frame {frame_index}",
        state["registration"],
        "tools: " + ", ".join(f"{k} {v}" for k, v in state["tools"].items()),
        f"guidance: {state['guidance']}",
        "warnings: " + ("; ".join(state["warnings"].values()) or "none").replace("\n", "; "),
    ]


def grab_window(
    window: QtWidgets.QWidget,
    views: QtWidgets.QWidget,
    views_rgb: np.ndarray,
    footer: list[str],
    ar_view: Any = None,
) -> QtGui.QImage:
    """The ``window``'s picture with the views' rendered frame (``views_rgb``) over the
    ``views`` widget's place and, when shown, the AR view's (a VTK widget) over its own."""
    origin = views.mapTo(window, QtCore.QPoint(0, 0))
    views_rect = QtCore.QRect(origin, views.size())
    more = []
    if ar_view is not None and ar_view.isVisible():
        corner = ar_view.mapTo(window, QtCore.QPoint(0, 0))
        ar_rect = QtCore.QRect(corner, ar_view.size())
        more.append((grab_rgb(ar_view.GetRenderWindow()), ar_rect))
    return compose_snapshot(window.grab().toImage(), views_rgb, views_rect, footer, more_views=more)


def save_snapshot(image: QtGui.QImage, folder: Path, when: datetime, state: dict[str, Any]) -> Path:
    """Write ``image`` as ``snapshot-<date>-<time>.png`` in ``folder`` (created), with the time
    and state as PNG text; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"snapshot-{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}"
    path = folder / f"{stem}.png"
    image.setText("igcs-time", when.isoformat(timespec="milliseconds"))
    image.setText("igcs-state", json.dumps(state, default=str))
    temporary = folder / f".{stem}.writing.png"
    if not image.save(str(temporary)):  # PNG, from the suffix
        raise OSError(f"could not write the snapshot {temporary}")
    os.replace(temporary, path)
    return path


def _footer_font() -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSize(FOOTER_FONT_PT)
    font.setBold(True)
    return font
