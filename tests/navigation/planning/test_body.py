"""The body is the patient: a couch plate under the back, a perforated mask over the face and a
loose object are removed and reported, an ear-like flap stays (synthetic CT with known parts);
on real scans the skin is closed and free of the table and head holder."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from navigation.planning.body import segment_body
from registration.core.geometry import ImageGeometry

SPACING = np.array([1.0, 1.0, 2.0])  # i, j, k (mm)
SIZE = (160, 170, 70)  # i, j, k


def _scene():
    """(k, j, i) HU image and the truth masks: body (ellipsoid + ear), plate, mask, block."""
    geometry = ImageGeometry(SIZE, np.array([-80.0, -85.0, -70.0]), SPACING, np.eye(3))
    k, j, i = np.indices(geometry.shape_kji)
    x = -80.0 + i * 1.0
    y = -85.0 + j * 1.0
    z = -70.0 + k * 2.0
    r = np.sqrt((x / 55.0) ** 2 + (y / 65.0) ** 2 + (z / 60.0) ** 2)
    ellipsoid = r <= 1.0
    # an ear: a 3 mm flap, 20 x 28 mm, standing 5-8 mm off the side of the head
    ear = (x >= -62.0) & (x <= -50.0) & (np.abs(y) <= 10.0) & (np.abs(z) <= 14.0)
    ear &= (x <= -59.0) | (np.abs(y) <= 1.5)  # the flap and its 3 mm stalk to the head
    body = ellipsoid | ear
    plate = (y >= 64.0) & (y <= 67.0) & (np.abs(x) <= 75.0)  # the couch: under the back
    shell_r = np.sqrt((x / 61.0) ** 2 + (y / 71.0) ** 2 + (z / 66.0) ** 2)
    holes = ((np.floor(x / 4.0) + np.floor(z / 4.0)) % 2) == 0
    mask = (shell_r >= 1.0) & (shell_r <= 1.035) & (y < -20.0) & ~holes & ~ellipsoid
    pegs = (np.abs(x) <= 2.0) & (np.abs(z) <= 2.0) & (y < 0) & (shell_r <= 1.035) & ~ellipsoid
    mask |= pegs  # where the mask rests on the face
    block = (np.abs(x - 70.0) <= 4.0) & (np.abs(y + 70.0) <= 4.0) & (np.abs(z) <= 10.0)
    image = np.full(geometry.shape_kji, -1000.0, dtype=np.float32)
    image[plate] = 250.0
    image[mask] = 0.0
    image[block] = 100.0
    image[body] = 40.0
    truth = {"body": body, "ear": ear & ~ellipsoid, "plate": plate, "mask": mask & ~body}
    return image, geometry, truth | {"block": block}


def test_supports_and_objects_removed_ear_kept_and_reported():
    image, geometry, truth = _scene()
    found = segment_body(image, geometry, threshold=-500.0)
    body = found.region.to_full(geometry.shape_kji)
    voxel_ml = float(np.prod(SPACING)) / 1000.0
    # the patient, whole (but for the tips of the poles, a few voxels across), and of the
    # supports at most the rim where they touch
    assert np.count_nonzero(truth["body"] & ~body) < 1e-3 * np.count_nonzero(truth["body"])
    near_body = ndimage.distance_transform_edt(~truth["body"], sampling=SPACING[::-1]) <= 6.0
    for name, most in (("plate", 0.08), ("mask", 0.01), ("block", 0.0)):
        left = np.count_nonzero(truth[name] & body) / np.count_nonzero(truth[name])
        assert left <= most, (name, left)
        assert not np.any(truth[name] & body & ~near_body), name  # only where it touches (one
        # coarse voxel of the 2 mm grid the supports are told apart on)
    assert np.all(body[truth["ear"]])
    # reported: largest first, with where and whether it touched
    kinds = [(o.kind, o.where) for o in found.removed]
    assert kinds[0] == ("support touching the body", "posterior")  # the plate
    assert ("support touching the body", "anterior") in kinds  # the mask on the face
    assert any(o.kind == "object apart from the body" for o in found.removed)  # the block
    plate = found.removed[0]
    assert plate.volume_ml == pytest.approx(np.count_nonzero(truth["plate"]) * voxel_ml, rel=0.1)
    assert plate.thin and plate.bbox_lps_mm[0, 1] == pytest.approx(64.0, abs=2.5)
    removed = np.count_nonzero((image > -500) & ~body) * voxel_ml
    assert found.removed_ml == pytest.approx(removed, rel=1e-6)
    assert "support touching the body (posterior" in found.summary()


def test_without_supports_the_largest_component_as_before():
    image, geometry, truth = _scene()
    found = segment_body(image, geometry, threshold=-500.0, separate_supports=False)
    body = found.region.to_full(geometry.shape_kji)
    assert np.all(body[truth["plate"]])  # MR mode keeps what touches (no supports in MR)
    assert found.removed == ()
