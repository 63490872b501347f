"""The phantom's fluorescence scene, built once per test session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from navigation.fluorescence.field import SurgicalField
from navigation.planning.plan import Plan, load_plan
from navigation.simulation.phantom import PhantomTruth, load_truth
from navigation.simulation.tracer import phantom_field, world_scene
from rendering.fluorescence.surface_mesh import SurfaceMesh


@dataclass(frozen=True)
class PhantomScene:
    plan: Plan
    truth: PhantomTruth
    field: SurgicalField  # the model: the plan's tumour, with the truth on its vertices
    world: SurfaceMesh  # what the camera sees: the analytic tumour
    world_emission: np.ndarray


@pytest.fixture(scope="session")
def phantom_scene(phantom_plan, phantom_ct) -> PhantomScene:
    plan = load_plan(phantom_plan)
    truth = load_truth(phantom_ct)
    field = phantom_field(plan, truth)
    world, emission, _ = world_scene(plan, truth=truth, geometry=field.geometry)
    return PhantomScene(plan, truth, field, world, emission)
