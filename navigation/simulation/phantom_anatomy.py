"""The digital head-and-neck patient's anatomy as analytic solids in LPS mm.

LPS: +x is the patient's left, +y posterior, +z superior. The origin is near the centre of the
head at the level of the skull base. The patient is deliberately left-right asymmetric: the
tumour sits left of the midline in the oral tongue / tongue base, the enlarged lymph node is in
the left neck (level II) only, the nose deviates to the right, the left cheek is fuller, and
the skin markers are not mirror images of each other.

Sizes follow adult anatomy loosely (head width ~150 mm, length ~190 mm, nasion-menton
~120 mm, cervical vertebrae ~17 mm apart); the point is plausible geometry with exactly known
surfaces, not an atlas.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from navigation.simulation.implicit import (
    Capsule,
    Difference,
    Ellipsoid,
    EllipticCylinder,
    HalfSpace,
    Intersection,
    Offset,
    SmoothUnion,
    Sphere,
    StarShape,
    Torus,
    Union,
)

#: Marker sphere radius (mm): 4 mm CT-visible skin markers.
MARKER_RADIUS_MM = 2.0
#: Gap (mm) between a marker sphere and the skin (the adhesive base).
MARKER_GAP_MM = 0.5

#: (name, anchor inside the body, outward direction): each marker sits where the ray leaves the
#: skin. Names say the patient's side (left = +x).
MARKER_SITES: tuple[tuple[str, tuple[float, float, float], tuple[float, float, float]], ...] = (
    ("left forehead", (15.0, -20.0, 50.0), (0.3, -1.0, 0.1)),
    ("nasion", (0.0, -50.0, 36.0), (0.0, -1.0, 0.05)),
    ("left zygoma", (40.0, -50.0, 16.0), (0.75, -0.65, 0.0)),
    ("right zygoma", (-40.0, -50.0, 16.0), (-0.75, -0.65, 0.05)),
    ("left mastoid", (35.0, 30.0, 0.0), (0.8, 0.55, -0.1)),
    ("right mandible angle", (-30.0, -15.0, -58.0), (-0.85, 0.15, -0.45)),
    ("chin", (4.0, -65.0, -62.0), (0.05, -1.0, -0.25)),
)


@dataclass(frozen=True)
class Anatomy:
    """Structures (canonical label names), the painting order and the marker layout."""

    structures: dict[str, Any]  # name -> shape; skin, bone, airway, tumour, node, fiducials
    extras: dict[str, Any]  # other solids used for intensities (brain, table, marrow...)
    fiducial_names: tuple[str, ...]
    fiducials_lps_mm: np.ndarray  # (N, 3)


def _body() -> Any:
    cranium = Ellipsoid((0.0, 10.0, 45.0), (74.0, 95.0, 78.0))
    face = Ellipsoid((0.0, -35.0, -22.0), (60.0, 56.0, 54.0))
    jaw = Ellipsoid((0.0, -40.0, -50.0), (60.0, 55.0, 28.0))
    nose = Ellipsoid((-3.0, -90.0, 16.0), (11.0, 16.0, 22.0))  # deviated to the right
    left_cheek = Ellipsoid((38.0, -55.0, -8.0), (22.0, 22.0, 24.0))
    neck = EllipticCylinder((0.0, 18.0), (56.0, 60.0), -1000.0, -15.0)
    return SmoothUnion((cranium, face, jaw, nose, left_cheek, neck), 15.0)


def _skull() -> Any:
    center = (0.0, 10.0, 45.0)
    outer = Ellipsoid(center, (68.0, 89.0, 72.0))
    inner = Ellipsoid(center, (61.0, 82.0, 65.0))
    calvaria = Intersection((Difference(outer, inner), HalfSpace((0, 0, 12.0), (0, 0, -1.0))))
    plate = Intersection(
        (
            Ellipsoid(center, (62.0, 83.0, 66.0)),
            HalfSpace((0, 0, 8.0), (0, 0, -1.0)),
            HalfSpace((0, 0, 16.0), (0, 0, 1.0)),
        )
    )
    foramen = EllipticCylinder((0.0, 35.0), (16.0, 18.0), 0.0, 30.0)
    skull_base = Difference(plate, foramen)
    zygomas = [
        Capsule((side * 40.0, -52.0, 17.0), (side * 56.0, -8.0, 15.0), 4.0) for side in (1, -1)
    ]
    mastoids = [Ellipsoid((side * 44.0, 30.0, 5.0), (8.0, 9.0, 12.0)) for side in (1, -1)]
    return Union((calvaria, skull_base, *zygomas, *mastoids))


def _mandible() -> Any:
    s = np.linspace(-1.0, 1.0, 13)
    body = [(42.0 * v, -80.0 + 65.0 * v * v, -58.0 + 2.0 * v * v) for v in s]
    parts: list[Any] = [Capsule(a, b, 6.5) for a, b in itertools.pairwise(body)]
    for side in (1, -1):
        parts.append(Capsule((side * 42.0, -15.0, -56.0), (side * 45.0, 2.0, -2.0), 5.0))
    return Union(tuple(parts))


def _spine(z_bottom: float) -> Any:
    parts: list[Any] = [
        Torus((0.0, 40.0, -10.0), 16.0, 4.0),  # atlas ring
        Capsule((0.0, 26.0, -24.0), (0.0, 26.0, -11.0), 5.0),  # dens
    ]
    top = -24.0
    while top > z_bottom:
        bottom, middle = top - 13.0, top - 6.5
        parts.append(EllipticCylinder((0.0, 26.0), (13.0, 10.0), bottom, top))
        parts.append(Torus((0.0, 45.0, middle), 13.0, 3.5))
        parts.append(Capsule((0.0, 56.0, middle), (0.0, 68.0, middle - 5.0), 3.5))
        top -= 17.0
    return Union(tuple(parts))


def _airway() -> Any:
    nasal = Capsule((0.0, -68.0, 0.0), (0.0, -22.0, 0.0), 7.0)
    naso = Capsule((0.0, -22.0, 0.0), (0.0, -2.0, -28.0), 8.0)
    oro = Capsule((0.0, -2.0, -28.0), (0.0, -10.0, -60.0), 8.5)
    larynx = Capsule((0.0, -10.0, -60.0), (0.0, -15.0, -1000.0), 8.0)
    return Union((nasal, naso, oro, larynx))


def _tumour(rng: np.random.Generator) -> StarShape:
    center = np.array([12.0, -40.0, -24.0]) + rng.uniform(-1.5, 1.5, size=3)
    directions = rng.normal(size=(5, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return StarShape(
        center=tuple(float(v) for v in center),  # type: ignore[arg-type]
        base_radius=10.0,
        lobe_directions=tuple(tuple(float(v) for v in d) for d in directions),  # type: ignore[misc]
        lobe_amplitudes=tuple(float(a) for a in rng.uniform(2.0, 4.5, size=5)),
        lobe_widths=tuple(float(w) for w in rng.uniform(0.15, 0.35, size=5)),
    )


def _surface_point(body: Any, anchor: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Where the ray from ``anchor`` (inside) along ``direction`` first leaves the body."""
    unit = direction / np.linalg.norm(direction)

    def value(t: float) -> float:
        p = anchor + t * unit
        return float(body.value(p[0], p[1], p[2]))

    if value(0.0) >= 0:
        raise ValueError(f"marker anchor {anchor.tolist()} is outside the body")
    t = 0.0
    while value(t + 0.5) < 0:
        t += 0.5
    low, high = t, t + 0.5
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if value(middle) < 0 else (low, middle)
    return anchor + 0.5 * (low + high) * unit


def _outward_normal(body: Any, point: np.ndarray, step: float = 1e-4) -> np.ndarray:
    gradient = np.array(
        [
            float(body.value(*(point + step * e)) - body.value(*(point - step * e)))
            for e in np.eye(3)
        ]
    )
    return gradient / np.linalg.norm(gradient)


def build_anatomy(seed: int, *, z_bottom_mm: float = -260.0) -> Anatomy:
    """The phantom patient for ``seed`` (the tumour's shape and position vary with it)."""
    rng = np.random.default_rng([seed, 2])
    body = _body()
    skull = _skull()
    mandible = _mandible()
    spine = _spine(z_bottom_mm)
    bone = Union((skull, mandible, spine))
    airway = _airway()
    tumour = _tumour(rng)
    node_center = np.array([32.0, 4.0, -74.0]) + rng.uniform(-1.0, 1.0, size=3)
    node = Ellipsoid(
        tuple(float(v) for v in node_center),  # type: ignore[arg-type]
        (8.0, 7.0, 11.0),
    )
    names, centers = [], []
    for name, anchor, direction in MARKER_SITES:
        surface = _surface_point(body, np.array(anchor), np.array(direction))
        normal = _outward_normal(body, surface)
        names.append(name)
        centers.append(surface + (MARKER_RADIUS_MM + MARKER_GAP_MM) * normal)
    fiducials = Union(tuple(Sphere(tuple(c.tolist()), MARKER_RADIUS_MM) for c in centers))
    brain = Intersection(
        (Ellipsoid((0.0, 10.0, 45.0), (61.0, 82.0, 65.0)), HalfSpace((0, 0, 16.0), (0, 0, -1.0)))
    )
    table = Intersection(
        (
            HalfSpace((-120.0, 0, 0), (-1.0, 0, 0)),
            HalfSpace((120.0, 0, 0), (1.0, 0, 0)),
            HalfSpace((0, 112.0, 0), (0, -1.0, 0)),
            HalfSpace((0, 118.0, 0), (0, 1.0, 0)),
            HalfSpace((0, 0, -1000.0), (0, 0, -1.0)),
            HalfSpace((0, 0, 1000.0), (0, 0, 1.0)),
        )
    )
    return Anatomy(
        structures={
            "skin": body,
            "bone": bone,
            "airway": airway,
            "tumour": tumour,
            "node": node,
            "fiducials": fiducials,
        },
        extras={
            "table": table,
            "subcutis_inner": Offset(body, -5.0),
            "brain": brain,
            "marrow": Offset(bone, -2.5),
            "skull": skull,
            "mandible": mandible,
            "cervical_spine": spine,
        },
        fiducial_names=tuple(names),
        fiducials_lps_mm=np.array(centers),
    )


#: Painting order: (solid, CT HU, MR T1-like value). Later layers cover earlier ones with their
#: partial-volume fraction. MR: fat brightest tissue, muscle intermediate, cortical bone and
#: air dark, fatty marrow bright, enhancing tumour and node above muscle, markers brightest.
TISSUES: tuple[tuple[str, float, float], ...] = (
    ("table", 150.0, 0.0),
    ("skin", -90.0, 950.0),  # subcutaneous fat
    ("subcutis_inner", 40.0, 420.0),  # muscle / soft tissue
    ("brain", 35.0, 520.0),
    ("bone", 1100.0, 40.0),  # cortical bone
    ("marrow", 350.0, 760.0),
    ("airway", -1000.0, 0.0),
    ("node", 85.0, 600.0),
    ("tumour", 120.0, 680.0),
    ("fiducials", 3000.0, 1400.0),
)
AIR_VALUE = {"CT": -1000.0, "MR": 0.0}
