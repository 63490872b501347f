"""The fluorescence colour scale: three bands split at the close and positive thresholds.

Below the close threshold the map is blue (no margin concern), between close and positive it is
amber (close margin), at or above positive it runs from red to magenta (positive margin). Never
seen vertices (NaN) are drawn in :data:`NEUTRAL_RGB`, a grey that is in none of the bands. The
colour bar marks both thresholds and the neutral swatch ("not seen").

The one fluorescence colour scale of the application: the live 3-D view, the AR view over the
camera frame and the offline pictures of ``igcs fluorescence`` all colour through
:func:`band_colours` (:func:`table_rgba` is its 256-entry table), so a colour means the same
ratio everywhere.
"""

from __future__ import annotations

import numpy as np
import vtk

from rendering.view_state import FluorescenceOverlay

#: Colour of unseen (NaN) vertices: neutral grey, outside every band of the scale.
NEUTRAL_RGB: tuple[float, float, float] = (0.6, 0.6, 0.6)

_TABLE_SIZE = 256
_BLUE = (np.array([0.05, 0.15, 0.55]), np.array([0.2, 0.5, 1.0]))
_AMBER = (np.array([1.0, 0.75, 0.0]), np.array([1.0, 0.55, 0.0]))
_RED = (np.array([0.9, 0.0, 0.0]), np.array([1.0, 0.0, 0.75]))


def band_colours(values: np.ndarray, fluorescence: FluorescenceOverlay) -> np.ndarray:
    """(N, 3) RGB in 0..1 for (N,) values under the scale of ``fluorescence``; NaN -> neutral.

    The same mapping the lookup table holds, for tests and for 2-D overlays.
    """
    v = np.asarray(values, dtype=np.float64)
    top = float(fluorescence.scale_max or 1.5 * fluorescence.positive_threshold)
    close, positive = fluorescence.close_threshold, fluorescence.positive_threshold
    clipped = np.clip(np.nan_to_num(v, nan=0.0), 0.0, top)
    out = np.empty((v.size, 3))
    bands = (
        (clipped < close, 0.0, close, _BLUE),
        ((clipped >= close) & (clipped < positive), close, positive, _AMBER),
        (clipped >= positive, positive, top, _RED),
    )
    for mask, low, high, (start, end) in bands:
        t = ((clipped[mask] - low) / max(high - low, 1e-12))[:, np.newaxis]
        out[mask] = (1.0 - t) * start + t * end
    out[np.isnan(v)] = NEUTRAL_RGB
    return out


def table_rgba(fluorescence: FluorescenceOverlay) -> np.ndarray:
    """(256, 4) uint8 RGBA of the scale over [0, scale_max] (bin centres), opaque."""
    top = float(fluorescence.scale_max or 1.5 * fluorescence.positive_threshold)
    centres = (np.arange(_TABLE_SIZE) + 0.5) / _TABLE_SIZE * top
    rgba = np.full((_TABLE_SIZE, 4), 255, np.uint8)
    rgba[:, :3] = np.rint(band_colours(centres, fluorescence) * 255.0)
    return rgba


def lookup_table(fluorescence: FluorescenceOverlay) -> vtk.vtkLookupTable:
    """A VTK lookup table over [0, scale_max] with the three bands, thresholds annotated, NaN
    neutral. Values below 0 clamp to the first colour, above ``scale_max`` to the last."""
    top = float(fluorescence.scale_max or 1.5 * fluorescence.positive_threshold)
    table = vtk.vtkLookupTable()
    table.SetNumberOfTableValues(_TABLE_SIZE)
    table.SetTableRange(0.0, top)
    for index, rgba in enumerate(table_rgba(fluorescence) / 255.0):
        table.SetTableValue(index, *(float(c) for c in rgba))
    table.SetNanColor(*NEUTRAL_RGB, 1.0)
    table.SetUseBelowRangeColor(False)
    table.SetUseAboveRangeColor(False)
    table.SetAnnotation(fluorescence.close_threshold, f"close {fluorescence.close_threshold:g}")
    table.SetAnnotation(
        fluorescence.positive_threshold, f"positive {fluorescence.positive_threshold:g}"
    )
    table.Build()
    return table


def colour_bar(table: vtk.vtkLookupTable, title: str) -> vtk.vtkScalarBarActor:
    """A vertical colour bar for ``table`` with its threshold marks and a "not seen" swatch."""
    bar = vtk.vtkScalarBarActor()
    bar.SetLookupTable(table)
    bar.SetTitle(title)
    # Tick labels exactly at 0, the two thresholds and the top: the band edges are labelled.
    low, high = table.GetTableRange()
    ticks = vtk.vtkDoubleArray()
    for index in range(table.GetNumberOfAnnotatedValues()):
        ticks.InsertNextValue(table.GetAnnotatedValue(index).ToDouble())
    for value in (low, high):
        ticks.InsertNextValue(value)
    bar.SetUseCustomLabels(True)
    bar.SetCustomLabels(ticks)
    bar.SetLabelFormat("%.3g")
    bar.SetDrawAnnotations(False)
    bar.SetDrawNanAnnotation(True)
    bar.SetNanAnnotation("not seen")
    bar.SetOrientationToVertical()
    bar.SetPosition(0.86, 0.2)
    bar.SetWidth(0.12)
    bar.SetHeight(0.5)
    bar.SetMaximumWidthInPixels(120)
    for text in (bar.GetTitleTextProperty(), bar.GetLabelTextProperty()):
        text.SetColor(1.0, 1.0, 1.0)
        text.SetFontSize(16)
        text.SetBold(True)
        text.SetItalic(False)
        text.SetShadow(False)
    bar.GetAnnotationTextProperty().SetColor(1.0, 1.0, 1.0)
    bar.GetAnnotationTextProperty().SetFontSize(14)
    return bar


def legend_text(fluorescence: FluorescenceOverlay) -> str:
    """The words under the colour bar: what each band and the grey swatch mean."""
    return (
        f"red-magenta: positive >= {fluorescence.positive_threshold:g}\n"
        f"amber: close >= {fluorescence.close_threshold:g}\n"
        f"blue: below close\n"
        f"grey: not seen"
    )
