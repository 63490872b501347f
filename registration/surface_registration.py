"""Surface refinement: robust point-to-plane ICP of pointer-swept skin points to the skin mesh.

Starts from the fiducial registration (``image_from_tracker``) and refines it so that points
touched on the skin with the tracked pointer lie on the skin surface segmented from the image.

Method: point-to-plane ICP (Chen & Medioni 1992; linearised Gauss-Newton step as in Low 2004,
"Linear least-squares optimization for point-to-plane ICP surface registration") with exact
closest points on the mesh triangles (:mod:`registration.closest_point`, scipy's cKDTree) and
iteratively reweighted least squares for outliers (Tukey's biweight or Huber on the distances,
scale = 1.4826 x median absolute distance; or a trimmed fit keeping the closest fraction,
Chetverikov et al. 2002). Large sweeps first converge on a subset (multi-resolution). Inner
iterations use approximate closest points and switch to exact ones near convergence; a fit
that stops improving (2-cycles from points hopping between triangles or across the inlier
cutoff) gets exact points, then frozen weights, then damped steps. Before iterating, the sweep
is refused when it cannot constrain the pose: too few points, too small an extent, or a
near-singular 6x6 point-to-plane normal matrix (a flat, spherical or cylindrical patch leaves a
translation or rotation free).

Frames: sweep points in the tracker frame, mesh in the image LPS frame, millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from registration.closest_point import TriangleMeshLocator
from registration.core.checks import Float64Array, InputError, check_points, check_positive
from registration.core.transforms import apply_transform, check_rigid

OutlierMethod = Literal["tukey", "huber", "trim", "none"]

#: Tukey biweight and Huber tuning constants (95 % efficiency under Gaussian noise).
TUKEY_C = 4.685
HUBER_K = 1.345
#: Points farther than this many robust sigmas count as outliers in the report (Huber, none).
REPORT_CUTOFF_SIGMAS = 3.0
_MAD_TO_SIGMA = 1.4826
#: The coarse (subset) phase of multi-resolution ICP stops at this multiple of the tolerance.
COARSE_TOLERANCE_FACTOR = 10.0
#: Below this step (mm), or when a step is not smaller than the one before, ICP switches from
#: approximate to exact (certified) closest points.
EXACT_BELOW_MM = 0.05


@dataclass(frozen=True)
class SurfaceRegistration:
    """Result of :func:`register_surface`.

    image_from_tracker : (4, 4) float, refined rigid transform (tracker -> image LPS, mm).
    rms_distance_mm : RMS distance of the inlier points to the skin surface after refinement.
    inlier_fraction : fraction of points kept as inliers at the end (0..1).
    iterations : ICP iterations run.
    converged : True when the last step moved every point less than ``tolerance_mm``.
    distances_mm : (N,) float, each point's distance to the surface after refinement.
    inliers : (N,) bool, which points the robust fit kept.
    constraint_ratio : smallest / largest eigenvalue of the normalised 6x6 point-to-plane
        normal matrix at the start (1 = all six directions equally constrained).
    """

    image_from_tracker: Float64Array
    rms_distance_mm: float
    inlier_fraction: float
    iterations: int
    converged: bool
    distances_mm: Float64Array
    inliers: NDArray[np.bool_]
    constraint_ratio: float


def register_surface(
    points_in_tracker: ArrayLike,
    vertices_in_image: ArrayLike,
    triangles: ArrayLike,
    vertex_normals_in_image: ArrayLike | None = None,
    *,
    image_from_tracker: ArrayLike,
    outliers: OutlierMethod = "tukey",
    trim_fraction: float = 0.9,
    min_scale_mm: float = 0.1,
    max_iterations: int = 50,
    tolerance_mm: float = 1e-3,
    min_points: int = 50,
    min_extent_mm: float = 40.0,
    min_constraint_ratio: float = 2e-3,
    coarse_points: int = 2000,
    locator: TriangleMeshLocator | None = None,
    refit_sigmas: float | None = None,
) -> SurfaceRegistration:
    """Refine ``image_from_tracker`` by robust point-to-plane ICP of a skin sweep to the skin mesh.

    Parameters
    ----------
    points_in_tracker : (N, 3) float, mm, tracker frame: pointer tip positions swept over the
        skin (N >= ``min_points``).
    vertices_in_image : (V, 3) float, mm, image LPS frame: skin mesh vertices.
    triangles : (T, 3) int, vertex indices of the skin mesh triangles.
    vertex_normals_in_image : (V, 3) float, unit vertex normals (image LPS; sign irrelevant);
        default: area-weighted triangle normals.
    image_from_tracker : (4, 4) float, rigid starting transform (the fiducial registration).
    outliers : "tukey" (default; points beyond 4.685 robust sigmas get weight 0), "huber",
        "trim" (keep the ``trim_fraction`` closest points each iteration) or "none".
    trim_fraction : fraction of points kept by "trim", in (0.5, 1].
    min_scale_mm : floor of the robust scale, so that noise-free data are not over-trimmed.
    max_iterations : iteration limit; ``converged`` is False when it is reached.
    tolerance_mm : convergence when an update moves every sweep point less than this.
    min_points, min_extent_mm : refuse sweeps with fewer points or a smaller largest span.
    min_constraint_ratio : refuse sweeps whose normalised point-to-plane normal matrix has
        smallest / largest eigenvalue below this (the pose is not constrained in a direction).
    coarse_points : multi-resolution: with more points than this, ICP first converges (to 10 x
        ``tolerance_mm``) on an evenly spaced subset of this many points, then continues on all
        points (usually 2-4 more iterations), so large sweeps cost little more than small ones.

    Returns
    -------
    SurfaceRegistration

    Raises
    ------
    InputError
        Bad arrays; a sweep with too few points, too small an extent, or a shape that leaves a
        translation or rotation unconstrained (the message names the direction, image frame).
    """
    points = check_points(points_in_tracker, "points_in_tracker")
    if len(points) < min_points:
        raise InputError(
            f"the skin sweep has {len(points)} points; surface refinement needs at least "
            f"{min_points}. Sweep the pointer over more of the face (forehead, nose, cheeks)."
        )
    start = check_rigid(image_from_tracker, "image_from_tracker")
    if outliers not in ("tukey", "huber", "trim", "none"):
        raise InputError(f"outliers must be 'tukey', 'huber', 'trim' or 'none'; got {outliers!r}.")
    if not 0.5 < trim_fraction <= 1.0:
        raise InputError(f"trim_fraction must be in (0.5, 1]; got {trim_fraction}.")
    min_scale_mm = check_positive(min_scale_mm, "min_scale_mm")
    tolerance_mm = check_positive(tolerance_mm, "tolerance_mm")
    span = _largest_span_mm(points)
    if span < min_extent_mm:
        raise InputError(
            f"the skin sweep spans only {span:.1f} mm; surface refinement needs at least "
            f"{min_extent_mm:g} mm. Sweep a larger area of the face."
        )
    if locator is None:
        locator = TriangleMeshLocator(vertices_in_image, triangles, vertex_normals_in_image)

    subsets = [np.arange(len(points))]
    if len(points) > coarse_points:
        subsets.insert(0, np.linspace(0, len(points) - 1, coarse_points).round().astype(np.intp))
    moved = apply_transform(start, points[subsets[0]])
    hit = locator.closest(moved, exact=False)
    weights, _ = _robust_weights(hit.distances_mm, outliers, trim_fraction, min_scale_mm)
    ratio, weakest = _constraint(moved, hit.normals, weights, min_constraint_ratio)
    if ratio < min_constraint_ratio:
        raise InputError(
            f"the skin sweep is too flat or too symmetric to constrain the pose "
            f"(constraint ratio {ratio:.2g} < {min_constraint_ratio:g}); free: {weakest}. "
            "Sweep curved regions in several directions (nose, brow ridges, cheekbones)."
        )

    current = start
    converged = False
    iterations = 0
    for phase, subset in enumerate(subsets, start=1 - len(subsets)):
        sweep = points[subset]
        phase_tolerance = tolerance_mm if phase == 0 else COARSE_TOLERANCE_FACTOR * tolerance_mm
        converged = False
        previous = np.inf
        frozen = False
        damping = 1.0
        exact = False  # approximate closest points while far; exact ones near convergence
        while iterations < max_iterations:
            iterations += 1
            moved = apply_transform(current, sweep)
            hit = locator.closest(moved, exact=exact)
            residuals = np.einsum("nk,nk->n", hit.normals, moved - hit.points)
            if not frozen:
                weights, _ = _robust_weights(
                    hit.distances_mm, outliers, trim_fraction, min_scale_mm
                )
            increment, displacement = _gauss_newton_step(
                moved, hit.normals, residuals, weights, damping
            )
            current = increment @ current
            if displacement < phase_tolerance:
                converged = True
                break
            # Three things can trap the fit in a 2-cycle: an approximate closest point flipping
            # between two triangles, a point flipping in and out of the inliers at the cutoff,
            # and a point hopping across a concave crease of the mesh. Each time a step is not
            # smaller than the last: go exact, then freeze the weights, then halve the steps
            # (which settles the fit within the size of the cycle, ~0.01 mm on real skin).
            if displacement >= previous:
                if frozen:
                    damping *= 0.5
                frozen = exact
                exact = True
            exact = exact or displacement < EXACT_BELOW_MM
            previous = displacement
    hit = locator.closest(apply_transform(current, points))

    _, cutoff = _robust_weights(hit.distances_mm, outliers, trim_fraction, min_scale_mm)
    inliers = hit.distances_mm <= cutoff
    if refit_sigmas is not None:
        scale = max(_MAD_TO_SIGMA * float(np.median(hit.distances_mm)), min_scale_mm)
        near = hit.distances_mm <= refit_sigmas * scale
        if near.sum() >= min_points and not near.all():
            second = register_surface(
                points[near], vertices_in_image, triangles, vertex_normals_in_image,
                image_from_tracker=current, outliers=outliers, trim_fraction=trim_fraction,
                min_scale_mm=min_scale_mm, max_iterations=max_iterations,
                tolerance_mm=tolerance_mm, min_points=min_points, min_extent_mm=0.0,
                min_constraint_ratio=0.0, coarse_points=coarse_points, locator=locator,
            )  # fmt: skip
            current = np.array(second.image_from_tracker)
            iterations += second.iterations
            converged = second.converged
            hit = locator.closest(apply_transform(current, points))
            _, cutoff = _robust_weights(
                hit.distances_mm[near], outliers, trim_fraction, min_scale_mm
            )
            inliers = near & (hit.distances_mm <= cutoff)
    rms = float(np.sqrt(np.mean(hit.distances_mm[inliers] ** 2))) if inliers.any() else np.inf
    distances = hit.distances_mm.copy()
    distances.setflags(write=False)
    inliers.setflags(write=False)
    current.setflags(write=False)
    return SurfaceRegistration(
        image_from_tracker=current,
        rms_distance_mm=rms,
        inlier_fraction=float(inliers.mean()),
        iterations=iterations,
        converged=converged,
        distances_mm=distances,
        inliers=inliers,
        constraint_ratio=ratio,
    )


def _largest_span_mm(points: Float64Array) -> float:
    """Extent of the points along their first principal axis (mm)."""
    centred = points - points.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    projection = centred @ axis
    return float(projection.max() - projection.min())


def _robust_weights(
    distances: Float64Array, method: OutlierMethod, trim_fraction: float, min_scale: float
) -> tuple[Float64Array, float]:
    """IRLS weights (N,) for point-to-surface distances and the inlier cutoff distance (mm)."""
    scale = max(_MAD_TO_SIGMA * float(np.median(distances)), min_scale)
    if method == "tukey":
        cutoff = TUKEY_C * scale
        u = np.clip(distances / cutoff, 0.0, 1.0)
        return (1.0 - u**2) ** 2, cutoff
    if method == "huber":
        k = HUBER_K * scale
        weights = np.where(distances <= k, 1.0, k / np.maximum(distances, k))
        return weights, REPORT_CUTOFF_SIGMAS * scale
    if method == "trim":
        cutoff = float(np.quantile(distances, trim_fraction))
        return (distances <= cutoff).astype(np.float64), cutoff
    return np.ones_like(distances), REPORT_CUTOFF_SIGMAS * scale


def _jacobian(
    points: Float64Array, normals: Float64Array
) -> tuple[Float64Array, float, Float64Array]:
    """Point-to-plane Jacobian (N, 6) for a rotation about the centroid scaled by the RMS radius
    (so rotation columns are in mm like the translation columns), the radius and the centroid."""
    centre = points.mean(axis=0)
    arm = points - centre
    radius = float(np.sqrt(np.mean(np.sum(arm**2, axis=1))))
    jacobian = np.hstack([np.cross(arm, normals) / radius, normals])
    return jacobian, radius, centre


def _constraint(
    points: Float64Array, normals: Float64Array, weights: Float64Array, min_ratio: float
) -> tuple[float, str]:
    """Smallest / largest eigenvalue of the normalised point-to-plane normal matrix, and a
    description of the directions below ``min_ratio`` (translations and rotations separated)."""
    jacobian, _, centre = _jacobian(points, normals)
    normal_matrix = (jacobian * weights[:, np.newaxis]).T @ jacobian / max(weights.sum(), 1e-12)
    eigenvalues, eigenvectors = np.linalg.eigh(normal_matrix)
    if eigenvalues[-1] <= 0:
        return 0.0, "every direction"
    ratios = np.maximum(eigenvalues, 0.0) / eigenvalues[-1]
    weak = eigenvectors[:, ratios < min_ratio]
    if weak.shape[1] == 0:
        weak = eigenvectors[:, :1]
    # rotate the weak subspace so that its directions are as purely translational as possible
    v_t = np.linalg.svd(weak[3:], full_matrices=True)[2]
    weak = weak @ v_t.T
    parts = []
    for column in weak.T:
        rotation, translation = column[:3], column[3:]
        if np.linalg.norm(translation) >= np.linalg.norm(rotation):
            direction = np.round(translation / np.linalg.norm(translation), 2) + 0.0
            parts.append(f"translation along {direction.tolist()}")
        else:
            axis = np.round(rotation / np.linalg.norm(rotation), 2) + 0.0
            parts.append(
                f"rotation about the axis {axis.tolist()} through {np.round(centre, 1).tolist()} mm"
            )
    return float(ratios[0]), "; ".join(parts) + " (image LPS)"


def _gauss_newton_step(
    points: Float64Array,
    normals: Float64Array,
    residuals: Float64Array,
    weights: Float64Array,
    damping: float = 1.0,
) -> tuple[Float64Array, float]:
    """One weighted point-to-plane Gauss-Newton update (4x4, image frame; the step scaled by
    ``damping``) and the largest displacement (mm) it causes on the points."""
    jacobian, radius, centre = _jacobian(points, normals)
    weighted = jacobian * weights[:, np.newaxis]
    step = np.linalg.lstsq(weighted.T @ jacobian, -(weighted.T @ residuals), rcond=None)[0]
    step *= damping
    rotation = Rotation.from_rotvec(step[:3] / radius).as_matrix()
    increment = np.eye(4)
    increment[:3, :3] = rotation
    increment[:3, 3] = centre + step[3:] - rotation @ centre
    displacement = float(
        np.max(np.linalg.norm(apply_transform(increment, points) - points, axis=1))
    )
    return increment, displacement
