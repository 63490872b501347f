from __future__ import annotations

import numpy as np
import pytest

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import InputError


def test_json_round_trip(tmp_path):
    k = np.array([[800.0, 0, 640.0], [0, 810.0, 512.0], [0, 0, 1]])
    intrinsics = CameraIntrinsics(k, [-0.1, 0.05, 0.001, -0.002, 0.0], (1280, 1024), 0.4)
    intrinsics.save(tmp_path / "cam.json")
    loaded = CameraIntrinsics.load(tmp_path / "cam.json")
    np.testing.assert_array_equal(loaded.camera_matrix, k)
    np.testing.assert_array_equal(loaded.distortion, [-0.1, 0.05, 0.001, -0.002, 0.0])
    assert loaded.image_size_px == (1280, 1024)
    assert loaded.rms_reprojection_px == 0.4


def test_refusals(tmp_path):
    with pytest.raises(InputError, match="fx, fy > 0"):
        CameraIntrinsics(np.diag([-1.0, 1.0, 1.0]), np.zeros(5), (10, 10))
    (tmp_path / "x.json").write_text('{"schema": "other"}')
    with pytest.raises(InputError, match="schema 'other'"):
        CameraIntrinsics.load(tmp_path / "x.json")
