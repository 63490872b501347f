"""The plan's label map as smooth occupancy fields: what the field and tissue models sample.

A surgical field built "from the plan's own anatomy" needs the body, bone and tumour as
functions of position, not as meshes: a signed distance to a 150k-triangle skin mesh costs
~150 us a point with ``vtkImplicitPolyDataDistance`` (45 s for 300k points), far too slow for
the millions of grid points of a field. Instead each label mask (``labels.nii.gz``, the plan's
single-layer map, read with SimpleITK) is cropped to the region of interest, blurred by a
Gaussian of ``sigma_mm`` (scipy's ``gaussian_filter``, per-axis sigma in voxels) and sampled by
trilinear interpolation (``map_coordinates``). Across a locally flat interface the blurred
occupancy is ``erfc(d / (sqrt(2) sigma)) / 2`` of the signed distance ``d`` (negative inside),
so :meth:`SmoothMask.signed_distance_mm` inverts it: exact for planes, good to a fraction of
sigma for curvature radii well above sigma, clipped at +-3.7 sigma. Thin structures (under
about 2 sigma) fade, which also drops the strands of a perforated thermoplastic mask.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.special import erfcinv

from navigation.planning.plan import Plan
from registration.core.checks import Float64Array, InputError, check_points
from registration.core.geometry import ImageGeometry

#: Occupancy clipped to [EPS, 1 - EPS] before inversion: distances saturate at +-3.7 sigma.
_EPS = 1e-4


@dataclass(frozen=True)
class SmoothMask:
    """A label mask blurred by a Gaussian, sampled anywhere in LPS mm (module docstring).

    values : (k, j, i) float32 blurred occupancy over the crop; offset_kji : where the crop
    starts in the plan grid; geometry : the plan grid; sigma_mm : the blur.
    """

    values: np.ndarray
    offset_kji: tuple[int, int, int]
    geometry: ImageGeometry
    sigma_mm: float

    @classmethod
    def from_mask(
        cls,
        mask: np.ndarray,
        geometry: ImageGeometry,
        *,
        sigma_mm: float,
        box_lps_mm: ArrayLike | None = None,
    ) -> SmoothMask:
        """Blur ``mask`` (k, j, i bool on ``geometry``) within ``box_lps_mm`` ((2, 3) corners,
        LPS mm; default the whole grid) widened by 4 sigma."""
        shape = np.asarray(mask.shape)
        low, high = np.zeros(3, dtype=int), shape - 1
        if box_lps_mm is not None:
            box = check_points(box_lps_mm, "box_lps_mm")
            corners = np.array([[box[a, 0], box[b, 1], box[c, 2]]
                                for a in (0, 1) for b in (0, 1) for c in (0, 1)])  # fmt: skip
            kji = geometry.lps_to_ijk(corners)[:, ::-1]
            margin = 4.0 * sigma_mm / geometry.spacing_mm[::-1] + 2
            low = np.clip(np.floor(kji.min(axis=0) - margin), 0, shape - 1).astype(int)
            high = np.clip(np.ceil(kji.max(axis=0) + margin), 0, shape - 1).astype(int)
        crop = np.asarray(
            mask[low[0] : high[0] + 1, low[1] : high[1] + 1, low[2] : high[2] + 1],
            dtype=np.float32,
        )
        sigma = sigma_mm / geometry.spacing_mm[::-1]
        values = gaussian_filter(crop, sigma, mode="nearest") if sigma_mm > 0 else crop
        return cls(values, (int(low[0]), int(low[1]), int(low[2])), geometry, float(sigma_mm))

    @classmethod
    def from_surface(
        cls, surface: Any, *, spacing_mm: float, sigma_mm: float, margin_mm: float
    ) -> SmoothMask:
        """Voxelise a closed surface (pyvista ``PolyData``, LPS mm) on an LPS-aligned grid of
        ``spacing_mm`` over its bounds plus ``margin_mm`` (VTK's ``vtkPolyDataToImageStencil``)
        and blur it: follows a smooth mesh without the staircase of its source label map."""
        import vtk
        from vtk.util.numpy_support import vtk_to_numpy

        bounds = np.asarray(surface.bounds, dtype=np.float64).reshape(3, 2)
        origin = bounds[:, 0] - margin_mm
        size = np.ceil((bounds[:, 1] - bounds[:, 0] + 2 * margin_mm) / spacing_mm).astype(int) + 1
        image = vtk.vtkImageData()
        image.SetOrigin(*origin)
        image.SetSpacing(spacing_mm, spacing_mm, spacing_mm)
        image.SetDimensions(*(int(n) for n in size))
        image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
        image.GetPointData().GetScalars().Fill(1)
        stencil = vtk.vtkPolyDataToImageStencil()
        stencil.SetInputData(surface)
        stencil.SetOutputOrigin(*origin)
        stencil.SetOutputSpacing(spacing_mm, spacing_mm, spacing_mm)
        stencil.SetOutputWholeExtent(image.GetExtent())
        apply = vtk.vtkImageStencil()
        apply.SetInputData(image)
        apply.SetStencilConnection(stencil.GetOutputPort())
        apply.ReverseStencilOff()
        apply.SetBackgroundValue(0)
        apply.Update()
        mask = vtk_to_numpy(apply.GetOutput().GetPointData().GetScalars()).reshape(size[::-1]) > 0
        geometry = ImageGeometry(
            size_ijk=(int(size[0]), int(size[1]), int(size[2])),
            origin_lps_mm=origin,
            spacing_mm=np.full(3, float(spacing_mm)),
            direction=np.eye(3),
        )
        return cls.from_mask(mask, geometry, sigma_mm=sigma_mm)

    def occupancy(self, points_lps_mm: ArrayLike) -> Float64Array:
        """(N,) blurred occupancy in [0, 1] at LPS points (0 outside the crop)."""
        points = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
        kji = self.geometry.lps_to_ijk(points)[:, ::-1] - np.asarray(self.offset_kji)
        return np.asarray(
            map_coordinates(self.values, kji.T, order=1, mode="constant", cval=0.0),
            dtype=np.float64,
        )

    def signed_distance_mm(self, points_lps_mm: ArrayLike) -> Float64Array:
        """(N,) approximate signed distance to the mask's surface, mm, negative inside,
        saturating at +-3.7 sigma (module docstring)."""
        occupancy = np.clip(self.occupancy(points_lps_mm), _EPS, 1.0 - _EPS)
        return math.sqrt(2.0) * max(self.sigma_mm, 1e-6) * erfcinv(2.0 * occupancy)


@dataclass(frozen=True)
class PlanLabels:
    """The plan's single-layer label map (k, j, i) on its grid, and its label table."""

    labels: np.ndarray
    geometry: ImageGeometry
    values: dict[str, int]

    def mask(self, name: str) -> np.ndarray:
        """(k, j, i) bool voxels painted with label ``name`` (later table rows win)."""
        if name not in self.values:
            raise InputError(f"the plan has no label {name!r}; labels: {', '.join(self.values)}.")
        return self.labels == self.values[name]

    def body(self) -> np.ndarray:
        """(k, j, i) bool: every labelled voxel (the skin label is the whole body; the others
        lie inside it)."""
        return self.labels > 0


def plan_labels(plan: Plan) -> PlanLabels:
    """Read ``PLAN/labels.nii.gz`` (cached per file and modification time)."""
    path = plan.file_path("nifti")
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        raise InputError(f"{path} is missing; re-create the plan with igcs plan.") from None
    labels = _read_labels(str(path), stamp)
    if labels.shape != plan.geometry.shape_kji:
        raise InputError(
            f"{path} has shape {labels.shape}, the plan's grid is {plan.geometry.shape_kji}; "
            "re-create the plan."
        )
    return PlanLabels(labels, plan.geometry, {entry.name: entry.value for entry in plan.labels})


@functools.lru_cache(maxsize=2)
def _read_labels(path: str, stamp: int) -> np.ndarray:
    import SimpleITK as sitk

    del stamp  # part of the cache key only
    try:
        array = sitk.GetArrayFromImage(sitk.ReadImage(path))
    except RuntimeError as error:
        raise InputError(f"cannot read the label map {Path(path)}: {error}") from None
    array.setflags(write=False)
    return array
