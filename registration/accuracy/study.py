"""The definition of an accuracy study: layouts x FLE levels x trials x targets, and a seed.

A study is a frozen value: the same study (same seed) gives the same numbers wherever it runs.
:meth:`AccuracyStudy.cases` expands it into the registrations to simulate: every layout at
every FLE level, then (optionally) every layout at the first FLE level with each fiducial
dropped in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from registration.core.checks import Float64Array, InputError, check_points
from registration.fiducial_configuration import COLLINEAR_RATIO, configuration_singular_values


@dataclass(frozen=True)
class Layout:
    """A named fiducial layout.

    name : label in the report; fiducial_names : (N,) names; fiducials_lps_mm : (N, 3) mm, LPS.
    """

    name: str
    fiducial_names: tuple[str, ...]
    fiducials_lps_mm: Float64Array

    def __post_init__(self) -> None:
        points = check_points(self.fiducials_lps_mm, f"layout {self.name!r} fiducials", min_count=3)
        names = tuple(str(n) for n in self.fiducial_names)
        if len(names) != len(points):
            raise InputError(
                f"layout {self.name!r} has {len(names)} names for {len(points)} fiducials."
            )
        points.setflags(write=False)
        object.__setattr__(self, "fiducials_lps_mm", points)
        object.__setattr__(self, "fiducial_names", names)

    @classmethod
    def from_points(cls, name: str, points_lps_mm: ArrayLike) -> Layout:
        """A layout with fiducials named F1..FN."""
        points = check_points(points_lps_mm, f"layout {name!r} fiducials")
        return cls(name, tuple(f"F{i + 1}" for i in range(len(points))), points)

    def without(self, index: int) -> Layout:
        """This layout with fiducial ``index`` removed."""
        keep = [i for i in range(len(self.fiducial_names)) if i != index]
        return Layout(
            f"{self.name} without {self.fiducial_names[index]}",
            tuple(self.fiducial_names[i] for i in keep),
            self.fiducials_lps_mm[keep],
        )

    @property
    def constrained(self) -> bool:
        """Whether the layout can register: at least 3 fiducials, not collinear."""
        if len(self.fiducial_names) < 3:
            return False
        s = configuration_singular_values(self.fiducials_lps_mm)
        return bool(s[0] > 0 and s[1] / s[0] >= COLLINEAR_RATIO)


@dataclass(frozen=True)
class StudyTarget:
    """A named target point: name, position_lps_mm (3,) mm."""

    name: str
    position_lps_mm: Float64Array

    def __post_init__(self) -> None:
        position = check_points(self.position_lps_mm, f"target {self.name!r}")[0]
        position.setflags(write=False)
        object.__setattr__(self, "position_lps_mm", position)


@dataclass(frozen=True)
class StudyCase:
    """One simulated configuration of a study (see :meth:`AccuracyStudy.cases`).

    index : position in the study; layout : the fiducials simulated (reduced when ``dropped``);
    base_layout : name of the layout it derives from; fle_rms_mm / fle_image_rms_mm : 3-D RMS
    FLE of the tracker and image sides, mm; dropped : name of the fiducial left out, or None.
    """

    index: int
    layout: Layout
    base_layout: str
    fle_rms_mm: float
    fle_image_rms_mm: float
    dropped: str | None = None

    @property
    def fle_total_rms_mm(self) -> float:
        """sqrt(FLE_tracker^2 + FLE_image^2): what the theory uses, mm."""
        return float(np.hypot(self.fle_rms_mm, self.fle_image_rms_mm))


@dataclass(frozen=True)
class AccuracyStudy:
    """A Monte Carlo accuracy study.

    layouts : fiducial layouts (the first is the main one: the plan's).
    fle_rms_mm : FLE levels of the tracked fiducials, sqrt(<FLE^2>) in mm, isotropic.
    targets : where TRE is measured (the tumour first, by convention).
    trials : registrations simulated per case.
    fle_image_rms_mm : isotropic 3-D RMS FLE of the image fiducials, mm (0: exact).
    seed : root seed; each chunk's generator comes from ``SeedSequence(seed).spawn``.
    chunk_trials : trials per chunk (the unit of parallel work; part of the study, so results
        do not depend on the executor).
    drop_each_fiducial : also simulate each layout at the first FLE level without each
        fiducial in turn (skipped when the rest cannot register).
    """

    layouts: tuple[Layout, ...]
    fle_rms_mm: tuple[float, ...]
    targets: tuple[StudyTarget, ...]
    trials: int = 10_000
    fle_image_rms_mm: float = 0.0
    seed: int = 0
    chunk_trials: int = 10_000
    drop_each_fiducial: bool = True
    _cases: tuple[StudyCase, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.layouts:
            raise InputError("an accuracy study needs at least one fiducial layout.")
        if not self.targets:
            raise InputError("an accuracy study needs at least one target.")
        levels = tuple(float(f) for f in np.atleast_1d(np.asarray(self.fle_rms_mm, dtype=float)))
        if not levels or not all(np.isfinite(f) and f >= 0 for f in levels):
            raise InputError(f"fle_rms_mm must be non-negative numbers; got {self.fle_rms_mm}.")
        image = float(self.fle_image_rms_mm)
        if not np.isfinite(image) or image < 0:
            raise InputError(f"fle_image_rms_mm must be >= 0; got {self.fle_image_rms_mm}.")
        if int(self.trials) < 2 or int(self.chunk_trials) < 1:
            raise InputError(
                f"trials must be >= 2 and chunk_trials >= 1; got {self.trials}, "
                f"{self.chunk_trials}."
            )
        if int(self.seed) < 0:
            raise InputError(f"seed must be a non-negative integer; got {self.seed}.")
        names = [layout.name for layout in self.layouts]
        if len(set(names)) != len(names):
            raise InputError(f"layout names must be unique; got {names}.")
        for layout in self.layouts:
            if not layout.constrained:
                raise InputError(f"layout {layout.name!r} is collinear; it cannot register.")
        object.__setattr__(self, "fle_rms_mm", levels)
        object.__setattr__(self, "fle_image_rms_mm", image)
        object.__setattr__(self, "_cases", self._expand())

    def cases(self) -> tuple[StudyCase, ...]:
        """Every case in a fixed order: layouts x FLE levels, then the drop-one cases."""
        return self._cases

    @property
    def target_positions_lps_mm(self) -> Float64Array:
        """(M, 3) target positions, mm, LPS."""
        return np.array([t.position_lps_mm for t in self.targets])

    def _expand(self) -> tuple[StudyCase, ...]:
        image = self.fle_image_rms_mm
        specs: list[tuple[Layout, str, float, str | None]] = [
            (layout, layout.name, fle, None) for layout in self.layouts for fle in self.fle_rms_mm
        ]
        if self.drop_each_fiducial:
            for layout in self.layouts:
                for index, name in enumerate(layout.fiducial_names):
                    reduced = layout.without(index) if len(layout.fiducial_names) > 3 else None
                    if reduced is not None and reduced.constrained:
                        specs.append((reduced, layout.name, self.fle_rms_mm[0], name))
        return tuple(
            StudyCase(i, layout, base, fle, image, dropped)
            for i, (layout, base, fle, dropped) in enumerate(specs)
        )
