"""The ``igcs`` command line: one sub-command per job.

Thin by design: each sub-command lives in ``navigation.commands.<name>`` with
``add_arguments(parser)`` and ``run(args) -> int`` and is imported only when used, so
``igcs --version`` and ``igcs --help`` stay fast. Errors the user can fix (bad input, missing
files) end in one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from navigation import __version__

#: (name, one-line help). The module ``navigation.commands.<name with - as _>`` implements it.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("register", "register tracked fiducials to image fiducials; checked, FRE, predicted TRE"),
    ("accuracy", "Monte Carlo accuracy study of a plan's fiducial layout (report, TRE maps)"),
    ("info", "show the series in a DICOM folder or image file, the one chosen and its geometry"),
    ("phantom", "write the digital head-and-neck phantom (DICOM series + truth.json)"),
    ("plan", "segment, mesh and save a Slicer-readable plan from a CT/MR or label maps"),
    ("review", "the planner's window: review and correct a plan, place landmarks and the tumour"),
    ("landmarks", "propose anatomical registration landmarks on a head CT's skin (markups)"),
    (
        "demo",
        "end-to-end demo on the bundled phantom (or --patient DIR): plan, simulate, register, "
        "map, report",
    ),
    ("record", "record an OpenIGTLink stream (HOST:PORT) to a session file"),
    ("replay", "re-serve a recorded session over OpenIGTLink with its original timing"),
    ("pivot", "pivot calibration of a tracked pointer from recorded 4x4 poses"),
    ("dwells", "points where a tracked pointer rested in a PLUS recording, as a markups file"),
    ("camera-calibration", "camera intrinsics from chessboard or ChArUco photos"),
    ("hand-eye", "tracked camera marker to camera (hand-eye) calibration"),
    ("simulate", "serve a simulated tracking scenario for a plan over OpenIGTLink (PLUS-style)"),
    ("fluorescence", "map a recorded session's NIR frames onto the model (vtp, PNGs, metrics)"),
    ("navigate", "the surgeon's navigation window (--headless: offscreen PNGs + summary.json)"),
    ("doctor", "check this machine: versions, offscreen rendering, Qt display, kernels, port"),
)


class UserError(Exception):
    """An error the user can fix; printed as one line without a traceback."""


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"navigation.commands.{name.replace('-', '_')}")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only the chosen sub-command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="igcs",
        description="Imaging-guided cancer surgery: plan, register, track, fluoresce, navigate. "
        "Units are millimetres; patient coordinates are LPS.",
    )
    parser.add_argument("--version", action="version", version=f"igcs {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    for name, help_text in COMMANDS:
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            _command_module(name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``igcs`` console script; returns the process exit status."""
    try:
        try:
            return _main(argv)
        finally:  # output still buffered would otherwise fail at exit, outside this handler
            sys.stdout.flush()
    except BrokenPipeError:  # a print, argparse's --help, or the flush above
        return _reader_went_away()


def _main(argv: Sequence[str] | None) -> int:
    import logging

    from registration.core.checks import InputError

    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(_command_module(args.command).run(args) or 0)
    except (UserError, InputError, FileNotFoundError, FileExistsError) as error:
        print(f"igcs {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"igcs {args.command}: interrupted", file=sys.stderr)
        return 130


#: Exit status of a process whose output pipe closed (128 + SIGPIPE), as ``cat`` reports it.
EXIT_BROKEN_PIPE = 141


def _reader_went_away() -> int:
    """The reader of stdout has gone (``igcs info DIR | head``): stop quietly, as Unix tools do.

    Later writes, including the interpreter's final flush, go to /dev/null so that Python does
    not print "Exception ignored ... BrokenPipeError" (the recipe of the Python documentation,
    "Note on SIGPIPE" in the signal module).
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    raise SystemExit(main())
