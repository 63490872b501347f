"""The slice picture: a 2-D label cut (and grey image) composed into one RGBA image in numpy.

Labels are first *coded* (:meth:`LabelPalette.encode`): every drawn label value gets a small
code, ordered by outline priority (code 0: not drawn; labels that are filled but never outlined
next; outlined labels last, the highest priority highest). The slice views code the whole label
volume once (:attr:`rendering.slice_views.SliceVolumes.codes`) and cut the codes, so composing
a picture is a few vectorised passes over small integers:

- fill: one gather from a table of packed RGBA colours (faint label colour on black, or blended
  with the grey image);
- outlines: a boundary between two samples with different codes is drawn on both samples in
  the colour of the higher code (the higher priority), so per sample the outline colour is the
  maximum, over its 4 neighbours with another code, of the two codes: four shifted
  ``np.maximum`` passes. A code below the first outlined one never draws an outline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Opacity of the label fill under the outlines.
LABEL_FILL_OPACITY = 0.25


@dataclass(frozen=True, eq=False)
class LabelPalette:
    """Per label value: display colour, fill opacity and outline priority.

    colours : (L, 3) float32, 0..255; alpha : (L,) float32 fill opacity (0 = not drawn);
    rank : (L,) float, higher wins a shared outline; -1 = never outlined. Index L - 1 stands
    for every label value beyond the table (not drawn).

    Derived: ``code_of_value`` (L,) the code of each value (uint8, or uint16 beyond 255
    codes); ``first_outlined`` the lowest code that draws outlines; per code ``code_alpha``,
    ``code_tint`` (colour x alpha, 0..255) and ``code_outline`` (RGBA uint8); ``rgba_table``
    (2 x codes,) packed RGBA (uint32 in memory order): fill on black per code, then outline
    colour per code.
    """

    colours: np.ndarray
    alpha: np.ndarray
    rank: np.ndarray
    code_of_value: np.ndarray = field(init=False, repr=False)
    first_outlined: int = field(init=False, repr=False)
    code_alpha: np.ndarray = field(init=False, repr=False)
    code_tint: np.ndarray = field(init=False, repr=False)
    code_outline: np.ndarray = field(init=False, repr=False)
    rgba_table: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        colours = np.asarray(self.colours, dtype=np.float32).reshape(-1, 3)
        alpha = np.asarray(self.alpha, dtype=np.float32).ravel()
        rank = np.asarray(self.rank, dtype=np.float64).ravel()
        size = len(rank)
        # Codes in priority order: filled-only labels (never outlined), then outlined by rank.
        filled_only = [v for v in range(size - 1) if rank[v] < 0 and alpha[v] > 0]
        outlined = sorted((v for v in range(size - 1) if rank[v] >= 0), key=lambda v: (rank[v], v))
        values = [*filled_only, *outlined]
        count = len(values) + 1
        code_of_value = np.zeros(size, np.uint8 if count <= 256 else np.uint16)
        code_of_value[values] = np.arange(1, count)
        code_alpha = np.zeros(count, np.float32)
        code_colour = np.zeros((count, 3), np.float32)
        code_alpha[1:] = alpha[values]
        code_colour[1:] = colours[values]
        tint = code_colour * code_alpha[:, np.newaxis]
        rgba = np.full((2 * count, 4), 255, np.uint8)
        rgba[:count, :3] = np.round(tint).astype(np.uint8)
        rgba[count:, :3] = np.round(code_colour).astype(np.uint8)
        for name, value in (
            ("colours", colours),
            ("alpha", alpha),
            ("rank", rank),
            ("code_of_value", code_of_value),
            ("first_outlined", len(filled_only) + 1),
            ("code_alpha", code_alpha),
            ("code_tint", tint),
            ("code_outline", rgba[count:]),
            ("rgba_table", rgba.view(np.uint32).ravel()),
        ):
            object.__setattr__(self, name, value)

    @classmethod
    def from_labels(
        cls,
        labels: np.ndarray,
        label_colors: dict[int, tuple[float, float, float]],
        *,
        fill_opacity: float = LABEL_FILL_OPACITY,
    ) -> LabelPalette:
        """Colours from the plan; the smaller structure wins a shared outline (the tumour
        inside the skin keeps the tumour's colour).

        labels : integer label array (any shape; only its value counts matter).
        label_colors : label value (> 0) -> (r, g, b) in 0..1.
        """
        top = max(label_colors, default=0)
        size = top + 2
        counts = np.bincount(np.clip(labels.ravel(), 0, size - 1).astype(np.intp), minlength=size)
        colours = np.zeros((size, 3), np.float32)
        alpha = np.zeros(size, np.float32)
        rank = np.full(size, -1.0)
        for value, rgb in label_colors.items():
            colours[value] = np.asarray(rgb) * 255.0
            alpha[value] = fill_opacity
            rank[value] = 1.0 / (1.0 + counts[value])
        return cls(colours, alpha, rank)

    @property
    def code_count(self) -> int:
        """Number of codes (code 0, not drawn, included)."""
        return len(self.code_alpha)

    def encode(self, labels: np.ndarray) -> np.ndarray:
        """The codes of integer ``labels`` (any shape; negative or beyond the table: 0)."""
        index = np.clip(labels, 0, len(self.rank) - 1)
        return np.take(self.code_of_value, index)


def compose_slice_picture(
    labels: np.ndarray, palette: LabelPalette, grey: np.ndarray | None = None
) -> np.ndarray:
    """The slice picture: grey image, labels filled faintly, label boundaries outlined.

    labels : (rows, cols) integer label samples. grey : (rows, cols) float 0..255 or None
    (black). Returns (rows, cols, 3) uint8. A boundary between two samples with different
    labels is drawn on both samples (2 samples wide) in the colour of the label that ranks
    higher in ``palette``; a sample on several boundaries takes the highest-ranked colour;
    boundaries between undrawn labels are not drawn.
    """
    codes = palette.encode(np.asarray(labels))
    return compose_codes(codes, palette, grey)[..., :3].copy()


def compose_codes(
    codes: np.ndarray, palette: LabelPalette, grey: np.ndarray | None = None
) -> np.ndarray:
    """:func:`compose_slice_picture` on coded labels; returns (rows, cols, 4) uint8 RGBA,
    alpha 255 everywhere.

    codes : (rows, cols) codes of ``palette`` (:meth:`LabelPalette.encode`).
    grey : (rows, cols) float 0..255 or None (black).
    """
    count = palette.code_count
    owner = outline_codes(codes)
    outlined = owner >= palette.first_outlined
    if grey is None:
        if 2 * count - 1 > np.iinfo(owner.dtype).max:
            owner = owner.astype(np.intp)
        index = np.where(outlined, owner + owner.dtype.type(count), codes)
        packed = np.take(palette.rgba_table, index)
        return packed.view(np.uint8).reshape(*codes.shape, 4)
    # grey * (1 - alpha) + colour * alpha per code (undrawn: 1, 0), then the outlines on top.
    picture = np.empty((*codes.shape, 4), np.uint8)
    picture[..., 3] = 255
    keep = np.take(1.0 - palette.code_alpha, codes)
    shaded = np.clip(grey, 0.0, 255.0).astype(np.float32) * keep + np.float32(0.5)
    for channel in range(3):
        picture[..., channel] = shaded + np.take(palette.code_tint[:, channel], codes)
    picture[outlined] = palette.code_outline[owner[outlined]]
    return picture


def outline_codes(codes: np.ndarray) -> np.ndarray:
    """Per sample, the highest code among the boundaries it lies on (0 if none).

    codes : (rows, cols) unsigned integer codes. A boundary joins 4-neighbours with different
    codes; both samples take the larger code of the two.
    """
    owner = np.zeros_like(codes)
    for axis in (0, 1):
        first = [slice(None), slice(None)]
        second = [slice(None), slice(None)]
        first[axis], second[axis] = slice(None, -1), slice(1, None)
        a, b = codes[tuple(first)], codes[tuple(second)]
        boundary = np.maximum(a, b)
        boundary *= a != b
        for part in (tuple(first), tuple(second)):
            np.maximum(owner[part], boundary, out=owner[part])
    return owner
