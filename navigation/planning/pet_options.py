"""The settings of the PET tumour: the threshold fraction of SUVmax and the rules that tell
physiological uptake from a primary. Shared by :mod:`navigation.planning.pet_physiology` (the
foci and physiology masks) and :mod:`navigation.planning.pet_tumour` (the tumour itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from registration.core.checks import InputError


@dataclass(frozen=True)
class PetOptions:
    """Settings of the PET tumour (fractions of SUVmax, SUV in g/ml, distances in mm)."""

    fraction: float = 0.41
    min_suv: float = 2.5
    seed_radius_mm: float = 15.0
    symmetry_ratio: float = 0.7
    mirror_radius_mm: float = 10.0

    def __post_init__(self) -> None:
        if not 0.2 <= self.fraction <= 0.9:
            raise InputError(
                f"the PET threshold fraction must be between 0.2 and 0.9 of SUVmax (40-50 % "
                f"is usual); got {self.fraction:g}."
            )
