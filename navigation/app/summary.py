"""The numbers of a navigation session, as JSON (``summary.json`` and the ``session_end`` event).

Schema ``igcs-navigation-summary`` version 1::

    {schema, schema_version, plan, duration_s,
     registration: null | {accepted: true, method, fre_mm, residuals_mm: {name: mm},
                           leave_one_out_mm, tre_at_tumour_predicted_mm, fle_rms_mm,
                           expected_fre_mm, warnings, surface, image_from_reference, fiducials,
                           verified, checks: {passed, refusals, cautions, ...},
                           predicted_tre: "valid" | "not valid (...)", override: null | {...}},
     registration_state: "none" | "verified" | "unverified"   (the registration in force)
     fre_mm, tre_at_tumour_predicted_mm,                  (copies, null before acceptance;
                                                           the TRE null unless verified)
     predicted_tre: null | "valid" | "not valid (<the failed checks>)"
     tre_at_tumour_true_mm                  (against a simulator's truth when given, else null)
     distances: {frames_with_guidance, tip_to_tumour_last_mm, tip_to_tumour_min_mm,
                 margin_warning_frames, frames_pointer_hidden},
     tools: {states: {PLUS name: state}, state_changes: {PLUS name: {state: count}}},
     messages: {type: count}, camera_frames,
     fluorescence: null | {frames_mapped, frames_skipped, target_region, background_region,
                           target_mean, background_mean, background_std, tbr, sbr, cnr,
                           target_seen_fraction, positive_area_mm2, close_area_mm2, dice,
                           boundary_error_mm, truth_source, thresholds, meaning},
     tbr, fluorescence_dice, fluorescence_boundary_error_mm,   (copies)
     render: {frames, render_fps, frame_ms_p50, frame_ms_p95, latency_ms_p50, latency_ms_p95,
              latency_samples, slow_frames, stalls, longest_stall_ms, target_fps},
     render_fps, latency_ms_p50, latency_ms_p95,          (copies)
     auto_registration: null | {phase, message},
     warnings_started: {tracking_lost, margin, unverified_registration}   (headless runs)
     link: {connected, address, last_disconnect, connects, disconnects, timeouts, messages,
            bad_crc, malformed, resyncs, false_locks, skipped_bytes, settings,
            recording: null | {written, dropped, dropped_bytes, queued, queued_bytes,
                               peak_queued_bytes}},
     recorder_dropped                 (copy of link.recording.dropped; null when not recording)
     screenshots: [file names]}

Distances are the signed tip-to-tumour distances shown (mm, negative inside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from navigation.app.frame_builder import FrameState
from navigation.app.render_loop import RenderStats
from navigation.app.session import NavigationSession
from registration.core.checks import Float64Array
from registration.core.transforms import apply_transform, invert_rigid

SUMMARY_SCHEMA = "igcs-navigation-summary"


@dataclass
class GuidanceTally:
    """Accumulates what the guidance panel showed, frame by frame."""

    frames: int = 0
    with_guidance: int = 0
    pointer_hidden: int = 0
    margin_warnings: int = 0
    last_mm: float = math.nan
    min_mm: float = math.inf
    distances: list[float] = field(default_factory=list)

    def add(self, frame: FrameState) -> None:
        self.frames += 1
        snapshot = frame.snapshot
        if not snapshot.pointer_ok:
            self.pointer_hidden += 1
            return
        guidance = snapshot.guidance
        if guidance is None:
            return
        self.with_guidance += 1
        self.last_mm = guidance.signed_distance_mm
        self.min_mm = min(self.min_mm, guidance.signed_distance_mm)
        self.margin_warnings += int(guidance.margin_warning)

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames_with_guidance": self.with_guidance,
            "frames_pointer_hidden": self.pointer_hidden,
            "tip_to_tumour_last_mm": _finite(self.last_mm),
            "tip_to_tumour_min_mm": _finite(self.min_mm),
            "margin_warning_frames": self.margin_warnings,
        }


def session_summary(
    session: NavigationSession,
    *,
    render: RenderStats | None = None,
    guidance: GuidanceTally | None = None,
    duration_s: float | None = None,
    fluorescence: dict[str, Any] | None = None,
    auto_registration: dict[str, Any] | None = None,
    screenshots: list[str] | None = None,
    true_image_from_reference: Float64Array | None = None,
) -> dict[str, Any]:
    """The JSON-ready summary (schema in the module docstring).

    true_image_from_reference : the true registration when known (a simulator's ground truth):
        adds ``tre_at_tumour_true_mm``, the distance between where the accepted and the true
        registration put the plan's tumour centroid.
    """
    status = session.status()
    accepted = session.workflow.accepted
    tumour = session.scene.tumour_target_lps_mm
    true_tre = None
    if true_image_from_reference is not None and accepted is not None and tumour is not None:
        moved = apply_transform(
            accepted.image_from_reference @ invert_rigid(true_image_from_reference), tumour
        )
        true_tre = float(np.linalg.norm(moved - tumour))
    override = session.workflow.override
    registration = (
        None
        if accepted is None
        else {
            "accepted": True,
            **accepted.to_dict(),
            "override": None if override is None else override.to_dict(),
        }
    )
    if accepted is None:
        registration_state = "none"
    else:
        registration_state = "verified" if accepted.verified else "unverified"
    render_dict = None if render is None else render.to_dict()
    link = session.link_status()
    return {
        "schema": SUMMARY_SCHEMA,
        "schema_version": 1,
        "plan": str(session.scene.plan.root),
        "duration_s": duration_s,
        "registration": registration,
        "registration_state": registration_state,
        "predicted_tre": None if registration is None else registration["predicted_tre"],
        "fre_mm": None if accepted is None else accepted.fre_mm,
        "tre_at_tumour_predicted_mm": (
            None if accepted is None else accepted.tre_at_tumour_predicted_mm
        ),
        "tre_at_tumour_true_mm": true_tre,
        "distances": None if guidance is None else guidance.to_dict(),
        "tools": {"states": status.tool_states, "state_changes": status.state_changes},
        "messages": status.messages,
        "camera_frames": status.camera_frames,
        "reference_motion_since_accept_mm": status.reference_motion_mm,
        "fluorescence": fluorescence,
        "tbr": None if fluorescence is None else fluorescence.get("tbr"),
        "fluorescence_dice": None if fluorescence is None else fluorescence.get("dice"),
        "fluorescence_boundary_error_mm": (
            None if fluorescence is None else fluorescence.get("boundary_error_mm")
        ),
        "render": render_dict,
        "render_fps": None if render_dict is None else render_dict["render_fps"],
        "latency_ms_p50": None if render_dict is None else render_dict["latency_ms_p50"],
        "latency_ms_p95": None if render_dict is None else render_dict["latency_ms_p95"],
        "auto_registration": auto_registration,
        "link": link.to_dict(),
        "recorder_dropped": None if link.recording is None else link.recording.dropped,
        "screenshots": list(screenshots or []),
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
