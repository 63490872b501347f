"""The phantom's tracer: where it truly is on the exposed field and what the camera sees.

**Model and world.** The mapping mesh (the model the map lives on,
:func:`navigation.fluorescence.field.build_field`) takes the tumour from the plan's tumour mesh;
the world the simulated camera renders (:func:`world_scene`) takes it from the phantom's
analytic surface (:meth:`~navigation.simulation.phantom.PhantomTruth.signed_distance_mm`), with
the same bed, so model and world differ by the segmentation error, as they would in surgery.

**Where the tracer is** (:class:`TracerModel`). Antibody-dye tracers (cetuximab-800CW) sit in
the tumour and at its invasive front, and NIR-I light reaches the surface from a few millimetres
deep. We model a tracer-bearing shell of ``shell_mm`` (2 mm) around the tumour seen through a
Gaussian blur of ``blur_mm`` (1 mm): the true emission at a surface point with the tumour's
analytic signed distance ``d`` is ``glowing_patch_emission(d - shell_mm, blur_mm)`` (peak 1,
background 0.2: autofluorescence and unbound tracer). The dome glows at ~98 % of the peak; on
the bed the glow fades within a few millimetres of the tumour.

**True patch.** The true patch is where the true emission over the true background reaches the
positive SBR threshold (default 2.0): the dome and a band of the bed up to
``shell_mm + sqrt(2) blur_mm erfcinv(2 (sbr - 1) b / (p - b))`` (2.67 mm) from the tumour. On
the field's background ring (6-14 mm from the dome, geodesic) the true emission is within 0.3 %
of the background (0.002 % on average).

The evaluators here (:class:`PhantomEvaluator`, :class:`PlanTumourEvaluator`) give the mapper
that truth through the evaluation hook (:mod:`navigation.fluorescence.evaluation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import erfcinv

from navigation.fluorescence.approach import ApproachGeometry
from navigation.fluorescence.evaluation import evaluated
from navigation.fluorescence.field import (
    FieldGeometry,
    FieldOptions,
    FieldTruth,
    SignedDistance,
    SurgicalField,
    build_field,
    contour_field,
    field_geometry,
    frozen,
    plan_tumour_distance,
)
from navigation.planning.plan import Plan
from navigation.simulation.phantom import PhantomTruth
from registration.core.checks import Float64Array, InputError, check_positive
from rendering.fluorescence.metrics import MarginThresholds
from rendering.fluorescence.nir_camera import glowing_patch_emission
from rendering.fluorescence.surface_mesh import SurfaceMesh


@dataclass(frozen=True)
class TracerModel:
    """True emission of a surface point from the tumour's signed distance (module docstring).

    peak, background : relative emission in the tumour and of normal tissue.
    shell_mm : tracer-bearing shell around the tumour, mm. blur_mm : subsurface blur, mm.
    """

    peak: float = 1.0
    background: float = 0.2
    shell_mm: float = 2.0
    blur_mm: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self.background, "background")
        check_positive(self.blur_mm, "blur_mm")
        if not self.peak > self.background or self.shell_mm < 0:
            raise InputError("TracerModel needs peak > background > 0 and shell_mm >= 0.")

    def emission(self, signed_distance_mm: ArrayLike) -> Float64Array:
        """(N,) relative emission at points with the tumour's signed distances (mm)."""
        d = np.asarray(signed_distance_mm, dtype=np.float64) - self.shell_mm
        return glowing_patch_emission(
            d, peak=self.peak, background=self.background, blur_mm=self.blur_mm
        )

    def distance_at_sbr_mm(self, sbr: float) -> float:
        """The tumour signed distance (mm) where emission / background equals ``sbr``."""
        fraction = 2.0 * (sbr - 1.0) * self.background / (self.peak - self.background)
        if not 0.0 < fraction < 2.0:
            raise InputError(
                f"SBR {sbr} is not reached between background and peak (max "
                f"{self.peak / self.background:.2f})."
            )
        return self.shell_mm + math.sqrt(2.0) * self.blur_mm * float(erfcinv(fraction))

    def to_dict(self) -> dict[str, float]:
        return {
            "peak": self.peak,
            "background": self.background,
            "shell_mm": self.shell_mm,
            "blur_mm": self.blur_mm,
        }


def truth_tumour_distance(truth: PhantomTruth) -> tuple[SignedDistance, Float64Array, str]:
    """The phantom's analytic tumour as a signed distance function, sample points on its
    bounding box corners (for the grid's extent) and a description."""
    low, high = (np.asarray(b, dtype=np.float64) for b in truth.shape("tumour").bounds())
    corners = np.array(np.meshgrid(*zip(low, high, strict=True), indexing="ij")).reshape(3, -1).T

    def distance(points: Float64Array) -> Float64Array:
        return truth.signed_distance_mm("tumour", points)

    return distance, corners, "phantom truth (analytic tumour)"


def plan_truth(
    field_: SurgicalField,
    plan: Plan,
    *,
    tracer: TracerModel | None = None,
    thresholds: MarginThresholds | None = None,
) -> SurgicalField:
    """``field_`` with a stand-in truth from the plan's own tumour segmentation (no phantom):
    useful for simulating a non-phantom plan; accuracy against it measures the mapping only."""
    return evaluated(field_, PlanTumourEvaluator(plan, tracer), thresholds)


def phantom_field(
    plan: Plan,
    truth: PhantomTruth,
    *,
    options: FieldOptions | None = None,
    geometry: FieldGeometry | None = None,
    tracer: TracerModel | None = None,
    thresholds: MarginThresholds | None = None,
) -> SurgicalField:
    """The mapping mesh of ``plan`` (:func:`~navigation.fluorescence.field.build_field`) with the
    phantom ``truth``'s true emission and true patch on its vertices."""
    field_ = build_field(plan, options=options, geometry=geometry)
    return evaluated(field_, PhantomEvaluator(truth, tracer), thresholds)


@dataclass(frozen=True)
class PhantomEvaluator:
    """The phantom's analytic tumour and the tracer patch around it, as the evaluation hook's
    truth (:class:`~navigation.fluorescence.evaluation.FieldEvaluator`)."""

    truth: PhantomTruth
    tracer: TracerModel | None = None

    def truth_on(self, field_: SurgicalField, thresholds: MarginThresholds) -> FieldTruth:
        if isinstance(field_.geometry, ApproachGeometry):
            raise InputError("a transcervical field is cut into a patient's plan, not a phantom.")
        return truth_from_distance(
            field_, truth_tumour_distance(self.truth), self.tracer, thresholds
        )


@dataclass(frozen=True)
class PlanTumourEvaluator:
    """The plan's own tumour as the tracer patch: the stand-in truth of a simulated plan without
    a phantom (labelled so; scoring against it measures the mapping only)."""

    plan: Plan
    tracer: TracerModel | None = None

    def truth_on(self, field_: SurgicalField, thresholds: MarginThresholds) -> FieldTruth:
        return truth_from_distance(field_, plan_tumour_distance(self.plan), self.tracer, thresholds)


def world_scene(
    plan: Plan,
    *,
    truth: PhantomTruth | None = None,
    geometry: FieldGeometry | None = None,
    options: FieldOptions | None = None,
    tracer: TracerModel | None = None,
) -> tuple[SurfaceMesh, Float64Array, str]:
    """What the simulated NIR camera sees: the field surface with the tumour from the phantom
    ``truth`` (the plan's tumour when None) and its per-vertex true emission.

    Returns (mesh, emission (N,), description of the tumour's source).
    """
    bed = geometry or field_geometry(plan, options)
    distance, points, source = (
        truth_tumour_distance(truth) if truth is not None else plan_tumour_distance(plan)
    )
    mesh = contour_field(bed, distance, points)
    model = tracer or TracerModel()
    return mesh, model.emission(distance(mesh.vertices_in_image)), source


def truth_from_distance(
    field_: SurgicalField,
    tumour: tuple[SignedDistance, Float64Array, str],
    tracer: TracerModel | None,
    thresholds: MarginThresholds | None,
) -> FieldTruth:
    """The tracer patch's truth on ``field_``'s vertices from the tumour's signed distance
    (``tumour``: distance function, sample points, description)."""
    distance, _, source = tumour
    model = tracer or TracerModel()
    limits = thresholds or MarginThresholds()
    signed = distance(field_.mesh.vertices_in_image)
    emission = model.emission(signed)
    sbr = emission / model.background
    return FieldTruth(
        tracer=model,
        positive_sbr=limits.positive_sbr,
        signed_distance_mm=frozen(signed),
        emission=frozen(emission),
        true_sbr=frozen(sbr),
        true_patch=frozen(sbr >= limits.positive_sbr),
        source=source,
    )
