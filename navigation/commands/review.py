"""``igcs review PLAN``: the planner's window over a plan folder.

Shows the scan's slices (window/level, zoom, pan), the labels as outlines and fills, the 3-D
meshes and the plan's facts (volumes, landmarks, tumour, warnings, the predicted TRE at the
tumour for the current landmarks). The planner places, moves, renames and deletes landmarks by
clicking on the slices or the skin in 3-D; seeds or boxes the tumour and changes its growth
window; corrects labels (islands, threshold range, margin, box); re-runs a tissue's CT threshold;
edits free-hand in 3D Slicer and re-imports; and saves: the plan folder is rewritten atomically
with an edit log in plan.json, the previous plan kept as PLAN.previous-<time>. See
:mod:`navigation.app.review_window` for the keys.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from navigation.cli import UserError
from registration.optional_dependencies import require_extra


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n", 1)[1].replace("\n", " ")
    parser.add_argument("plan", type=Path, metavar="PLAN", help="plan folder (igcs plan)")
    parser.add_argument(
        "--fle",
        type=float,
        default=1.0,
        metavar="MM",
        help="FLE (RMS 3-D, mm) of the predicted TRE shown, as igcs accuracy --fle (default 1.0)",
    )
    parser.add_argument("--user", help="name in the edit log (default: the login name)")
    parser.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="draw the window once, save it, close"
    )


def run(args: argparse.Namespace) -> int:
    if not math.isfinite(args.fle) or args.fle <= 0:
        raise UserError(f"--fle must be a positive number of mm; got {args.fle}.")
    from navigation.review.model import ReviewModel

    model = ReviewModel.open(args.plan, fle_rms_mm=args.fle)
    if args.user:
        model.user = args.user
    require_extra(
        "gui",
        alternative="or make the review pictures without a window (igcs plan --review-pictures)",
    )
    from navigation.app.review_window import run_review

    return run_review(model, screenshot=None if args.screenshot is None else str(args.screenshot))
