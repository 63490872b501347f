"""Choosing the stack to load among those discovered, and saying truthfully why.

Without a requested SeriesInstanceUID the largest axial CT or MR stack is chosen: non-localizer
stacks first, then CT/MR, then axial, then the most slices, then, between reconstructions of
the same size (one acquisition reconstructed twice), the soft-tissue/standard kernel
(:mod:`navigation.imaging.reconstruction_kernel`). Everything else found is listed with the
reason it was not chosen, and a choice that came down to file order says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from navigation.imaging.dicom_discovery import (
    DicomDiscovery,
    DicomStack,
    names_list,
    relative_name,
)
from navigation.imaging.dicom_headers import FileFinding
from navigation.imaging.errors import ImagingError
from navigation.imaging.image_files import image_file_kind
from navigation.imaging.reconstruction_kernel import KernelClass, kernel_class

_KIND_NAMES = {
    "not_dicom": "non-DICOM files",
    "non_image": "non-image DICOM objects",
    "dicomdir": "DICOMDIR indexes",
    "unreadable": "unreadable files",
}


@dataclass(frozen=True)
class StackChoice:
    """The chosen stack, what else was found (and why not chosen), and warnings about it."""

    stack: DicomStack
    others: tuple[str, ...]
    warnings: tuple[str, ...]


def choose_stack(discovery: DicomDiscovery, series_uid: str | None = None) -> StackChoice:
    """Pick the stack to load (see the module docstring); raise :class:`ImagingError` when none
    can be loaded, saying what was found."""
    root = discovery.root
    candidates = list(discovery.stacks)
    if series_uid is not None:
        candidates = [s for s in candidates if s.series_instance_uid == series_uid.strip()]
        if not candidates:
            available = sorted({s.series_instance_uid for s in discovery.stacks})
            raise ImagingError(
                f"no series with SeriesInstanceUID {series_uid} under {root}; series found: "
                + (", ".join(available) if available else "none")
                + ". Pass one of these (igcs: --series UID)."
            )
    if not candidates:
        raise ImagingError(_nothing_found(discovery))
    loadable = [s for s in candidates if not s.problem]
    if not loadable:
        largest = max(candidates, key=lambda s: s.count + len(s.broken))
        raise ImagingError(f"cannot load {largest.describe(root)}: {largest.problem}")
    preferred = [s for s in loadable if not s.is_localizer] if series_uid is None else loadable
    if not preferred:
        listing = "; ".join(s.describe(root) for s in loadable)
        raise ImagingError(
            f"only localizer/scout images found under {root} ({listing}); these are not a "
            "volume. Add the CT/MR series, or pass series_uid (igcs: --series UID) to load one."
        )
    chosen = max(preferred, key=_preference)
    others = [
        _why_not(s, chosen, root, series_uid is not None)
        for s in discovery.stacks
        if s is not chosen
    ]
    others += _summarise_findings(discovery.others, root)
    warnings = _choice_warnings(discovery, chosen, series_uid)
    return StackChoice(chosen, tuple(others), tuple(warnings))


def _preference(stack: DicomStack) -> tuple[bool, bool, int, KernelClass]:
    """Higher is preferred: CT/MR, then axial, then more slices, then (between reconstructions
    of the same size) the soft-tissue/standard kernel over a sharp one."""
    cross_sectional = stack.first.modality in ("CT", "MR")
    return (cross_sectional, stack.orientation_label.endswith("axial"), stack.count, _kernel(stack))


def _kernel(stack: DicomStack) -> KernelClass:
    return kernel_class(stack.first.convolution_kernel, stack.first.series_description)


def _kernel_text(stack: DicomStack) -> str:
    h = stack.first
    return f"kernel {h.convolution_kernel!r}" if h.convolution_kernel else "no kernel stated"


def _why_not(stack: DicomStack, chosen: DicomStack, root: Path, requested: bool) -> str:
    if stack.problem:
        reason = f"cannot be loaded: {stack.problem}"
    elif stack.series_instance_uid == chosen.series_instance_uid:
        reason = "left out of the chosen series (different size, orientation or kind)"
    elif requested:
        reason = "not the requested series"
    elif stack.is_localizer:
        reason = "localizer/scout"
    else:
        mine, theirs = _preference(stack), _preference(chosen)
        if not mine[0] and theirs[0]:
            reason = "not CT/MR"
        elif not mine[1] and theirs[1]:
            reason = "not axial"
        elif mine[2] < theirs[2]:
            reason = f"fewer slices than the chosen series ({mine[2]} vs {theirs[2]})"
        elif mine[3] < theirs[3]:
            reason = (
                f"as many slices as the chosen series but a {mine[3].name.lower()} "
                f"reconstruction ({_kernel_text(stack)}); the chosen soft-tissue/standard "
                f"reconstruction ({_kernel_text(chosen)}) is preferred for planning"
            )
        else:
            reason = (
                f"as large as the chosen series ({mine[2]} slices) with no kernel to prefer "
                f"({_kernel_text(stack)} vs {_kernel_text(chosen)}); the chosen one was taken "
                "by SeriesInstanceUID order. Pass --series UID to choose"
            )
    return f"{stack.describe(root)} - {reason}"


def _choice_warnings(
    discovery: DicomDiscovery, chosen: DicomStack, series_uid: str | None
) -> list[str]:
    root = discovery.root
    warnings: list[str] = []
    if discovery.dicomdir is not None:
        warnings.append(
            f"{discovery.dicomdir.name} is a DICOMDIR index (it holds no image): read the folder "
            f"it indexes, {root} ({discovery.file_count} files)"
        )
    siblings = [
        s
        for s in discovery.stacks
        if s is not chosen and s.series_instance_uid == chosen.series_instance_uid
    ]
    if siblings:
        left_out = [relative_name(h.path, root) for s in siblings for h in s.headers]
        left_out += [relative_name(f.path, root) for s in siblings for f in s.broken]
        warnings.append(
            f"mixed series: {len(left_out)} file(s) of the chosen series differ from its main "
            "stack (localizer/scout, other orientation, size or spacing, or multi-frame) and were "
            "left out: " + names_list(left_out)
        )
    series = {s.series_instance_uid for s in discovery.stacks if s.count and not s.is_localizer}
    if series_uid is None and len(series) > 1:
        warnings.append(
            f"{len(series)} image series found; chose {chosen.series_instance_uid} "
            f"({_why_chosen(discovery, chosen)}). If that is not the one to plan on, pass "
            "series_uid (igcs: --series UID); the others are listed in the report."
        )
    patients = {s.first.patient_id for s in discovery.stacks}
    if len(patients) > 1:
        warnings.append(
            f"files of {len(patients)} different patients (PatientID "
            + ", ".join(sorted(repr(p) for p in patients))
            + f") are in {root}; check that the chosen series is the right patient's."
        )
    unreadable = [f for f in discovery.others if f.kind == "unreadable"]
    if unreadable:
        warnings.append(
            f"{len(unreadable)} unreadable file(s) skipped (their series cannot be told; if they "
            "belong to the chosen series, slices are missing): "
            + names_list([f"{relative_name(f.path, root)} ({f.reason})" for f in unreadable])
        )
    lossy = [h for h in chosen.headers if h.lossy_compressed]
    if lossy:
        warnings.append(
            f"{len(lossy)} slice(s) were lossy-compressed (LossyImageCompression 01): pixel "
            f"values are approximations, e.g. {relative_name(lossy[0].path, root)}"
        )
    return warnings


def _why_chosen(discovery: DicomDiscovery, chosen: DicomStack) -> str:
    """Why ``chosen`` won, truthfully: by size alone, or by kernel among equals, or by order."""
    size = _preference(chosen)[:3]
    equals = [
        s
        for s in discovery.stacks
        if s is not chosen and not s.problem and not s.is_localizer and _preference(s)[:3] == size
    ]
    if not equals:
        return "the largest axial CT/MR"
    if all(_kernel(s) < _kernel(chosen) for s in equals):
        return (
            f"the largest axial CT/MR; of {len(equals) + 1} reconstructions of that size, the "
            f"soft-tissue/standard one ({_kernel_text(chosen)})"
        )
    return (
        f"one of {len(equals) + 1} equally large axial CT/MR series with no kernel to tell them "
        "apart, taken by SeriesInstanceUID order"
    )


def _summarise_findings(findings: Sequence[FileFinding], root: Path) -> list[str]:
    """One line per file, or per folder and reason when more than three files share them."""
    grouped: dict[tuple[Path, str], list[FileFinding]] = defaultdict(list)
    for finding in findings:
        grouped[(finding.path.parent, finding.reason)].append(finding)
    lines = []
    for (folder, reason), members in grouped.items():
        if len(members) > 3:
            names = names_list([f.path.name for f in members], 3)
            lines.append(f"{relative_name(folder, root)}: {len(members)} files ({names}): {reason}")
        else:
            lines += [f"{relative_name(f.path, root)}: {reason}" for f in members]
    return lines


def _nothing_found(discovery: DicomDiscovery) -> str:
    root, source = discovery.root, discovery.source
    if discovery.file_count == 0:
        return f"{source} is empty: no files to read. Point at the folder holding the DICOM series."
    if source.is_file() and len(discovery.others) == 1:
        finding = discovery.others[0]
        what = "not a DICOM file" if finding.kind == "not_dicom" else "not a DICOM image"
        return (
            f"{source} is {what} ({finding.reason}). IGCS reads DICOM folders or files and NIfTI "
            "(.nii, .nii.gz), NRRD (.nrrd, .nhdr) and MetaImage (.mha, .mhd) files."
        )
    kinds: dict[str, list[str]] = defaultdict(list)
    for finding in discovery.others:
        kinds[finding.kind].append(f"{relative_name(finding.path, root)} ({finding.reason})")
    if set(kinds) == {"not_dicom"}:
        images = [relative_name(f.path, root) for f in discovery.others if image_file_kind(f.path)]
        hint = (
            f" Image files here can be loaded directly: {names_list(images, 5)}." if images else ""
        )
        return (
            f"no DICOM files in {source} ({discovery.file_count} file(s) looked at, e.g. "
            f"{names_list(kinds['not_dicom'], 3)}).{hint} IGCS reads DICOM folders and NIfTI "
            "(.nii, .nii.gz), NRRD (.nrrd, .nhdr) and MetaImage (.mha, .mhd) files."
        )
    found = "; ".join(f"{_KIND_NAMES[kind]}: {names_list(v, 3)}" for kind, v in kinds.items())
    return (
        f"no DICOM image series in {source}. Found {found}. Point at the folder holding the "
        "CT/MR image files (a DICOMDIR or RT objects alone are not images)."
    )
