"""Standard terminology (SNOMED CT codes) of the plan's labels, as 3D Slicer stores it.

Slicer keeps a segment's meaning in the ``TerminologyEntry`` tag of ``SegmentN_Tags``: seven
``~``-separated fields, each code as ``scheme^value^meaning`` (Slicer developer guide,
"Segmentations: TerminologyEntry tag"; parsed and written by ``slicerio``'s
``terminology_entry_from_string``/``_to_string``)::

    context name ~ category ~ type ~ type modifier ~ anatomic context ~ region ~ region modifier

The codes come from the terminology contexts Slicer ships (``3D Slicer General Anatomy list``
and the ``DICOM master list``, i.e. DICOM PS3.16 CID 7150/7151 and CID 7166):

=========  ==============================  ===============================================
label      category                        type
=========  ==============================  ===============================================
skin       SCT 85756007 Tissue             SCT 39937001 Skin
bone       SCT 85756007 Tissue             SCT 272673000 Bone
airway     SCT 123037004 Anatomical Str.   SCT 89187006 Airway structure
tumour     SCT 49755003 Morph. Altered     SCT 108369006 Neoplasm
node       SCT 85756007 Tissue             SCT 59441001 Lymph node
fiducials  SCT 260787004 Physical object   SCT 706484002 Body reference point marker
=========  ==============================  ===============================================

:func:`label_for_segment` maps a segment read from any ``.seg.nrrd`` (or a label file's name)
back to one of these labels, by its terminology type code or else by its name (synonyms:
tumor, GTV, GTVp...).
"""

from __future__ import annotations

import re
from typing import Any

from slicerio.segmentation import terminology_entry_from_string, terminology_entry_to_string

from navigation.planning.labels import AIRWAY, BONE, FIDUCIALS, NODE, SKIN, TUMOUR

SLICER_ANATOMY = "Segmentation category and type - 3D Slicer General Anatomy list"
DICOM_MASTER = "Segmentation category and type - DICOM master list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"

TISSUE = ["SCT", "85756007", "Tissue"]
ANATOMICAL_STRUCTURE = ["SCT", "123037004", "Anatomical Structure"]
MORPHOLOGICALLY_ALTERED = ["SCT", "49755003", "Morphologically Altered Structure"]
PHYSICAL_OBJECT = ["SCT", "260787004", "Physical object"]

#: label -> (context, category, type) of :data:`CANONICAL_TERMS`.
CANONICAL_TERMS: dict[str, tuple[str, list[str], list[str]]] = {
    SKIN: (SLICER_ANATOMY, TISSUE, ["SCT", "39937001", "Skin"]),
    BONE: (SLICER_ANATOMY, TISSUE, ["SCT", "272673000", "Bone"]),
    AIRWAY: (DICOM_MASTER, ANATOMICAL_STRUCTURE, ["SCT", "89187006", "Airway structure"]),
    TUMOUR: (DICOM_MASTER, MORPHOLOGICALLY_ALTERED, ["SCT", "108369006", "Neoplasm"]),
    NODE: (SLICER_ANATOMY, TISSUE, ["SCT", "59441001", "Lymph node"]),
    FIDUCIALS: (
        DICOM_MASTER,
        PHYSICAL_OBJECT,
        ["SCT", "706484002", "Body reference point marker"],
    ),
}

#: Type codes (SNOMED CT) of other segments that mean one of our labels.
TYPE_CODES: dict[str, str] = {
    "39937001": SKIN,
    "38266002": SKIN,  # Entire body
    "272673000": BONE,
    "89187006": AIRWAY,
    "108369006": TUMOUR,
    "86049000": TUMOUR,  # Malignant neoplasm, primary
    "4147007": TUMOUR,  # Mass
    "59441001": NODE,
    "706484002": FIDUCIALS,
}

#: Segment names (lower case, letters and digits only) that mean one of our labels.
NAME_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("skin", "body", "external", "outercontour", "patient"), SKIN),
    **dict.fromkeys(("bone", "bones", "skeleton"), BONE),
    **dict.fromkeys(("airway", "airways", "air"), AIRWAY),
    **dict.fromkeys(
        (
            "tumour",
            "tumor",
            "gtv",
            "gtvp",
            "gtvprimary",
            "primary",
            "primarytumour",
            "primarytumor",
            "neoplasm",
            "lesion",
        ),
        TUMOUR,
    ),
    **dict.fromkeys(("node", "lymphnode", "gtvn", "gtvnode", "ln", "nodes"), NODE),
    **dict.fromkeys(("fiducials", "fiducial", "markers", "marker"), FIDUCIALS),
}


_NODE_GTV = re.compile(r"gtvn(odes?|odal)?(\d.*|l|r|lt|rt|left|right)?")


def terminology_tag(label: str) -> str | None:
    """The ``TerminologyEntry`` string of a canonical label (None for other labels)."""
    if label not in CANONICAL_TERMS:
        return None
    context, category, kind = CANONICAL_TERMS[label]
    entry: dict[str, Any] = {
        "contextName": context,
        "category": category,
        "type": kind,
        "anatomicContextName": ANATOMIC_CONTEXT,
    }
    return str(terminology_entry_to_string(entry))


def segment_tags(label: str) -> str:
    """The whole ``SegmentN_Tags`` value: status, and the terminology when the label has one."""
    tags = "Segmentation.Status:completed|"
    term = terminology_tag(label)
    return tags + (f"TerminologyEntry:{term}|" if term else "")


def label_for_segment(name: str, terminology: dict[str, Any] | str | None) -> str | None:
    """Our label for a segment (by terminology type code, else by name), or None.

    Names are compared in lower case, letters and digits only (``GTV-p`` is ``gtvp``); besides
    :data:`NAME_SYNONYMS`, ``GTVn`` with a number or side (``GTVn1``, ``GTV-N_L``,
    ``GTVnode2``) is a node and any other name starting ``gtv`` (gross tumour volume:
    ``GTV_70``, ``GTVp1``, ``GTV nasopharynx``) is the tumour.
    """
    entry = (
        terminology_entry_from_string(terminology) if isinstance(terminology, str) else terminology
    )
    if entry:
        kind = entry.get("type") or []
        if len(kind) >= 2 and kind[0] in ("SCT", "SRT") and kind[1] in TYPE_CODES:
            return TYPE_CODES[kind[1]]
    key = re.sub(r"[^a-z0-9]", "", name.casefold())
    if key in NAME_SYNONYMS:
        return NAME_SYNONYMS[key]
    if _NODE_GTV.fullmatch(key):
        return NODE
    if key.startswith("gtv"):
        return TUMOUR
    return None
