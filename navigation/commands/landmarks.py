"""``igcs landmarks INPUT --out landmarks.mrk.json``: anatomical registration landmarks proposed
on a head CT's skin, for patients without markers (:mod:`navigation.planning.facial_landmarks`).

INPUT is a CT (DICOM folder or image file, as for ``igcs plan``) or a plan folder (its skin
mesh). The skin of a CT is segmented and meshed exactly as ``igcs plan`` does, so the landmarks
lie on the plan's skin; give the file to ``igcs plan --fiducials`` to make them the plan's
registration fiducials. Writes Slicer markups (LPS, each landmark's method in its description)
and, with ``--picture``, a PNG of the face with the landmarks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from navigation.planning.facial_landmarks import FacialLandmarks, propose_landmarks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.add_argument("input", type=Path, metavar="INPUT", help="head CT or plan folder")
    parser.add_argument("--out", required=True, type=Path, help="markups file (.mrk.json)")
    parser.add_argument("--picture", type=Path, metavar="PNG", help="picture of the landmarks")


def propose_for_volume(source: Path, out: Path, *, picture: Path | None = None) -> FacialLandmarks:
    """Propose landmarks on the skin of a CT or plan folder, write the markups (and picture)."""
    from navigation.planning.markups import write_markups_fiducials

    skin = _skin(source)
    surface = skin.compute_normals(point_normals=True, cell_normals=False, auto_orient_normals=True)
    proposal = propose_landmarks(
        np.asarray(surface.points, dtype=np.float64),
        np.asarray(surface.point_data["Normals"], dtype=np.float64),
    )
    write_markups_fiducials(
        out,
        list(proposal.names),
        proposal.points_lps_mm,
        list_name="Landmarks",
        descriptions=[f"proposed automatically: {m}; check it" for m in proposal.methods],
    )
    if picture is not None:
        from rendering.snapshot import MeshLayer, snapshot_landmarks

        snapshot_landmarks(
            [MeshLayer(skin, (0.85, 0.70, 0.60), 1.0, "skin")],
            proposal.names,
            proposal.points_lps_mm,
            picture,
        )
    return proposal


def _skin(source: Path) -> Any:
    """The skin surface (pyvista, LPS mm) of a plan folder or, meshed as igcs plan does, a CT."""
    from navigation.planning.plan import load_plan

    if (source / "plan.json").is_file():
        return load_plan(source).read_mesh("skin")
    from navigation.imaging.loading import load_volume
    from navigation.planning.meshing import mesh_region
    from navigation.planning.segmentation import segment_volume

    volume = load_volume(source).volume
    segmentation = segment_volume(volume)
    return mesh_region(
        segmentation.regions["skin"],
        segmentation.geometry,
        image=volume.array,
        level=segmentation.surface_levels.get("skin"),
    )


def run(args: argparse.Namespace) -> int:
    proposal = propose_for_volume(args.input, args.out, picture=args.picture)
    for name, point, method in zip(
        proposal.names, proposal.points_lps_mm, proposal.methods, strict=True
    ):
        print(f"  {name:<13} {np.round(point, 1).tolist()} LPS mm  ({method})")
    for warning in proposal.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    print(f"landmarks written to {args.out}")
    return 0
