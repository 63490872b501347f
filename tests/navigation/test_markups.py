from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from navigation.planning.markups import read_point_file, write_markups_fiducials
from registration.core.checks import InputError


def test_written_markups_validate_against_slicer_schema_and_round_trip(tmp_path, shared_data):
    schema_path = shared_data("../specs/markups-schema-v1.0.3.json")
    points = np.array([[12.5, -30.0, 40.25], [-60.0, 10.0, 0.0], [0.0, 0.0, 0.0]])
    path = tmp_path / "fiducials.mrk.json"
    write_markups_fiducials(path, ["F1", "F2", "F3"], points)
    payload = json.loads(path.read_text())
    jsonschema.validate(payload, json.loads(schema_path.read_text()))
    assert payload["markups"][0]["coordinateSystem"] == "LPS"
    read = read_point_file(path)
    assert read.names == ("F1", "F2", "F3")
    np.testing.assert_allclose(read.points_lps_mm, points)


def test_ras_files_are_converted_to_lps(tmp_path):
    # A point on the patient's left (LPS x = +50) is RAS x = -50.
    (tmp_path / "a.csv").write_text("name,r,a,s\nleft,-50,20,5\n")
    np.testing.assert_allclose(read_point_file(tmp_path / "a.csv").points_lps_mm, [[50, -20, 5]])
    (tmp_path / "b.fcsv").write_text(
        "# Markups fiducial file version = 4.11\n# CoordinateSystem = RAS\n"
        "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
        "vtkMRMLMarkupsFiducialNode_0,-50,20,5,0,0,0,1,1,1,0,left,,\n"
    )
    read = read_point_file(tmp_path / "b.fcsv")
    assert read.names == ("left",) and read.file_coordinate_system == "RAS"
    np.testing.assert_allclose(read.points_lps_mm, [[50, -20, 5]])
    mrk = {
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": "RAS",
                "controlPoints": [{"label": "left", "position": [-50, 20, 5]}],
            }
        ]
    }
    (tmp_path / "c.mrk.json").write_text(json.dumps(mrk))
    np.testing.assert_allclose(
        read_point_file(tmp_path / "c.mrk.json").points_lps_mm, [[50, -20, 5]]
    )


def test_bad_point_files(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="must name the columns"):
        read_point_file(tmp_path / "bad.csv")
    (tmp_path / "nan.csv").write_text("name,l,p,s\nF1,1,2,nan\n")
    with pytest.raises(InputError, match="NaN"):
        read_point_file(tmp_path / "nan.csv")
    with pytest.raises(InputError, match="does not exist"):
        read_point_file(tmp_path / "missing.mrk.json")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="unknown point file type"):
        read_point_file(tmp_path / "x.txt")
