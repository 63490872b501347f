from __future__ import annotations

import json

import numpy as np
import pytest

from navigation.planning.plan import load_plan
from navigation.tracking.messages import transform_name_to_frames
from registration.core.checks import InputError


def _minimal_plan() -> dict:
    return {
        "schema": "igcs-plan",
        "schema_version": 1,
        "coordinate_system": "LPS",
        "units": "mm",
        "geometry": {
            "size_ijk": [10, 10, 5],
            "origin_lps_mm": [0, 0, 0],
            "spacing_mm": [1, 1, 2],
            "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1],
        },
        "labels": [{"name": "tumour", "value": 4, "color": [1, 0, 0], "mesh": "meshes/tumour.vtp"}],
        "files": {"fiducials": "fiducials.mrk.json"},
        "fiducials": [{"name": f"F{i}", "position_lps_mm": [i, 2 * i, 3.0]} for i in range(6)],
        "tumour": {"label": "tumour", "centroid_lps_mm": [1, 2, 3], "volume_ml": 8.0},
        "targets": [{"name": "tumour centroid", "position_lps_mm": [1, 2, 3]}],
    }


def test_load_minimal_plan(tmp_path):
    (tmp_path / "plan.json").write_text(json.dumps(_minimal_plan()))
    plan = load_plan(tmp_path)
    assert plan.fiducials_lps_mm.shape == (6, 3)
    np.testing.assert_allclose(plan.fiducials_lps_mm[2], [2, 4, 3])
    assert plan.mesh_path("tumour") == tmp_path.resolve() / "meshes/tumour.vtp"
    assert plan.tumour_volume_ml == 8.0
    with pytest.raises(InputError, match="no label 'bone'"):
        plan.label("bone")


def test_load_plan_refuses_missing_and_wrong_version(tmp_path):
    with pytest.raises(InputError, match="not a plan folder"):
        load_plan(tmp_path)
    payload = _minimal_plan()
    payload["schema_version"] = 99
    (tmp_path / "plan.json").write_text(json.dumps(payload))
    with pytest.raises(InputError, match="schema_version 99"):
        load_plan(tmp_path)


def test_plus_names_split_into_frames():
    assert transform_name_to_frames("PointerToTracker") == ("Tracker", "Pointer")
    assert transform_name_to_frames("Image") is None
