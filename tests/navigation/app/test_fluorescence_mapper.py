"""The app's fluorescence mapper fed the simulator's stream offline (no sockets, a fake clock):
what it maps, what it refuses, what the 3-D view receives, and resets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import vtk

from navigation.app.ar_frame import ARPresenter, camera_pose_at
from navigation.app.config import NavigationConfig
from navigation.app.fluorescence import FIELD_MODEL, FluorescenceMapper
from navigation.app.session import NavigationSession
from navigation.planning.plan_scene import load_plan_scene
from navigation.simulation.simulator_io import scenario_from_plan
from registration.core.transforms import apply_transform, invert_rigid
from rendering.fluorescence.camera_model import CameraModel
from rendering.pictures import grab_rgb
from tests.navigation.app.conftest import FAST, accept_true_registration

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stream(nav_plan):
    scenario = scenario_from_plan(nav_plan, FAST, duration_s=4.0)
    return scenario, list(scenario.timeline())


def feed(session, messages, now, until_s):
    """Deliver the messages up to ``until_s`` as if they had just arrived."""
    while messages and messages[0][0] <= until_s:
        t, message = messages.pop(0)
        now[0] = t
        session.on_message(dataclasses.replace(message, arrival_s=t))


def check_ar_view(session: NavigationSession, mapper: FluorescenceMapper) -> None:
    """The AR view of the last frame, at native size: where the camera model projects the
    glowing dome (true pose), the map is drawn in the positive band (red) over the frame."""
    intrinsics = session.intrinsics
    width, height = intrinsics.image_size_px
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(width, height)
    renderer = vtk.vtkRenderer()
    window.AddRenderer(renderer)
    presenter = ARPresenter(session, renderer, [*session.scene.models, mapper.display_model])
    assert presenter.refresh(wait=False) and presenter.shown_index > 0
    window.Render()
    picture = grab_rgb(window).astype(int)
    window.Finalize()
    frame = session.latest_frame
    pose = camera_pose_at(session, session.workflow.accepted, frame.arrival_s,
                          wait_for_later=False).image_from_camera  # fmt: skip
    view = session.live_state().fluorescence
    dome = mapper.field.target_mask & (view.values >= 2.0)
    points = mapper.field.mesh.vertices_in_image[dome]
    uv = CameraModel(intrinsics).project_pinhole(apply_transform(invert_rigid(pose), points))
    inside = (uv[:, 0] > 2) & (uv[:, 0] < width - 3) & (uv[:, 1] > 2) & (uv[:, 1] < height - 3)
    assert inside.sum() > 20
    u, v = np.rint(uv[inside]).astype(int).T
    red = picture[v, u, 0] - picture[v, u, 1]
    assert np.median(red) > 60  # the positive band's red, blended over the NIR frame
    assert "at the camera's tracked pose" in presenter.note


def test_mapper_maps_only_registered_frames_and_resets(nav_plan, stream):
    scenario, timeline = stream
    truth = scenario.truth
    now = [0.0]
    session = NavigationSession(
        load_plan_scene(nav_plan),
        NavigationConfig(),
        intrinsics=truth.intrinsics,
        cameramarker_from_camera=truth.cameramarker_from_camera,
        clock=lambda: now[0],
    )
    session.on_connection(True, "simulator")
    mapper = FluorescenceMapper(session)
    assert mapper.display_model.name == FIELD_MODEL
    assert mapper.display_model.mesh.n_points == mapper.field.mesh.vertex_count
    messages = list(timeline)

    feed(session, messages, now, 0.5)
    assert not mapper.process_pending()
    state = mapper.state()
    assert state.frames_mapped == 0 and state.frames_skipped >= 1
    assert state.last_problem == "not registered"

    accept_true_registration(session, scenario)
    mapped = 0
    t = 0.5
    while t < 3.5:
        t += 0.1
        feed(session, messages, now, t + 0.04)  # each frame and the poses just after it
        now[0] = t + 0.05
        mapped += mapper.process_pending()
    assert mapped >= 10
    state = mapper.state()
    assert state.frames_mapped == mapped and state.quantification is not None
    check_ar_view(session, mapper)
    # The glowing dome reads positive; the view gets per-vertex SBR, NaN where never seen.
    assert state.quantification.sbr > 2.0
    view = session.live_state().fluorescence
    assert view is not None and view.mesh_name == FIELD_MODEL
    seen = np.isfinite(view.values)
    assert 0 < seen.sum() < len(view.values)
    dome = mapper.field.target_mask & seen
    assert np.median(view.values[dome]) >= 2.0
    np.testing.assert_array_equal(seen, mapper.live.snapshot().seen)

    mapper.reset()
    assert mapper.state().frames_mapped == 0 and session.live_state().fluorescence is None

    # A newly accepted registration (another matrix) also starts the map afresh; the same
    # matrix accepted again (or its TRE prediction arriving later) does not.
    feed(session, messages, now, 3.75)  # a frame and the poses after it
    now[0] = 3.8
    assert mapper.process_pending()
    assert mapper.state().frames_mapped == 1
    accept_true_registration(session, scenario)
    feed(session, messages, now, 3.85)
    now[0] = 3.9
    mapper.process_pending()
    assert mapper.state().frames_mapped == 2
    accept_true_registration(session, scenario, shift_mm=(0.3, 0.0, 0.0))
    feed(session, messages, now, 3.95)
    now[0] = 4.0
    mapper.process_pending()
    assert mapper.state().frames_mapped <= 1
