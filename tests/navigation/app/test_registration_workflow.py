"""The registration workflow without widgets or tracking: known transforms, exclusion,
refusals, surface refinement on an asymmetric skin."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from navigation.app.registration_state import RegistrationOverride
from navigation.app.registration_workflow import RegistrationRefused, RegistrationWorkflow
from navigation.planning.plan_scene import SkinSurface, outward_normals
from navigation.tracking.fiducial_collection import CollectedFiducial
from registration.core.checks import InputError
from registration.core.transforms import apply_transform, invert_rigid, random_rigid
from registration.tre import predict_tre_rms
from tests.navigation.plan_factory import ORIGIN_HEAD

NAMES = ORIGIN_HEAD.fiducial_names
FIDUCIALS = ORIGIN_HEAD.fiducials_lps_mm
TUMOUR = np.array(ORIGIN_HEAD.tumour_centre_lps_mm)


def collected(point: np.ndarray) -> CollectedFiducial:
    return CollectedFiducial(np.asarray(point, dtype=float), 0.1, 0.2, 20, 0.0, 1.0)


@pytest.fixture
def image_from_reference(rng):
    return random_rigid(rng, max_translation_mm=300.0)


def workflow(**options) -> RegistrationWorkflow:
    return RegistrationWorkflow(NAMES, FIDUCIALS, fle_rms_mm=0.5, tumour_lps_mm=TUMOUR, **options)


def test_register_recovers_a_known_transform(image_from_reference):
    flow = workflow()
    in_reference = apply_transform(invert_rigid(image_from_reference), FIDUCIALS)
    for point in in_reference:
        flow.store(collected(point))
    assert flow.state().current_index is None and flow.state().collected_count == 6
    result = flow.register()
    np.testing.assert_allclose(result.image_from_reference, image_from_reference, atol=1e-9)
    assert result.fre_mm < 1e-9 and result.method == "points"
    expected = predict_tre_rms(FIDUCIALS, TUMOUR, fle_rms_mm=0.5)[0]
    assert result.tre_at_tumour_predicted_mm == pytest.approx(expected)
    assert result.expected_fre_mm == pytest.approx(np.sqrt(1 - 2 / 6) * 0.5)
    assert all(row.residual_mm < 1e-9 for row in flow.state().rows)
    assert flow.accept() is result and flow.accepted is result


def test_excluding_a_bad_fiducial_and_registering_again(image_from_reference):
    flow = workflow()
    in_reference = apply_transform(invert_rigid(image_from_reference), FIDUCIALS)
    in_reference[2] += [5.0, 0.0, 0.0]  # F3 mis-touched by 5 mm
    for point in in_reference:
        flow.store(collected(point))
    first = flow.register()
    assert max(first.residuals_mm, key=first.residuals_mm.get) == "F3"
    flow.set_excluded("F3", True)
    state = flow.state()
    assert state.result_outdated and state.usable_count == 5
    with pytest.raises(InputError, match="register again"):
        flow.accept()
    second = flow.register()
    assert "F3" not in second.fiducial_names and second.fre_mm < 1e-9
    # The excluded fiducial is still listed, at its true 5 mm error.
    assert second.residuals_mm["F3"] == pytest.approx(5.0, abs=1e-9)
    np.testing.assert_allclose(second.image_from_reference, image_from_reference, atol=1e-9)
    assert flow.accept().method == "points"


def test_refusals_say_what_to_do():
    flow = workflow()
    with pytest.raises(InputError, match="register first"):
        flow.accept()
    flow.store(collected(FIDUCIALS[0]))
    flow.store(collected(FIDUCIALS[1]))
    with pytest.raises(InputError, match="at least 3"):
        flow.register()
    with pytest.raises(InputError, match="no planned fiducial 'nasion'"):
        flow.select("nasion")
    with pytest.raises(InputError, match="no skin mesh"):
        flow.refine(np.zeros((60, 3)))


def test_store_moves_to_the_next_missing_fiducial_and_select_redoes_one():
    flow = workflow()
    assert flow.store(collected(FIDUCIALS[0])) == 0
    assert flow.state().current_index == 1
    flow.select("F4")
    assert flow.store(collected(FIDUCIALS[3])) == 3
    assert flow.state().current_index == 4  # then 5, then back to 1
    flow.store(collected(FIDUCIALS[4]))
    flow.store(collected(FIDUCIALS[5]))
    assert flow.state().current_index == 1


def _asymmetric_skin() -> SkinSurface:
    """An ellipsoid face with a nose and a brow: constrains all six degrees of freedom."""
    mesh = pv.Sphere(radius=1.0, theta_resolution=90, phi_resolution=90).scale(
        ORIGIN_HEAD.semi_axes_mm, inplace=False
    )
    points = np.array(mesh.points)
    nose = np.exp(-((points[:, 0] / 12.0) ** 2 + ((points[:, 2] + 10.0) / 25.0) ** 2))
    brow = np.exp(-(((points[:, 2] - 35.0) / 8.0) ** 2)) * (points[:, 1] < 0)
    points[:, 1] -= 20.0 * nose * (points[:, 1] < 0) + 6.0 * brow
    mesh.points = points
    return SkinSurface(*outward_normals(mesh, "test skin"))


def test_surface_refinement_reduces_the_error_at_the_tumour(rng, image_from_reference):
    skin = _asymmetric_skin()
    flow = workflow(skin=skin)
    reference_from_image = invert_rigid(image_from_reference)
    # Fiducials touched with 1 mm FLE: the paired-point registration is off by a little.
    noisy = FIDUCIALS + rng.normal(0.0, 1.0 / np.sqrt(3.0), FIDUCIALS.shape)
    for point in apply_transform(reference_from_image, noisy):
        flow.store(collected(point))
    points_only = flow.register()
    before = np.linalg.norm(
        apply_transform(points_only.image_from_reference @ reference_from_image, TUMOUR) - TUMOUR
    )
    # A sweep over the front half of the head (nose, brow, cheeks, chin), 0.1 mm noise.
    front = skin.vertices[skin.vertices[:, 1] < 0.0]
    sweep = front[rng.choice(len(front), 400, replace=False)]
    sweep = sweep + rng.normal(0.0, 0.1, sweep.shape)
    refined = flow.refine(apply_transform(reference_from_image, sweep))
    after = np.linalg.norm(
        apply_transform(refined.image_from_reference @ reference_from_image, TUMOUR) - TUMOUR
    )
    assert refined.method == "points+surface" and refined.surface is not None
    assert refined.surface.point_count == 400 and refined.surface.rms_distance_mm < 0.3
    assert refined.surface.tumour_shift_mm == pytest.approx(
        np.linalg.norm(
            apply_transform(
                refined.image_from_reference @ invert_rigid(points_only.image_from_reference),
                TUMOUR,
            )
            - TUMOUR
        )
    )
    assert after < 0.5 * before and after < 0.1
    assert flow.accept().method == "points+surface"
    # The refinement needs the point registration first.
    fresh = workflow(skin=skin)
    with pytest.raises(InputError, match="register the fiducials first"):
        fresh.refine(sweep)


def _flow_with(image_from_reference, offsets: dict[int, tuple[float, float, float]]):
    flow = workflow()
    in_reference = apply_transform(invert_rigid(image_from_reference), FIDUCIALS)
    for index, offset in offsets.items():
        in_reference[index] += offset
    for point in in_reference:
        flow.store(collected(point))
    return flow


def test_forty_mm_off_cannot_be_accepted_and_its_tre_is_not_valid(image_from_reference):
    flow = _flow_with(image_from_reference, {5: (40.0, 0.0, 0.0)})
    result = flow.register()
    assert not result.verified
    assert result.checks.refusals[0].code == "fre_above_alarm"
    assert result.checks.suspects[0] == "F6"
    # The predicted TRE is withheld everywhere it could be read.
    assert result.tre_at_tumour_predicted_mm is None
    assert result.tre_at(TUMOUR) is None
    assert result.to_dict()["tre_at_tumour_predicted_mm"] is None
    assert result.to_dict()["predicted_tre"].startswith("not valid (FRE ")
    with pytest.raises(RegistrationRefused, match="re-touch F6"):
        flow.accept()
    state = flow.state()
    assert state.accepted is None and state.banner() == ("NOT REGISTERED", "none")
    assert state.candidate is result
    assert state.rows[5].excluded_reason is None  # not excluded yet
    # Excluding the suspect shows why, and the remaining five register cleanly.
    reason = flow.set_excluded("F6", True)
    assert reason is not None and reason.startswith("FRE ")
    assert flow.state().rows[5].excluded_reason == reason
    clean = flow.register()
    assert clean.verified and clean.tre_at_tumour_predicted_mm == pytest.approx(
        predict_tre_rms(FIDUCIALS[:5], TUMOUR, fle_rms_mm=0.5)[0]
    )
    assert clean.residuals_mm["F6"] == pytest.approx(40.0, abs=1e-9)
    assert flow.accept() is clean
    text, level = flow.state().banner()
    assert level == "verified" and text.startswith("REGISTERED: points, 5 fiducials")


def test_override_puts_it_in_force_as_unverified(image_from_reference):
    flow = _flow_with(image_from_reference, {0: (0.0, 0.0, 25.0)})
    result = flow.register()
    assert not result.verified
    override = RegistrationOverride(tuple(r.short for r in result.checks.refusals), "test", 1.0)
    assert flow.accept(override) is result
    state = flow.state()
    assert state.override is override and not state.in_use_verified
    text, level = state.banner()
    assert level == "unverified" and text.startswith("UNVERIFIED REGISTRATION\n(override) FRE")
    assert "FRE" in text and "> alarm" in text
    assert state.candidate is None  # the latest result is the one in use


def test_swapped_pair_is_refused(image_from_reference):
    flow = workflow()
    in_reference = apply_transform(invert_rigid(image_from_reference), FIDUCIALS)
    in_reference[[0, 3]] = in_reference[[3, 0]]
    for point in in_reference:
        flow.store(collected(point))
    result = flow.register()
    assert not result.verified and set(result.checks.suspects[:2]) == {"F1", "F4"}


def test_a_refused_sweep_is_reported_with_its_own_count(image_from_reference):
    """The panel's 'last sweep' and failure name the points of that sweep, and the result in
    use is unchanged (no stale numbers under a new banner)."""
    flow = _flow_with(image_from_reference, {})
    flow.skin = _asymmetric_skin()
    flow.register()
    accepted = flow.accept()
    with pytest.raises(InputError, match="46 points"):
        flow.refine(np.zeros((46, 3)))
    state = flow.state()
    assert state.last_sweep is not None and state.last_sweep.points == 46
    assert state.last_sweep.refused is not None
    assert state.last_failure is not None and "46 sweep points" in state.last_failure
    assert state.accepted is accepted and state.banner()[0].startswith("REGISTERED: points, 6")
