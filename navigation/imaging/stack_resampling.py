"""Resampling an irregular slice stack onto a regular, orthogonal grid (SimpleITK).

The output grid is aligned with the slice plane: its i and j axes are the slices' row and
column directions with the original pixel spacing, its k axis is the slice normal. It is made
to hold every acquired voxel:

* along the normal it runs from the first slice to the last, in equal steps as close as
  possible to the median slice step (``round(extent / median)`` steps), so no slice is cut off
  and none is made up beyond the last;
* in the plane it is widened by whole pixels beyond the first slice's rows and columns so that
  the footprint of every slice fits: in a gantry-tilted stack each slice is shifted within the
  plane (by ``distance x tan(tilt)``, 48 mm over a 144 mm tilted head CT), and a grid of the
  first slice's size alone would cut a tenth of the acquired anatomy off. The widened grid keeps
  the first slice's pixel centres, so the first acquired slice is reproduced exactly.

Method: the stack is given to SimpleITK as a regular image in a *stacking index* space (origin
the first IPP, axes row/column/normal, 1 unit per slice along the normal). An output slice at
distance ``t`` along the normal lies between acquired slices ``floor(kappa)`` and
``ceil(kappa)``, where ``kappa`` interpolates the slice index linearly in the measured distances;
its in-plane offset is the linearly interpolated IPP shift of the stack at ``kappa``. Both are
constant over an output slice, so each output slice is one ``sitk.Resample`` with a translation
and linear interpolation: trilinear interpolation in the acquired (sheared, unevenly spaced)
index space. Points outside the acquired slices get ``default_value``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from navigation.imaging.dicom_checks import StackGeometry
from registration.core.checks import Float64Array, InputError, check_positive

#: Shifts within this fraction of a pixel of a whole pixel count as that whole pixel.
_PIXEL_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ResampledStack:
    """A stack on its regular grid.

    array : (M, rows + widening, columns + widening) float32, (k, j, i).
    origin_lps_mm : (3,) centre of voxel (0, 0, 0): the first slice's IPP moved back by the
        pixels added before its first row and column.
    step_mm : spacing along the normal.
    added_ij : pixels added (before i, after i, before j, after j) to the first slice's grid.
    """

    array: np.ndarray
    origin_lps_mm: Float64Array
    step_mm: float
    added_ij: tuple[int, int, int, int]

    @property
    def widened(self) -> bool:
        return any(self.added_ij)


def regular_step(geometry: StackGeometry) -> float:
    """The step of the regular grid: the extent divided into ``round(extent / median)`` steps."""
    extent = float(geometry.distances_mm[-1])
    if geometry.count < 2 or extent <= 0:
        return float(geometry.median_step_mm)
    return extent / max(1, round(extent / geometry.median_step_mm))


def resample_stack(
    stack_kji: np.ndarray,
    geometry: StackGeometry,
    *,
    pixel_spacing_ij_mm: tuple[float, float],
    default_value: float,
) -> ResampledStack:
    """Resample acquired slices onto a regular grid holding every acquired voxel.

    Parameters
    ----------
    stack_kji : (N, rows, columns) acquired slices, sorted along the normal (as ``geometry``).
    geometry : the measured stack (:func:`navigation.imaging.dicom_checks.analyse_stack`).
    pixel_spacing_ij_mm : spacing along i (between columns) and j (between rows), mm.
    default_value : value of output voxels outside the acquired slices (padding or air).

    Returns
    -------
    :class:`ResampledStack` on the grid with direction ``geometry.plane.direction``, spacing
    (i, j, ``regular_step(geometry)``) (see the module docstring).
    """
    count, rows, columns = stack_kji.shape
    if count != geometry.count:
        raise InputError(f"stack_kji has {count} slices; the geometry describes {geometry.count}.")
    step = check_positive(regular_step(geometry), "slice step")
    plane = geometry.plane
    spacing_i, spacing_j = (float(v) for v in pixel_spacing_ij_mm)
    shift_i = geometry.in_plane_shift_mm[:, 0] / spacing_i  # pixels
    shift_j = geometry.in_plane_shift_mm[:, 1] / spacing_j
    added = (
        _pixels(-float(shift_i.min())),
        _pixels(float(shift_i.max())),
        _pixels(-float(shift_j.min())),
        _pixels(float(shift_j.max())),
    )
    origin = (
        geometry.positions_lps_mm[0]
        - added[0] * spacing_i * plane.row_direction
        - added[2] * spacing_j * plane.column_direction
    )
    out_columns, out_rows = columns + added[0] + added[1], rows + added[2] + added[3]
    direction = tuple(plane.direction.ravel().tolist())

    source = sitk.GetImageFromArray(np.ascontiguousarray(stack_kji))
    source.SetOrigin(tuple(geometry.positions_lps_mm[0].tolist()))
    source.SetSpacing((spacing_i, spacing_j, 1.0))
    source.SetDirection(direction)

    extent = float(geometry.distances_mm[-1])
    output_count = round(extent / step) + 1 if count > 1 else 1
    reference = sitk.Image(out_columns, out_rows, 1, sitk.sitkFloat32)
    reference.SetSpacing((spacing_i, spacing_j, step))
    reference.SetDirection(direction)
    index = np.arange(count, dtype=np.float64)
    output = np.empty((output_count, out_rows, out_columns), dtype=np.float32)
    for m in range(output_count):
        distance = min(m * step, extent)  # the last output slice is the last acquired one
        kappa = float(np.interp(distance, geometry.distances_mm, index))
        shift_row = float(np.interp(kappa, index, geometry.in_plane_shift_mm[:, 0]))
        shift_column = float(np.interp(kappa, index, geometry.in_plane_shift_mm[:, 1]))
        reference.SetOrigin(tuple((origin + distance * plane.normal).tolist()))
        offset = (
            (kappa - distance) * plane.normal
            - shift_row * plane.row_direction
            - shift_column * plane.column_direction
        )
        transform = sitk.TranslationTransform(3, tuple(offset.tolist()))
        resampled = sitk.Resample(
            source, reference, transform, sitk.sitkLinear, float(default_value), sitk.sitkFloat32
        )
        output[m] = sitk.GetArrayViewFromImage(resampled)[0]
    return ResampledStack(output, origin, step, added)


def _pixels(shift: float) -> int:
    """Whole pixels needed to hold a footprint shifted by ``shift`` pixels (0 when not beyond)."""
    if shift <= _PIXEL_TOLERANCE:
        return 0
    return math.ceil(shift - _PIXEL_TOLERANCE)
