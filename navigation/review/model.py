"""The review's one state: a plan being reviewed, as the planner has changed it so far.

:class:`ReviewModel` is read from a plan folder (:func:`ReviewModel.open`): the labels'
voxels from ``labels.seg.nrrd`` (each segment whole, overlaps kept, through the Slicer import's
reader), the scan from ``image.nii.gz`` and the meshes through the navigation's own reader
(:func:`navigation.planning.plan_scene.load_plan_scene`: SHA-256 and grid checked), the landmarks
from ``plan.json``'s fiducials, the tumour's seed, box and window and the CT thresholds from its
report. It also holds what the views show (cursor, window/level, zoom, the interaction mode)
and the edit log. It has no Qt: the window's widgets read it and call the review's logic
(:mod:`~navigation.review.landmarks`, :mod:`~navigation.review.structures`,
:mod:`~navigation.review.saving`), which change it and :meth:`ReviewModel.notify` the views.
"""

from __future__ import annotations

import datetime
import getpass
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from navigation.imaging.volume import Volume
from navigation.planning.labels import AIRWAY, BONE, SKIN, TUMOUR
from navigation.planning.meshing import mesh_region
from navigation.planning.plan import LabelEntry, Plan, load_plan
from navigation.planning.region_growing import GrownRegion
from navigation.planning.regions import RegionMask, SurfaceLevel
from navigation.planning.segmentation_import import read_seg_nrrd
from navigation.planning.tissue_thresholds import CtPreset
from registration.closest_point import TriangleMeshLocator
from registration.core.checks import Float64Array, InputError
from registration.core.geometry import ImageGeometry
from rendering.review_marks import MarksState
from rendering.scene3d import SurfaceModel
from rendering.slice_picture import LABEL_FILL_OPACITY
from rendering.slice_views import SliceVolumes
from rendering.view_state import DisplayOptions, ViewSnapshot

#: What a click does: move the cursor, place/move a landmark, seed the tumour, set the box
#: (two corners), remove the island under it.
INTERACTIONS = ("navigate", "place", "move", "seed", "box", "island")
ROLE_OF_LABEL = {SKIN: "skin", BONE: "bone", TUMOUR: "tumour", "node": "node"}
CURSOR = "cursor"


@dataclass(frozen=True)
class Landmark:
    """A named registration point, LPS mm."""

    name: str
    position_lps_mm: Float64Array


@dataclass
class ReviewModel:
    """See the module docstring. Positions are LPS mm; ``regions`` are full-grid label masks
    in their bounding boxes, one per row of ``table`` (overlaps kept)."""

    plan: Plan
    geometry: ImageGeometry
    image: np.ndarray | None
    modality: str
    table: list[LabelEntry]
    regions: dict[str, RegionMask]
    levels: dict[str, SurfaceLevel | None]
    meshes: dict[str, pv.PolyData | None]
    landmarks: list[Landmark]
    fle_rms_mm: float = 1.0
    user: str = field(default_factory=lambda: _login_name())
    cursor_lps_mm: Float64Array = field(default_factory=lambda: np.zeros(3))
    display: DisplayOptions = field(default_factory=DisplayOptions)
    interaction: str = "navigate"
    selected: str | None = None
    snap_to_skin: bool = True
    fill_labels: bool = True
    preset: CtPreset | None = None
    tumour_seed_lps_mm: Float64Array | None = None
    box_lps_mm: Float64Array | None = None
    box_corner_lps_mm: Float64Array | None = None  # the first corner of a box being set
    tumour_window: tuple[float, float] | None = None
    tumour_preview: GrownRegion | None = None
    preview_mesh: pv.PolyData | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    changed_labels: set[str] = field(default_factory=set)
    status: str = ""
    #: values derived from the state, keyed by what they derive from (e.g. hint candidates)
    cache: dict[Any, Any] = field(default_factory=dict)
    _listeners: list[Callable[[set[str]], None]] = field(default_factory=list)
    _skin_locator: TriangleMeshLocator | None = None

    # ------------------------------------------------------------------ reading
    @classmethod
    def open(cls, path: str | Path, *, fle_rms_mm: float = 1.0) -> ReviewModel:
        """The review of the plan folder at ``path`` (clear errors for what is missing)."""
        from navigation.planning.plan_scene import load_plan_scene

        plan = load_plan(path)
        scene = load_plan_scene(plan)
        seg_file = plan.file_path("seg_nrrd")
        grid, segments = read_seg_nrrd(seg_file)
        if grid.shape_kji != plan.geometry.shape_kji:
            raise InputError(f"{seg_file} is not on the plan's grid; re-create the plan.")
        by_name = {s.name: s for s in segments}
        regions = {}
        for entry in plan.labels:
            if entry.name not in by_name:
                raise InputError(f"{seg_file} has no segment {entry.name!r} of plan.json.")
            regions[entry.name] = RegionMask.from_full(by_name[entry.name].mask)
        report = plan.raw.get("report", {})
        thresholds = report.get("thresholds") or {}
        preset = None
        if thresholds.get("units") == "HU":
            preset = CtPreset(
                body_hu=thresholds["body"],
                bone_hu=thresholds["bone"],
                air_hu=thresholds["airway"],
                marker_hu=thresholds["marker"],
            )
        elif str(scene.volumes.modality).upper() == "CT":
            preset = CtPreset()
        grown = report.get(TUMOUR) or {}
        model = cls(
            plan=plan,
            geometry=scene.volumes.geometry,
            image=scene.volumes.background,
            modality=str(scene.volumes.modality),
            table=list(plan.labels),
            regions=regions,
            levels=_levels(plan, preset),
            meshes={m.name: m.mesh for m in scene.models},
            landmarks=[
                Landmark(n, np.asarray(p, dtype=np.float64))
                for n, p in zip(plan.fiducial_names, plan.fiducials_lps_mm, strict=True)
            ],
            fle_rms_mm=float(fle_rms_mm),
            cursor_lps_mm=np.asarray(scene.focus_lps_mm, dtype=np.float64),
            preset=preset,
            tumour_seed_lps_mm=_point((plan.raw.get("tumour") or {}).get("seed_lps_mm")),
            box_lps_mm=None
            if grown.get("box_lps_mm") is None
            else np.asarray(grown["box_lps_mm"], dtype=np.float64),
            tumour_window=None if "window" not in grown else tuple(grown["window"]),
        )
        for entry in plan.labels:
            model.meshes.setdefault(entry.name, None)
        return model

    # ------------------------------------------------------------------ changes
    def subscribe(self, listener: Callable[[set[str]], None]) -> None:
        """Call ``listener(aspects)`` after each change ("landmarks", "labels", "meshes",
        "display", "tumour", "status")."""
        self._listeners.append(listener)

    def notify(self, *aspects: str) -> None:
        for listener in list(self._listeners):
            listener(set(aspects))

    def log(self, what: str, **details: Any) -> None:
        """Add an entry to the edit log (written to plan.json when saved)."""
        when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.edits.append({"when_utc": when, "who": self.user, "what": what, **details})

    def say(self, text: str) -> None:
        """The status line the window shows."""
        self.status = text
        self.notify("status")

    def entry(self, name: str) -> LabelEntry:
        for entry in self.table:
            if entry.name == name:
                return entry
        raise InputError(
            f"the plan has no label {name!r}; labels: {', '.join(e.name for e in self.table)}."
        )

    def volume(self) -> Volume:
        """The scan as a :class:`Volume` (refused for a plan that keeps none)."""
        if self.image is None:
            raise InputError(
                "this plan keeps no scan (image.nii.gz): growing, thresholds and re-segmenting "
                "need it; re-create the plan with igcs plan."
            )
        return Volume(self.image, self.geometry, self.modality)

    def set_region(
        self,
        entry: LabelEntry,
        region: RegionMask,
        level: SurfaceLevel | None,
        what: str,
        **details: Any,
    ) -> float:
        """Replace (or add) a label's voxels, re-mesh it, log ``what``; returns the seconds
        the re-meshing took."""
        if entry.name not in self.regions:
            self.table.append(entry)
        self.regions[entry.name] = region
        self.levels[entry.name] = level
        self.changed_labels.add(entry.name)
        seconds = self.remesh(entry.name)
        self.log(what, label=entry.name, volume_ml=round(self.volume_ml(entry.name), 3), **details)
        self.notify("labels", "meshes")
        return seconds

    def remesh(self, name: str) -> float:
        """Mesh label ``name`` from its voxels (and the scan with its level); seconds taken."""
        start = time.perf_counter()
        region = self.regions[name]
        level = self.levels.get(name)
        self.meshes[name] = (
            mesh_region(region, self.geometry, image=self.image if level else None, level=level)
            if region.voxel_count
            else None
        )
        if name == SKIN:
            self._skin_locator = None
        return time.perf_counter() - start

    def volume_ml(self, name: str) -> float:
        return self.regions[name].volume_ml(self.geometry)

    # ------------------------------------------------------------------ what the views show
    def shown_regions(self) -> dict[str, RegionMask]:
        """The labels as drawn: the tumour preview (while there is one) in the tumour's place."""
        regions = dict(self.regions)
        if self.tumour_preview is not None:
            regions[TUMOUR] = self.tumour_preview.region
        return regions

    def shown_table(self) -> list[LabelEntry]:
        from navigation.planning.labels import canonical_entry

        table = list(self.table)
        if self.tumour_preview is not None and all(e.name != TUMOUR for e in table):
            table.append(canonical_entry(TUMOUR))
        return table

    def label_map(self) -> np.ndarray:
        """(k, j, i) label values painted in table order (later rows win)."""
        table = self.shown_table()
        top = max((e.value for e in table), default=0)
        labels = np.zeros(self.geometry.shape_kji, np.uint8 if top < 256 else np.uint16)
        regions = self.shown_regions()
        for entry in table:
            region = regions[entry.name]
            labels[region.slices][region.mask] = entry.value
        return labels

    def slice_volumes(self) -> SliceVolumes:
        """What the slice views cut: the label map over the scan, every label outlined and
        (when ``fill_labels``) filled faintly."""
        colors = {e.value: e.color for e in self.shown_table()}
        return SliceVolumes(
            self.geometry,
            self.label_map(),
            colors,
            background=self.image,
            modality=self.modality,
            label_fill_opacity=LABEL_FILL_OPACITY if self.fill_labels else 0.0,
        )

    def surface_model(self, name: str) -> SurfaceModel | None:
        mesh = self.meshes.get(name)
        if name == TUMOUR and self.tumour_preview is not None:
            mesh = self.preview_mesh
        if mesh is None or mesh.n_points == 0:
            return None
        entry = next(e for e in self.shown_table() if e.name == name)
        opacity = 0.5 if name == AIRWAY else 1.0
        return SurfaceModel(
            name, mesh, entry.color, role=ROLE_OF_LABEL.get(name, "other"), opacity=opacity
        )

    def surface_models(self) -> list[SurfaceModel]:
        models = [self.surface_model(e.name) for e in self.shown_table()]
        return [m for m in models if m is not None]

    def snapshot(self) -> ViewSnapshot:
        """The navigation views' snapshot: the cursor stands where the tip would."""
        cursor = np.asarray(self.cursor_lps_mm, dtype=np.float64)
        pose = np.eye(4)
        pose[:3, 3] = cursor
        return ViewSnapshot(
            frame_index=0,
            timestamp_s=0.0,
            tool_states={CURSOR: "OK"},
            pointer_name=CURSOR,
            image_from_pointer=pose,
            pointer_tip_lps_mm=cursor,
            focus_lps_mm=cursor,
            display=self.display,
        )

    def marks(self, hint: Float64Array | None = None, hint_text: str = "") -> MarksState:
        box = self.box_lps_mm
        if box is None and self.box_corner_lps_mm is not None:
            box = np.stack([self.box_corner_lps_mm, self.cursor_lps_mm])
        return MarksState(
            landmarks=tuple((m.name, m.position_lps_mm) for m in self.landmarks),
            selected=self.selected,
            hint=hint,
            hint_text=hint_text,
            seed=self.tumour_seed_lps_mm,
            box=box,
        )

    def skin_locator(self) -> TriangleMeshLocator | None:
        """Closest points on the full-resolution skin mesh (None without one)."""
        mesh = self.meshes.get(SKIN)
        if mesh is None:
            return None
        if self._skin_locator is None:
            triangles = mesh.faces.reshape(-1, 4)[:, 1:]
            self._skin_locator = TriangleMeshLocator(np.asarray(mesh.points), triangles)
        return self._skin_locator


def _login_name() -> str:
    """Who the edit log names: the login name (``unknown`` where the system has none)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


def _point(value: Any) -> Float64Array | None:
    return None if value is None else np.asarray(value, dtype=np.float64)


def _levels(plan: Plan, preset: CtPreset | None) -> dict[str, SurfaceLevel | None]:
    """How each label's surface is placed on the scan when it is re-meshed (None: from its
    voxels alone): the CT thresholds for skin, bone and airway, the grown tumour's window."""
    levels: dict[str, SurfaceLevel | None] = {e.name: None for e in plan.labels}
    if preset is not None:
        levels[SKIN] = SurfaceLevel(preset.body_hu)
        levels[BONE] = SurfaceLevel(preset.bone_hu)
        levels[AIRWAY] = SurfaceLevel(preset.air_hu, bright=False)
    grown = (plan.raw.get("report") or {}).get(TUMOUR)
    if grown and grown.get("window"):
        bright = grown["inside_level"] >= grown["surround_level"]
        box = grown.get("box_lps_mm")
        levels[TUMOUR] = SurfaceLevel(
            grown["window"][0] if bright else grown["window"][1],
            bright=bright,
            smoothing_mm=float(grown.get("smoothing_mm", 0.7)),
            clip_box_lps_mm=None if box is None else np.asarray(box),
        )
    return {name: level for name, level in levels.items() if name in {e.name for e in plan.labels}}
