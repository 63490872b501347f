"""Point lists in the files 3D Slicer reads and writes: markups JSON, FCSV and plain CSV.

Everything inside igcs is LPS; files may be RAS. Conversion happens here, explicitly, through
``RAS_FROM_LPS``, and the returned :class:`PointList` says what the file said.

Formats (read):

- ``.mrk.json``: Slicer markups (schema v1.0.3); ``coordinateSystem`` "LPS" or "RAS" (Slicer's
  default when absent is LPS); ``coordinateUnits`` "mm" or "um" (micrometres, scaled to mm), as
  a string or a [code, "UCUM", meaning] triple. Points without position (``positionStatus``
  "undefined") are skipped with their names reported.
- ``.fcsv``: Slicer's legacy CSV; the ``# CoordinateSystem = LPS|RAS|0|1`` header line is
  honoured (0 = RAS, 1 = LPS); without it, RAS (Slicer's default for fcsv).
- ``.csv``: a header row naming the columns: ``name,l,p,s`` (LPS), ``name,r,a,s`` (RAS), or
  ``name,x,y,z`` which is read as LPS (say so in your file's documentation).

Written: ``.mrk.json`` with ``coordinateSystem`` "LPS" and ``coordinateUnits`` "mm".
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numpy.typing import ArrayLike

from registration.core.atomic_files import write_json_atomic
from registration.core.checks import Float64Array, InputError, check_points
from registration.core.transforms import ras_to_lps

log = logging.getLogger(__name__)

MARKUPS_SCHEMA_URL = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/"
    "Schema/markups-schema-v1.0.3.json#"
)


#: Millimetres per unit of the markups schema's ``coordinateUnits`` (UCUM codes).
MARKUPS_UNITS_MM = {"mm": 1.0, "um": 0.001}


@dataclass(frozen=True)
class PointList:
    """Named points in LPS mm, with the coordinate system the file used."""

    names: tuple[str, ...]
    points_lps_mm: Float64Array  # (N, 3)
    file_coordinate_system: str  # "LPS" or "RAS" as stored in the file
    path: Path


def write_markups_fiducials(
    path: str | Path,
    names: list[str] | tuple[str, ...],
    points_lps_mm: ArrayLike,
    *,
    list_name: str = "Fiducials",
    descriptions: list[str] | None = None,
    color: tuple[float, float, float] = (1.0, 0.5, 0.0),
) -> None:
    """Write points as a Slicer markups fiducial list (``.mrk.json``, LPS mm), atomically."""
    points = check_points(points_lps_mm, "points_lps_mm")
    if len(names) != len(points):
        raise InputError(f"{len(names)} names for {len(points)} points; give one name per point.")
    control_points = [
        {
            "id": str(index + 1),
            "label": str(name),
            "description": descriptions[index] if descriptions else "",
            "associatedNodeID": "",
            "position": [float(v) for v in point],
            "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
            "selected": True,
            "locked": True,
            "visibility": True,
            "positionStatus": "defined",
        }
        for index, (name, point) in enumerate(zip(names, points, strict=True))
    ]
    payload: dict[str, Any] = {
        "@schema": MARKUPS_SCHEMA_URL,
        "markups": [
            {
                "type": "Fiducial",
                "name": list_name,
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "locked": True,
                "fixedNumberOfControlPoints": False,
                "labelFormat": "%N-%d",
                "lastUsedControlPointNumber": len(points),
                "controlPoints": control_points,
                "display": {
                    "visibility": True,
                    "opacity": 1.0,
                    "color": list(color),
                    "selectedColor": list(color),
                    "glyphType": "Sphere3D",
                    "glyphScale": 3.0,
                    "textScale": 3.0,
                    "pointLabelsVisibility": True,
                },
            }
        ],
    }
    write_json_atomic(path, payload)


def read_point_file(path: str | Path) -> PointList:
    """Read named points from ``.mrk.json``, ``.fcsv`` or ``.csv``; returns LPS mm.

    Raises :class:`InputError` naming the file and what is wrong with it.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"point file {file} does not exist.")
    name = file.name.lower()
    if name.endswith(".json"):
        return _read_markups_json(file)
    if name.endswith(".fcsv"):
        return _read_fcsv(file)
    if name.endswith(".csv"):
        return _read_csv(file)
    raise InputError(
        f"{file}: unknown point file type; use a Slicer .mrk.json, .fcsv, or a .csv with a "
        "header row name,l,p,s (LPS) or name,r,a,s (RAS)."
    )


def _finish(names: list[str], coords: list[list[float]], system: str, file: Path) -> PointList:
    if not coords:
        raise InputError(f"{file} holds no points.")
    points = check_points(coords, f"points in {file}")
    if system == "RAS":
        log.info("%s: converting %d points from RAS to LPS", file, len(points))
        points = ras_to_lps(points)
    return PointList(tuple(names), points, system, file)


def _read_markups_json(file: Path) -> PointList:
    try:
        payload = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{file} is not valid JSON: {error}.") from None
    markups = payload.get("markups") if isinstance(payload, dict) else None
    if not isinstance(markups, list) or not markups:
        raise InputError(f"{file} is not a Slicer markups file (no 'markups' list).")
    fiducial_lists = [m for m in markups if isinstance(m, dict) and m.get("type") == "Fiducial"]
    if len(fiducial_lists) != 1:
        raise InputError(
            f"{file} holds {len(fiducial_lists)} fiducial lists; expected exactly one."
        )
    markup = fiducial_lists[0]
    system = str(markup.get("coordinateSystem", "LPS")).upper()
    if system not in ("LPS", "RAS"):
        raise InputError(f"{file}: coordinateSystem {system!r} is neither LPS nor RAS.")
    units = markup.get("coordinateUnits", "mm")
    code = units[0] if isinstance(units, list) and len(units) == 3 else units
    if code not in MARKUPS_UNITS_MM:
        raise InputError(
            f"{file}: coordinateUnits {units!r} is neither mm nor um (the units the markups "
            "schema allows); save the markups from Slicer again."
        )
    names: list[str] = []
    coords: list[list[float]] = []
    skipped: list[str] = []
    for index, point in enumerate(markup.get("controlPoints", [])):
        label = str(point.get("label", f"P{index + 1}"))
        if point.get("positionStatus", "defined") != "defined" or "position" not in point:
            skipped.append(label)
            continue
        names.append(label)
        try:
            coords.append([float(v) * MARKUPS_UNITS_MM[code] for v in point["position"]])
        except (TypeError, ValueError):
            raise InputError(
                f"{file}: control point {label!r} has position {point['position']!r}; expected "
                "three numbers."
            ) from None
    if skipped:
        log.warning("%s: skipped points without a defined position: %s", file, ", ".join(skipped))
    return _finish(names, coords, system, file)


def _read_fcsv(file: Path) -> PointList:
    system = "RAS"
    names: list[str] = []
    coords: list[list[float]] = []
    for line_number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#"):
            if "CoordinateSystem" in line:
                value = line.split("=", 1)[-1].strip().upper()
                system = {"0": "RAS", "1": "LPS"}.get(value, value)
                if system not in ("LPS", "RAS"):
                    raise InputError(f"{file}:{line_number}: unknown CoordinateSystem {value!r}.")
            continue
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            coords.append([float(fields[1]), float(fields[2]), float(fields[3])])
        except (IndexError, ValueError):
            raise InputError(
                f"{file}:{line_number}: expected id,x,y,z,...; got {line!r}."
            ) from None
        names.append(fields[11] if len(fields) > 11 and fields[11] else fields[0])
    return _finish(names, coords, system, file)


def _read_csv(file: Path) -> PointList:
    with open(file, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(line for line in handle if not line.startswith("#")))
    if not rows:
        raise InputError(f"{file} is empty.")
    header = [h.strip().lower() for h in rows[0]]
    systems = {("l", "p", "s"): "LPS", ("x", "y", "z"): "LPS", ("r", "a", "s"): "RAS"}
    found = next((c for c in systems if all(name in header for name in c)), None)
    if found is None:
        raise InputError(
            f"{file}: header {rows[0]} must name the columns name,l,p,s (LPS) or name,r,a,s "
            "(RAS); x,y,z is read as LPS."
        )
    columns, system = found, systems[found]
    indices = [header.index(c) for c in columns]
    name_index = header.index("name") if "name" in header else None
    names: list[str] = []
    coords: list[list[float]] = []
    for row_number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            coords.append([float(row[i]) for i in indices])
        except (IndexError, ValueError):
            raise InputError(
                f"{file}:{row_number}: expected numbers in {columns}; got {row}."
            ) from None
        names.append(row[name_index] if name_index is not None else f"P{row_number - 1}")
    return _finish(names, coords, system, file)
