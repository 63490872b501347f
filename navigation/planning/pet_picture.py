"""A picture of the PET tumour for the planner: is the focus igcs chose the primary?

Three CT slices (axial, coronal, sagittal) through the tumour's centroid, 110 mm around it,
with the PET's SUV overlaid (trilinear on the CT grid, shown from SUV 1.5), the tumour's outline,
and the other candidate foci near each slice marked with their SUVmax. Orientation follows the
radiological convention for an axial grid: the patient's right on the viewer's left, anterior
and superior up. Drawn with matplotlib's Agg backend (no display); ``igcs plan --pet`` stores it
as ``PLAN/pet_tumour.png``.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from navigation.imaging.grid_sampling import sample_linear
from navigation.imaging.volume import Volume
from registration.core.geometry import ImageGeometry

if TYPE_CHECKING:
    from navigation.imaging.pet import PetSeries
    from navigation.planning.pet_tumour import PetTumour

HALF_WIDTH_MM = 110.0
FOCUS_NEAR_MM = 12.0


def pet_overview_png(ct: Volume, pet: PetSeries, tumour: PetTumour) -> bytes:
    """PNG bytes of the three-slice overview (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    geometry = ct.geometry
    centre = np.clip(
        np.rint(geometry.lps_to_ijk(tumour.centroid_lps_mm)).astype(int),
        0,
        np.asarray(geometry.size_ijk) - 1,
    )
    reach = np.ceil(HALF_WIDTH_MM / geometry.spacing_mm).astype(int)
    low = np.maximum(centre - reach, 0)
    high = np.minimum(centre + reach + 1, geometry.size_ijk)
    mask = tumour.mask()
    figure = Figure(figsize=(13.5, 5.0), dpi=72)
    axes = figure.subplots(1, 3)
    figure.subplots_adjust(left=0.01, right=0.9, top=0.86, bottom=0.02, wspace=0.05)
    image = None
    # (title, fixed axis in ijk, displayed row axis, displayed column axis)
    for axis, (title, fixed, rows, columns) in zip(
        axes, (("axial", 2, 1, 0), ("coronal", 1, 2, 0), ("sagittal", 0, 2, 1)), strict=True
    ):
        box_ijk = [slice(int(a), int(b)) for a, b in zip(low, high, strict=True)]
        box_ijk[fixed] = slice(int(centre[fixed]), int(centre[fixed]) + 1)
        box_kji = (box_ijk[2], box_ijk[1], box_ijk[0])
        suv = sample_linear(pet.suv.array, pet.suv.geometry, geometry, box_kji=box_kji)
        # squeezing the fixed axis of a (k, j, i) block leaves (rows, columns) in that order
        planes = [np.squeeze(a, axis=2 - fixed) for a in (ct.array[box_kji], mask[box_kji], suv)]
        flip = rows == 2  # superior up
        origin = "lower" if flip else "upper"
        extent = (0, planes[0].shape[1] * geometry.spacing_mm[columns], 0,
                  planes[0].shape[0] * geometry.spacing_mm[rows])  # fmt: skip
        if not flip:
            extent = (extent[0], extent[1], extent[3], extent[2])
        axis.imshow(planes[0], cmap="gray", vmin=-160, vmax=240, origin=origin, extent=extent)
        overlay = np.ma.masked_less(planes[2], 1.5)
        top = max(tumour.suv_max, 1.0)
        image = axis.imshow(overlay, cmap="hot", alpha=0.55, vmin=0, vmax=top, origin=origin,
                            extent=extent)  # fmt: skip
        if planes[1].any():
            axis.contour(planes[1].astype(float), [0.5], colors="lime", linewidths=1.5,
                         origin=origin, extent=extent)  # fmt: skip
        _mark_foci(axis, tumour, geometry, fixed, rows, columns, low, centre, planes[0])
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
        left = "R" if columns == 0 else "A"
        axis.text(0.01, 0.5, left, color="yellow", transform=axis.transAxes, va="center")
    if image is not None:
        figure.colorbar(image, ax=list(axes), fraction=0.015, label="SUVbw (g/ml)")
    figure.suptitle(
        f"PET tumour ({tumour.found}, green): SUVmax {tumour.suv_max:.2f}, SUVmean "
        f"{tumour.suv_mean:.2f}, MTV {tumour.mtv_ml:.1f} ml at SUV >= {tumour.threshold_suv:.2f} "
        f"({tumour.fraction:.0%} of SUVmax); crosses: other foci (SUVmax)",
        fontsize=11,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")  # one draw (a "tight" box would draw twice)
    return buffer.getvalue()


def _mark_foci(
    axis: Any,
    tumour: PetTumour,
    geometry: ImageGeometry,
    fixed: int,
    rows: int,
    columns: int,
    low: np.ndarray,
    centre: np.ndarray,
    plane: np.ndarray,
) -> None:
    """Crosses at the other foci lying within FOCUS_NEAR_MM of the displayed slice."""
    for focus in tumour.foci:
        if focus.status == "chosen":
            continue
        ijk = geometry.lps_to_ijk(focus.peak_lps_mm)
        if abs(ijk[fixed] - centre[fixed]) * geometry.spacing_mm[fixed] > FOCUS_NEAR_MM:
            continue
        x = (ijk[columns] - low[columns] + 0.5) * geometry.spacing_mm[columns]
        y = (ijk[rows] - low[rows] + 0.5) * geometry.spacing_mm[rows]
        height = plane.shape[0] * geometry.spacing_mm[rows]
        width = plane.shape[1] * geometry.spacing_mm[columns]
        if not (0 <= x <= width and 0 <= y <= height):
            continue
        axis.plot([x], [y], marker="x", color="cyan", markersize=9)
        axis.annotate(f"{focus.suv_max:.1f}", (x, y), color="cyan", fontsize=9,
                      xytext=(4, 4), textcoords="offset points")  # fmt: skip
