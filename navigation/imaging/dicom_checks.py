"""Geometry checks of a DICOM slice stack: pure numpy on header values, no I/O.

The slice plane comes from ImageOrientationPatient (IOP): its row and column directions and
their cross product, the slice normal. Slices are ordered by the projection of
ImagePositionPatient (IPP) on the normal, the rule of DICOM PS3.3 C.7.6.2.1.1 that ITK/GDCM and
dcm2niix also follow. The spacing between slices is measured from IPP steps along the normal,
never taken from SliceThickness or SpacingBetweenSlices (which may include a gap or be absent).

A stack is *regular* when every slice lies within :data:`POSITION_TOLERANCE_MM` of a uniform
grid along the normal and the IPP steps have no in-plane component (no shear). Otherwise it is:

* missing slices: a step longer than :data:`MISSING_SLICE_FACTOR` x the median step *and* than
  its neighbouring steps (an isolated gap; a run of long steps is a change of spacing, as in
  scanners that acquire in sections, and is reported as non-uniform spacing);
* non-uniform spacing: steps of different lengths;
* sheared (gantry tilt, or an oblique stack): IPP moves within the slice plane from slice to
  slice, so the volume's axes are not orthogonal.

Those stacks can only be represented on a regular grid after resampling (done in
:mod:`navigation.imaging.dicom_series`), or refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from navigation.imaging.errors import ImagingError
from registration.core.checks import Float64Array

#: Largest deviation of a slice from the uniform grid (along the normal or in-plane) that is
#: still treated as regular. It bounds the geometry error of a volume loaded without resampling.
POSITION_TOLERANCE_MM = 0.01
#: A step longer than this many median steps means one or more slices are missing.
MISSING_SLICE_FACTOR = 1.5
#: Gaps longer than this many median steps (two or more missing slices) are refused even when
#: resampling is allowed: that much interpolated anatomy is not safe to plan on.
MAX_INTERPOLATED_GAP_FACTOR = 2.5
#: Two slices closer than this fraction of the median step are at the same position.
DUPLICATE_FRACTION = 0.05
_ORIENTATION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class SlicePlane:
    """Unit row, column and normal directions of the slices (LPS), from IOP."""

    row_direction: Float64Array
    column_direction: Float64Array
    normal: Float64Array

    @property
    def direction(self) -> Float64Array:
        """(3, 3) direction matrix whose columns are the i, j, k axes (row, column, normal)."""
        return np.column_stack([self.row_direction, self.column_direction, self.normal])


@dataclass(frozen=True)
class StackGeometry:
    """Where the (sorted, de-duplicated) slices of one stack lie.

    Attributes
    ----------
    plane : the slice plane.
    positions_lps_mm : (N, 3) IPP of each slice, sorted along the normal.
    distances_mm : (N,) position along the normal relative to the first slice (0 first).
    in_plane_shift_mm : (N, 2) IPP displacement of each slice from the first, along the row and
        column directions (zero for an orthogonal stack).
    steps_mm : (N - 1,) distance along the normal between consecutive slices.
    median_step_mm : median of ``steps_mm`` (nan for a single slice).
    uniform_step_mm : (last - first) / (N - 1), the spacing of a regular stack.
    max_deviation_mm : largest distance of a slice from the uniform grid along the normal.
    max_shear_mm : largest in-plane displacement of a slice from the first.
    tilt_deg : angle between the stacking direction (first to last IPP) and the normal.
    gap_steps : indices ``s`` of steps (slice s to s + 1) longer than MISSING_SLICE_FACTOR x
        the median step and x their neighbouring steps: missing slices.
    """

    plane: SlicePlane
    positions_lps_mm: Float64Array
    distances_mm: Float64Array
    in_plane_shift_mm: Float64Array
    steps_mm: Float64Array
    median_step_mm: float
    uniform_step_mm: float
    max_deviation_mm: float
    max_shear_mm: float
    tilt_deg: float
    gap_steps: tuple[int, ...]

    @property
    def count(self) -> int:
        return int(self.distances_mm.shape[0])

    @property
    def is_sheared(self) -> bool:
        return self.max_shear_mm > POSITION_TOLERANCE_MM

    @property
    def is_non_uniform(self) -> bool:
        return self.max_deviation_mm > POSITION_TOLERANCE_MM

    @property
    def is_regular(self) -> bool:
        return not (self.is_sheared or self.is_non_uniform or self.gap_steps)

    @property
    def largest_gap_factor(self) -> float:
        """Longest step divided by the median step (0 when there is no gap)."""
        if not self.gap_steps:
            return 0.0
        return float(self.steps_mm[list(self.gap_steps)].max() / self.median_step_mm)


def slice_plane(orientation: ArrayLike, *, where: str) -> SlicePlane:
    """Row, column and normal unit vectors from the six IOP values.

    Raises :class:`ImagingError` (naming ``where``) when the two directions are not unit
    length or not orthogonal: the header's orientation is corrupt.
    """
    values = np.asarray(orientation, dtype=np.float64).reshape(6)
    row, column = values[:3], values[3:]
    norms = np.array([np.linalg.norm(row), np.linalg.norm(column)])
    if np.any(np.abs(norms - 1.0) > 0.01) or abs(float(row @ column)) > _ORIENTATION_TOLERANCE:
        raise ImagingError(
            f"{where}: ImageOrientationPatient {values.round(6).tolist()} is not two orthogonal "
            "unit vectors; the header is corrupt. Re-export the series from the scanner or PACS."
        )
    row, column = row / norms[0], column / norms[1]
    # Re-orthogonalise the column against the row so the direction matrix is exactly orthonormal.
    column = column - (column @ row) * row
    column /= np.linalg.norm(column)
    return SlicePlane(row, column, np.cross(row, column))


def sort_along_normal(positions_lps_mm: ArrayLike, plane: SlicePlane) -> np.ndarray:
    """Indices that order IPPs (N, 3) by their projection on the normal (stable)."""
    positions = np.asarray(positions_lps_mm, dtype=np.float64).reshape(-1, 3)
    return np.argsort(positions @ plane.normal, kind="stable")


def duplicate_groups(sorted_positions_lps_mm: ArrayLike, plane: SlicePlane) -> list[list[int]]:
    """Groups (two or more indices into the sorted IPPs) of slices at the same position.

    Positions closer than max(POSITION_TOLERANCE_MM, DUPLICATE_FRACTION x the median of the
    other steps) along the normal count as the same position.
    """
    distances = np.asarray(sorted_positions_lps_mm, dtype=np.float64).reshape(-1, 3) @ plane.normal
    steps = np.diff(distances)
    real_steps = steps[steps > POSITION_TOLERANCE_MM]
    median = float(np.median(real_steps)) if real_steps.size else 0.0
    threshold = max(POSITION_TOLERANCE_MM, DUPLICATE_FRACTION * median)
    groups: list[list[int]] = []
    for index, step in enumerate(steps):
        if step <= threshold:
            if groups and groups[-1][-1] == index:
                groups[-1].append(index + 1)
            else:
                groups.append([index, index + 1])
    return groups


def analyse_stack(
    sorted_positions_lps_mm: ArrayLike, plane: SlicePlane, *, single_slice_step_mm: float = 1.0
) -> StackGeometry:
    """Measure a sorted stack without duplicates (see :func:`duplicate_groups`).

    Parameters
    ----------
    sorted_positions_lps_mm : (N, 3) IPPs in LPS mm, sorted along ``plane.normal``.
    plane : from :func:`slice_plane`.
    single_slice_step_mm : the spacing reported for a one-slice stack (no step to measure).
    """
    positions = np.asarray(sorted_positions_lps_mm, dtype=np.float64).reshape(-1, 3)
    relative = positions - positions[0]
    distances = relative @ plane.normal
    shift = np.column_stack([relative @ plane.row_direction, relative @ plane.column_direction])
    steps = np.diff(distances)
    count = positions.shape[0]
    if count == 1:
        median = uniform = float(single_slice_step_mm)
        deviation = 0.0
    else:
        median = float(np.median(steps))
        uniform = float(distances[-1] / (count - 1))
        deviation = float(np.abs(distances - uniform * np.arange(count)).max())
    shear = float(np.linalg.norm(shift, axis=1).max())
    tilt = float(np.degrees(np.arctan2(np.linalg.norm(shift[-1]), distances[-1])))
    gaps = tuple(_isolated_long_steps(steps, median))
    return StackGeometry(
        plane=plane,
        positions_lps_mm=positions,
        distances_mm=distances,
        in_plane_shift_mm=shift,
        steps_mm=steps,
        median_step_mm=median,
        uniform_step_mm=uniform,
        max_deviation_mm=deviation,
        max_shear_mm=shear,
        tilt_deg=tilt if count > 1 else 0.0,
        gap_steps=gaps,
    )


def _isolated_long_steps(steps: Float64Array, median: float) -> list[int]:
    """Indices of steps > MISSING_SLICE_FACTOR x the median and x each neighbouring step."""
    limit = MISSING_SLICE_FACTOR
    found = []
    for s in np.flatnonzero(steps > limit * median):
        neighbours = [steps[n] for n in (s - 1, s + 1) if 0 <= n < steps.shape[0]]
        if all(steps[s] > limit * neighbour for neighbour in neighbours):
            found.append(int(s))
    return found


def describe_irregularities(geometry: StackGeometry, names: Sequence[str]) -> list[str]:
    """One sentence per irregularity of ``geometry``, naming the files (``names`` sorted as the
    slices) and the measured numbers."""
    messages: list[str] = []
    steps = geometry.steps_mm
    median = geometry.median_step_mm
    if geometry.gap_steps:
        parts = [
            f"{names[s]} -> {names[s + 1]}: {steps[s]:.2f} mm "
            f"({steps[s] / median:.1f}x the median step {median:.2f} mm)"
            for s in geometry.gap_steps
        ]
        messages.append(
            f"missing slice(s) (a gap longer than {MISSING_SLICE_FACTOR}x the median step and "
            "than its neighbours): " + _list(parts)
        )
    if geometry.is_non_uniform:
        off = [s for s in range(steps.shape[0]) if abs(steps[s] - median) > POSITION_TOLERANCE_MM]
        parts = [f"{names[s]} -> {names[s + 1]}: {steps[s]:.3f} mm" for s in off]
        messages.append(
            f"non-uniform slice spacing: steps from {steps.min():.3f} to {steps.max():.3f} mm "
            f"along the normal (median {median:.3f} mm; slices up to "
            f"{geometry.max_deviation_mm:.3f} mm off a uniform grid): " + _list(parts)
        )
    if geometry.is_sheared:
        messages.append(
            f"gantry tilt / sheared stack: the slice positions move {geometry.max_shear_mm:.2f} mm "
            f"within the slice plane from {names[0]} to {names[-1]} (stack tilted "
            f"{geometry.tilt_deg:.1f} deg from the slice normal), so the slices are not stacked "
            "orthogonally"
        )
    return messages


def _list(parts: Sequence[str], limit: int = 6) -> str:
    shown = "; ".join(parts[:limit])
    return shown + (f"; ... ({len(parts) - limit} more)" if len(parts) > limit else "")
