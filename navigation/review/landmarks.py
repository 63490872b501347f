"""Landmarks in the review: place, move, rename and delete them; the layout's predicted TRE.

A clicked point becomes a landmark where the planner clicked, or (with ``snap_to_skin``, the
default) at the closest point of the full-resolution skin mesh
(:class:`registration.closest_point.TriangleMeshLocator`: exact point-to-triangle distances): a
tracked pointer can only touch the skin. Points outside the scan are refused; names are unique.

The predicted TRE at the tumour is the accuracy lab's theory for the current layout (Fitzpatrick,
West & Maurer 1998, :func:`registration.tre.predict_tre_rms`, isotropic FLE ``fle_rms_mm``) at
the tumour centroid: the number ``igcs accuracy --fle FLE`` reports as "theory" for the saved
plan. The hint is the skin vertex where one more landmark lowers it most
(:func:`registration.tre.predict_tre_with_added_point` over up to :data:`HINT_CANDIDATES` skin
vertices with air outside them, evenly subsampled: not the caps where the scan or a clipping box
cuts the body, not skin on the head rest). It is the theory's answer: whether the pointer can
reach that skin (under a drape, a mask) is the planner's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyvista as pv
from numpy.typing import ArrayLike

from navigation.planning.labels import TUMOUR
from navigation.planning.segmentation import MIN_REGISTRATION_POINTS
from navigation.review.model import Landmark, ReviewModel
from registration.core.checks import Float64Array, InputError, check_points
from registration.tre import predict_tre_rms, predict_tre_with_added_point

#: Skin vertices tried for the "one more landmark" hint.
HINT_CANDIDATES = 4000
#: Skin this close (mm) to the image's faces is the cap closing the mesh, not skin.
CAP_MARGIN_MM = 5.0
#: How far outside the skin (mm) the scan must be air for a pointer to touch it.
AIR_PROBE_MM = 3.0


@dataclass(frozen=True)
class TreStatus:
    """The predicted TRE of the current layout at the tumour, and where one more point helps.

    tre_mm : RMS TRE at ``target_lps_mm`` (None when it cannot be predicted: ``note`` says
    why). hint_lps_mm / hint_tre_mm : the best next landmark on the skin and the TRE with it.
    """

    tre_mm: float | None
    target_name: str
    target_lps_mm: Float64Array | None
    fle_rms_mm: float
    note: str
    hint_lps_mm: Float64Array | None = None
    hint_tre_mm: float | None = None

    def caption(self) -> str:
        if self.tre_mm is None:
            return f"predicted TRE at the {self.target_name}: - ({self.note})"
        return (
            f"predicted TRE at the {self.target_name}: {self.tre_mm:.2f} mm RMS "
            f"(FLE {self.fle_rms_mm:.2f} mm, Fitzpatrick 1998)"
        )


def placed_point(model: ReviewModel, point_lps_mm: ArrayLike) -> Float64Array:
    """Where a clicked point puts a landmark: on the skin when snapping (see the module
    docstring), else the point itself; refused outside the scan."""
    point = check_points(point_lps_mm, "landmark position")[0]
    if model.snap_to_skin:
        locator = model.skin_locator()
        if locator is not None:
            point = locator.closest(point[None, :]).points[0]
    if not model.geometry.contains_lps(point)[0]:
        raise InputError(f"{np.round(point, 1).tolist()} mm LPS lies outside the scan.")
    return np.asarray(point, dtype=np.float64)


def next_name(model: ReviewModel) -> str:
    """The first free name L1, L2, ..."""
    taken = {m.name for m in model.landmarks}
    number = 1
    while f"L{number}" in taken:
        number += 1
    return f"L{number}"


def add_landmark(model: ReviewModel, point_lps_mm: ArrayLike, *, name: str | None = None) -> str:
    """Add a landmark at the clicked point (snapped when asked); returns its name."""
    position = placed_point(model, point_lps_mm)
    name = _check_name(model, name or next_name(model))
    model.landmarks.append(Landmark(name, position))
    model.selected = name
    model.log("landmark added", landmark=name, position_lps_mm=_rounded(position))
    model.notify("landmarks")
    return name


def move_landmark(model: ReviewModel, name: str, point_lps_mm: ArrayLike) -> None:
    """Move landmark ``name`` to the clicked point (snapped when asked)."""
    index = _index(model, name)
    position = placed_point(model, point_lps_mm)
    before = model.landmarks[index].position_lps_mm
    model.landmarks[index] = Landmark(name, position)
    model.log(
        "landmark moved",
        landmark=name,
        from_lps_mm=_rounded(before),
        position_lps_mm=_rounded(position),
    )
    model.notify("landmarks")


def rename_landmark(model: ReviewModel, name: str, new_name: str) -> None:
    index = _index(model, name)
    new_name = _check_name(model, new_name, allow=name)
    model.landmarks[index] = Landmark(new_name, model.landmarks[index].position_lps_mm)
    if model.selected == name:
        model.selected = new_name
    model.log("landmark renamed", landmark=new_name, previous_name=name)
    model.notify("landmarks")


def delete_landmark(model: ReviewModel, name: str) -> None:
    index = _index(model, name)
    removed = model.landmarks.pop(index)
    if model.selected == name:
        model.selected = None
    model.log("landmark deleted", landmark=name, position_lps_mm=_rounded(removed.position_lps_mm))
    model.notify("landmarks")


def nearest_landmark(model: ReviewModel, point_lps_mm: ArrayLike, within_mm: float) -> str | None:
    """The landmark nearest a point, if within ``within_mm``."""
    if not model.landmarks:
        return None
    point = check_points(point_lps_mm, "point")[0]
    distances = [float(np.linalg.norm(m.position_lps_mm - point)) for m in model.landmarks]
    best = int(np.argmin(distances))
    return model.landmarks[best].name if distances[best] <= within_mm else None


def tre_status(model: ReviewModel, *, hint: bool = True) -> TreStatus:
    """The predicted TRE at the tumour centroid for the current landmarks (module docstring)."""
    target = tumour_centroid(model)
    fle = model.fle_rms_mm
    if target is None:
        return TreStatus(None, "tumour", None, fle, "no tumour in the plan")
    points = np.array([m.position_lps_mm for m in model.landmarks]).reshape(-1, 3)
    tre, note = None, ""
    if len(points) < MIN_REGISTRATION_POINTS:
        note = f"{len(points)} landmark(s); a registration needs {MIN_REGISTRATION_POINTS}"
    else:
        try:
            tre = float(predict_tre_rms(points, target, fle_rms_mm=fle)[0])
        except InputError as error:
            note = str(error).split(":")[0]
    hint_point, hint_tre = None, None
    skin = model.meshes.get("skin")
    if hint and skin is not None and len(points) >= MIN_REGISTRATION_POINTS - 1:
        key = ("hint candidates", id(skin), _body_threshold(model))
        if key not in model.cache:
            model.cache.clear()
            model.cache[key] = hint_candidates(model, skin)
        candidates = model.cache[key]
        values = predict_tre_with_added_point(points, candidates, target, fle_rms_mm=fle)
        best = int(np.argmin(values))
        if np.isfinite(values[best]):
            hint_point, hint_tre = candidates[best], float(values[best])
    return TreStatus(tre, "tumour centroid", target, fle, note, hint_point, hint_tre)


def hint_candidates(model: ReviewModel, skin: pv.PolyData) -> Float64Array:
    """Skin vertices a pointer can touch, evenly subsampled to :data:`HINT_CANDIDATES`: away
    from the image's faces (5 mm, at least 2.5 voxels: the caps closing the skin where the scan
    cuts the body) and, when the plan keeps its scan, with air :data:`AIR_PROBE_MM` outside
    along the outward normal (below the body threshold): not skin lying on the head rest; and
    not within 5 mm of the faces of a box the skin was clipped by (cuts, not skin)."""
    vertices = np.asarray(skin.points, dtype=np.float64)
    geometry = model.geometry
    size = np.asarray(geometry.size_ijk, dtype=np.float64)
    margin = np.maximum(2.5, CAP_MARGIN_MM / geometry.spacing_mm)
    ijk = geometry.lps_to_ijk(vertices)
    keep = np.all((ijk > margin) & (ijk < size - 1.0 - margin), axis=1)
    threshold = _body_threshold(model)
    if model.image is not None and threshold is not None:
        probe = geometry.lps_to_ijk(vertices + AIR_PROBE_MM * np.asarray(skin.point_normals))
        index = np.clip(np.rint(probe).astype(int), 0, np.asarray(geometry.size_ijk) - 1)
        keep &= model.image[index[:, 2], index[:, 1], index[:, 0]] < threshold
    for box in skin_clip_boxes(model):
        low, high = box.min(axis=0), box.max(axis=0)
        to_face = np.minimum(vertices - low, high - vertices).min(axis=1)
        keep &= to_face > CAP_MARGIN_MM
    kept = vertices[keep]
    return kept[:: max(1, len(kept) // HINT_CANDIDATES)]


def skin_clip_boxes(model: ReviewModel) -> list[Float64Array]:
    """The boxes the skin was clipped by (this session's and the saved plan's edit logs): their
    faces are cuts through the body, not skin."""
    edits = [*model.plan.raw.get("edits", []), *model.edits]
    return [
        np.asarray(e["box_lps_mm"], dtype=np.float64).reshape(2, 3)
        for e in edits
        if e.get("what") == "label clip box" and e.get("label") == "skin" and e.get("box_lps_mm")
    ]


def _body_threshold(model: ReviewModel) -> float | None:
    """The threshold between air and the body (CT preset, else the plan's recorded one)."""
    if model.preset is not None:
        return float(model.preset.body_hu)
    body = (model.plan.raw.get("report", {}).get("thresholds") or {}).get("body")
    return None if body is None else float(body)


def tumour_centroid(model: ReviewModel) -> Float64Array | None:
    """The tumour centroid the TRE is predicted at: the plan's, until the tumour is edited."""
    if TUMOUR in model.changed_labels and TUMOUR in model.regions:
        region = model.regions[TUMOUR]
        return region.centroid_lps_mm(model.geometry) if region.voxel_count else None
    return model.plan.tumour_centroid_lps_mm


def _index(model: ReviewModel, name: str) -> int:
    for index, landmark in enumerate(model.landmarks):
        if landmark.name == name:
            return index
    raise InputError(f"no landmark {name!r}.")


def _check_name(model: ReviewModel, name: str, *, allow: str | None = None) -> str:
    name = name.strip()
    if not name or not re.fullmatch(r"[\w .,()+'-]{1,40}", name):
        raise InputError(
            f"landmark name {name!r}: use 1-40 letters, digits, spaces or . , ( ) + ' - _"
        )
    if name != allow and any(m.name == name for m in model.landmarks):
        raise InputError(f"a landmark is already called {name!r}; choose another name.")
    return name


def _rounded(point: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in point]
