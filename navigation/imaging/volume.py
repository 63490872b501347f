"""The one volume type: voxels plus their geometry in patient LPS millimetres.

SimpleITK is the bridge (it reads and writes DICOM-derived geometry in LPS, as ITK does); its
``GetArrayFromImage`` order ``(k, j, i)`` is the array order here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry


@dataclass(frozen=True)
class Volume:
    """A 3-D image on a regular grid in LPS mm.

    Attributes
    ----------
    array : (k, j, i) ndarray; CT in Hounsfield units (rescale slope/intercept applied),
        MR in the scanner's arbitrary units, label maps as integers.
    geometry : the grid; ``geometry.lps_from_ijk`` owns the index-to-LPS mapping.
    modality : "CT", "MR", "LABEL" or "OT" (other / unknown).
    metadata : source description (series UIDs, file names, warnings about resampling...).
    """

    array: np.ndarray
    geometry: ImageGeometry
    modality: str = "OT"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise InputError(f"Volume array must be 3-D (k, j, i); got shape {self.array.shape}.")
        if tuple(self.array.shape) != self.geometry.shape_kji:
            raise InputError(
                f"Volume array shape {self.array.shape} does not match the geometry's "
                f"(k, j, i) shape {self.geometry.shape_kji}."
            )

    @property
    def lps_from_ijk(self) -> np.ndarray:
        """(4, 4) continuous (i, j, k) index to LPS mm."""
        return self.geometry.lps_from_ijk

    @classmethod
    def from_sitk(
        cls, image: sitk.Image, *, modality: str = "OT", metadata: dict[str, Any] | None = None
    ) -> Volume:
        """Wrap a 3-D SimpleITK image (its origin/spacing/direction are LPS by ITK convention)."""
        if image.GetDimension() != 3:
            raise InputError(f"expected a 3-D image; got {image.GetDimension()}-D.")
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise InputError(
                f"expected a scalar image; got {image.GetNumberOfComponentsPerPixel()} "
                "components per voxel (colour or vector image)."
            )
        geometry = ImageGeometry(
            size_ijk=tuple(int(n) for n in image.GetSize()),  # type: ignore[arg-type]
            origin_lps_mm=np.array(image.GetOrigin(), dtype=np.float64),
            spacing_mm=np.array(image.GetSpacing(), dtype=np.float64),
            direction=np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3),
        )
        return cls(sitk.GetArrayFromImage(image), geometry, modality, dict(metadata or {}))

    def to_sitk(self) -> sitk.Image:
        """A SimpleITK image with the same voxels and geometry."""
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        image.SetOrigin(tuple(self.geometry.origin_lps_mm.tolist()))
        image.SetSpacing(tuple(self.geometry.spacing_mm.tolist()))
        image.SetDirection(tuple(self.geometry.direction.ravel().tolist()))
        return image

    def with_array(self, array: np.ndarray, *, modality: str | None = None) -> Volume:
        """A new volume on the same grid (e.g. a label map of this image)."""
        return Volume(array, self.geometry, modality or self.modality, dict(self.metadata))
