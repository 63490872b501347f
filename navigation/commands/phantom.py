"""``igcs phantom``: write the digital head-and-neck phantom as a DICOM series + truth.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from navigation.simulation.phantom import SIZES, write_phantom


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write a deterministic digital head-and-neck patient (skin, skull base, mandible, "
        "cervical spine, airway, an irregular tumour in the oral tongue / tongue base, a left "
        "level II lymph node, 7 CT-visible 4 mm skin markers) as a DICOM series in OUT/dicom "
        "plus OUT/truth.json with every structure's analytic description in LPS mm."
    )
    parser.add_argument("out", type=Path, help="new output folder")
    parser.add_argument(
        "--modality", choices=("ct", "mr"), default="ct", help="CT (HU) or T1-like MR"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (tumour shape, noise)")
    parser.add_argument(
        "--size",
        choices=tuple(SIZES),
        default="small",
        help="small: 256x256x160 at 1 mm (default); full: 512x512x300 at 0.5x0.5x1 mm",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")


def run(args: argparse.Namespace) -> int:
    phantom = write_phantom(
        args.out, modality=args.modality, seed=args.seed, size=args.size, overwrite=args.overwrite
    )
    truth = phantom.truth
    seed = ",".join(f"{v:.1f}" for v in truth.tumour_seed_lps_mm)
    print(
        f"phantom written to {args.out} ({phantom.volume.modality}, {args.size}, seed {args.seed})"
    )
    print(f"  DICOM series: {args.out / 'dicom'}")
    print(f"  truth: {args.out / 'truth.json'}")
    print(f"  tumour {truth.tumour_volume_ml:.2f} ml; plan it with:")
    print(f"  igcs plan {args.out / 'dicom'} --out PLAN --tumour-seed={seed}")
    return 0
