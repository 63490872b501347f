"""Anatomical landmarks from a Slicer markups file become the plan's registration fiducials."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from navigation.cli import main
from navigation.planning.plan import load_plan
from tests.navigation.planning.petct_factory import write_ct

# On the synthetic head (sphere r = 70 mm about (0, 0, 70) LPS) and neck (cylinder r = 55 mm).
LANDMARKS_LPS = {
    "nasion": (0.0, -70.0, 70.0),
    "tragus L": (70.0, 0.0, 70.0),
    "tragus R": (-70.0, 0.0, 70.0),
    "neck front": (0.0, -55.0, -40.0),
}


def _markups(points: dict, system: str, units: object = "mm", scale: float = 1.0) -> dict:
    flip = np.array([-1.0, -1.0, 1.0]) if system == "RAS" else np.ones(3)
    return {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
        "Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": system,
                "coordinateUnits": units,
                "controlPoints": [
                    {"label": name, "position": (np.asarray(p) * flip * scale).tolist()}
                    for name, p in points.items()
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory):
    return write_ct(tmp_path_factory.mktemp("ct") / "CT")


@pytest.mark.parametrize(
    ("system", "units", "scale"),
    [("RAS", ["um", "UCUM", "micrometer"], 1000.0), ("LPS", "mm", 1.0)],
)
def test_landmarks_become_the_registration_fiducials(
    tmp_path, ct_folder, shared_data, system, units, scale
):
    schema = json.loads(shared_data("../specs/markups-schema-v1.0.3.json").read_text())
    payload = _markups(LANDMARKS_LPS, system, units, scale)
    jsonschema.validate(payload, schema)  # a file the schema allows
    file = tmp_path / "landmarks.mrk.json"
    file.write_text(json.dumps(payload))
    out = tmp_path / "plan"
    assert main(["plan", str(ct_folder), "--fiducials", str(file), "--out", str(out)]) == 0
    plan = load_plan(out)
    assert plan.fiducial_names == tuple(LANDMARKS_LPS)
    np.testing.assert_allclose(plan.fiducials_lps_mm, list(LANDMARKS_LPS.values()), atol=1e-9)
    written = json.loads((out / "fiducials.mrk.json").read_text())
    jsonschema.validate(written, schema)
    assert written["markups"][0]["coordinateSystem"] == "LPS"
    assert [p["label"] for p in written["markups"][0]["controlPoints"]] == list(LANDMARKS_LPS)
    assert "no fiducial markers found" not in plan.raw["report"]["warnings"]
    record = plan.raw["landmarks"]
    assert record["file_coordinate_system"] == system and not record["warnings"]
    # within two voxels (2 mm) of the body's surface voxels; this synthetic head has its skull
    # (700 HU) bare at the surface, whose outermost voxels the body rule (a support is denser
    # than soft tissue) leaves out: sqrt(10) voxel steps, 3.16 mm
    assert max(record["distance_to_skin_mm"]) < 3.5


def test_landmark_inside_the_head_is_reported_and_outside_the_image_refused(
    tmp_path, ct_folder, capsys
):
    deep = tmp_path / "deep.mrk.json"
    deep.write_text(json.dumps(_markups({**LANDMARKS_LPS, "centre": (0.0, 0.0, 70.0)}, "LPS")))
    assert (
        main(["plan", str(ct_folder), "--fiducials", str(deep), "--out", str(tmp_path / "a")]) == 0
    )
    warnings = load_plan(tmp_path / "a").raw["report"]["warnings"]
    (warning,) = [w for w in warnings if "'centre'" in w]
    assert float(warning.split(" lies ")[1].split(" mm")[0]) > 30  # the head's centre
    # RAS coordinates in a file that says LPS put the point outside the image: refused
    wrong = _markups(LANDMARKS_LPS, "RAS")
    wrong["markups"][0]["coordinateSystem"] = "LPS"
    wrong["markups"][0]["controlPoints"][0]["position"] = [0.0, 170.0, 70.0]
    (tmp_path / "wrong.mrk.json").write_text(json.dumps(wrong))
    capsys.readouterr()
    status = main(["plan", str(ct_folder), "--fiducials", str(tmp_path / "wrong.mrk.json"),
                   "--out", str(tmp_path / "b")])  # fmt: skip
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and "nasion lie outside the image" in error[0]
    assert not (tmp_path / "b").exists()
