"""Reading a plan's meshes: the surface comes back as it was written (LPS mm), and a missing,
corrupt or empty file ends in one clear error naming it."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from navigation.planning.plan import read_plan_mesh
from registration.core.checks import InputError


def test_reads_the_surface_as_written(tmp_path):
    sphere = pv.Sphere(radius=12.5, center=(30.0, -40.0, 25.0))  # LPS mm
    sphere.save(tmp_path / "tumour.vtp")
    mesh = read_plan_mesh(tmp_path / "tumour.vtp")
    np.testing.assert_allclose(mesh.points, sphere.points)
    assert mesh.n_cells == sphere.n_cells
    assert np.linalg.norm(mesh.points - (30.0, -40.0, 25.0), axis=1) == pytest.approx(12.5)


def test_refusals_name_the_file(tmp_path, capfd):
    with pytest.raises(InputError, match=r"missing\.vtp does not exist; re-create the plan"):
        read_plan_mesh(tmp_path / "missing.vtp")
    (tmp_path / "corrupt.vtp").write_text("<VTKFile type='PolyData'> truncated")
    with pytest.raises(InputError, match=r"corrupt\.vtp has no surface triangles; it is empty or"):
        read_plan_mesh(tmp_path / "corrupt.vtp")
    assert "vtkXMLParser" not in capfd.readouterr().err  # one line, not VTK's pages of errors
    pv.PolyData(np.zeros((4, 3))).save(tmp_path / "points.vtp")  # vertices, no triangles
    with pytest.raises(InputError, match=r"points\.vtp has no surface triangles"):
        read_plan_mesh(tmp_path / "points.vtp")
