"""Window and level of the slice views' grey image: presets, automatic window, mouse drags.

A window of width ``W`` centred on level ``L`` maps a value ``v`` to the grey
``255 * clip((v - (L - W / 2)) / W, 0, 1)``: the linear VOI LUT of DICOM PS3.3 C.11.2.1.2
(without its half-unit offsets, which matter only for 8-bit output of integer data).

Presets are those a planner knows from 3D Slicer's volume display presets
(``VolumeDisplayPresets.json``): CT soft tissue W 400 / L 40 (the head and neck soft-tissue
window; Slicer's "CT-Abdomen" is W 350 / L 40) and CT bone W 1000 / L 400 ("CT-Bone"). MR (and
any other image) has no calibrated unit, so its window comes from the image itself: the 1st to
99.5th percentile of its voxels (Slicer's automatic window uses histogram percentiles too).

Mouse adjustment follows Slicer's window/level drag: dragging right widens the window, dragging
up raises the level (the image darkens); a drag across the whole view changes either by the
image's percentile span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from registration.core.checks import InputError, check_finite, check_positive

#: Narrowest window a drag can reach (in the image's units).
MIN_WINDOW = 1.0
#: Voxels sampled (at most) for the automatic window.
_AUTO_SAMPLES = 2_000_000


@dataclass(frozen=True)
class WindowLevel:
    """A grey-scale window: ``window`` (width, > 0) centred on ``level``, in the image's unit
    (HU for CT); ``name`` says which preset it is ("custom" after a drag)."""

    window: float
    level: float
    name: str = "custom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", check_positive(self.window, "window"))
        object.__setattr__(self, "level", float(check_finite(self.level, "level")))

    @classmethod
    def from_range(cls, low: float, high: float, name: str = "custom") -> WindowLevel:
        """The window from ``low`` (black) to ``high`` (white)."""
        if not high > low:
            raise InputError(f"a window needs low < high; got ({low}, {high}).")
        return cls(float(high) - float(low), (float(high) + float(low)) / 2.0, name)

    @property
    def low(self) -> float:
        """The value drawn black (and everything below)."""
        return self.level - self.window / 2.0

    @property
    def high(self) -> float:
        """The value drawn white (and everything above)."""
        return self.level + self.window / 2.0

    def grey(self, values: np.ndarray) -> np.ndarray:
        """Grey levels (float32, 0..255 after clipping by the caller's composition; values
        outside the window fall outside 0..255) of an array of image values."""
        scale = np.float32(255.0 / self.window)
        return (np.asarray(values, dtype=np.float32) - np.float32(self.low)) * scale

    def dragged(self, right: float, up: float, *, span: float) -> WindowLevel:
        """The window after a mouse drag.

        right, up : the drag as fractions of the view's width and height (right and up are
            positive). span : the image's value span a whole-view drag changes (e.g. its
            1st-99.5th percentile range).
        """
        span = check_positive(span, "span")
        window = max(MIN_WINDOW, self.window + float(right) * span)
        return WindowLevel(window, self.level + float(up) * span, "custom")

    def caption(self) -> str:
        """E.g. "W 400 L 40 (soft tissue)"."""
        return f"W {self.window:.0f} L {self.level:.0f} ({self.name})"


CT_SOFT_TISSUE = WindowLevel(400.0, 40.0, "soft tissue")
CT_BONE = WindowLevel(1000.0, 400.0, "bone")


def auto_window(image: np.ndarray, *, name: str = "auto") -> WindowLevel:
    """The 1st to 99.5th percentile of the image's voxels (sampled evenly, at most two
    million), the automatic window for images without a calibrated unit (MR)."""
    values = np.asarray(image).ravel()
    if values.size == 0:
        raise InputError("the image is empty: no window can be chosen.")
    step = max(1, values.size // _AUTO_SAMPLES)
    sample = values[::step].astype(np.float32)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        raise InputError("the image has no finite values: no window can be chosen.")
    low, high = (float(v) for v in np.percentile(sample, [1.0, 99.5]))
    return WindowLevel.from_range(low, max(high, low + MIN_WINDOW), name)


def window_presets(modality: str, image: np.ndarray) -> tuple[WindowLevel, ...]:
    """The presets offered for an image, the default first: CT soft tissue, bone, auto; any
    other modality (MR, PET, unknown): auto only."""
    automatic = auto_window(image)
    if modality.upper() == "CT":
        return (CT_SOFT_TISSUE, CT_BONE, automatic)
    return (automatic,)


def next_preset(current: WindowLevel | None, presets: tuple[WindowLevel, ...]) -> WindowLevel:
    """The preset after ``current`` in ``presets`` (cycling; the first after a custom window)."""
    if not presets:
        raise InputError("no window presets to choose from.")
    if current is None:
        return presets[1 % len(presets)]
    for index, preset in enumerate(presets):
        if preset == current:
            return presets[(index + 1) % len(presets)]
    return presets[0]
