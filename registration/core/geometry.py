"""The geometry of a voxel grid: the one owner of the index-to-LPS mapping.

Arrays are stored ``(k, j, i)`` (slice, row, column) as SimpleITK returns them; indices passed
to and from this module are ``(i, j, k)`` (column, row, slice), the ITK/DICOM order, so
``lps = origin + direction @ (spacing * ijk)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from registration.core.checks import Float64Array, InputError, check_matrix, check_points

_ORTHONORMAL_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ImageGeometry:
    """Origin, spacing and direction of a 3-D grid in patient LPS millimetres.

    Attributes
    ----------
    size_ijk : (3,) int, number of voxels along i (columns), j (rows), k (slices).
    origin_lps_mm : (3,) float, LPS position of the centre of voxel (0, 0, 0).
    spacing_mm : (3,) float > 0, voxel size along i, j, k.
    direction : (3, 3) float, orthonormal; column c is the LPS direction of index axis c.
    """

    size_ijk: tuple[int, int, int]
    origin_lps_mm: Float64Array
    spacing_mm: Float64Array
    direction: Float64Array = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        size = tuple(int(n) for n in self.size_ijk)
        if len(size) != 3 or min(size) < 1:
            raise InputError(f"size_ijk must be three positive integers; got {self.size_ijk}.")
        origin = check_matrix(self.origin_lps_mm, "origin_lps_mm", (3,))
        spacing = check_matrix(self.spacing_mm, "spacing_mm", (3,))
        if (spacing <= 0).any():
            raise InputError(f"spacing_mm must be positive; got {spacing.tolist()}.")
        direction = check_matrix(self.direction, "direction", (3, 3))
        deviation = float(np.abs(direction.T @ direction - np.eye(3)).max())
        if deviation > _ORTHONORMAL_TOLERANCE:
            raise InputError(
                f"direction must be orthonormal (|D^T D - I| = {deviation:.3g}); "
                "the image header's orientation is corrupt or sheared."
            )
        for name, value in (
            ("origin_lps_mm", origin),
            ("spacing_mm", spacing),
            ("direction", direction),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "size_ijk", size)

    @property
    def shape_kji(self) -> tuple[int, int, int]:
        """numpy array shape (slices, rows, columns) of a volume on this grid."""
        i, j, k = self.size_ijk
        return (k, j, i)

    @property
    def lps_from_ijk(self) -> Float64Array:
        """(4, 4) affine mapping continuous (i, j, k) indices to LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction * self.spacing_mm[np.newaxis, :]
        m[:3, 3] = self.origin_lps_mm
        return m

    @property
    def ijk_from_lps(self) -> Float64Array:
        """(4, 4) affine mapping LPS mm to continuous (i, j, k) indices."""
        m = np.eye(4)
        m[:3, :3] = (self.direction.T) / self.spacing_mm[:, np.newaxis]
        m[:3, 3] = -m[:3, :3] @ self.origin_lps_mm
        return m

    def ijk_to_lps(self, ijk: ArrayLike) -> Float64Array:
        """(N, 3) or (3,) continuous (i, j, k) indices to LPS mm."""
        points = np.asarray(ijk, dtype=np.float64)
        m = self.lps_from_ijk
        return points @ m[:3, :3].T + m[:3, 3]

    def lps_to_ijk(self, points_in_lps: ArrayLike) -> Float64Array:
        """(N, 3) or (3,) LPS mm to continuous (i, j, k) indices."""
        points = np.asarray(points_in_lps, dtype=np.float64)
        m = self.ijk_from_lps
        return points @ m[:3, :3].T + m[:3, 3]

    def kji_to_lps(self, kji: ArrayLike) -> Float64Array:
        """(N, 3) array indices in numpy order (k, j, i) to LPS mm (e.g. from ``np.argwhere``)."""
        return self.ijk_to_lps(np.asarray(kji, dtype=np.float64)[..., ::-1])

    def contains_lps(self, points_in_lps: ArrayLike) -> np.ndarray:
        """Boolean (N,): whether each LPS point lies within the grid (voxel centres +- 0.5)."""
        ijk = np.atleast_2d(self.lps_to_ijk(check_points(points_in_lps, "points_in_lps")))
        upper = np.asarray(self.size_ijk, dtype=np.float64) - 0.5
        return np.all((ijk >= -0.5) & (ijk <= upper), axis=1)

    @property
    def extent_lps_mm(self) -> Float64Array:
        """(2, 3) min and max LPS corner of the grid's voxel-centre bounding box."""
        i, j, k = (n - 1 for n in self.size_ijk)
        corners = np.array(
            [[a, b, c] for a in (0, i) for b in (0, j) for c in (0, k)], dtype=np.float64
        )
        lps = self.ijk_to_lps(corners)
        return np.stack([lps.min(axis=0), lps.max(axis=0)])

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        """JSON-ready description (direction row-major)."""
        return {
            "size_ijk": list(self.size_ijk),
            "origin_lps_mm": self.origin_lps_mm.tolist(),
            "spacing_mm": self.spacing_mm.tolist(),
            "direction": self.direction.ravel().tolist(),
        }
