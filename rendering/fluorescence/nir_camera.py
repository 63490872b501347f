"""A synthetic near-infrared fluorescence camera: known emission on a mesh -> a raw 12-bit frame.

For tests and for ``igcs simulate``'s IMAGE stream. The image formation, per pixel:

1. Geometry: the same rasteriser as the mapper (:mod:`rendering.fluorescence.rasterizer`), so
   occlusion is right. Each pixel is split into ``supersample`` x ``supersample`` rays through the
   *distorted* lens (rays from ``cv2.undistortPointsIter``); each ray is intersected exactly with
   the nearest triangle (Möller-Trumbore) and the per-vertex emission and normal are interpolated
   there.
2. Radiometry (coaxial excitation at the camera): signal = ``gain_dn * emission *
   (r0 / r)^n * max(cos(theta), 0)^m * vignetting(u, v)``, r the distance and theta the incidence
   angle, n = 2, m = 1. The emitter is Lambertian, so distance acts only through the excitation.
   Vignetting is natural ``cos^4`` of the field angle (the flat field a calibration measures:
   :meth:`NirSensorModel.flat_field`).
3. Optics and sensor: Gaussian point-spread function (``psf_sigma_px``), shot noise (Poisson in
   electrons, ``electrons_per_dn``), Gaussian read noise, a dark level, rounding to integers and
   clipping to ``bit_depth`` bits (saturation at ``2^bits - 1``). Deterministic for a seed.

What real tissue adds (all off by default; :func:`tissue_sensor` turns them on):

- **Specular highlights.** Wet tissue reflects the coaxial excitation mirror-like where its
  normal faces the camera; the emission filter (optical density ~5-6) passes a trace of it,
  still brighter than fluorescence: ``specular_dn * (r0/r)^n * cos(theta)^specular_exponent``
  (Blinn-Phong with the half vector on the optical axis for coaxial light), often saturating.
- **Ambient light.** Room and headlight light in the NIR band, reflected diffusely:
  ``ambient_dn * (0.5 + 0.5 cos(theta))`` on the surface (independent of distance: an extended
  source), plus a stray-light ramp across the sensor (``stray_dn`` at the right edge, 0 at the
  left), both vignetted. With ``ambient_subtraction`` the camera pulses its excitation and
  delivers ``on - off + dark level`` (as pulsed clinical systems do): the ambient light's mean
  cancels, its shot noise (in both frames) and twice the read noise variance remain. With
  ambient light the shot noise is drawn by its Gaussian approximation (same mean and variance).
- **Exposure.** ``exposure_ms`` states the integration time the gains hold for (metadata; the
  counts scale with it, see :func:`tissue_sensor`).

Subsurface light: a fluorophore a few millimetres under the surface shows on it as a blurred
patch; :func:`glowing_patch_emission` models that blur along the surface with an erfc edge,
:mod:`navigation.simulation.tissue` with the diffusion approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numba
import numpy as np
from numba import prange
from numpy.typing import ArrayLike
from scipy.special import erfc

from registration.core.checks import Float64Array, InputError, check_positive
from registration.core.transforms import check_rigid, invert_rigid
from rendering.fluorescence.camera_model import CameraModel
from rendering.fluorescence.rasterizer import project_to_grid, rasterize, ray_hit, serialized
from rendering.fluorescence.surface_mesh import SurfaceMesh


@dataclass(frozen=True)
class NirSensorModel:
    """Radiometric and noise model of the synthetic NIR camera (see module docstring).

    gain_dn : counts above dark for emission 1 at ``reference_distance_mm``, normal incidence,
        image centre.
    """

    gain_dn: float = 2000.0
    reference_distance_mm: float = 300.0
    excitation_distance_exponent: float = 2.0
    excitation_cos_exponent: float = 1.0
    vignetting_cos_power: float = 4.0
    psf_sigma_px: float = 1.0
    electrons_per_dn: float = 4.0
    read_noise_dn: float = 2.0
    dark_level_dn: float = 100.0
    bit_depth: int = 12
    supersample: int = 2
    specular_dn: float = 0.0
    specular_exponent: float = 60.0
    ambient_dn: float = 0.0
    stray_dn: float = 0.0
    ambient_subtraction: bool = False
    exposure_ms: float = 33.0

    def __post_init__(self) -> None:
        for name in ("gain_dn", "reference_distance_mm", "electrons_per_dn", "exposure_ms"):
            check_positive(getattr(self, name), name)
        if self.psf_sigma_px < 0 or self.read_noise_dn < 0 or self.dark_level_dn < 0:
            raise InputError("psf_sigma_px, read_noise_dn and dark_level_dn must be >= 0.")
        if min(self.specular_dn, self.ambient_dn, self.stray_dn) < 0:
            raise InputError("specular_dn, ambient_dn and stray_dn must be >= 0.")
        check_positive(self.specular_exponent, "specular_exponent")
        if not 8 <= int(self.bit_depth) <= 16 or int(self.supersample) < 1:
            raise InputError("bit_depth must be 8..16 and supersample >= 1.")

    @property
    def saturation_dn(self) -> int:
        """The largest raw value (saturated pixels read this)."""
        return 2 ** int(self.bit_depth) - 1

    def flat_field(self, camera: CameraModel) -> Float64Array:
        """(H, W) relative response: ``cos^p`` of each pixel's field angle (1 on the axis)."""
        rays = camera.pixel_rays(supersample=1)
        cos_field = 1.0 / np.sqrt(1.0 + rays[..., 0] ** 2 + rays[..., 1] ** 2)
        return cos_field**self.vignetting_cos_power


@dataclass(frozen=True)
class NirFrame:
    """A rendered raw frame and its ground truth.

    pixels : (H, W) uint16 raw counts (dark level included, noise, quantised, clipped).
    expected_dn : (H, W) float, noise-free counts after blur (dark level included, unclipped).
    vertex_seen : (H, W) int64, the mesh vertex nearest to what each pixel centre sees
        (-1: no surface); None unless asked for.
    """

    pixels: np.ndarray
    expected_dn: Float64Array
    vertex_seen: np.ndarray | None


def render_nir_frame(
    mesh: SurfaceMesh,
    emission: ArrayLike,
    camera: CameraModel,
    image_from_camera: ArrayLike,
    *,
    sensor: NirSensorModel | None = None,
    seed: int = 0,
    with_truth: bool = False,
) -> NirFrame:
    """Render what the NIR camera at ``image_from_camera`` records of ``mesh``.

    emission : (N,) float >= 0, per-vertex fluorescence emission (relative units; 1 gives
        ``gain_dn`` counts at the reference distance).
    image_from_camera : (4, 4) rigid, OpenCV camera frame to image LPS mm.
    seed : noise seed (``numpy.random.default_rng(seed)``); same inputs and seed, same frame.
    with_truth : also return which vertex each pixel centre sees.
    """
    model = sensor or NirSensorModel()
    values = np.asarray(emission, dtype=np.float64)
    if values.shape != (mesh.vertex_count,) or not np.isfinite(values).all() or (values < 0).any():
        raise InputError(
            f"emission must be finite, >= 0, shape ({mesh.vertex_count},); got {values.shape}."
        )
    camera_from_image = invert_rigid(check_rigid(image_from_camera, "image_from_camera"))
    radiance, shading, _ = _trace(mesh, values, camera, camera_from_image, model, model.supersample)
    s = int(model.supersample)
    height, width = radiance.shape[0] // s, radiance.shape[1] // s
    flat = model.flat_field(camera)
    signal = radiance.reshape(height, s, width, s).mean(axis=(1, 3))
    signal *= model.gain_dn * flat
    if model.psf_sigma_px > 0:
        signal = cv2.GaussianBlur(signal, (0, 0), model.psf_sigma_px, borderType=cv2.BORDER_REFLECT)
    ambient = _ambient(shading, model, flat, s)
    rng = np.random.default_rng(seed)
    if ambient is None:
        electrons = rng.poisson(np.maximum(signal, 0.0) * model.electrons_per_dn)
        noisy = electrons / model.electrons_per_dn + model.dark_level_dn
        noisy = noisy + rng.normal(0.0, model.read_noise_dn, size=noisy.shape)
        expected = signal + model.dark_level_dn
    else:
        # Shot noise by its Gaussian approximation (one draw for shot and read noise: a
        # tenth of the cost of Poisson draws, and exact in mean and variance).
        e = model.electrons_per_dn
        lit = np.maximum(signal + ambient, 0.0)
        variance = lit / e + model.read_noise_dn**2
        expected = signal + ambient + model.dark_level_dn
        if model.ambient_subtraction:  # minus the excitation-off frame, with its own noise
            variance += np.maximum(ambient, 0.0) / e + model.read_noise_dn**2
            expected = signal + model.dark_level_dn
        draws = rng.standard_normal(signal.shape, dtype=np.float32)
        noisy = expected + np.sqrt(variance) * draws
    pixels = np.clip(np.rint(noisy), 0, model.saturation_dn).astype(np.uint16)
    truth = None
    if with_truth:
        _, _, truth = _trace(mesh, values, camera, camera_from_image, model, 1)
    return NirFrame(pixels, expected, truth)


def tissue_sensor(*, exposure_ms: float = 20.0, **overrides: float) -> NirSensorModel:
    """The synthetic camera as it images tissue (see the module docstring), at ``exposure_ms``.

    Counts scale with the exposure from these values at 20 ms: fluorescence of emission 1 at
    300 mm 1800 DN, a specular highlight 6000 DN at its peak (saturates), ambient light 150 DN
    on the surface and a 60 DN stray-light ramp; 4 e-/DN (~16k e- full well at 12 bits), 2.5 DN
    read noise, dark level 100 DN, PSF 1.2 px (one ray per pixel: the PSF spans it); ambient
    subtraction on (pulsed excitation).
    """
    check_positive(exposure_ms, "exposure_ms")
    scale = exposure_ms / 20.0
    values: dict[str, float] = {
        "gain_dn": 1800.0 * scale,
        "specular_dn": 6000.0 * scale,
        "ambient_dn": 150.0 * scale,
        "stray_dn": 60.0 * scale,
        "specular_exponent": 150.0,
        "psf_sigma_px": 1.2,
        "electrons_per_dn": 4.0,
        "read_noise_dn": 2.5,
        "dark_level_dn": 100.0,
        "supersample": 1,
    }
    values.update(overrides)
    return NirSensorModel(
        **values,  # type: ignore[arg-type]
        ambient_subtraction=True,
        exposure_ms=exposure_ms,
    )


def _ambient(
    shading: Float64Array, model: NirSensorModel, flat: Float64Array, supersample: int
) -> Float64Array | None:
    """(H, W) ambient counts (surface shading and stray-light ramp, vignetted), or None when
    the model has none."""
    if model.ambient_dn == 0 and model.stray_dn == 0:
        return None
    height, width = flat.shape
    surface = shading.reshape(height, supersample, width, supersample).mean(axis=(1, 3))
    ramp = np.linspace(0.0, 1.0, width)[np.newaxis, :]
    ambient = (model.ambient_dn * surface + model.stray_dn * ramp) * flat
    if model.psf_sigma_px > 0:
        ambient = cv2.GaussianBlur(
            ambient, (0, 0), model.psf_sigma_px, borderType=cv2.BORDER_REFLECT
        )
    return np.asarray(ambient, dtype=np.float64)


def glowing_patch_emission(
    signed_distance_mm: ArrayLike, *, peak: float = 1.0, background: float = 0.2, blur_mm: float
) -> Float64Array:
    """Per-vertex emission of a fluorescent patch seen through a little tissue.

    signed_distance_mm : (N,) distance along the surface to the patch boundary, negative inside.
    Returns ``background + (peak - background) * erfc(d / (sqrt(2) blur_mm)) / 2``: a step
    blurred by a Gaussian of ``blur_mm`` (subsurface scattering), background = autofluorescence.
    """
    check_positive(blur_mm, "blur_mm")
    d = np.asarray(signed_distance_mm, dtype=np.float64)
    return background + (peak - background) * 0.5 * erfc(d / (np.sqrt(2.0) * blur_mm))


def image_from_camera_looking_at(
    position_in_image: ArrayLike, target_in_image: ArrayLike, *, up_in_image: ArrayLike
) -> Float64Array:
    """(4, 4) pose of an OpenCV camera at ``position`` whose optical axis (z) points at
    ``target`` and whose image "up" (-y) is as close as possible to ``up_in_image`` (LPS mm)."""
    position = np.asarray(position_in_image, dtype=np.float64)
    forward = np.asarray(target_in_image, dtype=np.float64) - position
    if np.linalg.norm(forward) == 0:
        raise InputError("the camera position and its target coincide.")
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, -np.asarray(up_in_image, dtype=np.float64))
    if np.linalg.norm(right) < 1e-9:
        raise InputError("up_in_image is parallel to the viewing direction; choose another.")
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0] = right
    pose[:3, 1] = np.cross(forward, right)
    pose[:3, 2] = forward
    pose[:3, 3] = position
    return pose


def _trace(
    mesh: SurfaceMesh,
    emission: Float64Array,
    camera: CameraModel,
    camera_from_image: Float64Array,
    model: NirSensorModel,
    supersample: int,
) -> tuple[Float64Array, Float64Array, np.ndarray]:
    grid = camera.pinhole_grid(scale=float(supersample))
    k = camera.intrinsics.camera_matrix
    rotation = np.ascontiguousarray(camera_from_image[:3, :3])
    cam, grid_xy = project_to_grid(
        mesh.vertices_in_image, rotation, np.ascontiguousarray(camera_from_image[:3, 3]),
        k[0, 0], k[1, 1], k[0, 1], k[0, 2], k[1, 2], grid.offset_x, grid.offset_y, grid.scale,
    )  # fmt: skip
    _, triangle_id, _ = rasterize(grid_xy, mesh.triangles, grid.width, grid.height)
    normals = np.ascontiguousarray(mesh.normals @ rotation.T)
    lens = np.array([k[0, 0], k[1, 1], k[0, 1], k[0, 2], k[1, 2], grid.offset_x, grid.offset_y])
    return _shade(
        camera.pixel_rays(supersample=supersample), lens, grid.scale, triangle_id, cam, normals,
        emission, mesh.triangles, model.reference_distance_mm,
        model.excitation_distance_exponent, model.excitation_cos_exponent,
        model.specular_dn / model.gain_dn, model.specular_exponent,
    )  # fmt: skip


@serialized
@numba.njit(parallel=True, cache=True)
def _shade(rays, lens, scale, triangle_id, cam, normals, emission, triangles, r0, n_exp, m_exp,
           specular, specular_exp):  # fmt: skip
    rows, columns = rays.shape[0], rays.shape[1]
    grid_height, grid_width = triangle_id.shape
    fx, fy, skew, cx, cy, offset_x, offset_y = (
        lens[0], lens[1], lens[2], lens[3], lens[4], lens[5], lens[6]
    )  # fmt: skip
    radiance = np.zeros((rows, columns))
    shading = np.zeros((rows, columns))
    vertex = np.full((rows, columns), -1, dtype=np.int64)
    for row in prange(rows):
        for column in range(columns):
            x = rays[row, column, 0]
            y = rays[row, column, 1]
            gx = int(np.rint((fx * x + skew * y + cx - offset_x) * scale))
            gy = int(np.rint((fy * y + cy - offset_y) * scale))
            if gx < 0 or gy < 0 or gx >= grid_width or gy >= grid_height:
                continue
            t = triangle_id[gy, gx]
            if t < 0:
                continue
            s, u, v = ray_hit(x, y, 1.0, cam, triangles, t, np.inf)
            if not np.isfinite(s):
                continue
            # The nearest pixel's triangle may miss the ray by a fraction of a pixel: clamp.
            u = min(max(u, 0.0), 1.0)
            v = min(max(v, 0.0), 1.0 - u)
            w = 1.0 - u - v
            a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
            px, py, pz = s * x, s * y, s
            r = np.sqrt(px * px + py * py + pz * pz)
            nx = w * normals[a, 0] + u * normals[b, 0] + v * normals[c, 0]
            ny = w * normals[a, 1] + u * normals[b, 1] + v * normals[c, 1]
            nz = w * normals[a, 2] + u * normals[b, 2] + v * normals[c, 2]
            length = np.sqrt(nx * nx + ny * ny + nz * nz)
            cosine = -(nx * px + ny * py + nz * pz) / (r * length) if length > 0 else 0.0
            if cosine <= 0.0:
                continue
            e = w * emission[a] + u * emission[b] + v * emission[c]
            excitation = (r0 / r) ** n_exp
            radiance[row, column] = e * excitation * cosine**m_exp
            if specular > 0.0:
                radiance[row, column] += specular * excitation * cosine**specular_exp
            shading[row, column] = 0.5 + 0.5 * cosine
            best = a if w >= u and w >= v else (b if u >= v else c)
            vertex[row, column] = best
    return radiance, shading, vertex
