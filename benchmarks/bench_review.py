"""Benchmark of the planner's review on the full-size phantom CT (512 x 512 x 300, 0.5 x 0.5 x
1 mm): re-meshing one label after an edit, as the review window does it.

Run from the project root: ``python benchmarks/bench_review.py [--plan DIR]``. Without
``--plan`` it writes the full-size phantom and plans it into a temporary folder first (not
timed). Then, on a :class:`navigation.review.model.ReviewModel` of that plan, it times

* the tumour grown from its seed (the review's tumour preview: growth and mesh);
* each label corrected and re-meshed: the tumour grown 1 mm, the node shrunk 0.5 mm,
  the bone re-thresholded at 400 HU (segmentation and mesh), the skin re-thresholded at
  -400 HU (segmentation and mesh), the airway clipped by a box;
* ``ReviewModel.remesh`` alone for every label (what follows any edit of that label);
* the predicted TRE at the tumour with the "one more landmark" hint (every landmark change).

Target: re-meshing one label after an edit <= 2 s for a 512 x 512 x 300 image. Figures depend
on the machine and its load (the 2-core machine is shared): each row is the best of
``--repeat`` runs, the wall time of the whole edit is shown beside the re-mesh alone, and the
re-mesh's process CPU time beside its wall time (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("VTK_SMP_BACKEND_IN_USE", "STDThread")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

TARGET_S = 2.0


def _best(function, repeat: int, cpu: list[float] | None = None) -> float:  # type: ignore[no-untyped-def]
    """The best wall time of ``repeat`` runs (and, into ``cpu``, that run's process CPU time:
    what an idle machine's wall time would be for single-threaded work)."""
    times = []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    best = min(times)
    if cpu is not None:
        cpu.append(best[1])
    return best[0]


def _plan(folder: Path) -> Path:
    from navigation.cli import main
    from navigation.simulation.phantom import load_truth, write_phantom

    phantom = folder / "phantom_full"
    print("writing and planning the full-size phantom (512 x 512 x 300, not timed) ...", flush=True)
    write_phantom(phantom, modality="CT", seed=0, size="full")
    truth = load_truth(phantom)
    seed = ",".join(repr(float(v)) for v in truth.tumour_seed_lps_mm)
    node = ",".join(repr(float(v)) for v in truth.node_centroid_lps_mm)
    plan = folder / "plan"
    status = main(
        [
            "plan",
            str(phantom / "dicom"),
            "--out",
            str(plan),
            f"--tumour-seed={seed}",
            f"--node-seed={node}",
            "--no-stl",
        ]
    )
    if status != 0:
        raise SystemExit(f"igcs plan failed ({status})")
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, help="an existing plan of the full-size phantom")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (best shown)")
    args = parser.parse_args()
    import numpy as np

    from navigation.planning.tissue_thresholds import CtPreset
    from navigation.review import landmarks, structures
    from navigation.review.model import ReviewModel

    with tempfile.TemporaryDirectory() as tmp:
        plan = args.plan or _plan(Path(tmp))
        start = time.perf_counter()
        model = ReviewModel.open(plan)
        opened = time.perf_counter() - start
        size = "x".join(str(n) for n in model.geometry.size_ijk)
        print(
            f"\nreview of {plan.name}: {size} voxels, opened in {opened:.1f} s "
            f"({os.cpu_count()} cores, best of {args.repeat})"
        )
        rows: list[tuple[str, float, float, float]] = []

        def edit(title: str, label: str, run) -> None:  # type: ignore[no-untyped-def]
            whole = _best(run, args.repeat)
            cpu: list[float] = []
            alone = _best(lambda: model.remesh(label), args.repeat, cpu)
            rows.append((title, whole, alone, cpu[0]))

        seed = model.tumour_seed_lps_mm
        rows.append(
            (
                "tumour preview from its seed (grow + mesh)",
                _best(lambda: structures.preview_tumour(model, seed_lps_mm=seed), args.repeat),
                float("nan"),
                float("nan"),
            )
        )
        structures.discard_tumour(model)
        original = dict(model.regions)

        def reset(label: str) -> None:
            model.regions[label] = original[label]

        edit(
            "tumour: margin +1 mm",
            "tumour",
            lambda: (
                reset("tumour"),
                structures.edit_label(model, "tumour", "margin", margin_mm=1.0),
            ),
        )
        edit(
            "node: margin -0.5 mm",
            "node",
            lambda: (reset("node"), structures.edit_label(model, "node", "margin", margin_mm=-0.5)),
        )
        centre = model.regions["airway"].centroid_lps_mm(model.geometry)
        box = np.stack([centre - 30.0, centre + 30.0])
        edit(
            "airway: clipped by a 60 mm box",
            "airway",
            lambda: (
                reset("airway"),
                structures.edit_label(model, "airway", "clip box", box_lps_mm=box),
            ),
        )
        edit(
            "bone: re-thresholded at 400 HU",
            "bone",
            lambda: structures.resegment(model, "bone", CtPreset(bone_hu=400.0)),
        )
        edit(
            "skin: re-thresholded at -400 HU",
            "skin",
            lambda: structures.resegment(model, "skin", CtPreset(body_hu=-400.0)),
        )
        tre = _best(lambda: landmarks.tre_status(model), args.repeat)

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load}")
    print(f"{'edit':<40}{'edit + mesh s':>14}{'re-mesh s':>11}{'CPU s':>8}{'target':>9}")
    for title, whole, alone, cpu_s in rows:
        verdict = "" if alone != alone else ("met" if alone <= TARGET_S else "NOT met")
        shown = "" if alone != alone else f"{alone:.2f}"
        used = "" if cpu_s != cpu_s else f"{cpu_s:.2f}"
        print(f"{title:<40}{whole:>14.2f}{shown:>11}{used:>8}{verdict:>9}")
    print(f"{'predicted TRE + one-more-landmark hint':<40}{tre:>14.3f}")
    print(f"target: re-meshing one label after an edit <= {TARGET_S:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
