"""What a plan source other than the CT's own segmentation hands to the plan: masks on the
planning grid named by label, their colours, and the plan.json record of where they came from.
Made by :mod:`navigation.planning.rtstruct`, :mod:`navigation.planning.segmentation_import` and
the PET tumour; added to the segmentation by :mod:`navigation.planning.plan_sources`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from navigation.planning.regions import RegionMask


@dataclass(frozen=True)
class ImportedStructures:
    """Masks (on the planning grid) named by label, and the plan.json record of their source."""

    key: str  # plan.json key: "pet", "rtstruct", "segmentation_import"
    regions: dict[str, RegionMask]
    colors: dict[str, tuple[float, float, float]]
    record: dict[str, Any]
    attachments: dict[str, bytes] = field(default_factory=dict)  # files for the plan folder
