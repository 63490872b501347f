"""The jobs of a plan's writer pools: the thread pools themselves and each label's mesh,
written while the segmentation goes on (:class:`MeshJobs`: a label is meshed as soon as it is
final).

On two cores the segmentation (numpy, cc3d) overlaps the meshing (VTK's filters release the
GIL; ``fast_simplification``'s decimation does not) and the compression of the plan's files.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from navigation.imaging.volume import Volume
from navigation.planning.labels import SKIN
from navigation.planning.meshing import MeshOptions, mesh_region, save_mesh
from navigation.planning.regions import RegionMask, SurfaceLevel
from navigation.planning.segmentation import Segmentation
from registration.core.geometry import ImageGeometry


def file_stem(name: str) -> str:
    """A label name as a file name (letters, digits, "_", "." and "-")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "label"


#: The plan's files (image, label maps, hashes) are written by one thread and the meshes by
#: another, one label at a time: with the segmentation in the main thread that keeps two cores
#: busy (VTK's filters, ISA-L, hashlib and SimpleITK release the GIL), and two meshes'
#: fields and decimations (``fast_simplification`` holds the GIL anyway) never add up in
#: memory.
FILE_THREADS = MESH_THREADS = 1


@contextmanager
def writer_pool(threads: int = 1) -> Iterator[ThreadPoolExecutor]:
    """A pool of ``threads`` that, when the run fails, drops the jobs not yet started and
    waits for the running ones (so the temporary folder is complete before it is removed)."""
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _mesh_file(
    path: Path,
    region: RegionMask,
    level: SurfaceLevel | None,
    geometry: ImageGeometry,
    image: np.ndarray | None,
    options: MeshOptions,
    write_stl: bool,
) -> None:
    """Mesh one label and write it (.vtp at ``path``, and .stl beside it if asked)."""
    mesh = mesh_region(region, geometry, image=image, level=level, options=options)
    save_mesh(mesh, path)
    if write_stl:
        save_mesh(mesh, path.with_suffix(".stl"))


class MeshJobs:
    """Each non-empty label's mesh, a job on the writer pool submitted once per label: as the
    segmentation makes the label final (:meth:`submit`, its ``on_region``), or afterwards."""

    def __init__(
        self,
        folder: Path,
        volume: Volume,
        options: MeshOptions,
        write_stl: bool,
        pool: ThreadPoolExecutor,
    ) -> None:
        (folder / "meshes").mkdir()
        self.folder, self.volume, self.options = folder, volume, options
        self.write_stl, self.pool = write_stl, pool
        self.jobs: dict[str, tuple[str, Future[None]]] = {}

    def submit(self, name: str, region: RegionMask, level: SurfaceLevel | None) -> None:
        if name in self.jobs or region.voxel_count == 0:
            return
        volume = self.volume
        relative = f"meshes/{file_stem(name)}.vtp"
        job = self.pool.submit(
            _mesh_file,
            self.folder / relative,
            region,
            level,
            volume.geometry,
            volume.array if volume.modality.upper() != "LABEL" else None,
            replace(self.options, keep_closed=name == SKIN),
            self.write_stl,
        )
        self.jobs[name] = (relative, job)

    def submit_all(self, segmentation: Segmentation) -> None:
        """The labels not yet submitted, largest box first (the longest jobs start first)."""
        regions = segmentation.regions
        names = sorted(
            (e.name for e in segmentation.table if e.name not in self.jobs),
            key=lambda name: -regions[name].mask.size,
        )
        for name in names:
            self.submit(name, regions[name], segmentation.surface_levels.get(name))

    def rows(self, segmentation: Segmentation, progress: bool) -> list[dict[str, Any]]:
        """Wait for the meshes; the label table's rows in table order."""
        bar = tqdm(
            total=len(self.jobs),
            desc="meshes",
            unit="label",
            leave=False,
            file=sys.stderr,
            disable=not progress,
        )
        with bar:
            for _job in as_completed(job for _path, job in self.jobs.values()):
                bar.update()
        regions = segmentation.regions
        rows = []
        for entry in segmentation.table:
            path, job = self.jobs.get(entry.name, (None, None))
            if job is not None:
                job.result()
            rows.append(
                {
                    "name": entry.name,
                    "value": entry.value,
                    "color": list(entry.color),
                    "mesh": path,
                    "volume_ml": regions[entry.name].volume_ml(segmentation.geometry),
                }
            )
        return rows
