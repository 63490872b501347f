"""Resampling an irregular slice stack onto a regular, orthogonal grid (SimpleITK).

The output grid is aligned with the slice plane: its i and j axes are the slices' row and
column directions with the original pixel spacing and size, its k axis is the slice normal with
a uniform step, and its origin is the first slice's ImagePositionPatient. So a non-uniform
stack keeps its in-plane sampling and a gantry-tilted stack becomes an orthogonal volume whose
slices are the acquired slice planes.

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

import numpy as np
import SimpleITK as sitk

from navigation.imaging.dicom_checks import StackGeometry
from registration.checks import InputError, check_positive


def resample_stack(
    stack_kji: np.ndarray,
    geometry: StackGeometry,
    *,
    pixel_spacing_ij_mm: tuple[float, float],
    step_mm: float,
    default_value: float,
) -> np.ndarray:
    """Resample acquired slices onto a regular grid along the slice normal.

    Parameters
    ----------
    stack_kji : (N, rows, columns) acquired slices, sorted along the normal (as ``geometry``).
    geometry : the measured stack (:func:`navigation.imaging.dicom_checks.analyse_stack`).
    pixel_spacing_ij_mm : spacing along i (between columns) and j (between rows), mm.
    step_mm : spacing of the output slices along the normal, mm.
    default_value : value of output voxels outside the acquired slices (padding or air).

    Returns
    -------
    (M, rows, columns) float32 on the grid with origin ``geometry.positions_lps_mm[0]``,
    direction ``geometry.plane.direction``, spacing (i, j, step_mm), where
    M = floor(extent / step_mm) + 1 and extent is the distance from the first to the last slice.
    """
    step = check_positive(step_mm, "step_mm")
    count, rows, columns = stack_kji.shape
    if count != geometry.count:
        raise InputError(f"stack_kji has {count} slices; the geometry describes {geometry.count}.")
    plane = geometry.plane
    origin = geometry.positions_lps_mm[0]
    direction = tuple(plane.direction.ravel().tolist())
    spacing_i, spacing_j = (float(v) for v in pixel_spacing_ij_mm)

    source = sitk.GetImageFromArray(np.ascontiguousarray(stack_kji))
    source.SetOrigin(tuple(origin.tolist()))
    source.SetSpacing((spacing_i, spacing_j, 1.0))
    source.SetDirection(direction)

    output_count = math.floor(geometry.distances_mm[-1] / step + 1e-6) + 1
    reference = sitk.Image(columns, rows, 1, sitk.sitkFloat32)
    reference.SetSpacing((spacing_i, spacing_j, step))
    reference.SetDirection(direction)
    index = np.arange(count, dtype=np.float64)
    output = np.empty((output_count, rows, columns), dtype=np.float32)
    for m in range(output_count):
        distance = m * step
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
    return output
