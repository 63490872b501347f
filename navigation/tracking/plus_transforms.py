"""PLUS transform names and their chaining, as PLUS's transform repository does it.

PLUS names a transform ``<From>To<To>``: ``StylusTipToReference`` is
``reference_from_stylustip``. A recording holds the tracker's measured transforms per frame
(``StylusToTracker``, ``ReferenceToTracker``) and the device set the fixed calibrations
(``StylusTipToStylus``); like ``vtkPlusTransformRepository``, :func:`chain_transform` computes
any named transform from those available by walking the graph of frames, inverting edges as
needed (general matrix inverses, as PLUS), and :func:`sequence_transform` does it for every
frame of a recording, leaving NaN where a measured transform in the chain was not OK.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping

import numpy as np

from navigation.tracking.plus_sequence import PlusSequence
from registration.core.checks import Float64Array, InputError

#: A frame name: starts with an upper-case letter (PLUS's rule), then letters and digits.
_FRAME = re.compile(r"[A-Z][A-Za-z0-9]*")


def split_transform_name(name: str) -> tuple[str, str]:
    """``"StylusTipToReference"`` (optionally ending in ``Transform``) -> ("StylusTip",
    "Reference"). The split is at a ``To`` followed by an upper-case letter, as PLUS does;
    malformed or ambiguous names are refused."""
    text = name[: -len("Transform")] if name.endswith("Transform") else name
    splits = [
        (text[: m.start()], text[m.start() + 2 :])
        for m in re.finditer(r"To(?=[A-Z])", text)
        if _FRAME.fullmatch(text[: m.start()]) and _FRAME.fullmatch(text[m.start() + 2 :])
    ]
    if len(splits) != 1:
        raise InputError(
            f"{name!r} is not a PLUS transform name <From>To<To> (frame names start in upper "
            "case), e.g. StylusTipToReference."
        )
    return splits[0]


def chain_transform(name: str, available: Mapping[str, Float64Array]) -> Float64Array:
    """The transform ``name`` (``to_from_from``, (4, 4) mm) composed from ``available``
    ({PLUS name: (4, 4)}) through the frames they connect, each usable either way, by the
    fewest steps. A NaN matrix in the chain makes the result NaN (invalid stays invalid).

    Raises :class:`InputError` saying which frames are reachable when ``To`` is not.
    """
    source, target = split_transform_name(name)
    edges: dict[str, list[tuple[str, Float64Array]]] = {}
    for key, matrix in available.items():
        a, b = split_transform_name(key)
        b_from_a = np.asarray(matrix, dtype=np.float64)
        # a general inverse, as PLUS (vtkMatrix4x4::Invert): recorded rotations are rounded
        # (|R^T R - I| up to 5e-4 in the PLUS landmark recording), and R^T would then differ
        # from the inverse of the matrix as stored by up to 0.2 mm at 400 mm
        a_from_b: Float64Array = (
            np.asarray(np.linalg.inv(b_from_a), dtype=np.float64)
            if np.isfinite(b_from_a).all()
            else b_from_a
        )
        edges.setdefault(a, []).append((b, b_from_a))
        edges.setdefault(b, []).append((a, a_from_b))
    reached: dict[str, Float64Array] = {source: np.eye(4)}
    queue = deque([source])
    while queue:
        frame = queue.popleft()
        for neighbour, neighbour_from_frame in edges.get(frame, []):
            if neighbour not in reached:
                reached[neighbour] = neighbour_from_frame @ reached[frame]
                queue.append(neighbour)
    if target not in reached:
        raise InputError(
            f"cannot compute {name}: frame {target!r} is not connected to {source!r}; the "
            f"transforms given ({', '.join(sorted(available)) or 'none'}) reach "
            f"{sorted(reached)} from {source!r}. Give the device set configuration that "
            "defines the missing calibration (e.g. StylusTipToStylus)."
        )
    return reached[target]


def sequence_transform(
    sequence: PlusSequence, name: str, fixed: Mapping[str, Float64Array] | None = None
) -> Float64Array:
    """(N, 4, 4) the transform ``name`` at every frame of ``sequence``, chained from the
    frame's transforms whose status is OK and the ``fixed`` calibrations; NaN in frames where
    the chain needs a transform that is missing or not OK."""
    constant = dict(fixed or {})
    chain_transform(name, {**constant, **{n: np.eye(4) for n in sequence.transform_names}})
    out = np.full((len(sequence.frames), 4, 4), np.nan)
    for row, frame in enumerate(sequence.frames):
        measured = {
            n: (m if frame.statuses.get(n, "OK") == "OK" else np.full((4, 4), np.nan))
            for n, m in frame.transforms.items()
        }
        try:
            out[row] = chain_transform(name, {**constant, **measured})
        except InputError:
            continue  # this frame lacks a transform of the chain: invalid
    return out
