"""Benchmark of DICOM loading on a 512 x 512 x 300 CT series: time per stage and peak memory.

Run from the project root: ``python benchmarks/bench_imaging.py [--slices 300]``. It writes a
synthetic series with pydicom into a temporary folder (a regular axial stack, and the same
stack with a 15 degree gantry tilt), then measures each case in a fresh process so that the
peak resident memory (``VmHWM``, see :mod:`benchmarks.memory`) belongs to that case alone:

* ``headers``: discovery, one pydicom header read per file;
* ``sitk series``: SimpleITK's ImageSeriesReader alone on the sorted files (the floor);
* ``load regular``: the whole ``load_volume`` on the regular stack;
* ``load tilted``: ``load_volume`` on the tilted stack, including the resampling.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def write_cases(folder: Path, slices: int) -> None:
    """A head-like CT (air, soft tissue, a bone shell; HU) as a regular and a tilted stack."""
    from tests.navigation.imaging.dicom_factory import SeriesSpec, write_slice

    tilt = np.radians(15.0)
    column = (0.0, np.cos(tilt), -np.sin(tilt))
    normal = np.cross([1.0, 0.0, 0.0], column)
    start = np.array([-128.0, -128.0, 0.0])
    cases = {
        "regular": SeriesSpec(orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), step_mm=1.0),
        "tilted": SeriesSpec(orientation=(1.0, 0.0, 0.0, *column), step_mm=1.0 / normal[2]),
    }
    for name, spec in cases.items():
        spec.rows = spec.columns = 512
        spec.pixel_spacing_mm = (0.5, 0.5)
        for k in range(slices):
            position = start + np.array([0.0, 0.0, k * spec.step_mm])
            centres = spec.pixel_centres(position) - [0.0, 0.0, 0.5 * slices]
            radius = np.linalg.norm(centres / [90.0, 110.0, 120.0], axis=-1)
            values = np.where(radius < 1.0, np.where(radius > 0.92, 1200.0, 40.0), -1000.0)
            write_slice(folder / name / f"{k:04d}.dcm", spec, position, values, instance=k + 1)


def run_case(case: str, folder: Path) -> dict[str, float]:
    start = time.perf_counter()
    if case == "headers":
        from navigation.imaging.dicom_discovery import discover_dicom

        count = discover_dicom(folder / "regular").stacks[0].count
        extra = {"files": float(count)}
    elif case == "sitk series":
        import SimpleITK as sitk

        from navigation.imaging.dicom_discovery import discover_dicom

        headers = discover_dicom(folder / "regular").stacks[0].headers
        ordered = sorted(headers, key=lambda h: h.position_lps_mm[2])  # type: ignore[index]
        start = time.perf_counter()  # the reader alone
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([str(h.path) for h in ordered])
        array = sitk.GetArrayFromImage(reader.Execute())
        extra = {"slices": float(array.shape[0])}
    else:
        from navigation.imaging.loading import load_volume

        loaded = load_volume(folder / ("regular" if case == "load regular" else "tilted"))
        extra = {"slices": float(loaded.volume.array.shape[0])}
    seconds = time.perf_counter() - start
    from benchmarks.memory import peak_resident_mb

    peak_mb = peak_resident_mb()
    return {"seconds": seconds, "peak_mb": peak_mb, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument(
        "--keep", type=Path, help="write the series here (once) and keep them for later runs"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.data)))
        return
    if args.keep:
        measure(args.keep, args.slices)
        return
    with tempfile.TemporaryDirectory(prefix="igcs-bench-imaging-") as tmp:
        measure(Path(tmp), args.slices)


def measure(folder: Path, slices: int) -> None:
    if not (folder / "tilted").is_dir():
        start = time.perf_counter()
        write_cases(folder, slices)
        print(f"wrote 2 x {slices} slices of 512 x 512 in {time.perf_counter() - start:.1f} s")
    print(f"{'case':<16}{'time (s)':>10}{'peak RSS (MB)':>16}")
    for case in ("headers", "sitk series", "load regular", "load tilted"):
        output = subprocess.run(
            [sys.executable, __file__, "--case", case, "--data", str(folder)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(f"{case:<16}{result['seconds']:>10.2f}{result['peak_mb']:>16.0f}")


if __name__ == "__main__":
    main()
