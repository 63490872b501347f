"""Sampling a volume's coded labels (and grey image) on a slice grid.

A slice grid is a regular 2-D lattice in a slice frame: sample (column c, row r) lies at
``(origin_u + c * spacing, origin_v + r * spacing, 0)`` in the slice frame, which
``lps_from_slice`` places in the image (LPS mm). The samples' voxel indices come from
``ijk_from_slice = geometry.ijk_from_lps @ lps_from_slice``, the one geometry object's mapping
(oblique or flipped directions included).

Two ways, the same labels:

- **Aligned** (the grid's axes run along voxel axes, as for the axial, coronal and sagittal
  views of a scan whose direction is a signed permutation): the labels are the nearest voxel's,
  so the slice plane only matters through the voxel plane nearest to it: the samples are
  numpy gathers from that plane with one index vector per grid axis, and a plane moving within
  its voxel slab gives the same picture (:meth:`SliceSampler.key` is then unchanged). The grey
  image is interpolated bilinearly within that voxel plane.
- **Oblique** (anything else): ``vtkImageReslice`` (nearest for labels, linear for the grey
  image) with the reslice axes ``ijk_from_slice``, on index-space images.

Samples outside the grid are background (code 0; the grey window's low end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vtk
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from registration.core.checks import Float64Array
from registration.core.geometry import ImageGeometry

#: Off-axis terms of ``ijk_from_slice`` below this fraction of the on-axis term count as zero
#: (a 1000-voxel grid then errs by at most 0.001 voxel).
_ALIGNED_TOLERANCE = 1e-6
#: A sample this close to a voxel boundary rounds up (as ``vtkImageReslice`` does), whatever
#: the last bit of its coordinate.
_TIE_VOXELS = 1e-9


@dataclass(frozen=True)
class SliceGrid:
    """Where to sample: ``lps_from_slice`` (4, 4), the first sample's (u, v) in the slice
    frame (mm), the sample spacing (mm) and the number of columns (u) and rows (v)."""

    lps_from_slice: Float64Array
    origin_uv_mm: tuple[float, float]
    spacing_mm: float
    columns: int
    rows: int


@dataclass(frozen=True)
class _Axes:
    """An aligned grid: voxel axis (0 = i, 1 = j, 2 = k) of the columns, rows and depth, and
    the continuous voxel index of each column, each row, and of the plane."""

    column_axis: int
    row_axis: int
    depth_axis: int
    column_index: np.ndarray
    row_index: np.ndarray
    depth_index: float


class SliceSampler:
    """Samples ``codes`` (and ``background``) of one grid on slice grids.

    geometry : the voxel grid. codes : (k, j, i) unsigned integer label codes.
    background : (k, j, i) grey image (float32, int16 or uint16) or None; ``fill`` is its
    value outside the grid (grey samples come back as float32, except on oblique grids, which
    keep the image's type).
    """

    def __init__(
        self,
        geometry: ImageGeometry,
        codes: np.ndarray,
        background: np.ndarray | None = None,
        *,
        fill: float = 0.0,
    ) -> None:
        self.geometry = geometry
        self.codes = codes
        self.background = background
        self.fill = float(fill)
        self._size_ijk = np.asarray(geometry.size_ijk)
        self._reslices: list[vtk.vtkImageReslice] | None = None

    def key(self, grid: SliceGrid) -> tuple[object, ...]:
        """What the samples of ``grid`` depend on: equal keys, equal samples."""
        shape = (grid.origin_uv_mm, grid.spacing_mm, grid.columns, grid.rows)
        axes = self._aligned(grid)
        if axes is None:
            return ("oblique", *shape, *grid.lps_from_slice.ravel())
        ijk_from_slice = self.geometry.ijk_from_lps @ grid.lps_from_slice
        in_plane = (ijk_from_slice[axes.column_axis, 3], ijk_from_slice[axes.row_axis, 3])
        depth: object = _round(axes.depth_index)
        if self.background is not None:
            depth = (depth, axes.depth_index)  # the grey image is interpolated in depth
        return ("aligned", axes.column_axis, axes.row_axis, depth, *in_plane, *shape)

    def sample(self, grid: SliceGrid) -> tuple[np.ndarray, np.ndarray | None]:
        """(rows, columns) codes and grey samples (None without a background); row 0 is the
        lowest v."""
        axes = self._aligned(grid)
        if axes is None:
            return self._resliced(grid)
        plane_axis = 2 - axes.depth_axis  # numpy axes are (k, j, i)
        depth = int(np.clip(_round(axes.depth_index), 0, self.codes.shape[plane_axis] - 1))
        transposed = 2 - axes.row_axis > 2 - axes.column_axis

        def plane(volume: np.ndarray) -> np.ndarray:
            picked = _plane(volume, plane_axis, depth)  # rows x columns, or transposed
            return picked.T if transposed else picked

        rows, row_inside = _nearest(axes.row_index, self._size_ijk[axes.row_axis])
        columns, column_inside = _nearest(axes.column_index, self._size_ijk[axes.column_axis])
        # Rows then columns: two 1-D gathers, much faster than one np.ix_ gather.
        codes = np.ascontiguousarray(plane(self.codes))[rows][:, columns]
        codes[~row_inside] = 0
        codes[:, ~column_inside] = 0
        if self.background is None:
            return codes, None
        grey = _depth_interpolated(self.background, plane_axis, axes.depth_index)
        grey = grey.T if transposed else grey
        grey = _bilinear(grey, axes.row_index, axes.column_index)
        grey[~row_inside] = self.fill
        grey[:, ~column_inside] = self.fill
        return codes, grey

    def _aligned(self, grid: SliceGrid) -> _Axes | None:
        ijk_from_slice = self.geometry.ijk_from_lps @ grid.lps_from_slice
        linear = np.abs(ijk_from_slice[:3, :3])
        axis = np.argmax(linear, axis=0)
        peak = linear[axis, np.arange(3)]
        off_axis = linear.sum(axis=0) - peak
        if len(set(axis.tolist())) < 3 or (off_axis > _ALIGNED_TOLERANCE * peak).any():
            return None
        u = grid.origin_uv_mm[0] + grid.spacing_mm * np.arange(grid.columns)
        v = grid.origin_uv_mm[1] + grid.spacing_mm * np.arange(grid.rows)
        column_axis, row_axis, depth_axis = (int(a) for a in axis)
        return _Axes(
            column_axis,
            row_axis,
            depth_axis,
            ijk_from_slice[column_axis, 0] * u + ijk_from_slice[column_axis, 3],
            ijk_from_slice[row_axis, 1] * v + ijk_from_slice[row_axis, 3],
            float(ijk_from_slice[depth_axis, 3]),
        )

    def _resliced(self, grid: SliceGrid) -> tuple[np.ndarray, np.ndarray | None]:
        if self._reslices is None:
            self._reslices = [_reslice(self.codes, linear=False, fill=0.0)]
            if self.background is not None:
                self._reslices.append(_reslice(self.background, linear=True, fill=self.fill))
        matrix = vtk.vtkMatrix4x4()
        matrix.DeepCopy((self.geometry.ijk_from_lps @ grid.lps_from_slice).ravel().tolist())
        samples: list[np.ndarray] = []
        for reslice in self._reslices:
            reslice.SetResliceAxes(matrix)
            reslice.SetOutputSpacing(grid.spacing_mm, grid.spacing_mm, 1.0)
            reslice.SetOutputOrigin(*grid.origin_uv_mm, 0.0)
            reslice.SetOutputExtent(0, grid.columns - 1, 0, grid.rows - 1, 0, 0)
            reslice.Update()
            scalars = vtk_to_numpy(reslice.GetOutput().GetPointData().GetScalars())
            samples.append(scalars.reshape(grid.rows, grid.columns).copy())
        return samples[0], (samples[1] if len(samples) > 1 else None)


def _round(index: float) -> int:
    return int(np.floor(index + (0.5 + _TIE_VOXELS)))


def _nearest(index: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest voxel of continuous indices (clipped into the grid) and which lie on it (within
    half a voxel of the outer voxel centres)."""
    inside = (index >= -0.5 - _TIE_VOXELS) & (index <= size - 0.5 + _TIE_VOXELS)
    nearest = np.clip(np.floor(index + (0.5 + _TIE_VOXELS)), 0, size - 1).astype(np.intp)
    return nearest, inside


def _plane(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """The 2-D view of ``volume`` at ``index`` along numpy ``axis`` (no copy)."""
    where: list[int | slice] = [slice(None)] * volume.ndim
    where[axis] = index
    return volume[tuple(where)]


def _depth_interpolated(volume: np.ndarray, axis: int, index: float) -> np.ndarray:
    """The plane (float32) at continuous ``index`` along numpy ``axis``, linear between voxel
    planes."""
    size = volume.shape[axis]
    index = float(np.clip(index, 0.0, size - 1))
    low = min(int(np.floor(index)), max(size - 2, 0))
    weight = np.float32(index - low) if size > 1 else np.float32(0.0)
    first = _plane(volume, axis, low).astype(np.float32)  # integer images: no overflow
    if weight == 0:
        return first
    second = _plane(volume, axis, min(low + 1, size - 1)).astype(np.float32)
    return first + weight * (second - first)


def _bilinear(plane: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``plane`` (R, C) float32 at continuous (row, column) indices, edges clamped."""

    def split(index: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        clamped = np.clip(index, 0.0, size - 1)
        low = np.minimum(np.floor(clamped), max(size - 2, 0)).astype(np.intp)
        high = np.minimum(low + 1, size - 1)
        return low, high, (clamped - low).astype(np.float32)

    r0, r1, wr = split(rows, plane.shape[0])
    c0, c1, wc = split(columns, plane.shape[1])
    top, bottom = plane[r0], plane[r1]
    along_rows = top + wr[:, np.newaxis] * (bottom - top)
    left, right = along_rows[:, c0], along_rows[:, c1]
    return left + wc * (right - left)


def _reslice(volume: np.ndarray, *, linear: bool, fill: float) -> vtk.vtkImageReslice:
    """A reslice filter on ``volume`` (k, j, i) as an index-space image (origin 0, spacing 1;
    shares memory: the sampler keeps ``volume`` alive)."""
    image = vtk.vtkImageData()
    k, j, i = volume.shape
    image.SetDimensions(i, j, k)
    image.GetPointData().SetScalars(numpy_to_vtk(volume.ravel(), deep=False))
    reslice = vtk.vtkImageReslice()
    reslice.SetInputData(image)
    reslice.SetOutputDimensionality(2)
    reslice.SetBackgroundLevel(fill)
    if linear:
        reslice.SetInterpolationModeToLinear()
    else:
        reslice.SetInterpolationModeToNearestNeighbor()
    return reslice
