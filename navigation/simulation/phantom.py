"""A deterministic digital head-and-neck patient: CT or T1-like MR, with exact ground truth.

:func:`make_phantom` returns the image as a :class:`Volume` plus its :class:`PhantomTruth`;
:func:`write_phantom` also writes it as a DICOM series (one file per axial slice, HFS) and
``truth.json``; :func:`load_truth` reads that file back into a :class:`PhantomTruth` whose
``signed_distance_mm`` / ``inside`` evaluate any structure at LPS points.

Partial-volume edges are analytic: for each solid with implicit value F, the voxel's covered
fraction is ``clip(0.5 - d / w, 0, 1)`` with ``d = F / |grad F|`` the distance from the voxel
centre to the surface and ``w = sum_i |n_i| h_i`` the voxel's width along the surface normal
n (the exact fraction for a plane cutting a box at its centre, linear in between). Noise: CT
Gaussian, spatially correlated (sigma 0.6 voxel kernel), 12 HU SD; MR Rician, SD 12, with a
smooth 10 % bias field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from navigation.imaging.volume import Volume
from navigation.simulation.implicit import (
    StarShape,
    shape_from_dict,
    shape_to_dict,
    signed_distance_mm,
)
from navigation.simulation.implicit import inside as inside_shape
from navigation.simulation.phantom_anatomy import (
    AIR_VALUE,
    MARKER_RADIUS_MM,
    TISSUES,
    build_anatomy,
)
from registration.core.atomic_files import atomic_directory, write_json_atomic
from registration.core.checks import Float64Array, InputError, check_points
from registration.core.geometry import ImageGeometry

TRUTH_SCHEMA = "igcs-phantom-truth"
TRUTH_VERSION = 1
CT_NOISE_SD_HU = 12.0
MR_NOISE_SD = 12.0

#: Grid presets: size (i, j, k), spacing (mm), origin (LPS mm of voxel (0, 0, 0)).
SIZES: dict[str, tuple[tuple[int, int, int], tuple[float, float, float], tuple[float, ...]]] = {
    "small": ((256, 256, 160), (1.0, 1.0, 1.0), (-127.5, -127.5, -95.0)),
    "full": ((512, 512, 300), (0.5, 0.5, 1.0), (-127.75, -127.75, -200.0)),
}
_SLAB = 16


@dataclass(frozen=True)
class PhantomTruth:
    """Ground truth of one phantom: analytic structures and the reference numbers (LPS mm)."""

    seed: int
    modality: str
    structures: dict[str, Any]  # canonical label name -> implicit solid
    fiducial_names: tuple[str, ...]
    fiducials_lps_mm: Float64Array  # (N, 3) marker centres
    fiducial_radius_mm: float
    tumour_centroid_lps_mm: Float64Array
    tumour_volume_ml: float
    tumour_seed_lps_mm: Float64Array
    node_centroid_lps_mm: Float64Array
    node_volume_ml: float
    geometry: ImageGeometry
    raw: dict[str, Any] = field(default_factory=dict)

    def shape(self, name: str) -> Any:
        if name not in self.structures:
            raise InputError(
                f"the phantom has no structure {name!r}; known: {', '.join(self.structures)}."
            )
        return self.structures[name]

    def signed_distance_mm(self, name: str, points_lps_mm: ArrayLike) -> Float64Array:
        """(N,) signed distance in mm (negative inside) from LPS points to structure ``name``."""
        return signed_distance_mm(self.shape(name), points_lps_mm)

    def inside(self, name: str, points_lps_mm: ArrayLike) -> np.ndarray:
        """(N,) bool: whether each LPS point lies inside structure ``name``."""
        return inside_shape(self.shape(name), points_lps_mm)


@dataclass(frozen=True)
class Phantom:
    """An in-memory phantom: the image (CT in HU, MR in T1-like units) and its truth."""

    volume: Volume
    truth: PhantomTruth


def phantom_geometry(size: str = "small") -> ImageGeometry:
    """The axial HFS grid of a phantom ``size`` ("small" 256x256x160 at 1 mm, "full"
    512x512x300 at 0.5x0.5x1 mm); direction identity (IOP 1,0,0,0,1,0, slices along +z)."""
    if size not in SIZES:
        raise InputError(f"phantom size must be one of {', '.join(SIZES)}; got {size!r}.")
    n, spacing, origin = SIZES[size]
    return ImageGeometry(n, np.array(origin), np.array(spacing))


def _truth(seed: int, modality: str, geometry: ImageGeometry) -> PhantomTruth:
    anatomy = build_anatomy(seed, z_bottom_mm=float(geometry.extent_lps_mm[0, 2]) - 40.0)
    tumour = anatomy.structures["tumour"]
    assert isinstance(tumour, StarShape)
    tumour_mm3, tumour_centroid = tumour.volume_and_centroid()
    node = anatomy.structures["node"]
    node_mm3 = 4.0 / 3.0 * np.pi * float(np.prod(node.radii))
    return PhantomTruth(
        seed=seed,
        modality=modality,
        structures=dict(anatomy.structures),
        fiducial_names=anatomy.fiducial_names,
        fiducials_lps_mm=anatomy.fiducials_lps_mm,
        fiducial_radius_mm=MARKER_RADIUS_MM,
        tumour_centroid_lps_mm=tumour_centroid,
        tumour_volume_ml=tumour_mm3 / 1000.0,
        tumour_seed_lps_mm=np.array(tumour.center, dtype=np.float64),
        node_centroid_lps_mm=np.array(node.center, dtype=np.float64),
        node_volume_ml=node_mm3 / 1000.0,
        geometry=geometry,
        raw={"extras": anatomy.extras},
    )


def _axis_range(low: float, high: float, origin: float, step: float, n: int) -> tuple[int, int]:
    first = 0 if not np.isfinite(low) else max(int(np.floor((low - origin) / step)) - 2, 0)
    last = n if not np.isfinite(high) else min(int(np.ceil((high - origin) / step)) + 3, n)
    return first, last


def render_fractions(
    shape: Any, geometry: ImageGeometry, k_range: tuple[int, int]
) -> tuple[tuple[slice, slice, slice], np.ndarray] | None:
    """Partial-volume fraction (float32 in 0..1) of ``shape`` in slices ``k_range`` of an
    axis-aligned grid, restricted to the shape's bounding box; None when it misses the slab.

    Returns the (k, j, i) slices of the slab-relative block and the fractions there.
    """
    spacing, origin = geometry.spacing_mm, geometry.origin_lps_mm
    low, high = shape.bounds()
    ranges = []
    for axis, (start, stop) in enumerate(
        ((0, geometry.size_ijk[0]), (0, geometry.size_ijk[1]), k_range)
    ):
        a, b = _axis_range(low[axis], high[axis], origin[axis], spacing[axis], stop)
        a, b = max(a, start), min(b, stop)
        if a >= b:
            return None
        ranges.append((a, b))
    # one voxel of padding on every side for the gradient (coordinates are analytic).
    axes = [
        (origin[c] + spacing[c] * np.arange(a - 1, b + 1)).astype(np.float32)
        for c, (a, b) in enumerate(ranges)
    ]
    x = axes[0][np.newaxis, np.newaxis, :]
    y = axes[1][np.newaxis, :, np.newaxis]
    z = axes[2][:, np.newaxis, np.newaxis]
    value = shape.value(x, y, z).astype(np.float32)
    gz, gy, gx = np.gradient(value, spacing[2], spacing[1], spacing[0])
    inner = (slice(1, -1),) * 3
    gx, gy, gz, value = gx[inner], gy[inner], gz[inner], value[inner]
    norm = np.maximum(np.sqrt(gx * gx + gy * gy + gz * gz), 1e-6)
    width = (np.abs(gx) * spacing[0] + np.abs(gy) * spacing[1] + np.abs(gz) * spacing[2]) / norm
    fraction = np.clip(0.5 - value / np.maximum(norm * width, 1e-6), 0.0, 1.0)
    (i0, i1), (j0, j1), (k0, k1) = ranges
    block = (slice(k0 - k_range[0], k1 - k_range[0]), slice(j0, j1), slice(i0, i1))
    return block, fraction


def _render(truth: PhantomTruth, modality: str) -> np.ndarray:
    geometry = truth.geometry
    if np.abs(geometry.direction - np.eye(3)).max() > 1e-9:
        raise InputError("the phantom renderer needs an axis-aligned (identity direction) grid.")
    solids = {**truth.raw["extras"], **truth.structures}
    column = 1 if modality == "CT" else 2
    image = np.full(geometry.shape_kji, AIR_VALUE[modality], dtype=np.float32)
    nk = geometry.size_ijk[2]
    for k0 in range(0, nk, _SLAB):
        k_range = (k0, min(k0 + _SLAB, nk))
        slab = image[k_range[0] : k_range[1]]
        for tissue in TISSUES:
            rendered = render_fractions(solids[tissue[0]], geometry, k_range)
            if rendered is None:
                continue
            block, fraction = rendered
            target = slab[block]
            target += fraction * (np.float32(tissue[column]) - target)
    return image


def _add_noise(image: np.ndarray, modality: str, seed: int, geometry: ImageGeometry) -> np.ndarray:
    rng = np.random.default_rng([seed, 3])
    if modality == "CT":
        noise = ndimage.gaussian_filter(rng.standard_normal(image.shape, dtype=np.float32), 0.6)
        noise *= np.float32(CT_NOISE_SD_HU / noise.std())
        return image + noise
    k, j, i = (np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in geometry.shape_kji)
    bias = 1.0 + 0.06 * i[None, None, :] - 0.04 * j[None, :, None] + 0.05 * k[:, None, None]
    real = image * bias + rng.normal(0.0, MR_NOISE_SD, image.shape).astype(np.float32)
    imaginary = rng.normal(0.0, MR_NOISE_SD, image.shape).astype(np.float32)
    return np.sqrt(real * real + imaginary * imaginary)


def make_phantom(*, modality: str = "CT", seed: int = 0, size: str = "small") -> Phantom:
    """Render the phantom in memory (deterministic for ``modality``, ``seed``, ``size``).

    Returns a :class:`Phantom`; CT voxels are HU rounded to integers in [-1024, 3071] (as a
    12-bit scanner stores them), MR voxels T1-like values rounded to integers >= 0.
    """
    modality = modality.upper()
    if modality not in ("CT", "MR"):
        raise InputError(f"phantom modality must be CT or MR; got {modality!r}.")
    geometry = phantom_geometry(size)
    truth = _truth(int(seed), modality, geometry)
    image = _add_noise(_render(truth, modality), modality, int(seed), geometry)
    low, high = (-1024, 3071) if modality == "CT" else (0, 4095)
    array = np.clip(np.rint(image), low, high).astype(np.int16)
    metadata = {"phantom": {"seed": int(seed), "size": size, "modality": modality}}
    return Phantom(Volume(array, geometry, modality, metadata), truth)


def truth_to_dict(truth: PhantomTruth, *, uids: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON form of ``truth`` (what ``truth.json`` holds)."""
    return {
        "schema": TRUTH_SCHEMA,
        "schema_version": TRUTH_VERSION,
        "coordinate_system": "LPS",
        "units": "mm",
        "seed": truth.seed,
        "modality": truth.modality,
        "geometry": truth.geometry.to_dict(),
        **(uids or {}),
        "fiducial_names": list(truth.fiducial_names),
        "fiducials_lps_mm": truth.fiducials_lps_mm.tolist(),
        "fiducial_radius_mm": truth.fiducial_radius_mm,
        "tumour_centroid_lps_mm": truth.tumour_centroid_lps_mm.tolist(),
        "tumour_volume_ml": truth.tumour_volume_ml,
        "tumour_seed_lps_mm": truth.tumour_seed_lps_mm.tolist(),
        "node_centroid_lps_mm": truth.node_centroid_lps_mm.tolist(),
        "node_volume_ml": truth.node_volume_ml,
        "intensities": {name: {"CT_HU": ct, "MR": mr} for name, ct, mr in TISSUES},
        "noise_sd": CT_NOISE_SD_HU if truth.modality == "CT" else MR_NOISE_SD,
        "structures": {name: shape_to_dict(s) for name, s in truth.structures.items()},
        "extras": {name: shape_to_dict(s) for name, s in truth.raw["extras"].items()},
    }


def load_truth(path: str | Path) -> PhantomTruth:
    """Read ``truth.json`` (or the phantom folder holding it) into a :class:`PhantomTruth`."""
    file = Path(path)
    if file.is_dir():
        file = file / "truth.json"
    if not file.is_file():
        raise InputError(f"{file} does not exist; write a phantom with `igcs phantom OUT`.")
    raw = json.loads(file.read_text(encoding="utf-8"))
    if raw.get("schema") != TRUTH_SCHEMA or raw.get("schema_version") != TRUTH_VERSION:
        raise InputError(f"{file} is not an igcs phantom truth file (version {TRUTH_VERSION}).")
    g = raw["geometry"]
    geometry = ImageGeometry(
        tuple(g["size_ijk"]),
        np.array(g["origin_lps_mm"]),
        np.array(g["spacing_mm"]),
        np.array(g["direction"]).reshape(3, 3),
    )
    return PhantomTruth(
        seed=int(raw["seed"]),
        modality=str(raw["modality"]),
        structures={n: shape_from_dict(d) for n, d in raw["structures"].items()},
        fiducial_names=tuple(raw["fiducial_names"]),
        fiducials_lps_mm=check_points(raw["fiducials_lps_mm"], f"{file} fiducials_lps_mm"),
        fiducial_radius_mm=float(raw["fiducial_radius_mm"]),
        tumour_centroid_lps_mm=np.array(raw["tumour_centroid_lps_mm"], dtype=np.float64),
        tumour_volume_ml=float(raw["tumour_volume_ml"]),
        tumour_seed_lps_mm=np.array(raw["tumour_seed_lps_mm"], dtype=np.float64),
        node_centroid_lps_mm=np.array(raw["node_centroid_lps_mm"], dtype=np.float64),
        node_volume_ml=float(raw["node_volume_ml"]),
        geometry=geometry,
        raw={**raw, "extras": {n: shape_from_dict(d) for n, d in raw["extras"].items()}},
    )


def write_phantom(
    out: str | Path,
    *,
    modality: str = "CT",
    seed: int = 0,
    size: str = "small",
    overwrite: bool = False,
) -> Phantom:
    """Write the phantom as a DICOM series (``out/dicom/IMG0001.dcm``...) plus ``out/truth.json``
    into a new folder ``out`` (atomically: an interrupted run leaves no folder).

    UIDs are derived from (modality, seed, size), so the same arguments give the same files.
    """
    from navigation.imaging.series_writer import SeriesInfo, write_dicom_series

    phantom = make_phantom(modality=modality, seed=seed, size=size)
    key = f"igcs-phantom/{phantom.volume.modality}/{seed}/{size}"
    info = SeriesInfo.deterministic(
        key,
        modality=phantom.volume.modality,
        patient_name="IGCS^Phantom",
        patient_id=f"IGCS-PHANTOM-{seed}",
        series_description=f"IGCS head-neck phantom {phantom.volume.modality} seed {seed}",
    )
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_dicom_series(phantom.volume, tmp / "dicom", info)
        write_json_atomic(tmp / "truth.json", truth_to_dict(phantom.truth, uids=info.uids()))
    return phantom
