"""The simulator's edges: read a plan folder into a scenario, write its truth, pace it out.

:func:`scenario_from_plan` reads the plan's fiducials and its skin and tumour meshes (``.vtp``,
LPS mm, with PyVista; point normals from ``compute_normals``) and builds the pure scenario of
:mod:`navigation.simulation.simulator`. :func:`serve_scenario` sends the timeline through any
``send(message)`` (an ``IgtlServer``'s) at the original timing scaled by ``speed``.

Camera frames. When the plan has a tumour, the camera looks at the exposed surgical field of
:mod:`navigation.fluorescence.field` (its cone about the field's approach direction, aimed at
the bed's centre) and the frames are the synthetic NIR camera's
(:class:`~navigation.simulation.simulated_frames.FluorescenceFrames`) rendering of:

- the field with the phantom's analytic tumour and the true tracer emission, when the plan was
  made from an igcs phantom whose ``truth.json`` is found (next to the plan's DICOM folder, with
  the same series UID) or given;
- otherwise the field built from the plan's own tumour mesh, glowing where the plan says the
  tumour is: the honest fallback without a ground truth (accuracy measured against it covers
  the mapping only, not the segmentation), labelled so in the truth JSON.

Without a tumour the camera keeps the default orbit and sees dark, noisy frames. The field is
built on the first frame (about a second), so scenarios that are never played cost nothing.
The truth JSON's ``fluorescence`` entry records the field, the tracer model, the sensor model
and the radiometric calibration the mapper needs (dark level, flat field, saturation).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from navigation.fluorescence.approach import ApproachGeometry, ApproachOptions, approach_geometry
from navigation.fluorescence.field import FieldGeometry, FieldOptions, field_geometry
from navigation.planning.plan import Plan, load_plan, read_plan_mesh
from navigation.simulation.evaluation import find_phantom_truth
from navigation.simulation.phantom import PhantomTruth, load_truth
from navigation.simulation.scenario_builder import build_scenario
from navigation.simulation.scene import world_scene
from navigation.simulation.simulated_anatomy import face_neck_sweep, skull_reference_pose
from navigation.simulation.simulated_frames import FluorescenceFrames
from navigation.simulation.simulator import Scenario, SimulationConfig
from navigation.simulation.tissue import TissueModel
from navigation.simulation.tracer import TracerModel
from navigation.tracking.messages import IgtlMessage
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.atomic_files import write_json_atomic
from registration.core.checks import Float64Array, InputError, check_positive
from rendering.fluorescence.nir_camera import NirSensorModel

log = logging.getLogger(__name__)

SKIN_LABEL = "skin"


def scenario_from_plan(
    plan: Plan | str | Path,
    config: SimulationConfig | None = None,
    *,
    duration_s: float | None = None,
    phantom_truth: PhantomTruth | str | Path | None = "auto",
    sensor: NirSensorModel | None = None,
    field_options: FieldOptions | None = None,
    tracer: TracerModel | None = None,
    approach: ApproachOptions | None = None,
    tissue: TissueModel | None = None,
    anatomical: bool = False,
) -> Scenario:
    """Build the scenario for a plan folder: its fiducials (>= 3), the ``skin`` label's mesh
    (the sweep) and the tumour's mesh when the plan has one (camera target and frames: see the
    module docstring).

    phantom_truth : the phantom's truth (object, ``truth.json`` or its folder); "auto" looks
        for it next to the plan's source; None: use the plan's own tumour.
    sensor, field_options, tracer : the synthetic camera, the field and the tracer models.
    approach : cut a transcervical wound into the plan's anatomy
        (:mod:`navigation.fluorescence.approach`) instead of the phantom's bed.
    tissue : render real tissue (:mod:`navigation.simulation.tissue`: the tracer under the
        surface, heterogeneous background, relief) instead of the phantom's patch.
    anatomical : a patient rather than a phantom: the pointer sweeps strokes over the face and
        neck and the reference sits on the skull
        (:mod:`navigation.simulation.simulated_anatomy`).
    Raises :class:`InputError` when the plan has fewer than 3 fiducials or no skin mesh.
    """
    loaded = plan if isinstance(plan, Plan) else load_plan(plan)
    if len(loaded.fiducials_lps_mm) < 3:
        raise InputError(
            f"plan {loaded.root} has {len(loaded.fiducials_lps_mm)} fiducials; the simulator "
            "needs at least 3 (add fiducials to the plan with igcs plan)."
        )
    skin_mesh = read_plan_mesh(loaded.mesh_path(SKIN_LABEL))
    skin, normals = _read_mesh(loaded.mesh_path(SKIN_LABEL), with_normals=True, surface=skin_mesh)
    tumour = None
    tumour_entry = loaded.raw.get("tumour") or {}
    label = tumour_entry.get("label")
    if label:
        try:
            tumour, _ = _read_mesh(loaded.mesh_path(str(label)), with_normals=False)
        except InputError as error:
            log.warning("no tumour mesh (%s); the camera will see a dark field.", error)
    geometry: FieldGeometry | None = None
    if tumour is not None and loaded.tumour_centroid_lps_mm is not None:
        geometry = (
            approach_geometry(loaded, approach)
            if approach is not None
            else field_geometry(loaded, field_options)
        )
    paths: dict[str, Any] = {}
    if anatomical:
        assert normals is not None
        path, path_normals = face_neck_sweep(skin_mesh, loaded.fiducials_lps_mm)
        seed = (config or SimulationConfig()).seed
        away = loaded.tumour_centroid_lps_mm
        paths = {
            "sweep_path_in_image": path,
            "sweep_normals_in_image": path_normals,
            "image_from_reference": skull_reference_pose(
                skin, normals, loaded.fiducials_lps_mm,
                away_from_x=float(away[0]) if away is not None else 0.0,
                rng=np.random.default_rng([seed, 7]),
            ),
        }  # fmt: skip
    scenario = build_scenario(
        loaded.fiducials_lps_mm,
        skin,
        skin_normals_in_image=normals,
        tumour_vertices_in_image=tumour,
        fiducial_names=loaded.fiducial_names,
        config=config,
        duration_s=duration_s,
        camera_target_in_image=None if geometry is None else geometry.floor_point_lps_mm,
        camera_axis_in_image=None if geometry is None else geometry.approach_lps,
        **paths,
    )
    if geometry is None:
        return scenario
    truth, truth_path = (None, None) if approach else _phantom_truth(loaded, phantom_truth)
    model = sensor or NirSensorModel()
    frames = _FieldFrames(
        loaded,
        truth,
        geometry,
        tracer or TracerModel(),
        tissue,
        scenario.truth.intrinsics,
        model,
        int(getattr(scenario.frame_source, "seed", 0)),
    )
    info = fluorescence_truth_entry(
        geometry,
        tracer or TracerModel(),
        model,
        phantom=truth is not None,
        path=truth_path,
        tissue=tissue,
    )
    return dataclasses.replace(
        scenario,
        frame_source=frames,
        truth=dataclasses.replace(scenario.truth, fluorescence=info),
    )


def fluorescence_truth_entry(
    geometry: FieldGeometry,
    tracer: TracerModel,
    sensor: NirSensorModel,
    *,
    phantom: bool,
    path: Path | None,
    tissue: TissueModel | None = None,
) -> dict[str, Any]:
    """The truth JSON's ``fluorescence`` entry: what the frames show and how to read them.

    phantom : whether the tumour came from a phantom truth (its ``truth.json`` at ``path``
        when known) or from the plan's own tumour mesh.
    tissue : the tissue model the frames were rendered with (None: the tracer patch).
    """
    entry: dict[str, Any] = {
        "frames": "synthetic NIR camera (rendering.fluorescence.nir_camera.render_nir_frame)",
        "scene": "exposed surgical field (navigation.fluorescence.field)",
        "tumour_source": "phantom truth" if phantom else "plan tumour mesh",
        "phantom_truth": None if path is None else str(path),
        "field": geometry.to_dict(),
        "tracer": tracer.to_dict(),
        "nir_sensor": dataclasses.asdict(sensor),
        "radiometric_calibration": {
            "dark_level_dn": sensor.dark_level_dn,
            "saturation_level_dn": sensor.saturation_dn,
            "flat_field": f"cos^{sensor.vignetting_cos_power:g} of the pixel's field angle",
            "vignetting_cos_power": sensor.vignetting_cos_power,
        },
    }
    if tissue is not None:
        entry["scene"] = (
            "transcervical wound in the plan's anatomy (navigation.fluorescence.approach)"
            if isinstance(geometry, ApproachGeometry)
            else entry["scene"]
        )
        entry["tissue"] = tissue.to_dict()
        entry["tumour_source"] = "tissue model of the plan's tumour"
    return entry


class _FieldFrames:
    """A frame source that builds the field scene on its first frame (thread-safe)."""

    def __init__(
        self,
        plan: Plan,
        truth: PhantomTruth | None,
        geometry: FieldGeometry,
        tracer: TracerModel,
        tissue: TissueModel | None,
        intrinsics: CameraIntrinsics,
        sensor: NirSensorModel,
        seed: int,
    ) -> None:
        self._arguments = (plan, truth, geometry, tracer, tissue, intrinsics, sensor, seed)
        self._frames: FluorescenceFrames | None = None
        self._lock = threading.Lock()
        self.seed = seed

    def frames(self) -> FluorescenceFrames:
        with self._lock:
            if self._frames is None:
                plan, truth, geometry, tracer, tissue, intrinsics, sensor, seed = self._arguments
                mesh, emission, _ = world_scene(
                    plan, geometry=geometry, phantom=truth, tracer=tracer, tissue=tissue
                )
                self._frames = FluorescenceFrames(mesh, emission, intrinsics, sensor, seed)
            return self._frames

    def __call__(self, image_from_camera: Float64Array, timestamp_s: float) -> np.ndarray:
        return self.frames()(image_from_camera, timestamp_s)


def _phantom_truth(
    plan: Plan, given: PhantomTruth | str | Path | None
) -> tuple[PhantomTruth | None, Path | None]:
    if given is None:
        return None, None
    if isinstance(given, PhantomTruth):
        return given, None
    if given == "auto":
        path = find_phantom_truth(plan)
        if path is None:
            log.info("no phantom truth for plan %s: frames show the plan's own tumour", plan.root)
            return None, None
        return load_truth(path), path
    path = Path(given)
    return load_truth(path), path.resolve()


def prerender_frames(
    scenario: Scenario,
    *,
    duration_s: float | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> Scenario:
    """The scenario with every camera frame rendered now and kept in memory (about 160 kB a
    320x256 frame), so that serving it never waits for the renderer: a tracker stream that
    lags its own timeline compresses motion (a dwell sent in a burst is no dwell). Frames are
    looked up by timestamp; ``on_frame(done, total)`` reports progress."""
    end = scenario.duration_s if duration_s is None else min(duration_s, scenario.duration_s)
    times = np.arange(0.0, end, 1.0 / scenario.truth.config.camera_fps)
    frames: dict[int, np.ndarray] = {}
    for index, t in enumerate(times):
        t_s = float(t)
        frames[round(t_s * 1e6)] = np.asarray(
            scenario.frame_source(scenario.image_from_camera_at(t_s), t_s)
        )
        if on_frame is not None:
            on_frame(index + 1, len(times))

    def rendered(image_from_camera: Float64Array, timestamp_s: float) -> np.ndarray:
        del image_from_camera  # rendered from the same pose at this time
        return frames[round(timestamp_s * 1e6)]

    return dataclasses.replace(scenario, frame_source=rendered)


def write_truth(path: str | Path, scenario: Scenario) -> None:
    """Write the scenario's ground truth as JSON, atomically."""
    write_json_atomic(path, scenario.truth.to_dict())


def serve_scenario(
    scenario: Scenario,
    send: Callable[[IgtlMessage], object],
    *,
    speed: float = 1.0,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    restamp: bool = True,
    on_progress: Callable[[float], None] | None = None,
) -> int:
    """Send the timeline at its timing divided by ``speed``; returns the messages sent.

    restamp : replace each message's timestamp with the wall-clock UNIX time of its sample
        (the start's UNIX time plus its scenario time divided by ``speed``), as a live PLUS
        server stamps each pose with its acquisition time: a receiver's clock mapping sees a
        sane sender clock at any ``speed``, and a sender starved of CPU that sends late poses
        in a burst still stamps each with its own time (not several poses within microseconds).
    stop : set it to end early.
    on_progress : called with the scenario time of each message sent.
    """
    rate = check_positive(speed, "speed")
    halt = stop or threading.Event()
    start = time.monotonic()
    start_unix_s = time.time()
    sent = 0
    for t_s, message in scenario.timeline(duration_s=duration_s):
        delay = start + t_s / rate - time.monotonic()
        if delay > 0 and halt.wait(delay):
            break
        if halt.is_set():
            break
        if restamp:
            message = dataclasses.replace(message, timestamp_s=start_unix_s + t_s / rate)
        send(message)
        sent += 1
        if on_progress is not None:
            on_progress(t_s)
    return sent


def _read_mesh(
    path: Path, *, with_normals: bool, surface: Any = None
) -> tuple[Float64Array, Float64Array | None]:
    surface = read_plan_mesh(path) if surface is None else surface
    points = np.asarray(surface.points, dtype=np.float64)
    if not with_normals:
        return points, None
    oriented = surface.compute_normals(
        point_normals=True, cell_normals=False, auto_orient_normals=True, split_vertices=False
    )
    normals = np.asarray(oriented.point_data["Normals"], dtype=np.float64)
    return np.asarray(oriented.points, dtype=np.float64), normals
