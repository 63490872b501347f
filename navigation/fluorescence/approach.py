"""The exposed field of a transcervical approach to the plan's tumour, from the plan's anatomy.

The phantom's field (:mod:`navigation.fluorescence.field`) is a flat disc with the tumour's
dome: fine for a cylinder head. On a real patient the camera looks into a wound cut through the
real neck, so this field is carved out of the plan's own label map:

- **Approach.** From the tumour's side of the neck (the side of the body's midline its centroid
  lies on), the direction, among lateral directions tilted up to 60 deg forward, 40 deg back,
  40 deg down and 20 deg up, whose wound removes the least bone (mandible, hyoid, spine), then
  the shortest; ``ApproachOptions.approach_lps`` overrides it.
- **Wound.** A cone about the approach axis: a floor, the plane perpendicular to the axis
  ``bulge_mm`` (4 mm) below the tumour's most superficial point, of radius ``radius_mm`` (the
  tumour's footprint plus ``floor_margin_mm``), and walls opening at ``wall_angle_deg`` (25 deg)
  to the skin. Under the floor the tumour, covered by ``cover_mm`` (2 mm) of tissue (constrictor
  muscle and fascia), bulges into the wound: the dissection stops at a close margin (1-5 mm),
  where fluorescence guidance matters, within NIR reach. The removed tissue is the part of the
  body inside the cone, above the floor and farther than ``cover_mm`` from the tumour; the
  field is what bounds what is left: floor, covered tumour, walls and the skin around the
  incision (``skin_margin_mm`` wide), one connected surface contoured by VTK's flying edges
  on a grid aligned with the axis (``spacing_mm``), normals out of the tissue.
- **Anatomy.** Body and tumour come from the plan's label map as smooth signed distances
  (:mod:`navigation.fluorescence.plan_masks`, 1.5 mm blur): the wound's walls and rim follow
  the real neck. The pharyngeal lumen counts as tissue (the body mask is filled).

Target region: the covered tumour (where the tumour term bounds the removed region);
background: the floor ``ring_mm`` (10-20 mm) from it along the surface, where the tumour's
diffuse glow has faded to a few per cent (:mod:`navigation.simulation.tissue`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from navigation.fluorescence.field import FieldGeometry, SurgicalField
from navigation.fluorescence.plan_masks import PlanLabels, SmoothMask, plan_labels
from navigation.planning.plan import Plan
from registration.core.checks import Float64Array, InputError, check_positive
from registration.core.transforms import apply_transform, invert_rigid
from rendering.fluorescence.metrics import ring_mask
from rendering.fluorescence.surface_mesh import SurfaceMesh

APPROACH_KIND = "transcervical"
#: Blur of the label masks (mm): smooth walls, strands of a perforated mask removed.
MASK_SIGMA_MM = 1.5
#: The tumour mesh is voxelised at TUMOUR_GRID_MM and blurred by TUMOUR_SIGMA_MM.
TUMOUR_GRID_MM = 0.5
TUMOUR_SIGMA_MM = 1.0


@dataclass(frozen=True)
class ApproachOptions:
    """How the wound is cut (module docstring); lengths mm, angles degrees."""

    approach_lps: tuple[float, float, float] | None = None
    cover_mm: float = 2.0
    bulge_mm: float = 4.0
    floor_margin_mm: float = 24.0
    wall_angle_deg: float = 25.0
    skin_margin_mm: float = 20.0
    spacing_mm: float = 0.8
    ring_mm: tuple[float, float] = (10.0, 20.0)

    def __post_init__(self) -> None:
        for name in ("bulge_mm", "floor_margin_mm", "skin_margin_mm", "spacing_mm"):
            check_positive(getattr(self, name), name)
        if self.cover_mm < 0 or not 0.0 <= self.wall_angle_deg < 60.0:
            raise InputError("cover_mm must be >= 0 and wall_angle_deg in [0, 60).")
        inner, outer = self.ring_mm
        if not 0.0 <= inner < outer < self.floor_margin_mm:
            raise InputError(
                f"ring_mm must satisfy 0 <= inner < outer < floor_margin_mm; got {self.ring_mm}."
            )


@dataclass(frozen=True)
class ApproachGeometry(FieldGeometry):
    """A wound about the axis through ``centre_lps_mm`` along ``approach_lps`` (towards the
    camera): floor at ``floor_offset_mm`` along it, of radius ``radius_mm``; walls at
    ``wall_angle_deg``; skin ``skin_height_mm`` along the axis; the field reaches
    ``outer_radius_mm`` from the axis; ``cover_mm`` of tissue left over the tumour."""

    wall_angle_deg: float = 25.0
    cover_mm: float = 3.0
    skin_height_mm: float = 60.0
    outer_radius_mm: float = 80.0
    ring_mm: tuple[float, float] = (10.0, 20.0)
    kind: str = field(default=APPROACH_KIND)

    def wall_radius_mm(self, height_above_floor_mm: Float64Array) -> Float64Array:
        """Radius of the wound at heights above the floor (mm)."""
        slope = math.tan(math.radians(self.wall_angle_deg))
        return self.radius_mm + np.maximum(height_above_floor_mm, 0.0) * slope

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **super().to_dict(),
            "wall_angle_deg": self.wall_angle_deg,
            "cover_mm": self.cover_mm,
            "skin_height_mm": self.skin_height_mm,
            "outer_radius_mm": self.outer_radius_mm,
            "ring_mm": list(self.ring_mm),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApproachGeometry:
        base = FieldGeometry.from_dict(data)
        try:
            return cls(
                base.centre_lps_mm, base.approach_lps, base.floor_offset_mm, base.radius_mm,
                base.spacing_mm, float(data["wall_angle_deg"]), float(data["cover_mm"]),
                float(data["skin_height_mm"]), float(data["outer_radius_mm"]),
                (float(data["ring_mm"][0]), float(data["ring_mm"][1])),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise InputError(f"approach geometry is incomplete or malformed: {error}") from None


def approach_geometry(plan: Plan, options: ApproachOptions | None = None) -> ApproachGeometry:
    """The wound for ``plan``'s tumour (module docstring); InputError without a tumour or when
    no direction reaches it through the neck."""
    opts = options or ApproachOptions()
    labels, tumour_points = _anatomy(plan)
    centroid = tumour_points.mean(axis=0)
    # The skin along candidate axes: the label map unblurred is precise enough (half a voxel).
    body = SmoothMask.from_mask(
        labels.body(), labels.geometry, sigma_mm=0.0,
        box_lps_mm=[centroid - 160.0, centroid + 160.0],
    )  # fmt: skip
    bone = labels.geometry.kji_to_lps(np.argwhere(labels.mask("bone")))
    bone = bone[np.linalg.norm(bone - centroid, axis=1) < 160.0]
    stride = max(1, len(bone) // 40_000)  # a regular subset counts bone volume well enough
    bone = bone[::stride]
    bone_ml = stride * float(np.prod(labels.geometry.spacing_mm)) / 1000.0
    if opts.approach_lps is not None:
        candidates = [_unit(np.asarray(opts.approach_lps, dtype=np.float64))]
    else:
        candidates = _candidates(np.sign(centroid[0] - _midline_x(labels, tumour_points)) or 1.0)
    best: tuple[float, ApproachGeometry] | None = None
    for direction in candidates:
        geometry = _wound(tumour_points, centroid, direction, body, opts)
        if geometry is None:
            continue
        removed = inside_wound(geometry, bone).sum() * bone_ml
        depth = geometry.skin_height_mm - geometry.floor_offset_mm
        cost = 100.0 * removed + depth
        if best is None or cost < best[0]:
            best = (cost, geometry)
    if best is None:
        raise InputError(
            f"no approach reaches the tumour of plan {plan.root} through the neck; give "
            "ApproachOptions.approach_lps."
        )
    return best[1]


def build_approach_field(plan: Plan, geometry: ApproachGeometry) -> SurgicalField:
    """The wound's surface as the mapping mesh, with its target and background regions."""
    labels, _ = _anatomy(plan)
    body, tumour = _smooth_masks(labels, geometry, plan)
    mesh = contour_wound(geometry, body, tumour)
    height, radial, tumour_term = _terms(geometry, tumour, mesh.vertices_in_image)
    wall_term = radial - geometry.wall_radius_mm(height)
    target = (tumour_term > -height) & (tumour_term > wall_term)
    if not target.any():
        raise InputError("the wound does not reach the tumour; check the approach geometry.")
    on_floor = (-height >= wall_term) & (-height >= tumour_term)
    inner, outer = geometry.ring_mm
    ring = ring_mask(mesh, target, inner_mm=inner, outer_mm=outer, geodesic=True) & on_floor
    source = f"plan tumour label {plan.raw['tumour']['label']!r}"
    return SurgicalField(
        mesh=mesh,
        geometry=geometry,
        target_mask=_frozen(target),
        background_mask=_frozen(ring),
        target_region=f"tumour under {geometry.cover_mm:g} mm of tissue ({source}), "
        f"{int(target.sum())} vertices",
        background_region=f"wound floor {inner:g}-{outer:g} mm from it (geodesic), "
        f"{int(ring.sum())} vertices",
        tumour_source=source,
    )


def plan_tumour_mask(plan: Plan) -> SmoothMask:
    """The plan's tumour mesh voxelised at 0.5 mm and blurred by 1 mm (the PET label's 4 mm
    staircase would show on the covered tumour and in its glow)."""
    label = (plan.raw.get("tumour") or {}).get("label")
    if not label:
        raise InputError(f"plan {plan.root} has no tumour label.")
    surface = plan.read_mesh(str(label)).triangulate()
    return SmoothMask.from_surface(
        surface, spacing_mm=TUMOUR_GRID_MM, sigma_mm=TUMOUR_SIGMA_MM, margin_mm=12.0
    )


def contour_wound(geometry: ApproachGeometry, body: SmoothMask, tumour: SmoothMask) -> SurfaceMesh:
    """The zero level set of ``max(body distance, -removed-region distance)`` over the field's
    cylinder, as a :class:`SurfaceMesh` (LPS mm, normals out of the tissue)."""
    import pyvista as pv

    s = geometry.spacing_mm
    top = geometry.skin_height_mm - geometry.floor_offset_mm + 12.0
    n = math.ceil((geometry.outer_radius_mm + 2 * s) / s)
    uv = np.arange(-n, n + 1) * s
    w = (np.arange(-math.ceil(4.0 / s), math.ceil(top / s) + 1) + 0.5) * s
    image_from_field = geometry.image_from_field()
    values = np.empty((w.size, uv.size, uv.size), dtype=np.float32)
    gv, gu = np.meshgrid(uv, uv, indexing="ij")
    radial = np.hypot(gu, gv)
    for index, height in enumerate(w):  # slab by slab: bounded memory
        points = apply_transform(
            image_from_field, np.stack([gu, gv, np.full_like(gu, height)], -1).reshape(-1, 3)
        )
        tumour_term = geometry.cover_mm - tumour.signed_distance_mm(points)
        removed = np.maximum(
            np.maximum(radial.ravel() - geometry.wall_radius_mm(np.array(height)), -height),
            tumour_term,
        )
        values[index] = np.maximum(body.signed_distance_mm(points), -removed).reshape(gu.shape)
    grid = pv.ImageData(
        dimensions=(uv.size, uv.size, w.size), spacing=(s, s, s), origin=(uv[0], uv[0], w[0])
    )
    grid.point_data["field"] = values.ravel()
    surface = grid.contour([0.0], scalars="field", method="flying_edges")
    if surface.n_points == 0:
        raise InputError("the wound's surface is empty; check the approach geometry.")
    surface.point_data["radius"] = np.hypot(surface.points[:, 0], surface.points[:, 1])
    surface = surface.clip_scalar(scalars="radius", value=geometry.outer_radius_mm)
    surface = surface.connectivity("closest", closest_point=(0.0, 0.0, 0.0))
    surface = surface.extract_surface(algorithm="dataset_surface").triangulate().clean()
    faces = np.asarray(surface.faces).reshape(-1, 4)[:, 1:]
    vertices = apply_transform(image_from_field, np.asarray(surface.points, dtype=np.float64))
    mesh = SurfaceMesh(vertices, faces)
    floor = (np.abs(surface.points[:, 2]) < s) & (
        np.hypot(surface.points[:, 0], surface.points[:, 1]) < geometry.radius_mm - 2.0
    )
    facing = mesh.normals[floor] @ geometry.approach_lps if floor.any() else np.ones(1)
    if np.median(facing) < 0:
        mesh = SurfaceMesh(vertices, faces[:, ::-1].copy())
    return mesh.spatially_ordered()


# --------------------------------------------------------------------------- internals
def _anatomy(plan: Plan) -> tuple[PlanLabels, Float64Array]:
    label = (plan.raw.get("tumour") or {}).get("label")
    if not label or plan.tumour_centroid_lps_mm is None:
        raise InputError(
            f"plan {plan.root} has no tumour: the surgical field is cut towards it (plan with "
            "a tumour)."
        )
    points = np.asarray(plan.read_mesh(str(label)).points, dtype=np.float64)
    return plan_labels(plan), points


def _smooth_masks(
    labels: PlanLabels, geometry: ApproachGeometry, plan: Plan
) -> tuple[SmoothMask, SmoothMask]:
    """The body (label map) over the field's region and the tumour (:func:`plan_tumour_mask`)."""
    reach = geometry.outer_radius_mm + 5.0
    pose = geometry.image_from_field()
    top = geometry.skin_height_mm - geometry.floor_offset_mm + 15.0
    corners = np.array([[u, v, w] for u in (-reach, reach) for v in (-reach, reach)
                        for w in (-10.0, top)])  # fmt: skip
    box = apply_transform(pose, corners)
    box = np.array([box.min(axis=0), box.max(axis=0)])
    body = SmoothMask.from_mask(labels.body(), labels.geometry, sigma_mm=MASK_SIGMA_MM,
                                box_lps_mm=box)  # fmt: skip
    return body, plan_tumour_mask(plan)


def _terms(
    geometry: ApproachGeometry, tumour: SmoothMask, points: Float64Array
) -> tuple[Float64Array, Float64Array, Float64Array]:
    """Height above the floor, distance from the axis, and the tumour term (cover - distance)."""
    local = apply_transform(invert_rigid(geometry.image_from_field()), points)
    return (
        local[:, 2],
        np.hypot(local[:, 0], local[:, 1]),
        geometry.cover_mm - tumour.signed_distance_mm(points),
    )


def _candidates(side: float) -> list[Float64Array]:
    """Unit directions on the tumour's side: azimuth -60..40 deg (anterior negative: towards
    -y), elevation -40..20 deg, 10 deg steps."""
    directions = []
    for elevation in np.radians(np.arange(-40, 21, 10)):
        for azimuth in np.radians(np.arange(-60, 41, 10)):
            directions.append(
                np.array([
                    side * math.cos(elevation) * math.cos(azimuth),
                    math.cos(elevation) * math.sin(azimuth),
                    math.sin(elevation),
                ])
            )  # fmt: skip
    return directions


def _midline_x(labels: PlanLabels, tumour_points: Float64Array) -> float:
    """Median x (LPS mm) of the body's voxels in the tumour's axial slab."""
    low, high = tumour_points[:, 2].min(), tumour_points[:, 2].max()
    geometry = labels.geometry
    k = np.arange(geometry.shape_kji[0])
    z = geometry.kji_to_lps(np.stack([k, np.zeros_like(k), np.zeros_like(k)], axis=1))[:, 2]
    slab = np.flatnonzero((z >= low) & (z <= high))
    voxels = np.argwhere(labels.body()[slab])
    if voxels.size == 0:
        return float(tumour_points[:, 0].mean())
    voxels[:, 0] = slab[voxels[:, 0]]
    return float(np.median(geometry.kji_to_lps(voxels[::7])[:, 0]))


def _wound(
    tumour: Float64Array,
    centroid: Float64Array,
    direction: Float64Array,
    body: SmoothMask,
    opts: ApproachOptions,
) -> ApproachGeometry | None:
    heights = (tumour - centroid) @ direction
    cap = tumour[heights > heights.max() - opts.bulge_mm - opts.cover_mm]
    axis_point = cap.mean(axis=0)
    centre = axis_point - ((axis_point - centroid) @ direction) * direction
    offsets = cap - centre
    radial = np.linalg.norm(offsets - np.outer(offsets @ direction, direction), axis=1)
    radius = float(radial.max()) + opts.cover_mm + opts.floor_margin_mm
    floor_offset = float(heights.max()) - opts.bulge_mm
    steps = np.arange(0.0, 200.0, 0.5)
    inside = body.occupancy(centre + np.outer(floor_offset + steps, direction)) > 0.5
    outside = np.flatnonzero(~inside)
    # The skin: the first step after which the ray stays out of the body for 10 mm.
    skin = next((i for i in outside if not inside[i : i + 20].any()), None)
    if skin is None or skin == 0:
        return None
    height = floor_offset + float(steps[skin])
    slope = math.tan(math.radians(opts.wall_angle_deg))
    outer = radius + (height - floor_offset) * slope + opts.skin_margin_mm
    return ApproachGeometry(
        centre, direction, floor_offset, radius, opts.spacing_mm, opts.wall_angle_deg,
        opts.cover_mm, height, outer, opts.ring_mm,
    )  # fmt: skip


def inside_wound(geometry: ApproachGeometry, points: Float64Array) -> np.ndarray:
    """(N,) bool: points inside the removed cone (between the floor and the skin)."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    pose = geometry.image_from_field()
    local = (points - pose[:3, 3]) @ pose[:3, :3]
    height = local[:, 2]
    top = geometry.skin_height_mm - geometry.floor_offset_mm
    return (
        (height > 0)
        & (height < top)
        & (np.hypot(local[:, 0], local[:, 1]) < geometry.wall_radius_mm(height))
    )


def _unit(vector: Float64Array) -> Float64Array:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-9:
        raise InputError("approach_lps must be a non-zero direction.")
    return vector / norm


def _frozen(array: np.ndarray) -> np.ndarray:
    copy = np.array(array)
    copy.setflags(write=False)
    return copy
