"""Making one plan from the parsed ``igcs plan`` arguments, and its printed summary: shared by
``igcs plan``, its cohorts (:mod:`navigation.commands.plan_cohort`, one call per patient) and
``igcs demo``."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from navigation.cli import UserError
from navigation.planning.plan import Plan
from navigation.planning.plan_options import (
    describe_sources,
    preset_from_arguments,
    sources_from_arguments,
)
from navigation.planning.segmentation import seed_from_text


def _box(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 6:
        raise UserError(f"--tumour-box needs six numbers X0,Y0,Z0,X1,Y1,Z1 (LPS mm); got {text!r}.")
    return np.stack(
        [
            seed_from_text(",".join(parts[:3]), "--tumour-box"),
            seed_from_text(",".join(parts[3:]), "--tumour-box"),
        ]
    )


def make_plan_from_path(args: argparse.Namespace) -> Plan:
    """Read INPUT and write the plan (shared by ``igcs plan`` and ``igcs demo``)."""
    from navigation.imaging.loading import load_volume
    from navigation.planning.plan_input import source_from_label_files, source_from_loaded
    from navigation.planning.plan_writer import make_plan
    from navigation.planning.process_memory import map_large_allocations

    map_large_allocations()  # freed arrays go back to the OS: a lower peak
    tumour_seed = seed_from_text(args.tumour_seed, "--tumour-seed") if args.tumour_seed else None
    node_seed = seed_from_text(args.node_seed, "--node-seed") if args.node_seed else None
    box = _box(args.tumour_box)
    sources = sources_from_arguments(args)
    if args.out.exists() and not args.overwrite:
        raise UserError(
            f"{args.out} already exists; choose another PLAN folder or pass --overwrite."
        )
    preset = None
    source: dict[str, Any] | Callable[[], dict[str, Any]]
    if args.labels:
        preset_from_arguments(args, "LABEL")  # refuses thresholds for label maps
        from navigation.planning.label_input import read_label_files  # slicerio: only here

        volume, segmentation = read_label_files(args.input)
        source = source_from_label_files(args.input, [Path(f) for f in volume.metadata["files"]])
        print(f"read {len(segmentation.table)} labels from {args.input}")
        for row in segmentation.imports["label_files"]["structures"]:
            if row["name"] != row["source"]:
                print(f"  {row['name']} <- {row['source']!r} ({row['file']})")
    else:
        loaded = load_volume(
            args.input,
            series_uid=args.series,
            allow_resampling=not args.no_resample,
            modality=getattr(args, "modality", None),
        )
        volume, segmentation = loaded.volume, None
        if volume.modality not in ("CT", "MR"):
            reason = volume.metadata.get("modality_reason") or (
                f"{loaded.report.chosen} is not a CT or MR (Modality "
                f"{volume.metadata.get('modality')!r}); planning needs one"
            )
            raise UserError(f"{reason}.")
        preset = preset_from_arguments(args, volume.modality)
        # the files are hashed on the plan writer's pool while the segmentation goes on
        source = functools.partial(source_from_loaded, loaded)
        print(f"read {loaded.report.chosen}")
        for other in loaded.report.others:
            print(f"  also found: {other}")
        for warning in loaded.report.warnings:
            print(f"  warning: {warning}")
        if sources.any:
            from navigation.planning.plan_sources import segment_with_sources

            segmentation = segment_with_sources(
                volume,
                sources,
                tumour_seed_lps_mm=tumour_seed,
                tumour_box_lps_mm=box,
                node_seed_lps_mm=node_seed,
                expected_fiducials=args.expected_fiducials,
                preset=preset,
                on_step=lambda text: print(text, flush=True),
            )
    return make_plan(
        volume,
        args.out,
        tumour_seed_lps_mm=tumour_seed,
        tumour_box_lps_mm=box,
        node_seed_lps_mm=node_seed,
        segmentation=segmentation,
        preset=preset,
        expected_fiducials=args.expected_fiducials,
        source=source,
        write_stl=not args.no_stl,
        overwrite=args.overwrite,
        progress=True,
        review_pictures=_review_pictures(args),
    )


def _review_pictures(args: argparse.Namespace) -> Callable[[Path], dict[str, str]] | None:
    """The review's picture writer when ``--review-pictures`` asks for it."""
    if not getattr(args, "review_pictures", False):
        return None
    from navigation.review.pictures import write_review_pictures

    return write_review_pictures


def print_summary(plan: Plan) -> None:
    print(f"plan written to {plan.root}")
    for entry in plan.labels:
        volume = f"{entry.volume_ml:9.2f} ml" if entry.volume_ml is not None else ""
        print(f"  {entry.name:<16} value {entry.value:<3} {volume}  {entry.mesh or '(no mesh)'}")
    kind = "registration landmarks" if "landmarks" in plan.raw else "fiducial markers found"
    print(f"  {kind}: {len(plan.fiducial_names)}")
    for name, point in zip(plan.fiducial_names, plan.fiducials_lps_mm, strict=True):
        side = "midline" if abs(point[0]) < 5 else "left" if point[0] > 0 else "right"
        print(f"    {name}: {np.round(point, 2).tolist()} LPS mm ({side})")
    if plan.tumour_centroid_lps_mm is not None:
        print(
            f"  tumour: {plan.tumour_volume_ml:.2f} ml, centroid "
            f"{np.round(plan.tumour_centroid_lps_mm, 2).tolist()} LPS mm"
        )
    for line in describe_sources(plan.raw):
        print(f"  {line}")
    pictures = [f for key, f in plan.raw.get("files", {}).items() if key.startswith("review_")]
    if pictures:
        print(f"  review pictures: {', '.join(pictures)}")
    for warning in plan.raw.get("report", {}).get("warnings", []):
        print(f"  warning: {warning}")
