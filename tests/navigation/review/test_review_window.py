"""The review window under Xvfb (pytest-qt): landmarks by clicks on the phantom's skin, moved,
deleted, saved and reloaded; the TRE it shows is igcs accuracy's theory; the tumour by a click."""

from __future__ import annotations

import json
import os
import shutil

import jsonschema
import numpy as np
import pytest

from navigation.cli import main
from navigation.planning.plan import load_plan
from navigation.simulation.phantom import load_truth
from tests.conftest import IN_CI

pytestmark = [pytest.mark.gui, pytest.mark.slow]
if not os.environ.get("DISPLAY"):
    if IN_CI:
        pytest.fail("the GUI tests need an X display in CI (run them under xvfb-run)")
    pytest.skip("no X display (run under xvfb-run -a)", allow_module_level=True)

from PySide6 import QtCore  # noqa: E402

from navigation.app.review_window import ReviewWindow  # noqa: E402
from navigation.review.model import ReviewModel  # noqa: E402

Key = QtCore.Qt.Key


@pytest.fixture
def review(qtbot, phantom_plan, tmp_path):
    """A copy of the phantom plan open in the review window (900 x 700 views)."""
    folder = tmp_path / "plan"
    shutil.copytree(phantom_plan, folder)
    model = ReviewModel.open(folder)
    window = ReviewWindow(model, view_size=(900, 700))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.redraw()
    yield window
    window.close()


def settle(qtbot, window):
    """Let the coalesced redraw run."""
    qtbot.waitUntil(lambda: not window._pending, timeout=20000)


def assert_texts_fit(qtbot, window):
    """The panel's wrapped texts have the height their lines need (not squeezed over each
    other when the dock first gets its width)."""
    panel = window.panel
    labels = (panel.facts, panel.tre, panel.hint, panel.warnings)
    qtbot.waitUntil(
        lambda: all(w.height() >= w.heightForWidth(w.width()) for w in labels if w.text()),
        timeout=5000,
    )


def click(qtbot, window, column, row):
    """A left click at a render-window pixel."""
    widget = window.vtk_widget
    width, height = window.layout_views.render_window.GetSize()
    point = QtCore.QPoint(
        round(column * widget.width() / width), round(row * widget.height() / height)
    )
    qtbot.mouseClick(widget, QtCore.Qt.MouseButton.LeftButton, pos=point)
    settle(qtbot, window)


def skin_hit(window, column, row):
    """The first point of the full-resolution skin mesh on the 3-D view's ray through a pixel:
    Moeller-Trumbore over every triangle in numpy (independent of the window's picker and
    snapping; vtkOBBTree misses hits when the ray passes through a vertex, as it does here)."""
    origin, direction = window.layout_views.camera_ray(column, row)
    skin = window.model.meshes["skin"].triangulate()
    faces = np.asarray(skin.faces).reshape(-1, 4)[:, 1:]
    a, b, c = (np.asarray(skin.points, dtype=float)[faces[:, n]] for n in range(3))
    edge1, edge2 = b - a, c - a
    p = np.cross(direction, edge2)
    det = np.einsum("ij,ij->i", edge1, p)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    t_vec = origin - a
    u = np.einsum("ij,ij->i", t_vec, p) * inv
    q = np.cross(t_vec, edge1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", edge2, q) * inv
    tol = 1e-9
    hit = ok & (u >= -tol) & (v >= -tol) & (u + v <= 1.0 + tol) & (t > 0.0)
    assert hit.any(), "the ray misses the skin"
    return origin + t[hit].min() * direction


def face_pixels(window):
    """Pixels of the 3-D view where the skin of the face and neck faces the camera."""
    skin = window.model.meshes["skin"]
    return [
        window.layout_views.pixel_of(front_point(skin, x, z), "3d")
        for x, z in ((-45.0, 30.0), (45.0, 25.0), (0.0, -40.0), (-30.0, -55.0), (35.0, -60.0))
    ]


def front_point(skin, x, z):
    """The most anterior skin vertex near (x, z) whose surface faces the anterior camera (not
    a grazing ray, where the display mesh and the full one may disagree)."""
    points, normals = np.asarray(skin.points), np.asarray(skin.point_normals)
    near = (np.abs(points[:, 0] - x) + np.abs(points[:, 2] - z) < 4.0) & (normals[:, 1] < -0.7)
    return points[near][np.argmin(points[near][:, 1])]


def test_landmarks_by_clicks_on_the_skin_saved_and_reloaded(qtbot, review, shared_data, tmp_path):
    window, model = review, review.model
    assert_texts_fit(qtbot, window)
    # the plan's 7 markers go first: select each in the table, Delete
    for count in range(len(model.landmarks), 0, -1):
        window.panel.table.selectRow(0)
        assert model.selected == model.landmarks[0].name
        qtbot.keyClick(window, Key.Key_Delete)
        settle(qtbot, window)
        assert len(model.landmarks) == count - 1
    assert window.panel.table.rowCount() == 0
    assert "0 landmark(s)" in window.panel.tre.text()
    # the plan's warning follows the landmarks now, not the count it was written with
    assert (
        "no landmarks: paired-point registration needs at least 3" in window.panel.warnings.text()
    )

    qtbot.keyClick(window, Key.Key_P)
    assert model.interaction == "place"
    pixels = face_pixels(window)
    for n, (column, row) in enumerate(pixels[:4]):
        click(qtbot, window, column, row)
        placed = model.landmarks[n].position_lps_mm
        assert np.linalg.norm(placed - skin_hit(window, column, row)) < 1.0
    assert [m.name for m in model.landmarks] == ["L1", "L2", "L3", "L4"]
    assert window.panel.table.rowCount() == 4
    assert "paired-point registration" not in window.panel.warnings.text()

    # move L2: select it, Move tool, click the fifth spot
    window.panel.table.selectRow(1)
    qtbot.keyClick(window, Key.Key_M)
    column, row = pixels[4]
    click(qtbot, window, column, row)
    moved = model.landmarks[1]
    assert moved.name == "L2"
    assert np.linalg.norm(moved.position_lps_mm - skin_hit(window, column, row)) < 1.0
    # delete L3
    window.panel.table.selectRow(2)
    qtbot.keyClick(window, Key.Key_Delete)
    settle(qtbot, window)
    assert [m.name for m in model.landmarks] == ["L1", "L2", "L4"]
    kept = np.array([m.position_lps_mm for m in model.landmarks])
    shown = window.tre.tre_mm
    assert shown is not None and f"{shown:.2f} mm RMS" in window.panel.tre.text()

    qtbot.keyClick(window, Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    folder = model.plan.root
    assert any(p.name.startswith("plan.previous-") for p in folder.parent.iterdir())
    reloaded = load_plan(folder)
    assert reloaded.fiducial_names == ("L1", "L2", "L4")
    np.testing.assert_allclose(reloaded.fiducials_lps_mm, kept, atol=1e-9)
    markups = json.loads((folder / "fiducials.mrk.json").read_text())
    schema = json.loads(shared_data("../specs/markups-schema-v1.0.3.json").read_text())
    jsonschema.validate(markups, schema)
    points = markups["markups"][0]["controlPoints"]
    assert [p["label"] for p in points] == ["L1", "L2", "L4"]
    np.testing.assert_allclose([p["position"] for p in points], kept, atol=1e-9)
    edits = json.loads((folder / "plan.json").read_text())["edits"]
    assert [e["what"] for e in edits].count("landmark added") == 4
    assert {e["who"] for e in edits} == {model.user} and all(e["when_utc"] for e in edits)
    assert edits[-1]["what"] == "saved"

    # igcs accuracy on the saved plan: its theory at the tumour centroid is the number shown
    report = tmp_path / "accuracy"
    assert (
        main(
            [
                "accuracy",
                "--plan",
                str(folder),
                "--fle",
                "1.0",
                "--workers",
                "0",
                "--trials",
                "200",
                "--no-drop",
                "--out",
                str(report),
            ]
        )
        == 0
    )
    summary = json.loads((report / "summary.json").read_text())
    theory = next(t for t in summary["targets"] if t["name"] == "tumour centroid")
    assert theory["tre_rms_predicted_mm"] == pytest.approx(shown, rel=1e-9)


def test_tumour_by_a_click_on_the_phantom(qtbot, review, phantom_ct):
    window, model = review, review.model
    truth = load_truth(phantom_ct)
    qtbot.keyClick(window, Key.Key_S)
    assert model.interaction == "seed"
    # the axial slice holds the tumour centroid (the cursor starts there): click the seed's spot
    seed = truth.tumour_seed_lps_mm.copy()
    seed[2] = model.cursor_lps_mm[2]
    column, row = window.layout_views.pixel_of(seed, "axial")
    click(qtbot, window, column, row)
    preview = model.tumour_preview
    assert preview is not None
    assert preview.volume_ml == pytest.approx(truth.tumour_volume_ml, rel=0.05)
    assert "tumour preview" in window.message.text()
    qtbot.keyClick(window, Key.Key_Return)
    settle(qtbot, window)
    assert model.tumour_preview is None and "tumour" in model.changed_labels
    assert model.volume_ml("tumour") == pytest.approx(truth.tumour_volume_ml, rel=0.05)
    # the planner narrows the window: the tumour shrinks at once
    window.panel.window_low.setValue(preview.lower + 30.0)
    window.panel.window_high.setValue(preview.upper)
    window.commands["regrow"](window.panel.window_low.value(), window.panel.window_high.value())
    settle(qtbot, window)
    assert model.tumour_preview is not None and model.tumour_preview.window_given
    assert model.tumour_preview.volume_ml < 0.9 * preview.volume_ml
