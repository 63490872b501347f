"""PLUS device set configuration files (``PlusDeviceSet_*.xml``): calibrations and landmarks.

Read here: ``<CoordinateDefinitions><Transform From="StylusTip" To="Stylus" Matrix="16
numbers"/>`` (so ``stylus_from_stylustip``; its translation is the pointer tip in the pointer
frame, from PLUS's pivot calibration) and the phantom definition's
``<Landmarks><Landmark Name="#1" Position="x y z"/>`` (positions in the phantom frame, mm).
Parsed with the standard library's ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from navigation.tracking.plus_sequence import parse_matrix_text
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import check_rigid, invert_rigid


@dataclass(frozen=True)
class PlusDeviceSet:
    """What igcs uses from a PLUS device set file.

    Attributes
    ----------
    path : the XML file.
    name : the DeviceSet's Name attribute.
    transforms : PLUS name ``FromToTo`` (``"StylusTipToStylus"``, i.e. ``stylus_from_stylustip``)
        -> (4, 4) float64 rigid matrix in mm.
    transform_errors : the same names -> the calibration's ``Error`` attribute (mm) when given.
    landmark_names : phantom landmark names in file order.
    landmarks_in_phantom : (N, 3) landmark positions in the phantom frame, mm.
    """

    path: Path
    name: str
    transforms: Mapping[str, Float64Array]
    transform_errors: Mapping[str, float]
    landmark_names: tuple[str, ...]
    landmarks_in_phantom: Float64Array

    def transform(self, from_frame: str, to_frame: str) -> Float64Array:
        """``to_from_from`` as stored (``transform("StylusTip", "Stylus")``) or its inverse."""
        direct = f"{from_frame}To{to_frame}"
        if direct in self.transforms:
            return self.transforms[direct]
        inverse = f"{to_frame}To{from_frame}"
        if inverse in self.transforms:
            return invert_rigid(self.transforms[inverse])
        known = ", ".join(self.transforms) or "none"
        raise InputError(
            f"{self.path} defines no transform between {from_frame} and {to_frame} "
            f"(CoordinateDefinitions has: {known})."
        )


def read_plus_device_set(path: str | Path) -> PlusDeviceSet:
    """Read calibration transforms and phantom landmarks from a PLUS device set XML file.

    Raises :class:`InputError` naming the file and element when the XML is malformed, a
    matrix does not have 16 numbers or is not rigid, or a landmark position is not 3 numbers.
    """
    file = Path(path)
    try:
        root = ElementTree.parse(file).getroot()
    except FileNotFoundError:
        raise InputError(f"PLUS configuration {file} does not exist.") from None
    except ElementTree.ParseError as error:
        raise InputError(f"{file} is not well-formed XML ({error}).") from None
    device_set = root.find("./DataCollection/DeviceSet")
    name = device_set.get("Name", "") if device_set is not None else ""
    transforms: dict[str, Float64Array] = {}
    errors: dict[str, float] = {}
    for element in root.findall("./CoordinateDefinitions/Transform"):
        source, target = element.get("From"), element.get("To")
        text = element.get("Matrix")
        if not source or not target or text is None:
            raise InputError(f"{file}: a CoordinateDefinitions Transform lacks From, To or Matrix.")
        key = f"{source}To{target}"
        matrix = check_rigid(parse_matrix_text(text, f"{file} transform {key}"), f"{file} {key}")
        matrix.setflags(write=False)
        transforms[key] = matrix
        if element.get("Error") is not None:
            errors[key] = float(element.get("Error", "nan"))
    names: list[str] = []
    positions: list[list[float]] = []
    for element in root.findall(".//PhantomDefinition/Geometry/Landmarks/Landmark"):
        landmark = element.get("Name", f"#{len(names) + 1}")
        try:
            position = [float(v) for v in element.get("Position", "").split()]
        except ValueError:
            position = []
        if len(position) != 3:
            raise InputError(f"{file}: landmark {landmark!r} Position is not three numbers.")
        names.append(landmark)
        positions.append(position)
    landmarks = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    landmarks.setflags(write=False)
    return PlusDeviceSet(
        path=file,
        name=name,
        transforms=MappingProxyType(transforms),
        transform_errors=MappingProxyType(errors),
        landmark_names=tuple(names),
        landmarks_in_phantom=landmarks,
    )
