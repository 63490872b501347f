"""Benchmark of ``igcs plan --pet`` on a real head and neck PET/CT (HN-CHUS-052 in
../shared/data/hn-petct-human): the whole command with and without ``--pet`` (same run, so
the ratio holds under load), and the PET's own steps (read the PET series as SUV; find the
tumour on the CT grid). Each measurement runs in a fresh process.

Run from the project root: ``python benchmarks/bench_pet_plan.py``. Target: ``igcs plan`` of
that CT with ``--pet`` <= 10 s on the 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")
PATIENT = (
    Path(os.environ.get("IGCS_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "hn-petct-human"
    / "HN-CHUS-052"
)


def case_plan(out: Path, with_pet: bool) -> dict:
    from navigation.cli import main

    args = ["plan", str(PATIENT / "CT"), "--out", str(out)]
    if with_pet:
        args += ["--pet", str(PATIENT / "PET")]
    start, cpu = time.perf_counter(), time.process_time()
    status = main(args)
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "status": status,
    }


def case_pet_steps(_out: Path, _with_pet: bool) -> dict:
    from navigation.imaging.loading import load_volume
    from navigation.imaging.pet import read_pet
    from navigation.planning.pet_tumour import tumour_from_pet

    ct = load_volume(PATIENT / "CT").volume
    start = time.perf_counter()
    pet = read_pet(PATIENT / "PET")
    read = time.perf_counter()
    tumour = tumour_from_pet(ct, pet)
    found = time.perf_counter()
    return {
        "read_pet": read - start,
        "tumour_from_pet": found - read,
        "suv_max": tumour.suv_max,
        "mtv_ml": tumour.mtv_ml,
    }


CASES = {"plan": case_plan, "pet_steps": case_pet_steps}


def _run(name: str, with_pet: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        call = f"CASES[{name!r}](Path({tmp!r}) / 'plan', {with_pet!r})"
        code = (
            f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from pathlib import Path; from benchmarks.bench_pet_plan import CASES; "
            f"print('RESULT' + json.dumps({call}))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def main() -> int:
    if not PATIENT.is_dir():
        print(f"{PATIENT} is missing (see ../shared/data/README.md)", file=sys.stderr)
        return 2
    ct_only = _run("plan", with_pet=False)
    with_pet = _run("plan", with_pet=True)
    steps = _run("pet_steps")
    print(f"\nigcs plan of HN-CHUS-052 (CT 512x512x132, PET 144x144x255), {os.cpu_count()} cores")
    print(f"{'case':<44}{'seconds':>9}{'CPU s':>9}")
    print(f"{'igcs plan CT':<44}{ct_only['seconds']:>9.2f}{ct_only['cpu_seconds']:>9.2f}")
    print(
        f"{'igcs plan CT --pet PET':<44}{with_pet['seconds']:>9.2f}{with_pet['cpu_seconds']:>9.2f}"
    )
    print(f"{'  of which: read the PET as SUV':<44}{steps['read_pet']:>9.2f}")
    print(f"{'  of which: tumour from the PET':<44}{steps['tumour_from_pet']:>9.2f}")
    print(f"with / without --pet: {with_pet['seconds'] / ct_only['seconds']:.2f}x wall, "
          f"{with_pet['cpu_seconds'] / ct_only['cpu_seconds']:.2f}x CPU")  # fmt: skip
    print(f"PET tumour: SUVmax {steps['suv_max']:.2f}, MTV {steps['mtv_ml']:.1f} ml")
    verdict = "met" if with_pet["seconds"] <= 10.0 else "NOT met"
    print(f"target igcs plan --pet <= 10 s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
