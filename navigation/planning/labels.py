"""The label table: canonical structure names, label values and display colours.

Other slices rely on these names: ``skin``, ``bone``, ``airway``, ``tumour``, ``node``,
``fiducials``. The table's order is the painting order of the single-layer label map
(``labels.nii.gz``): a later row wins where structures overlap (``skin`` is the whole body, so
every internal structure overwrites it there; in ``labels.seg.nrrd`` the skin segment keeps the
whole body in its own layer).
"""

from __future__ import annotations

from navigation.planning.plan import LabelEntry
from registration.core.checks import InputError

SKIN, BONE, AIRWAY, TUMOUR, NODE, FIDUCIALS = (
    "skin",
    "bone",
    "airway",
    "tumour",
    "node",
    "fiducials",
)

#: Canonical rows (colours close to 3D Slicer's generic anatomy colours).
CANONICAL_LABELS: tuple[LabelEntry, ...] = (
    LabelEntry(SKIN, 1, (0.694, 0.478, 0.396)),
    LabelEntry(BONE, 2, (0.945, 0.839, 0.569)),
    LabelEntry(AIRWAY, 3, (0.592, 0.808, 0.941)),
    LabelEntry(TUMOUR, 4, (0.902, 0.157, 0.157)),
    LabelEntry(NODE, 5, (0.863, 0.467, 0.902)),
    LabelEntry(FIDUCIALS, 6, (0.157, 0.863, 0.314)),
)

#: Colours for structures imported under other names (cycled).
PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.502, 0.682, 0.502),
    (0.945, 0.839, 0.569),
    (0.694, 0.478, 0.396),
    (0.435, 0.722, 0.824),
    (0.847, 0.396, 0.310),
    (0.867, 0.510, 0.396),
    (0.565, 0.933, 0.565),
    (0.753, 0.408, 0.345),
    (0.863, 0.961, 0.078),
    (0.306, 0.247, 0.000),
    (1.000, 0.980, 0.863),
    (0.902, 0.863, 0.275),
)


def canonical_entry(name: str) -> LabelEntry:
    """The canonical row called ``name``."""
    for entry in CANONICAL_LABELS:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in CANONICAL_LABELS)
    raise InputError(f"{name!r} is not a canonical label name ({known}).")


def check_table(table: tuple[LabelEntry, ...]) -> tuple[LabelEntry, ...]:
    """Refuse duplicate names or values, values outside 1..65535 and colours outside 0..1."""
    names = [e.name for e in table]
    values = [str(e.value) for e in table]
    for what, items in (("name", names), ("value", values)):
        duplicates = sorted({v for v in items if items.count(v) > 1})
        if duplicates:
            raise InputError(f"label table has duplicate {what}s: {', '.join(duplicates)}.")
    for entry in table:
        if not 1 <= entry.value <= 65535:
            raise InputError(f"label {entry.name!r}: value {entry.value} must be in 1..65535.")
        if any(not 0.0 <= c <= 1.0 for c in entry.color) or len(entry.color) != 3:
            raise InputError(f"label {entry.name!r}: colour {entry.color} must be r, g, b in 0..1.")
    return table
