"""The views on a real patient's plan (HN-CHUS-052 CT planned by ``igcs plan``): the decimated
display meshes stay on the planned surfaces (no vertex thrown off by a near-singular quadric),
the 3-D camera frames the patient, and the slices show the plan's own CT."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from navigation.cli import main
from navigation.planning.plan_scene import load_plan_scene
from rendering.layout import NavigationLayout
from rendering.lod import STRAY_MM
from rendering.view_state import DisplayOptions, ViewSnapshot
from tests.conftest import shared_data_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = shared_data_path("hn-petct-human/HN-CHUS-052/CT")
    out = tmp_path_factory.mktemp("hn") / "plan"
    assert main(["plan", str(folder), "--out", str(out), "--no-stl"]) == 0
    return load_plan_scene(out)


def test_display_meshes_stay_on_the_planned_surfaces_and_the_camera_frames_them(scene):
    layout = NavigationLayout(list(scene.models), scene.volumes, window_size=(640, 512))
    try:
        for model in scene.models:
            display = layout.scene.display_meshes[model.name]
            source = np.asarray(model.mesh.points)
            distance, _ = cKDTree(source).query(np.asarray(display.mesh.points))
            assert distance.max() <= STRAY_MM, (model.name, distance.max())
            low, high = source.min(axis=0), source.max(axis=0)
            shown = np.asarray(display.mesh.points)
            assert (shown >= low - STRAY_MM).all() and (shown <= high + STRAY_MM).all()
        bounds = np.array(layout.scene.model_bounds()).reshape(3, 2)
        focal = np.array(layout.renderers["3d"].GetActiveCamera().GetFocalPoint())
        assert ((focal >= bounds[:, 0]) & (focal <= bounds[:, 1])).all()
        assert np.ptp(bounds, axis=1).max() < 600.0  # the patient, not metres of stray vertex
        # The slices show the plan's own CT (image.nii.gz), soft tissue window by default.
        assert scene.volumes.background is not None and scene.volumes.modality == "CT"
        layout.render(ViewSnapshot(0, 0.0, {"Pointer": "STALE"}, display=DisplayOptions()))
        assert layout.slices["axial"].window is not None
        assert layout.slices["axial"].window.name == "soft tissue"
    finally:
        layout.close()
