"""Acceptance: the navigation views rendered offscreen (EGL), asserting pixels and numbers.

The synthetic plan (tests/rendering/synthetic_plan.py) has known geometry: a tumour on the
patient's right, a marker on the patient's LEFT (positive LPS x). Pixels are found by the exact
colours of unlit glyphs (the tip is pure cyan) or by dominant hue.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import InputError
from registration.core.geometry import ImageGeometry
from rendering.colour_scale import NEUTRAL_RGB
from rendering.fluorescence.metrics import MarginThresholds
from rendering.layout import SLICE_NAMES, NavigationLayout
from rendering.overlays import BADGE_STYLES
from rendering.view_state import (
    TOOL_STATES,
    DisplayOptions,
    FluorescenceOverlay,
    Guidance,
    ViewSnapshot,
)
from tests.rendering import synthetic_plan as plan

#: Tip 18 mm in front of the tumour, inside the skin (hidden in the tip tests so that nothing
#: covers the tip in 3-D), well inside every slice view.
TIP = np.array([-20.0, -70.0, 10.0])
NO_SKIN = DisplayOptions(skin_opacity=0.0)
TIP_VIEWS = ("3d", *SLICE_NAMES)


def pointer_pose(tip: np.ndarray = TIP) -> np.ndarray:
    """Pointer frame at the marker body 120 mm up and to the patient's right of the tip."""
    pose = np.eye(4)
    pose[:3, 3] = tip + np.array([-60.0, 0.0, 104.0])
    return pose


def snapshot(state: str = "OK", **changes) -> ViewSnapshot:
    fields = dict(
        frame_index=7,
        timestamp_s=12.5,
        tool_states={"Pointer": state, "Reference": "OK"},
        image_from_pointer=pointer_pose(),
        pointer_tip_lps_mm=TIP,
        guidance=Guidance(23.5, 0.9, False, 5.0),
        focus_lps_mm=plan.TUMOUR_CENTRE,
    )
    fields.update(changes)
    return ViewSnapshot(**fields)


@pytest.fixture(scope="module")
def layout():
    view = NavigationLayout(plan.models(), plan.volumes())
    yield view
    view.close()


@pytest.fixture(scope="module")
def decimated_layout():
    """The same plan drawn with a small triangle budget: every model is decimated."""
    view = NavigationLayout(plan.models(), plan.volumes(), triangle_budget=8_000)
    yield view
    view.close()


@pytest.fixture(autouse=True)
def anterior(layout):
    layout.apply_camera_preset("anterior")


def crop(image: np.ndarray, layout: NavigationLayout, view: str) -> np.ndarray:
    col0, row0, col1, row1 = layout.viewport_box(view)
    return image[row0:row1, col0:col1]


def cyan_mask(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(int)
    return (rgb[..., 0] < 60) & (rgb[..., 1] > 200) & (rgb[..., 2] > 200)


def centroid(mask: np.ndarray, layout: NavigationLayout, view: str) -> np.ndarray:
    """Where the tip is drawn in a view, in screenshot pixels: the centroid of its cyan
    pixels in 3-D; in a slice view the crossing of the cross-hair's lines (the row and the
    column holding the most cyan pixels, each line two pixels wide)."""
    col0, row0, _, _ = layout.viewport_box(view)
    if view in SLICE_NAMES:
        rows = np.argsort(mask.sum(axis=1))[-2:]
        cols = np.argsort(mask.sum(axis=0))[-2:]
        return np.array([cols.mean() + col0, rows.mean() + row0])
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean() + col0, rows.mean() + row0])


@pytest.mark.parametrize("view", TIP_VIEWS)
def test_tip_is_drawn_where_its_position_projects(layout, view):
    layout.render(snapshot(display=NO_SKIN))
    image = layout.screenshot()
    mask = cyan_mask(crop(image, layout, view))
    assert mask.sum() > 15, f"no tip marker in the {view} view"
    expected = np.array(layout.pixel_of(TIP, view))
    assert np.linalg.norm(centroid(mask, layout, view) - expected) <= 2.0
    col0, row0, col1, row1 = layout.viewport_box(view)
    assert col0 + 20 < expected[0] < col1 - 20 and row0 + 20 < expected[1] < row1 - 20


def test_pixel_of_agrees_with_a_second_known_point(layout):
    """The projection is not vacuous: moving the tip 20 mm to the patient's left moves its
    pixel to the screen's right by 20 mm's worth in the axial view."""
    moved = TIP + np.array([20.0, 0.0, 0.0])
    layout.render(
        snapshot(image_from_pointer=pointer_pose(moved), pointer_tip_lps_mm=moved, display=NO_SKIN)
    )
    image = layout.screenshot()
    found = centroid(cyan_mask(crop(image, layout, "axial")), layout, "axial")
    before = np.array(layout.pixel_of(TIP, "axial"))
    assert np.linalg.norm(found - np.array(layout.pixel_of(moved, "axial"))) <= 2.0
    assert found[0] - before[0] > 10 and abs(found[1] - before[1]) <= 2.0


@pytest.mark.parametrize("state", [s for s in TOOL_STATES if s != "OK"])
def test_pointer_not_ok_badge_glyph_and_guidance(layout, state):
    # Same pose and guidance numbers as an OK frame: none of it may be drawn.
    layout.render(snapshot(state, display=NO_SKIN))
    with_pose = layout.screenshot()
    style = BADGE_STYLES[state]
    text = layout.status.badge_text("Pointer")
    assert "Pointer" in text and style.label in text
    x0, x1, y0, y1 = layout.status.badge_box("Pointer")
    height = layout.window_size[1]
    patch = with_pose[height - y1 : height - y0, x0:x1].reshape(-1, 3).astype(int)
    wanted = np.round(np.array(style.background) * 255)
    share = (np.abs(patch - wanted).max(axis=1) <= 2).mean()
    assert share > 0.4, f"badge colour {style.background} covers only {share:.0%} of the badge"
    for view in TIP_VIEWS:
        assert cyan_mask(crop(with_pose, layout, view)).sum() == 0, f"tip drawn in {view}"
    guidance = layout.guidance.text
    assert state.replace("_", " ") in guidance
    assert not any(ch.isdigit() for ch in guidance) and "mm" not in guidance
    # The views are exactly what they are with no pointer pose at all: no shaft, no ghost.
    layout.render(
        snapshot(state, image_from_pointer=None, pointer_tip_lps_mm=None, display=NO_SKIN)
    )
    without_pose = layout.screenshot()
    for view in TIP_VIEWS:
        assert np.array_equal(crop(with_pose, layout, view), crop(without_pose, layout, view))


def test_placement_note_hides_an_ok_pointer_and_says_why(layout):
    """Before a registration is accepted an OK pointer cannot be placed in the image: no tip
    in any view, no frustum, and the guidance panel gives the note instead of numbers."""
    layout.render(snapshot("OK", display=NO_SKIN, placement_note="not registered"))
    image = layout.screenshot()
    for view in TIP_VIEWS:
        assert cyan_mask(crop(image, layout, view)).sum() == 0, f"tip drawn in {view}"
    assert layout.guidance.text == "No guidance: not registered"
    assert "OK" in layout.status.badge_text("Pointer")
    layout.render(snapshot("OK", display=NO_SKIN))
    assert cyan_mask(crop(layout.screenshot(), layout, "3d")).sum() > 15


def test_ok_pointer_shows_shaft_and_guidance(layout):
    layout.render(snapshot("OK", tool_states={"Pointer": "OK"}))
    with_pointer = crop(layout.screenshot(), layout, "3d")
    layout.render(snapshot("STALE", tool_states={"Pointer": "STALE"}))
    without = crop(layout.screenshot(), layout, "3d")
    changed = np.abs(with_pointer.astype(int) - without.astype(int)).max(axis=2) > 30
    assert changed.sum() > 300  # tip and shaft
    layout.render(snapshot("OK"))
    assert "23.5 mm outside" in layout.guidance.text and "0.9 mm" in layout.guidance.text
    assert "OK" in layout.status.badge_text("Pointer")


def test_margin_warning_is_loud(layout):
    layout.render(snapshot(guidance=Guidance(-2.0, 1.2, True, 5.0)))
    assert "INSIDE" in layout.guidance.text and "MARGIN < 5 mm" in layout.guidance.text
    panel = crop(layout.screenshot(), layout, "guidance").reshape(-1, 3).astype(int)
    red = (panel[:, 0] > 200) & (panel[:, 1] < 20) & (panel[:, 2] < 20)
    assert red.sum() > 2000


def _tumour_values(mesh) -> np.ndarray:
    """Seen (SBR 3, positive) on the patient's right half of the tumour, unseen on the left."""
    x = np.asarray(mesh.points)[:, 0]
    return np.where(x < plan.TUMOUR_CENTRE[0], 3.0, np.nan)


@pytest.mark.parametrize("which", ["layout", "decimated_layout"])
def test_fluorescence_colours_only_where_seen(request, which):
    layout = request.getfixturevalue(which)
    layout.apply_camera_preset("anterior")
    tumour = plan.tumour_mesh()
    drawn = layout.scene.display_meshes["tumour"].triangle_count
    assert (drawn < tumour.n_cells) == (which == "decimated_layout")
    values = _tumour_values(tumour)
    fluorescence = FluorescenceOverlay(
        "tumour", values, thresholds=MarginThresholds(positive_sbr=2.0, close_sbr=1.5)
    )
    frame = snapshot(
        "STALE",
        fluorescence=fluorescence,
        display=NO_SKIN,
    )
    layout.render(frame)
    image = layout.screenshot()
    points = np.asarray(tumour.points)
    front = points[:, 1] < plan.TUMOUR_CENTRE[1] - 0.7 * plan.TUMOUR_RADIUS_MM
    offset = points[:, 0] - plan.TUMOUR_CENTRE[0]
    seen_far = front & (offset < -3.0)
    unseen_far = front & (offset > 3.0)
    assert seen_far.sum() > 20 and unseen_far.sum() > 20

    def pixels(selection):
        out = []
        for point in points[selection]:
            col, row = layout.pixel_of(point, "3d")
            out.append(image[round(row), round(col)].astype(int))
        return np.array(out)

    seen = pixels(seen_far)
    unseen = pixels(unseen_far)
    # Seen and positive: the red band (red dominant). Unseen: neutral grey, no hue at all.
    assert (seen[:, 0] > seen[:, 1] + 80).all()
    chroma = unseen.max(axis=1) - unseen.min(axis=1)
    assert chroma.max() <= 6, f"unseen vertices drawn with colour (chroma {chroma.max()})"
    assert unseen.mean() > 0.3 * 255 * NEUTRAL_RGB[0]
    # Nowhere in the tumour's screen region on the unseen side is any band colour.
    centre_col, centre_row = layout.pixel_of(plan.TUMOUR_CENTRE, "3d")
    edge = plan.TUMOUR_CENTRE + np.array([plan.TUMOUR_RADIUS_MM, 0.0, 0.0])
    edge_col, _ = layout.pixel_of(edge, "3d")
    radius_px = edge_col - centre_col
    half = image[
        int(centre_row - 0.8 * radius_px) : int(centre_row + 0.8 * radius_px),
        int(centre_col + 0.25 * radius_px) : int(centre_col + 0.9 * radius_px),
    ].astype(int)
    background = np.round(np.array(layout.renderers["3d"].GetBackground()) * 255)
    drawn = np.abs(half - background).max(axis=2) > 3
    assert drawn.mean() > 0.8
    assert (half.max(axis=2) - half.min(axis=2))[drawn].max() <= 6
    # And without a map the tumour shows its own plan colour, not the neutral grey.
    layout.render(snapshot("STALE", display=NO_SKIN))
    plain = layout.screenshot()
    col, row = layout.pixel_of(points[np.flatnonzero(unseen_far)[0]], "3d")
    rgb = plain[round(row), round(col)].astype(int)
    assert rgb[0] > rgb[2] + 40


def test_fluorescence_follows_new_values_and_a_new_scale(layout):
    """Each new map is drawn with its own values and scale: the scalars are rewritten in place
    and the colour table kept only while the scale is the same."""
    layout.apply_camera_preset("anterior")
    tumour = plan.tumour_mesh()
    points = np.asarray(tumour.points)
    front = points[:, 1] < plan.TUMOUR_CENTRE[1] - 0.7 * plan.TUMOUR_RADIUS_MM
    offset = points[:, 0] - plan.TUMOUR_CENTRE[0]
    right, left = front & (offset < -3.0), front & (offset > 3.0)

    def colours(values: np.ndarray, **scale: float) -> tuple[np.ndarray, np.ndarray]:
        values.setflags(write=False)
        overlay = FluorescenceOverlay("tumour", values, MarginThresholds(**scale))
        layout.render(snapshot("STALE", fluorescence=overlay, display=NO_SKIN))
        image = layout.screenshot().astype(int)
        out = []
        for selection in (right, left):
            pixels = [layout.pixel_of(p, "3d") for p in points[selection]]
            out.append(np.array([image[round(r), round(c)] for c, r in pixels]))
        return out[0], out[1]

    scale = {"positive_sbr": 2.0, "close_sbr": 1.5}
    seen, unseen = colours(np.where(offset < 0, 3.0, np.nan), **scale)  # right positive (red)
    assert (seen[:, 0] > seen[:, 1] + 80).all() and (np.ptp(unseen, axis=1) <= 6).all()
    unseen, seen = colours(np.where(offset > 0, 1.0, np.nan), **scale)  # left below close
    assert (seen[:, 2] > seen[:, 0] + 60).all(), "new values, same scale: blue on the left"
    assert (np.ptp(unseen, axis=1) <= 6).all(), "the right is no longer seen"
    unseen, seen = colours(np.where(offset > 0, 1.0, np.nan), positive_sbr=0.8, close_sbr=0.5)
    assert (seen[:, 0] > seen[:, 1] + 80).all(), "same values, new scale: now positive (red)"
    assert "positive >= 0.8" in layout.scene.legend.GetInput()


def test_fluorescence_on_an_unknown_model_is_refused(layout):
    values = np.full(10, 1.0)
    with pytest.raises(InputError, match="not a model of this scene"):
        layout.render(snapshot(fluorescence=FluorescenceOverlay("parotid", values)))


def _blue_columns(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(int)
    blue = (rgb[..., 2] > 120) & (rgb[..., 2] > rgb[..., 0] + 60) & (rgb[..., 2] > rgb[..., 1] + 60)
    return np.nonzero(blue)[1]


def _laterality_frame() -> ViewSnapshot:
    return snapshot("OUT_OF_VIEW", focus_lps_mm=plan.MARKER_CENTRE)


def test_left_marker_on_screen_right_in_axial_coronal_and_anterior_3d(layout):
    layout.render(_laterality_frame())
    image = layout.screenshot()
    for view in ("axial", "coronal", "3d"):
        region = crop(image, layout, view)
        columns = _blue_columns(region[:, : int(region.shape[1] * 0.8)])  # colour bar aside
        assert columns.size > 20, f"marker not found in {view}"
        assert columns.mean() > region.shape[1] / 2 + 10, f"patient left not on right in {view}"
        col0 = layout.viewport_box(view)[0]
        assert abs(columns.mean() + col0 - layout.pixel_of(plan.MARKER_CENTRE, view)[0]) < 4
    # Sagittal, seen from the patient's left: the marker is anterior, so on the screen's left.
    sagittal = crop(image, layout, "sagittal")
    assert _blue_columns(sagittal).mean() < sagittal.shape[1] / 2 - 10
    assert layout.slices["axial"].letters.letters == {
        "left": "R", "right": "L", "top": "A", "bottom": "P"
    }  # fmt: skip
    assert layout.slices["coronal"].letters.letters == {
        "left": "R", "right": "L", "top": "S", "bottom": "I"
    }  # fmt: skip
    assert layout.slices["sagittal"].letters.letters == {
        "left": "A", "right": "P", "top": "S", "bottom": "I"
    }  # fmt: skip
    assert layout.scene.letters.letters == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert "patient left = screen right" in layout.slices["axial"].caption.GetInput()


def test_laterality_does_not_depend_on_the_voxel_order():
    """The same anatomy stored with the i axis reversed (direction -x) draws identically."""
    flipped = ImageGeometry(
        size_ijk=plan.GEOMETRY.size_ijk,
        origin_lps_mm=plan.GEOMETRY.extent_lps_mm[1] * [1, 0, 0]
        + plan.GEOMETRY.origin_lps_mm * [0, 1, 1],
        spacing_mm=plan.GEOMETRY.spacing_mm,
        direction=np.diag([-1.0, 1.0, 1.0]),
    )
    labels = plan.label_map(flipped)
    assert np.array_equal(labels, plan.label_map()[:, :, ::-1])
    reference = NavigationLayout(plan.models(), plan.volumes(), window_size=(640, 512))
    mirrored = NavigationLayout(
        plan.models(), plan.volumes(flipped, labels), window_size=(640, 512)
    )
    try:
        frames = []
        for view in (reference, mirrored):
            view.render(_laterality_frame())
            frames.append(view.screenshot())
        for name in SLICE_NAMES:
            a, b = (crop(frame, reference, name) for frame in frames)
            assert (np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 0).mean() < 0.005
            assert _blue_columns(a).size > 5
    finally:
        reference.close()
        mirrored.close()


@pytest.mark.parametrize(
    ("preset", "letters"),
    [
        ("anterior", {"left": "R", "right": "L", "top": "S", "bottom": "I"}),
        ("posterior", {"left": "L", "right": "R", "top": "S", "bottom": "I"}),
        ("left", {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
        ("superior", {"left": "L", "right": "R", "top": "A", "bottom": "P"}),
    ],
)
def test_camera_presets_show_the_patient_as_named(layout, preset, letters):
    layout.apply_camera_preset(preset)
    layout.render(_laterality_frame())
    assert layout.scene.letters.letters == letters
    columns = _blue_columns(crop(layout.screenshot(), layout, "3d"))
    if preset in ("anterior", "posterior"):
        # The left marker is on the side the letter "L" names.
        assert (columns.mean() > 400) == (letters["right"] == "L")


def test_follow_tool_keeps_the_tip_at_the_focal_point(layout):
    layout.render(snapshot(display=DisplayOptions(follow_tool=True)))
    camera = layout.renderers["3d"].GetActiveCamera()
    assert np.allclose(camera.GetFocalPoint(), TIP)
    col, row = layout.pixel_of(TIP, "3d")
    col0, row0, col1, row1 = layout.viewport_box("3d")
    assert abs(col - (col0 + col1 - 1) / 2) < 1.0 and abs(row - (row0 + row1 - 1) / 2) < 1.0


def test_frustum_drawn_only_while_the_camera_is_ok(layout):
    intrinsics = CameraIntrinsics(
        np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]]), np.zeros(5), (640, 480)
    )
    image_from_camera = np.eye(4)
    image_from_camera[:3, :3] = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # z along +y
    image_from_camera[:3, 3] = [0.0, -180.0, 0.0]

    def frustum_pixels(state: str) -> int:
        tools = {"Pointer": "STALE", "NIRCamera": state}
        layout.render(
            snapshot(
                "STALE",
                tool_states=tools,
                image_from_camera=image_from_camera,
                camera_intrinsics=intrinsics,
            )
        )
        rgb = crop(layout.screenshot(), layout, "3d").astype(int)
        return int(((rgb[..., 0] > 120) & (rgb[..., 1] > 240) & (rgb[..., 2] < 100)).sum())

    assert frustum_pixels("OK") > 200
    assert frustum_pixels("STALE") == 0


def test_heartbeat_changes_every_frame(layout):
    texts, pulses = [], []
    for frame in (10, 11):
        layout.render(snapshot(frame_index=frame, render_fps=24.0))
        texts.append(layout.status.heartbeat.GetInput())
        pulses.append(crop(layout.screenshot(), layout, "status"))
    assert "10" in texts[0] and "11" in texts[1] and "24.0 fps" in texts[0]
    assert not np.array_equal(pulses[0], pulses[1])


def test_unknown_view_is_refused(layout):
    with pytest.raises(InputError, match="unknown view"):
        layout.pixel_of(TIP, "oblique")


def test_fluorescence_of_the_wrong_length_is_refused(layout):
    with pytest.raises(InputError, match=r"fluorescence on model 'tumour'.*one entry per mesh"):
        layout.render(snapshot(fluorescence=FluorescenceOverlay("tumour", np.ones(5))))


def test_many_tools_still_show_every_problem(layout):
    tools = {f"Tool{i}": "OK" for i in range(11)}
    tools["Tool10"] = "DISCONNECTED"  # hidden behind the overflow badge
    layout.render(snapshot(tool_states={"Pointer": "OK", **tools}))
    overflow = layout.status.badge_text("+4 more")
    assert "DISCONNECTED" in overflow
    assert "OK" in layout.status.badge_text("Pointer")
    boxes = [layout.status.badge_box(name) for name in layout.status._badge_names]
    for (_, right, _, _), (left, _, _, _) in itertools.pairwise(boxes):
        assert right <= left  # badges do not overlap


def test_an_oblique_grid_draws_the_anatomy_in_place():
    """Voxels stored on a grid rotated 30 degrees about z (an oblique acquisition) are resliced
    through ImageGeometry: in every slice the marker is drawn where its LPS position projects,
    as on the axis-aligned grid."""
    from registration.core.transforms import rotation_about

    direction = rotation_about([0.0, 0.0, 1.0], 30.0)
    size = np.array([141, 161, 147])
    spacing = np.full(3, 1.5)
    origin = -direction @ ((size - 1) * spacing / 2)
    oblique = ImageGeometry(tuple(size), origin, spacing, direction)
    views = [
        NavigationLayout(plan.models(), plan.volumes(), window_size=(640, 512)),
        NavigationLayout(plan.models(), plan.volumes(oblique), window_size=(640, 512)),
    ]
    try:
        for view in views:
            view.render(_laterality_frame())
            image = view.screenshot()
            for name in SLICE_NAMES:
                found = _blue_columns(crop(image, view, name)).mean() + view.viewport_box(name)[0]
                assert abs(found - view.pixel_of(plan.MARKER_CENTRE, name)[0]) < 3.0, name
        assert views[1].slices["axial"].letters.letters["right"] == "L"
    finally:
        for view in views:
            view.close()
