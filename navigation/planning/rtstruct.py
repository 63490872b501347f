"""A radiotherapy structure set (DICOM RTSTRUCT) imported onto the planning image's grid.

The objects are read with pydicom (RT Structure Set IOD, PS3.3 A.19: Structure Set ROI,
ROI Contour and RT ROI Observations modules). Every ROI's ``ReferencedFrameOfReferenceUID``
(and the set's Referenced Frame of Reference) must be the image's FrameOfReferenceUID:
contours of another frame lie in other coordinates and are refused. ``CLOSED_PLANAR`` contours
are rasterised by :mod:`navigation.planning.contour_raster`; ROIs with only points or open
contours (isocentres, reference points, lines) are listed as skipped.

The ROI named by ``tumour_roi`` becomes the plan's ``tumour``, ``node_roi`` its ``node``; all
other ROIs are kept as labels under their own names (with the set's display colours).

Library choice (rasterisation): ``rt-utils`` (1.2.7) matches contours to image files by
each contour's referenced SOPInstanceUID, so it needs the original image files, cannot fill
slices between contour planes and loses contours on a resampled or re-exported grid; older
releases truncate contour coordinates to whole millimetres before ``cv2.fillPoly``.
``dcmrtstruct2nii`` (5, 2023) works file to file (DICOM folder to NIfTI), assigns each contour
to the slice of its truncated (not rounded) first-point index and fills nothing between
planes. ``platipy`` brings a large dependency tree (deep learning, registration, its own ITK
stack) for one conversion, with the same one-plane-per-slice rule. None checks the frame of
reference. So the polygons are filled here with scikit-image's ``skimage.draw.polygon`` (already
a dependency; the point-in-polygon primitive dcmrtstruct2nii uses too), with even-odd holes,
shape-based interpolation between planes and explicit checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from navigation.imaging.volume import Volume
from navigation.planning.contour_raster import rasterise_contours
from navigation.planning.imported_structures import ImportedStructures
from navigation.planning.labels import NODE, TUMOUR
from navigation.planning.regions import RegionMask
from registration.core.checks import InputError

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
#: Names the CT segmentation already uses: imported ROIs so named get " (RT)" appended.
RESERVED = ("skin", "bone", "airway", "fiducials", TUMOUR, NODE)


def read_rtstruct(path: str | Path) -> Dataset:
    """The structure set at ``path`` (files without preamble or file meta accepted)."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"structure set {file} does not exist; give the RTSTRUCT file (RS*.dcm).")
    try:
        dataset = pydicom.dcmread(file, force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise InputError(f"{file} is not a readable DICOM file ({error}).") from None
    sop_class = str(dataset.get("SOPClassUID", ""))
    if dataset.get("Modality") != "RTSTRUCT" and sop_class != RTSTRUCT_SOP_CLASS:
        raise InputError(
            f"{file} is not an RT structure set (Modality {dataset.get('Modality')!r}); give the "
            "RTSTRUCT file of this patient's plan."
        )
    if "StructureSetROISequence" not in dataset or "ROIContourSequence" not in dataset:
        raise InputError(f"{file}: the structure set has no ROIs (StructureSetROISequence).")
    return dataset


def rtstruct_structures(
    path: str | Path,
    image: Volume,
    *,
    tumour_roi: str | None = None,
    node_roi: str | None = None,
) -> ImportedStructures:
    """Rasterise the ROIs of the structure set at ``path`` on ``image``'s grid.

    Raises :class:`InputError` for another frame of reference, an unknown ROI name, an ROI
    chosen as tumour/node without closed contours, or contours oblique to the image.
    """
    file = Path(path)
    dataset = read_rtstruct(file)
    rois = _rois(dataset)
    _check_frame(dataset, rois, image, file)
    wanted = {TUMOUR: tumour_roi, NODE: node_roi}
    by_name = {roi["name"].casefold(): roi for roi in rois.values()}
    for label, roi_name in wanted.items():
        if roi_name is not None and roi_name.casefold() not in by_name:
            names = ", ".join(repr(r["name"]) for r in rois.values())
            raise InputError(f"{file} has no ROI {roi_name!r} (for the {label}); ROIs: {names}.")
    chosen = {by_name[n.casefold()]["number"]: label for label, n in wanted.items() if n}
    regions: dict[str, RegionMask] = {}
    colors: dict[str, tuple[float, float, float]] = {}
    imported, skipped = [], []
    for number, roi in rois.items():
        label = chosen.get(number) or _label_name(roi["name"], regions)
        if not roi["closed"]:
            why = f"no closed planar contours ({', '.join(sorted(roi['types'])) or 'none'})"
            if number in chosen:
                raise InputError(
                    f"{file}: ROI {roi['name']!r} has {why}; it cannot be the {label}."
                )
            skipped.append({"name": roi["name"], "rt_type": roi["rt_type"], "reason": why})
            continue
        raster = rasterise_contours(roi["closed"], image.geometry, name=roi["name"])
        if raster.region.voxel_count == 0:
            skipped.append({"name": roi["name"], "rt_type": roi["rt_type"],
                            "reason": "its contours cover no voxel of the image"})  # fmt: skip
            continue
        regions[label] = raster.region
        if roi["color"] is not None:
            colors[label] = roi["color"]
        imported.append(
            {
                "name": label,
                "source": roi["name"],
                "rt_type": roi["rt_type"],
                "contours": raster.contours,
                "planes": raster.planes,
                "interpolated_slices": raster.interpolated_slices,
                "volume_ml": round(raster.region.volume_ml(image.geometry), 3),
                "extends_beyond_image": raster.clipped,
            }
        )
    record = {
        "file": str(file),
        "frame_of_reference_uid": image.metadata.get("frame_of_reference_uid"),
        "structure_set_label": str(dataset.get("StructureSetLabel", "")),
        "imported": imported,
        "skipped": skipped,
        "hint": _hint(rois, tumour_roi),
    }
    return ImportedStructures("rtstruct", regions, colors, record)


def _label_name(name: str, taken: dict[str, Any]) -> str:
    label = name.strip() or "ROI"
    if label.casefold() in RESERVED:
        label = f"{label} (RT)"
    base, n = label, 2
    while label in taken:
        label, n = f"{base} {n}", n + 1
    return label


def _rois(dataset: Dataset) -> dict[int, dict[str, Any]]:
    """ROI number -> name, frame, RT type, colour and closed contours ((N, 3) LPS mm each)."""
    rois: dict[int, dict[str, Any]] = {}
    for item in dataset.StructureSetROISequence:
        number = int(item.ROINumber)
        rois[number] = {
            "number": number,
            "name": str(item.get("ROIName", f"ROI {number}")),
            "frame": str(item.get("ReferencedFrameOfReferenceUID", "")),
            "rt_type": "",
            "color": None,
            "closed": [],
            "types": set(),
        }
    for item in dataset.get("RTROIObservationsSequence", []):
        number = int(item.get("ReferencedROINumber", -1))
        if number in rois:
            rois[number]["rt_type"] = str(item.get("RTROIInterpretedType", ""))
    for item in dataset.ROIContourSequence:
        number = int(item.get("ReferencedROINumber", -1))
        if number not in rois:
            continue
        roi = rois[number]
        color = item.get("ROIDisplayColor")
        if color is not None and len(color) == 3:
            roi["color"] = tuple(min(max(float(c) / 255.0, 0.0), 1.0) for c in color)
        for contour in item.get("ContourSequence", []):
            kind = str(contour.get("ContourGeometricType", "")).upper()
            roi["types"].add(kind)
            data = np.asarray(contour.get("ContourData", []), dtype=np.float64)
            if kind == "CLOSED_PLANAR" and data.size >= 9 and data.size % 3 == 0:
                roi["closed"].append(data.reshape(-1, 3))
    return rois


def _check_frame(
    dataset: Dataset, rois: dict[int, dict[str, Any]], image: Volume, file: Path
) -> None:
    image_frame = str(image.metadata.get("frame_of_reference_uid") or "")
    if not image_frame:
        raise InputError(
            f"the image has no FrameOfReferenceUID (it was not read from DICOM), so the contours "
            f"of {file.name} cannot be shown to share its coordinates; plan from the CT's DICOM "
            "series."
        )
    frames = {str(f.get("FrameOfReferenceUID", "")) for f in
              dataset.get("ReferencedFrameOfReferenceSequence", [])}  # fmt: skip
    frames |= {roi["frame"] for roi in rois.values() if roi["closed"]}
    frames.discard("")
    other = sorted(frames - {image_frame})
    if other or not frames:
        raise InputError(
            f"{file.name} refers to frame of reference {', '.join(other) or '(none)'}, not the "
            f"image's {image_frame}: its contours were drawn on another scan. Give the structure "
            "set of this CT (or plan on the CT it was drawn on)."
        )


def _hint(rois: dict[int, dict[str, Any]], tumour_roi: str | None) -> str | None:
    if tumour_roi is not None:
        return None
    gtvs = [r["name"] for r in rois.values() if r["rt_type"].upper() == "GTV" and r["closed"]]
    if gtvs:
        return f"ROI(s) of RT type GTV: {', '.join(gtvs)}; pass --tumour-roi NAME to plan on one"
    return None
