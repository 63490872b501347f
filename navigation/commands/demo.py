"""``igcs demo``: the end-to-end demo on the bundled phantom (the steps are in
:mod:`navigation.commands.demo_pipeline`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Offline, on the bundled phantom: plan it (igcs plan), start the simulator in its own "
        "process (igcs simulate), register from the simulated pointer and map the simulated "
        "fluorescence sweep (igcs navigate --headless --auto-register), map the recorded "
        "session again offline (igcs fluorescence), and write screenshots, report.md and "
        "summary.json. About a minute on two cores."
    )
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from navigation.commands.demo_pipeline import format_number as n
    from navigation.commands.demo_pipeline import run_demo

    result = run_demo(args.out, seed=args.seed, say=lambda text: print(text, file=sys.stderr))
    s = result.summary
    print(
        f"FRE {n(s['fre_mm'], ' mm')}; TRE at the tumour: true "
        f"{n(s['tre_at_tumour_true_mm'], ' mm')}, predicted "
        f"{n(s['tre_at_tumour_predicted_mm'], ' mm')}"
    )
    print(
        f"fluorescence: Dice {n(s['fluorescence_dice'], '', 3)}, boundary error "
        f"{n(s['fluorescence_boundary_error_mm'], ' mm')}, TBR {n(s['tbr'])}"
    )
    print(f"render {n(s['render_fps'], ' fps', 1)}, latency p95 {n(s['latency_ms_p95'], ' ms', 0)}")
    print(f"summary: {result.paths['summary']}")
    print(f"report:  {result.paths['report']}")
    print(f"total {s['total_s']} s")
    if s["fre_mm"] is None:
        # A demo that did not register has not shown what it claims: say so, exit non-zero.
        auto = s.get("auto_registration") or {}
        print(
            "igcs demo: error: no registration was accepted "
            f"({auto.get('message', 'no dwells collected')}; rendering ran at "
            f"{n(s['render_fps'], ' fps', 1)}): the machine may be too busy for the "
            "simulated pointer's timing; run it again on a quieter machine.",
            file=sys.stderr,
        )
        return 1
    return 0
