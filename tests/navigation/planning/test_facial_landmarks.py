"""Facial landmarks on an analytic head (known nose, chin, ear canals, and a bite block that
protrudes further than the nose), and on the real patient's CT."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
from skimage.measure import marching_cubes

from navigation.planning.facial_landmarks import propose_landmarks
from registration.core.checks import InputError

STEP = 1.5


def capsule(x, y, z, a, b, radius):
    """Signed distance to a capsule from a to b."""
    p = np.stack([x, y, z], axis=-1)
    ab = np.asarray(b, float) - np.asarray(a, float)
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (np.asarray(a) + t[..., None] * ab), axis=-1) - radius


def head_surface(*, bite_block: bool):
    """An ellipsoid head (face towards -y) with a neck, a nose (capsule, tip near
    (0, -118, -30)), a chin (sphere, front at (0, -80, -95)), ear canals along x at y = 10,
    z = -5, and optionally a bite block shelf at z = -52 protruding to y = -130."""
    axis_x = np.arange(-100, 100.1, STEP)
    axis_y = np.arange(-140, 110.1, STEP)
    axis_z = np.arange(-200, 130.1, STEP)
    z, y, x = np.meshgrid(axis_z, axis_y, axis_x, indexing="ij")
    head = np.sqrt((x / 75.0) ** 2 + (y / 95.0) ** 2 + (z / 115.0) ** 2) - 1.0
    head *= 80.0  # about mm near the surface
    neck = np.maximum(np.hypot(x, y + 5.0) - 50.0, z + 60.0)
    nose = capsule(x, y, z, (0.0, -86.0, 8.0), (0.0, -112.0, -30.0), 6.0)
    chin = np.sqrt(x**2 + (y + 65.0) ** 2 + (z + 95.0) ** 2) - 15.0
    body = np.minimum(np.minimum(head, neck), np.minimum(nose, chin))
    if bite_block:
        block = np.max([np.abs(x) - 15.0, np.abs(z + 52.0) - 3.0, -130.0 - y, y + 60.0], axis=0)
        body = np.minimum(body, block)
    canal = np.maximum(np.hypot(y - 10.0, z + 5.0) - 4.0, 50.0 - np.abs(x))
    body = np.maximum(body, -canal)
    vertices, faces, _, _ = marching_cubes(-body, level=0.0, spacing=(STEP, STEP, STEP))
    vertices = vertices[:, ::-1] + [axis_x[0], axis_y[0], axis_z[0]]
    cells = np.hstack([np.full((len(faces), 1), 3), faces[:, ::-1]]).ravel()
    surface = pv.PolyData(vertices, cells).compute_normals(auto_orient_normals=True)
    return np.asarray(surface.points), np.asarray(surface.point_data["Normals"])


@pytest.mark.slow
@pytest.mark.parametrize("bite_block", [False, True])
def test_landmarks_of_an_analytic_head(bite_block):
    vertices, normals = head_surface(bite_block=bite_block)
    found = propose_landmarks(vertices, normals)
    points = dict(zip(found.names, found.points_lps_mm, strict=True))
    assert found.midline_x_mm == pytest.approx(0.0, abs=1.5)
    assert set(points) == {"nasion", "pronasale", "pogonion", "tragus_left", "tragus_right"}
    # the nose's tip, not the bite block that protrudes 12 mm further at z = -52
    np.testing.assert_allclose(points["pronasale"], [0.0, -117.5, -30.0], atol=4.0)
    # the nasion: in the concavity where the nose leaves the forehead, above the tip
    assert 5.0 < points["nasion"][2] < 30.0 and points["nasion"][1] > -100.0
    np.testing.assert_allclose(points["pogonion"], [0.0, -80.0, -95.0], atol=4.0)
    for name, side in (("tragus_left", 1.0), ("tragus_right", -1.0)):
        tragus = points[name]
        assert side * tragus[0] > 65.0  # on the outer skin of that side
        assert abs(tragus[2] + 5.0) < 6.0 and 0.0 < 10.0 - tragus[1] < 14.0  # in front


def test_no_face_is_refused():
    sphere = pv.Sphere(radius=80.0, theta_resolution=60, phi_resolution=60)
    with pytest.raises(InputError, match="no nose found"):
        propose_landmarks(np.asarray(sphere.points), np.asarray(sphere.point_normals))


@pytest.mark.slow
def test_landmarks_of_the_real_patient(shared_data, tmp_path):
    """HN-CHUS-052 (a perforated thermoplastic mask and a bite block on the face): the five
    landmarks on the skin, the midline ones within 6 mm of the head's midline, the tragi on
    either side at the level of the nose, the nasion above the pronasale above the pogonion."""
    from navigation.commands.landmarks import propose_for_volume
    from navigation.planning.markups import read_point_file

    ct = shared_data("hn-petct-human/HN-CHUS-052/CT")
    found = propose_for_volume(ct, tmp_path / "landmarks.mrk.json", picture=tmp_path / "l.png")
    points = dict(zip(found.names, found.points_lps_mm, strict=True))
    assert len(points) == 5 and (tmp_path / "l.png").is_file()
    for name in ("nasion", "pronasale", "pogonion"):
        assert abs(points[name][0] - found.midline_x_mm) < 6.0, name
    assert points["nasion"][2] > points["pronasale"][2] + 20.0
    assert points["pronasale"][2] > points["pogonion"][2] + 30.0
    assert points["pronasale"][1] < points["nasion"][1] - 15.0  # the nose sticks out
    assert points["tragus_left"][0] > found.midline_x_mm + 55.0
    assert points["tragus_right"][0] < found.midline_x_mm - 55.0
    for name in ("tragus_left", "tragus_right"):
        assert abs(points[name][2] - points["pronasale"][2]) < 35.0
    written = read_point_file(tmp_path / "landmarks.mrk.json")
    assert written.names == found.names and written.file_coordinate_system == "LPS"
