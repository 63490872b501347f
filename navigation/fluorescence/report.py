"""The offline mapping's outputs: ``fluorescence.vtp``, PNG views and ``metrics.json``.

``metrics.json`` (schema ``igcs-fluorescence-metrics`` version 1)::

    plan, session, field {geometry, vertices, tumour_source},
    regions {target, background}                       (what the ratios compare, in words)
    quantification {sbr, cnr, target_mean, background_mean, background_std,
                    target_seen_fraction, background_seen_fraction,
                    target_linear_mean, background_linear_mean, unit}   | null + reason
    thresholds {positive_sbr, close_sbr, source}       (tracer- and device-specific)
    flags {seen_area_mm2, positive_area_mm2, close_area_mm2, positive_vertices, ...}
    frames {total, used, seeing_field, skipped {reason: count}, time_base}
    inputs {intrinsics, hand_eye, registration, radiometry}: where each came from
    chain                                              (the pose chain, in words)
    truth {source, dice, boundary_error_mm, mapped_to_true_mm, true_to_mapped_mm,
           mapped_positive_area_mm2, true_patch_area_mm2, true_target_sbr,
           mapped_sbr_on_true_background, background_level_ratio}   (with a truth only)
    note                                               ("within a few mm under the surface")

``sbr`` is the signal-to-background (tumour-to-background) ratio of the excitation-corrected
means; the raw means are always reported beside it (the background definition changes the
ratio a lot). ``background_level_ratio`` is the mapped background mean over what the synthetic
sensor gives for the true background emission at the reference geometry (1 when the
radiometric chain is right); ``mapped_sbr_on_true_background`` is the mapped SBR averaged over
seen vertices whose true emission is background (within 1 %) and more than 3 mm inside the
bed's rim: about 1. Undefined numbers (no mapped boundary, a zero background) are null.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from navigation.fluorescence.field import SurgicalField
from navigation.fluorescence.mapping_inputs import MappingInputs
from navigation.fluorescence.session_mapping import SessionMapping
from registration.core.atomic_files import atomic_path, write_json_atomic
from registration.core.checks import InputError
from rendering.fluorescence.accuracy import region_accuracy
from rendering.fluorescence.metrics import (
    CLOSE,
    POSITIVE,
    MarginThresholds,
    Quantification,
    margin_flags,
    quantify,
)
from rendering.fluorescence.nir_camera import NirSensorModel
from rendering.fluorescence_output import fluorescence_polydata, write_fluorescence_png

METRICS_SCHEMA = "igcs-fluorescence-metrics"
NOTE = (
    "Fluorescence on the surface means fluorophore within a few millimetres under it (NIR-I "
    "light escapes from about 5 mm deep); it is not a depth."
)
UNIT = (
    "excitation-corrected linear counts (DN above dark, flat-fielded, at 300 mm, normal incidence)"
)


def fluorescence_metrics(
    field_: SurgicalField,
    mapping: SessionMapping,
    inputs: MappingInputs,
    *,
    thresholds: MarginThresholds | None = None,
    sensor: NirSensorModel | None = None,
    plan: str = "",
    session: str = "",
) -> dict[str, Any]:
    """The ``metrics.json`` payload (module docstring); ``sensor`` is the synthetic camera's
    model when known (for ``background_level_ratio``)."""
    limits = thresholds or MarginThresholds()
    fused = mapping.fused
    mesh = field_.mesh
    areas = mesh.vertex_areas()
    metrics: dict[str, Any] = {
        "schema": METRICS_SCHEMA,
        "schema_version": 1,
        "plan": plan,
        "session": session,
        "field": {
            **field_.geometry.to_dict(),
            "vertices": mesh.vertex_count,
            "tumour_source": field_.tumour_source,
        },
        "regions": {"target": field_.target_region, "background": field_.background_region},
        "thresholds": {
            "positive_sbr": limits.positive_sbr,
            "close_sbr": limits.close_sbr,
            "source": limits.source,
            "note": "tracer- and device-specific; not universal",
        },
        "frames": {
            "total": mapping.frames_total,
            "used": mapping.frames_used,
            "seeing_field": mapping.frames_seeing_field,
            "skipped": dict(mapping.skipped),
            "time_base": dict(mapping.time_base),
        },
        "inputs": dict(inputs.sources),
        "chain": mapping.chain,
        "note": NOTE,
    }
    stats = _quantify(field_, fused.mean, fused.linear_mean)
    if isinstance(stats, str):
        metrics["quantification"] = None
        metrics["quantification_reason"] = stats
        metrics["flags"] = {"seen_area_mm2": float(areas[fused.seen].sum())}
        metrics["truth"] = None
        return _json_ready(metrics)
    quantification, linear = stats
    metrics["quantification"] = {
        "sbr": quantification.sbr,
        "cnr": quantification.cnr,
        "target_mean": quantification.target_mean,
        "background_mean": quantification.background_mean,
        "background_std": quantification.background_std,
        "target_seen_fraction": quantification.target_seen_fraction,
        "background_seen_fraction": quantification.background_seen_fraction,
        "target_linear_mean": linear.target_mean,
        "background_linear_mean": linear.background_mean,
        "unit": UNIT,
    }
    flags = margin_flags(fused.mean, quantification.background_mean, thresholds=limits)
    metrics["flags"] = {
        "seen_area_mm2": float(areas[fused.seen].sum()),
        "positive_area_mm2": float(areas[flags == POSITIVE].sum()),
        "close_area_mm2": float(areas[flags == CLOSE].sum()),
        "positive_vertices": int((flags == POSITIVE).sum()),
        "close_vertices": int((flags == CLOSE).sum()),
    }
    truth = field_.truth
    if truth is None:
        metrics["truth"] = None
        return _json_ready(metrics)
    sbr = fused.mean / quantification.background_mean
    accuracy = region_accuracy(mesh, sbr, truth.true_sbr, level=limits.positive_sbr)
    # True background, away from the bed's rim (whose last pixel blends with the void).
    inside = field_.geometry.radial_distance_mm(mesh.vertices_in_image) < (
        field_.geometry.radius_mm - 3.0
    )
    background = fused.seen & (truth.true_sbr < 1.01) & inside
    metrics["truth"] = {
        "source": truth.source,
        "tracer": truth.tracer.to_dict(),
        "dice": accuracy.dice,
        "boundary_error_mm": accuracy.boundary_error_mm,
        "mapped_to_true_mm": accuracy.mapped_to_true_mm,
        "true_to_mapped_mm": accuracy.true_to_mapped_mm,
        "mapped_positive_area_mm2": accuracy.mapped_area_mm2,
        "true_patch_area_mm2": accuracy.true_area_mm2,
        "true_patch_seen_fraction": float(
            areas[truth.true_patch & fused.seen].sum() / max(areas[truth.true_patch].sum(), 1e-12)
        ),
        "true_target_sbr": float(
            np.average(truth.true_sbr[field_.target_mask], weights=areas[field_.target_mask])
        ),
        "mapped_sbr_on_true_background": (
            float(np.average(sbr[background], weights=areas[background]))
            if background.any()
            else None
        ),
        "background_level_ratio": (
            quantification.background_mean / (sensor.gain_dn * truth.tracer.background)
            if sensor is not None
            else None
        ),
        "definitions": "true patch: true emission / true background >= positive_sbr; mapped "
        "positive region: fused value / background-ring mean >= positive_sbr; Dice area-"
        "weighted; boundary error: larger of the two mean curve distances (mm)",
    }
    return _json_ready(metrics)


def write_outputs(
    out: str | Path,
    field_: SurgicalField,
    mapping: SessionMapping,
    metrics: dict[str, Any],
    *,
    thresholds: MarginThresholds | None = None,
    window_size: tuple[int, int] = (1024, 768),
    context: Sequence[tuple[Any, tuple[float, float, float], float]] = (),
) -> dict[str, Path]:
    """Write ``fluorescence.vtp``, the PNG views (when there is a background mean to scale
    them) and ``metrics.json`` into ``out`` (created); returns the paths by name.

    context : the patient's anatomy as (surface, colour, opacity): adds
        ``fluorescence_anatomy.png``, the map in its place on the patient, seen from the
        camera's side of the field."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    limits = thresholds or MarginThresholds()
    quantification = metrics.get("quantification")
    background = None if quantification is None else float(quantification["background_mean"])
    poly = fluorescence_polydata(
        field_.mesh, mapping.fused, background_mean=background, thresholds=limits
    )
    poly.point_data["target_region"] = field_.target_mask.astype(np.uint8)
    poly.point_data["background_region"] = field_.background_mask.astype(np.uint8)
    if field_.truth is not None:
        poly.point_data["true_emission"] = np.array(field_.truth.emission)
        poly.point_data["true_patch"] = field_.truth.true_patch.astype(np.uint8)
    paths = {"vtp": folder / "fluorescence.vtp"}
    with atomic_path(paths["vtp"]) as tmp:
        poly.save(tmp)
    if background is not None:
        for name, tilt in (("view_front", 0.0), ("view_oblique", 35.0)):
            paths[name] = write_fluorescence_png(
                folder / f"fluorescence_{name[5:]}.png",
                field_.mesh,
                mapping.fused,
                background_mean=background,
                thresholds=limits,
                camera_position=_view(field_, tilt),
                window_size=window_size,
            )
        if context:
            paths["view_anatomy"] = write_fluorescence_png(
                folder / "fluorescence_anatomy.png",
                field_.mesh,
                mapping.fused,
                background_mean=background,
                thresholds=limits,
                camera_position=_view(field_, 25.0, distance_factor=9.0),
                window_size=window_size,
                context=context,
            )
    paths["metrics"] = folder / "metrics.json"
    write_json_atomic(paths["metrics"], metrics)
    return paths


def _json_ready(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN/Inf as None (JSON has neither:
    an undefined ratio, e.g. no mapped boundary, is reported as null)."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _quantify(
    field_: SurgicalField, values: np.ndarray, linear: np.ndarray
) -> tuple[Quantification, Quantification] | str:
    areas = field_.mesh.vertex_areas()
    target, background = field_.target_mask, field_.background_mask

    def stats(per_vertex: np.ndarray) -> Quantification:
        return quantify(
            per_vertex,
            target,
            background,
            target_region=field_.target_region,
            background_region=field_.background_region,
            vertex_areas=areas,
        )

    try:
        corrected, raw = stats(values), stats(linear)
    except InputError as error:
        return str(error)
    return corrected, raw


def _view(
    field_: SurgicalField, tilt_deg: float, *, distance_factor: float = 4.0
) -> list[tuple[float, ...]]:
    geometry = field_.geometry
    pose = geometry.image_from_field()
    tilt = np.radians(tilt_deg)
    direction = np.cos(tilt) * pose[:3, 2] + np.sin(tilt) * pose[:3, 0]
    centre = geometry.floor_point_lps_mm
    distance = distance_factor * geometry.radius_mm
    return [tuple(centre + distance * direction), tuple(centre), tuple(pose[:3, 1])]
