"""The review window on a real patient (HN-CHUS-052, head and neck PET/CT, planned with the PET
tumour): the body label is corrected with the review's tools (clipped to the head and neck,
opened), the false 'markers' deleted, anatomical landmarks placed by clicks on the face,
the predicted TRE shown checked against the formula, the plan saved and reloaded.

Set ``IGCS_REVIEW_SCREENS=DIR`` to keep the window's screenshots there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from navigation.cli import main
from navigation.planning.plan import load_plan
from registration.tre import predict_tre_rms
from tests.conftest import IN_CI

pytestmark = [pytest.mark.gui, pytest.mark.slow]
if not os.environ.get("DISPLAY"):
    if IN_CI:
        pytest.fail("the GUI tests need an X display in CI (run them under xvfb-run)")
    pytest.skip("no X display (run under xvfb-run -a)", allow_module_level=True)

from PySide6 import QtCore  # noqa: E402

from navigation.app.review_window import ReviewWindow, grab_window  # noqa: E402
from navigation.review.model import ReviewModel  # noqa: E402
from tests.navigation.review.test_review_window import (  # noqa: E402
    assert_texts_fit,
    click,
    front_point,
    settle,
    skin_hit,
)

PATIENT = "hn-petct-human/HN-CHUS-052"
#: The patient's head and neck (LPS mm): outside it, the mask's frame and the table.
HEAD_BOX = np.array([[-110.0, -125.0, -462.5], [110.0, 125.0, -69.5]])


@pytest.fixture(scope="module")
def patient_plan(tmp_path_factory):
    from tests.conftest import shared_data_path

    patient = shared_data_path(PATIENT)
    out = tmp_path_factory.mktemp("chus") / "plan"
    assert (
        main(
            [
                "plan",
                str(patient / "CT"),
                "--pet",
                str(patient / "PET"),
                "--out",
                str(out),
                "--no-stl",
                "--review-pictures",
            ]
        )
        == 0
    )
    return out


def _screens(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("IGCS_REVIEW_SCREENS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _face_pixels(window):
    """Pixels of the 3-D view on the face: forehead, both cheeks, chin, found from the nose tip
    (the most anterior skin point of the head)."""
    points = np.asarray(window.model.meshes["skin"].points)
    head = points[(np.abs(points[:, 0]) < 25) & (points[:, 2] > -300)]
    nose = head[np.argmin(head[:, 1])]
    spots = [(0.0, 55.0), (-40.0, -5.0), (40.0, -5.0), (0.0, -65.0)]
    skin = window.model.meshes["skin"]
    return [
        window.layout_views.pixel_of(front_point(skin, nose[0] + dx, nose[2] + dz), "3d")
        for dx, dz in spots
    ]


def test_review_pictures_of_the_real_patient(patient_plan, tmp_path):
    """igcs plan --review-pictures on the real patient: the slices through the PET tumour show
    it outlined in each plane, the meshes are drawn (kept in IGCS_REVIEW_SCREENS)."""
    from PIL import Image

    files = json.loads((patient_plan / "plan.json").read_text())["files"]
    screens = _screens(tmp_path)
    for view in ("axial", "coronal", "sagittal", "meshes", "overview"):
        picture = Image.open(patient_plan / files[f"review_{view}"]).convert("RGB")
        picture.save(screens / f"review_pictures_real_patient_{view}.png")
        rgb = np.asarray(picture).astype(int)
        if view in ("axial", "coronal", "sagittal"):
            assert rgb.shape == (900, 900, 3)
            red = (rgb[..., 0] > 200) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
            assert red.sum() > 200, view  # the tumour through its own centroid
        assert rgb.std() > 10, view


def test_a_leaking_tumour_held_by_the_box_on_the_real_patient(patient_plan):
    """A seed on the real tumour grows through the neighbouring soft tissue (the 'leak' a
    planner meets); the box drawn around the PET tumour holds it (voxel centres and mesh
    inside), the CT tumour then overlaps the PET one, and a narrower window shrinks it."""
    from navigation.review import structures

    model = ReviewModel.open(patient_plan)
    geometry = model.geometry
    pet = model.regions["tumour"].to_full(geometry.shape_kji)
    seed = model.regions["tumour"].centroid_lps_mm(geometry)
    free = structures.preview_tumour(model, seed_lps_mm=seed)
    assert free.touches_search_box and free.region.volume_ml(geometry) > 120.0  # leaked
    corners = geometry.kji_to_lps(np.argwhere(pet))
    box = np.stack([corners.min(axis=0), corners.max(axis=0)])
    held = structures.preview_tumour(model, seed_lps_mm=seed, box_lps_mm=box)
    grown = held.region.to_full(geometry.shape_kji)
    inside = geometry.kji_to_lps(np.argwhere(grown))
    assert np.all((inside >= box[0] - 1e-6) & (inside <= box[1] + 1e-6))
    assert model.preview_mesh is not None
    points = np.asarray(model.preview_mesh.points)
    assert np.all((points >= box[0] - 1e-6) & (points <= box[1] + 1e-6))
    volume = held.region.volume_ml(geometry)
    assert volume < 0.75 * free.region.volume_ml(geometry)
    dice = 2.0 * (grown & pet).sum() / (grown.sum() + pet.sum())
    assert dice > 0.55, dice  # CT soft tissue vs PET uptake: measured 0.645
    narrowed = structures.preview_tumour(
        model, seed_lps_mm=seed, box_lps_mm=box, window=(held.lower, held.upper - 5.0)
    )
    assert narrowed.region.volume_ml(geometry) < volume
    structures.discard_tumour(model)
    assert model.tumour_preview is None and model.volume_ml("tumour") == pytest.approx(
        pet.sum() * float(np.prod(geometry.spacing_mm)) / 1000.0
    )


def test_review_on_the_real_patient(qtbot, patient_plan, tmp_path):
    screens = _screens(tmp_path)
    model = ReviewModel.open(patient_plan)
    window = ReviewWindow(model, view_size=(1100, 860))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.redraw()
    assert_texts_fit(qtbot, window)
    assert grab_window(window).save(str(screens / "review_real_patient_opened.png"))
    wrapped = model.volume_ml("skin")

    # what the plan kept of the supports and the shoulders goes: clip to the head and neck,
    # open by 3 mm (thin struts of the mask cut off), keep the patient
    for operation, options in (
        ("clip box", {"box_lps_mm": HEAD_BOX}),
        ("margin", {"margin_mm": -3.0}),
        ("keep largest", {}),
        ("margin", {"margin_mm": 3.0}),
    ):
        window.commands["edit"]("skin", operation, options)
        settle(qtbot, window)
    for tissue in ("airway", "bone"):  # found inside the body: re-run inside the new one
        window.commands["resegment"](tissue, -500.0, 300.0, -500.0)
        settle(qtbot, window)
    assert 4000.0 < model.volume_ml("skin") < wrapped, model.status
    # the three 'markers' (dental metal, ear rings) go; landmarks on the face come
    for _ in range(len(model.landmarks)):
        window.panel.table.selectRow(0)
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Delete)
        settle(qtbot, window)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_P)
    pixels = np.array(_face_pixels(window))
    # the 3-D view frames the patient: forehead to chin spans over a tenth of its height
    assert pixels[3, 1] - pixels[0, 1] > 0.1 * window.layout_views.render_window.GetSize()[1]
    for column, row in pixels:
        click(qtbot, window, column, row)
        placed = model.landmarks[-1].position_lps_mm
        assert np.linalg.norm(placed - skin_hit(window, column, row)) < 1.0, model.status
    assert len(model.landmarks) == 4
    names = ["forehead", "cheek R", "cheek L", "chin"]
    for row, name in enumerate(names):
        window.commands["rename"](row, name)
    settle(qtbot, window)
    assert [m.name for m in model.landmarks] == names
    points = np.array([m.position_lps_mm for m in model.landmarks])
    expected = predict_tre_rms(points, model.plan.tumour_centroid_lps_mm, fle_rms_mm=1.0)[0]
    assert window.tre.tre_mm == pytest.approx(expected, rel=1e-12)
    assert f"{expected:.2f} mm RMS" in window.panel.tre.text()
    hint = window.tre.hint_lps_mm  # on the patient's skin, not on a face the box cut
    assert hint is not None
    assert np.minimum(hint - HEAD_BOX[0], HEAD_BOX[1] - hint).min() > 5.0
    window.redraw()
    assert grab_window(window).save(str(screens / "review_real_patient_landmarks.png"))

    window.save()
    settle(qtbot, window)
    plan = load_plan(patient_plan)
    assert plan.fiducial_names == tuple(names)
    np.testing.assert_allclose(plan.fiducials_lps_mm, points, atol=1e-9)
    raw = json.loads((patient_plan / "plan.json").read_text())
    assert raw["pet"]["suv_max"] > 0 and raw["tumour"]["source"] == "pet"  # the tumour kept
    assert {e["what"] for e in raw["edits"]} >= {"label clip box", "landmark added", "saved"}
    window.close()
