"""``igcs demo``: the end-to-end demo on the bundled phantom
(:mod:`navigation.commands.demo_pipeline`), or with ``--patient DIR`` on a real patient's PET/CT
(:mod:`navigation.commands.patient_demo`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from navigation.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Offline, on the bundled phantom: plan it (igcs plan), start the simulator in its own "
        "process (igcs simulate), register from the simulated pointer and map the simulated "
        "fluorescence sweep (igcs navigate --headless --auto-register), map the recorded "
        "session again offline (igcs fluorescence), and write screenshots, report.md and "
        "summary.json. About a minute on two cores. With --patient DIR, the same on a real "
        "patient's PET/CT (CT/ and PET/ folders, like TCIA Head-Neck-PET-CT HN-CHUS-052): "
        "landmarks on the skin, the PET tumour, landmark + surface registration, a "
        "transcervical wound imaged as tissue; under three minutes."
    )
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    parser.add_argument(
        "--patient", type=Path, metavar="DIR", help="a patient folder with CT/ and PET/ series"
    )
    parser.add_argument(
        "--plan", type=Path, metavar="PLAN", help="with --patient: reuse this plan folder"
    )


def run(args: argparse.Namespace) -> int:
    from navigation.commands.demo_pipeline import format_number as n
    from navigation.commands.demo_pipeline import run_demo

    def say(text: str) -> None:
        print(text, file=sys.stderr)

    if args.plan is not None and args.patient is None:
        raise UserError("--plan reuses a patient's plan: give --patient DIR too")
    if args.patient is not None:
        from navigation.commands.patient_demo import run_patient_demo

        result = run_patient_demo(args.patient, args.out, seed=args.seed, say=say, plan=args.plan)
    else:
        result = run_demo(args.out, seed=args.seed, say=say)
    s = result.summary
    print(
        f"FRE {n(s['fre_mm'], ' mm')}; TRE at the tumour: true "
        f"{n(s['tre_at_tumour_true_mm'], ' mm')}, predicted "
        f"{n(s['tre_at_tumour_predicted_mm'], ' mm')}"
    )
    cnr = f", CNR {n(s['cnr'], '', 1)}" if "cnr" in s else ""
    print(
        f"fluorescence: Dice {n(s['fluorescence_dice'], '', 3)}, boundary error "
        f"{n(s['fluorescence_boundary_error_mm'], ' mm')}, TBR {n(s['tbr'])}{cnr}"
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
