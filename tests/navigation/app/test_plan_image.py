"""The plan keeps its planning image, and the navigation views read it back safely."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from navigation.imaging.loading import load_volume
from navigation.planning.plan import load_plan
from navigation.planning.plan_input import sha256_file
from navigation.planning.plan_scene import load_plan_scene
from registration.core.checks import InputError
from rendering.slice_views import NO_IMAGE_NOTE
from rendering.window_level import CT_BONE, CT_SOFT_TISSUE

pytestmark = pytest.mark.slow


def test_the_plan_keeps_the_ct_voxel_for_voxel(phantom_ct, phantom_plan):
    plan = load_plan(phantom_plan)
    assert plan.image_path is not None and plan.image_path.name == "image.nii.gz"
    assert plan.image_sha256 == sha256_file(plan.image_path)
    assert plan.raw["image"]["modality"] == "CT" and plan.raw["image"]["dtype"] == "int16"
    source = load_volume(phantom_ct / "dicom").volume
    kept = sitk.ReadImage(str(plan.image_path))  # read back independently of igcs
    np.testing.assert_array_equal(sitk.GetArrayFromImage(kept), source.array)
    np.testing.assert_allclose(kept.GetOrigin(), source.geometry.origin_lps_mm, atol=1e-4)
    np.testing.assert_allclose(kept.GetSpacing(), source.geometry.spacing_mm, atol=1e-6)
    labels = sitk.ReadImage(str(plan.file_path("nifti")))
    assert kept.GetSize() == labels.GetSize() and kept.GetOrigin() == labels.GetOrigin()


@pytest.mark.slow
def test_the_views_get_the_image_with_ct_presets(phantom_ct, phantom_plan):
    volumes = load_plan_scene(phantom_plan).volumes
    source = load_volume(phantom_ct / "dicom").volume
    assert volumes.background is not None and volumes.modality == "CT"
    np.testing.assert_array_equal(volumes.background, source.array)
    assert volumes.presets[:2] == (CT_SOFT_TISSUE, CT_BONE)
    assert volumes.default_window == CT_SOFT_TISSUE


def _copy(plan_folder, tmp_path):
    copy = tmp_path / "plan"
    shutil.copytree(plan_folder, copy)
    return copy


def test_an_older_plan_without_image_still_loads_with_a_notice(phantom_plan, tmp_path, caplog):
    copy = _copy(phantom_plan, tmp_path)
    payload = json.loads((copy / "plan.json").read_text())
    del payload["files"]["image"], payload["image"]
    (copy / "plan.json").write_text(json.dumps(payload))
    (copy / "image.nii.gz").unlink()
    with caplog.at_level(logging.WARNING):
        scene = load_plan_scene(copy)
    assert scene.volumes.background is None and scene.volumes.default_window is None
    assert "keeps no image" in caplog.text and "re-create the plan" in caplog.text
    assert "igcs plan" in NO_IMAGE_NOTE


@pytest.mark.slow
def test_an_image_that_is_not_the_plans_own_is_refused(phantom_plan, tmp_path):
    copy = _copy(phantom_plan, tmp_path)
    image = sitk.ReadImage(str(copy / "image.nii.gz"))
    sitk.WriteImage(image + 1, str(copy / "image.nii.gz"), True)  # another scan, same grid
    with pytest.raises(InputError, match="SHA-256 differs"):
        load_plan_scene(copy)
    (copy / "image.nii.gz").unlink()
    with pytest.raises(InputError, match="the file is missing"):
        load_plan_scene(copy)
