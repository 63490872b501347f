"""The registration of a recorded session, in numbers and pictures, from the session's files.

Reads what the app recorded (:mod:`navigation.tracking.recording`): the collected landmarks
(``fiducial_collected``, reference frame), the swept points (``surface_sweep`` stop) and the
registration in force (the last ``registration_accepted``: ``image_from_reference``; its surface
block from ``SESSION.registration.json``, which gains the Monte Carlo prediction), maps the
points into the image and measures each swept point's signed distance to the plan's skin
(closest point on the mesh, :class:`~registration.closest_point.TriangleMeshLocator`; positive
outside). Pictures by :func:`rendering.registration_pictures.write_registration_pictures`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from navigation.planning.plan import load_plan
from navigation.tracking.recording import SessionReader
from registration.closest_point import TriangleMeshLocator
from registration.core.checks import InputError
from registration.core.transforms import apply_transform
from rendering.registration_pictures import write_registration_pictures

#: Swept points farther than this from the skin under the registration are the pointer in the
#: air (travelling to and from the sweep), left out of the pictures and numbers.
ON_SKIN_MM = 10.0


@dataclass(frozen=True)
class RegistrationPictures:
    """The pictures' paths by name and the numbers behind them (JSON-ready)."""

    paths: dict[str, Path]
    numbers: dict[str, Any]


def registration_pictures(out: Path, session: Path) -> RegistrationPictures:
    """Pictures and numbers of the accepted registration of ``session`` on ``out/plan``."""
    plan = load_plan(out / "plan")
    collected: dict[str, np.ndarray] = {}
    sweep = np.zeros((0, 3))
    accepted: dict[str, Any] | None = None
    for event in SessionReader(session).events():
        if event.kind == "fiducial_collected":
            collected[str(event.data["name"])] = np.asarray(
                event.data["position_in_reference_mm"], dtype=np.float64
            )
        elif event.kind == "surface_sweep" and event.data.get("action") == "stop":
            sweep = np.asarray(event.data.get("points_in_reference_mm") or [], dtype=np.float64)
        elif event.kind == "registration_accepted":
            accepted = dict(event.data)
    if accepted is None:
        raise InputError(f"session {session} has no accepted registration to picture.")
    # The Monte Carlo prediction lands after the acceptance: the registration file beside the
    # session holds the registration in force with it (navigation.app.session).
    in_force = session.with_name(session.name + ".registration.json")
    if in_force.exists():
        saved = json.loads(in_force.read_text(encoding="utf-8"))
        matrix = saved.get("image_from_reference")
        if matrix is not None and np.allclose(matrix, accepted["image_from_reference"]):
            accepted["surface"] = saved.get("surface", accepted.get("surface"))
    image_from_reference = np.asarray(accepted["image_from_reference"], dtype=np.float64)
    names = [n for n in plan.fiducial_names if n in collected]
    planned = np.array([plan.fiducials_lps_mm[plan.fiducial_names.index(n)] for n in names])
    touched = apply_transform(image_from_reference, np.array([collected[n] for n in names]))
    skin = plan.read_mesh("skin")
    swept = apply_transform(image_from_reference, sweep.reshape(-1, 3))
    residuals = _signed_distances(skin, swept) if len(swept) else np.zeros(0)
    on_skin = np.abs(residuals) <= ON_SKIN_MM  # not the pointer in the air before and after
    swept, residuals = swept[on_skin], residuals[on_skin]
    paths = write_registration_pictures(
        skin,
        out,
        landmark_names=names,
        landmarks_planned_lps_mm=planned,
        landmarks_touched_lps_mm=touched,
        sweep_points_lps_mm=swept if len(swept) else planned,
        sweep_residuals_mm=residuals if len(swept) else np.zeros(len(planned)),
    )
    numbers = {
        "method": accepted.get("method"),
        "landmarks": names,
        "landmark_residuals_mm": {
            n: float(np.linalg.norm(a - b)) for n, a, b in zip(names, touched, planned, strict=True)
        },
        "sweep_points": len(swept),
        "sweep_residual_rms_mm": float(np.sqrt(np.mean(residuals**2))) if len(swept) else None,
        "sweep_residual_p95_mm": float(np.percentile(np.abs(residuals), 95))
        if len(swept)
        else None,
        "surface": accepted.get("surface"),
    }
    return RegistrationPictures(paths, numbers)


def _signed_distances(skin: Any, points: np.ndarray) -> np.ndarray:
    """(N,) distance of each point to the skin mesh, positive outside (along the normal)."""
    surface = skin.compute_normals(point_normals=True, cell_normals=False, auto_orient_normals=True)
    faces = np.asarray(surface.faces).reshape(-1, 4)[:, 1:]
    locator = TriangleMeshLocator(
        np.asarray(surface.points), faces, np.asarray(surface.point_data["Normals"])
    )
    hit = locator.closest(points)
    side = np.sign(np.einsum("ij,ij->i", points - hit.points, hit.normals))
    return np.where(side == 0, 1.0, side) * hit.distances_mm
