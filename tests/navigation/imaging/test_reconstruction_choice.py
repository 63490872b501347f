"""Two reconstructions of one acquisition (standard and bone kernel): the soft-tissue one is
planned on whatever the UID order, and the reasons printed are true."""

from __future__ import annotations

import pytest

from navigation.imaging.loading import load_volume
from navigation.imaging.reconstruction_kernel import KernelClass, kernel_class
from tests.navigation.imaging.dicom_factory import SeriesSpec, write_series


def _pair(folder, sharp, soft, *, sharp_first=True):
    """The same 6 slices reconstructed twice; the sharp one's UID sorts first by default."""
    uids = ("1.2.826.0.1.3680043.8.498.77.1", "1.2.826.0.1.3680043.8.498.77.2")
    sharp_uid, soft_uid = uids if sharp_first else uids[::-1]
    a = SeriesSpec(count=6, kernel=sharp[0], description=sharp[1], series_uid=sharp_uid)
    b = SeriesSpec(count=6, kernel=soft[0], description=soft[1], series_uid=soft_uid)
    write_series(folder / "recon_a", a)
    write_series(folder / "recon_b", b)
    return a, b


@pytest.mark.parametrize("sharp_first", [True, False])
@pytest.mark.parametrize(
    ("sharp", "soft"),
    [
        (("BONE", "HEAD BONE"), ("STANDARD", "HEAD STD")),  # GE
        (("H70h", "Head 3.0 H70h"), ("H30s", "Head 3.0 H30s")),  # Siemens
        (("", "Head 2.5 Bone"), ("", "Head 2.5 Soft Tissue")),  # kernel only in the name
    ],
)
def test_standard_kernel_preferred_between_equal_reconstructions(
    tmp_path, sharp, soft, sharp_first
):
    bone, standard = _pair(tmp_path, sharp, soft, sharp_first=sharp_first)
    loaded = load_volume(tmp_path)
    assert loaded.volume.metadata["series_instance_uid"] == standard.series_uid
    (other,) = loaded.report.others
    assert bone.series_uid in other
    assert "fewer slices" not in other
    assert "as many slices as the chosen series but a sharp reconstruction" in other
    assert "soft-tissue/standard reconstruction" in other and "preferred for planning" in other
    (choice,) = [w for w in loaded.report.warnings if "image series found" in w]
    assert "of 2 reconstructions of that size, the soft-tissue/standard one" in choice


def test_equal_series_without_kernels_say_the_choice_was_by_order(tmp_path):
    _pair(tmp_path, ("", "recon 1"), ("", "recon 2"))
    loaded = load_volume(tmp_path)
    (other,) = loaded.report.others
    assert "fewer slices" not in other
    assert "with no kernel to prefer" in other and "Pass --series UID to choose" in other
    (choice,) = [w for w in loaded.report.warnings if "image series found" in w]
    assert "equally large" in choice and "SeriesInstanceUID order" in choice


def test_more_slices_still_wins_and_says_how_many(tmp_path):
    write_series(tmp_path / "a", SeriesSpec(count=6, kernel="STANDARD"))
    thin = SeriesSpec(count=9, kernel="BONE")
    write_series(tmp_path / "b", thin)
    loaded = load_volume(tmp_path)
    assert loaded.volume.metadata["series_instance_uid"] == thin.series_uid
    assert "fewer slices than the chosen series (6 vs 9)" in loaded.report.others[0]


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("STANDARD", KernelClass.SOFT),
        ("STD+", KernelClass.SOFT),
        ("SOFT", KernelClass.SOFT),
        ("BONEPLUS", KernelClass.SHARP),
        ("LUNG", KernelClass.SHARP),
        ("B30f", KernelClass.SOFT),
        ("Br36d", KernelClass.SOFT),
        ("B70f", KernelClass.SHARP),
        ("Hr64", KernelClass.SHARP),
        ("B50f", KernelClass.UNKNOWN),  # medium: neither
        ("FC13", KernelClass.UNKNOWN),
        ("", KernelClass.UNKNOWN),
    ],
)
def test_kernel_names(kernel, expected):
    assert kernel_class(kernel) is expected


def test_chest_in_a_description_is_not_a_kernel():
    assert kernel_class("", "CHEST ABDOMEN 5mm") is KernelClass.UNKNOWN
