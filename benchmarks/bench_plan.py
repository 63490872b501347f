"""Benchmark of ``igcs plan`` on the full-size phantom CT (512 x 512 x 300): time per stage,
peak memory, and VTK meshing against ``skimage.measure.marching_cubes``.

Run from the project root: ``python benchmarks/bench_plan.py [--phantom DIR]``. Without
``--phantom`` it writes the full-size phantom (seed 0) into a temporary folder first (~1.5 min,
not timed). Each measurement runs in a fresh process so that the peak resident memory
(``VmHWM``, see :mod:`benchmarks.memory`) belongs to it alone:

* ``igcs plan``: the whole command (read the DICOM series, SHA-256 of every file, segment,
  write labels, mesh, write the folder), wall time and peak memory;
* the same run split into stages (``make_plan``'s ``on_stage`` callback marks them);
* meshing of the bone mask: vtkFlyingEdges3D vs skimage marching cubes (contour only, same
  mask, same iso-level), and the whole per-label pipeline (contour, windowed sinc,
  decimation, normals) for skin and bone.

Targets: the whole ``igcs plan`` of the phantom <= 6 s, of the real head and neck CT
HN-CHUS-052 (../shared/data, 512 x 512 x 132) <= 10 s, peak resident memory <= 6x the image's
bytes (int16 voxels). The peak is reported both as the process's whole peak and as
the growth over the same process after importing the libraries (Python, numpy, VTK, SimpleITK
alone hold ~250 MB before any image is read).
"""

from __future__ import annotations

import argparse
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


def _peak_mb() -> float:
    from benchmarks.memory import peak_resident_mb

    return peak_resident_mb()


def _import_plan_libraries() -> float:
    """Import what ``igcs plan`` uses; the resident memory (MB) after it."""
    import pyvista  # noqa: F401
    import SimpleITK  # noqa: F401
    import vtk  # noqa: F401

    import navigation.commands.plan
    import navigation.planning.plan_writer  # noqa: F401

    return _peak_mb()


def case_command(phantom: Path, out: Path) -> dict:
    from navigation.cli import main
    from navigation.simulation.phantom import load_truth

    baseline = _import_plan_libraries()
    truth = load_truth(phantom)
    seed = ",".join(repr(float(v)) for v in truth.tumour_seed_lps_mm)
    start = time.perf_counter()
    status = main(["plan", str(phantom / "dicom"), "--out", str(out), f"--tumour-seed={seed}"])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "status": status, "peak_mb": _peak_mb(), "baseline_mb": baseline}


def case_real_ct(ct: Path, out: Path) -> dict:
    """``igcs plan`` of a real CT folder (HN-CHUS-052), no seeds."""
    from navigation.cli import main

    baseline = _import_plan_libraries()
    start = time.perf_counter()
    status = main(["plan", str(ct), "--out", str(out)])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "status": status, "peak_mb": _peak_mb(), "baseline_mb": baseline}


def case_stages(phantom: Path, out: Path) -> dict:
    from navigation.imaging.loading import load_volume
    from navigation.planning.plan_input import source_from_loaded
    from navigation.planning.plan_writer import make_plan
    from navigation.simulation.phantom import load_truth

    truth = load_truth(phantom)
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    loaded = load_volume(phantom / "dicom")
    marks.append(("read DICOM (load_volume)", time.perf_counter()))
    source = source_from_loaded(loaded)
    marks.append(("SHA-256 of the files", time.perf_counter()))
    # the planning image and the meshes of finished labels are written on the writer pool
    # while the segmentation goes on: the "segment" row holds them as far as they overlap
    names = {
        "labels": "segment (+ image, meshes of labels done: the pool)",
        "meshes": "labels submitted (.seg.nrrd, .nii.gz)",
        "fiducials": "meshes and label files finished",
        "plan.json": "fiducials.mrk.json",
    }

    def on_stage(stage: str) -> None:
        if stage in names:
            marks.append((names[stage], time.perf_counter()))

    make_plan(
        loaded.volume,
        out,
        tumour_seed_lps_mm=truth.tumour_seed_lps_mm,
        source=source,
        on_stage=on_stage,
    )
    marks.append(("plan.json + load_plan", time.perf_counter()))
    stages, previous = [], start
    for name, when in marks:
        stages.append((name, when - previous))
        previous = when
    return {"stages": stages, "total": previous - start, "peak_mb": _peak_mb()}


def case_meshing(phantom: Path, _out: Path) -> dict:
    import numpy as np
    import vtk
    from skimage import measure

    from navigation.imaging.loading import load_volume
    from navigation.planning.meshing import _image_data, mesh_region
    from navigation.planning.segmentation import segment_volume

    volume = load_volume(phantom / "dicom").volume
    segmentation = segment_volume(volume)
    rows = {}
    bone = segmentation.regions["bone"]
    block = np.pad(bone.mask, 1).astype(np.float32)
    start = time.perf_counter()
    contour = vtk.vtkFlyingEdges3D()
    contour.SetInputData(_image_data(block))
    contour.SetValue(0, 0.5)
    contour.ComputeNormalsOff()
    contour.ComputeScalarsOff()
    contour.Update()
    rows["bone contour: vtkFlyingEdges3D"] = (
        time.perf_counter() - start,
        contour.GetOutput().GetNumberOfCells(),
    )
    start = time.perf_counter()
    _verts, faces, _normals, _values = measure.marching_cubes(block, 0.5)
    rows["bone contour: skimage marching_cubes"] = (time.perf_counter() - start, len(faces))
    for name in ("skin", "bone"):
        start = time.perf_counter()
        mesh = mesh_region(
            segmentation.regions[name],
            volume.geometry,
            image=volume.array,
            level=segmentation.surface_levels[name],
        )
        rows[f"{name}: whole pipeline (field, contour, smooth, decimate, normals)"] = (
            time.perf_counter() - start,
            mesh.n_cells,
        )
    return {"rows": rows, "peak_mb": _peak_mb()}


CASES = {
    "command": case_command,
    "stages": case_stages,
    "meshing": case_meshing,
    "real_ct": case_real_ct,
}
HN_CT = ROOT.parent / "shared" / "data" / "hn-petct-human" / "HN-CHUS-052" / "CT"
PHANTOM_BYTES_MB = 512 * 512 * 300 * 2 / 2**20
HN_BYTES_MB = 512 * 512 * 132 * 2 / 2**20


def _run_case(name: str, phantom: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        call = f"CASES[{name!r}](Path({str(phantom)!r}), Path({tmp!r}) / 'plan')"
        code = (
            f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from pathlib import Path; from benchmarks.bench_plan import CASES; "
            f"print('RESULT' + json.dumps({call}))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def _print_memory(case: dict, image_mb: float) -> None:
    grown = case["peak_mb"] - case["baseline_mb"]
    print(
        f"peak resident memory {case['peak_mb']:.0f} MB = {case['peak_mb'] / image_mb:.1f}x the "
        f"image's {image_mb:.0f} MB; growth after imports {grown:.0f} MB = "
        f"{grown / image_mb:.1f}x (target <= 6x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", type=Path, help="an existing full-size phantom folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        phantom = args.phantom
        if phantom is None:
            from navigation.simulation.phantom import write_phantom

            phantom = Path(tmp) / "phantom_full"
            print("writing the full-size phantom (512 x 512 x 300, not timed) ...", flush=True)
            write_phantom(phantom, modality="CT", seed=0, size="full")
        command = _run_case("command", phantom)
        stages = _run_case("stages", phantom)
        meshing = _run_case("meshing", phantom)
        real = _run_case("real_ct", HN_CT) if HN_CT.is_dir() else None
    print(f"\nigcs plan on the 512 x 512 x 300 phantom CT ({os.cpu_count()} cores)")
    print(f"{'stage':<58}{'seconds':>9}")
    for name, seconds in stages["stages"]:
        print(f"{name:<58}{seconds:>9.2f}")
    print(f"{'sum of stages (in-process, one run)':<58}{stages['total']:>9.2f}")
    print(f"{'whole igcs plan command':<58}{command['seconds']:>9.2f}")
    _print_memory(command, PHANTOM_BYTES_MB)
    print(f"target <= 6 s: {'met' if command['seconds'] <= 6.0 else 'NOT met'}")
    if real is not None:
        print(f"\nigcs plan of the real CT HN-CHUS-052 (512 x 512 x 132): {real['seconds']:.2f} s")
        _print_memory(real, HN_BYTES_MB)
        print(f"target <= 10 s: {'met' if real['seconds'] <= 10.0 else 'NOT met'}")
    print(f"\n{'meshing':<68}{'seconds':>9}{'triangles':>11}")
    for name, (seconds, triangles) in meshing["rows"].items():
        print(f"{name:<68}{seconds:>9.2f}{triangles:>11}")
    rows = meshing["rows"]
    ratio = (
        rows["bone contour: skimage marching_cubes"][0] / rows["bone contour: vtkFlyingEdges3D"][0]
    )
    print(f"skimage marching_cubes / vtkFlyingEdges3D time ratio: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
