"""``igcs doctor``: is this machine ready? One line per check, OK or a fix to try.

Run it before surgery, or when filing a bug (paste its output). It reports the versions of
Python and the libraries that matter (numpy, VTK, OpenCV, SimpleITK, numba, Qt, ...), and tries
the things that fail on a badly set-up machine:

- offscreen rendering: a small VTK scene (a red sphere on black) is rendered and its pixels
  read back — in a child process, since VTK without a working OpenGL (Mesa's EGL here)
  crashes the process on the first render;
- a Qt display for the surgeon's window (a warning only: ``--headless`` needs none);
- the numba kernels of the fluorescence mapping compile and give the right answer (a sphere
  seen by a camera: its near pole visible, its far pole hidden);
- the default OpenIGTLink port is free on this machine;
- the user cache directory (sample data, compiled kernels) is writable.

Exit status 0 when nothing FAILs (warnings allowed), 1 otherwise.

One module of some 450 lines: a flat list of independent checks, each a short function, read
top to bottom as the report prints them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rendering.surface_polydata import surface_from_polydata

#: The port OpenIGTLink servers (PLUS, Slicer's OpenIGTLinkIF) listen on by default.
DEFAULT_IGTL_PORT = 18944

Status = Literal["OK", "WARN", "FAIL"]


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, the verdict, what was seen, a fix to try."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name}: {self.detail}"
        return f"{text}\n      fix: {self.fix}" if self.fix and self.status != "OK" else text


#: (distribution, import name, needed by, extra that installs it or None when required).
_PACKAGES: tuple[tuple[str, str, str, str | None], ...] = (
    ("numpy", "numpy", "everything", None),
    ("scipy", "scipy", "registration, planning", None),
    ("vtk", "vtk", "meshing and every view", None),
    ("pyvista", "pyvista", "views and meshes", None),
    ("opencv-python-headless", "cv2", "camera model, calibration", None),
    ("SimpleITK", "SimpleITK", "image reading", None),
    ("pydicom", "pydicom", "DICOM headers", None),
    ("numba", "numba", "fluorescence kernels", None),
    ("PySide6-Essentials", "PySide6", "the surgeon's window (Qt)", "gui"),
    ("distributed", "distributed", "Dask accuracy studies", "dask"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--render-window",
        metavar="CLASS",
        default=None,
        help="VTK render window class to try (default: $VTK_DEFAULT_OPENGL_WINDOW or "
        "vtkEGLRenderWindow, the offscreen Mesa EGL window igcs uses)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_IGTL_PORT,
        help=f"OpenIGTLink port to check (default {DEFAULT_IGTL_PORT})",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args: argparse.Namespace) -> int:
    checks = run_checks(render_window=args.render_window, port=args.port, say=_say(args))
    if args.json:
        report = {
            "schema": "igcs-doctor",
            "schema_version": 1,
            "ready": not any(c.status == "FAIL" for c in checks),
            "checks": [c.__dict__ for c in checks],
        }
        print(json.dumps(report, indent=2))
    failed = [c for c in checks if c.status == "FAIL"]
    warned = [c for c in checks if c.status == "WARN"]
    if not args.json:
        verdict = "not ready" if failed else "ready"
        print(f"igcs doctor: {verdict} ({len(failed)} failed, {len(warned)} warnings)")
    return 1 if failed else 0


def _say(args: argparse.Namespace) -> Any:
    def say(check: Check) -> None:
        if not args.json:
            print(check.line(), flush=True)

    return say


def run_checks(
    *, render_window: str | None = None, port: int = DEFAULT_IGTL_PORT, say: Any = None
) -> list[Check]:
    """Every check, in order; ``say(check)`` is called as each one finishes."""
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        if say is not None:
            say(check)

    add(_python())
    for check in _packages():
        add(check)
    add(_opencv_api())
    add(_cache_directory())
    add(_render(render_window))
    add(_qt_display())
    add(_numba_kernels())
    add(_port(port))
    return checks


def _python() -> Check:
    version = platform.python_version()
    detail = f"{version} ({sys.executable}; {platform.system()} {platform.machine()})"
    return Check("python", "OK", detail)


def _packages() -> list[Check]:
    from navigation import __version__

    checks = [Check("igcs", "OK", __version__)]
    for distribution, module, purpose, extra in _PACKAGES:
        try:
            version = importlib.metadata.version(distribution)
            importlib.import_module(module)
        except importlib.metadata.PackageNotFoundError:
            if extra is None:
                fix = f"pip install '{distribution}' (or set up again: make setup)"
                checks.append(Check(distribution, "FAIL", f"not installed ({purpose})", fix))
            else:
                fix = f"pip install 'igcs[{extra}]' to enable it"
                checks.append(Check(distribution, "WARN", f"not installed ({purpose})", fix))
            continue
        except ImportError as error:
            fix = "reinstall it in this environment (make setup)"
            checks.append(Check(distribution, "FAIL", f"{version} does not import: {error}", fix))
            continue
        checks.append(Check(distribution, "OK", version))
    return checks


def _opencv_api() -> Check:
    """The OpenCV calls igcs relies on exist, and the undistortion converges."""
    try:
        import cv2
        import numpy as np

        from registration.camera_intrinsics import CameraIntrinsics
    except ImportError as error:
        return Check("opencv api", "FAIL", f"cannot import: {error}", "make setup")
    missing = [
        name
        for name in ("calibrateHandEye", "calibrateCamera", "findChessboardCornersSB", "solvePnP")
        if not hasattr(cv2, name)
    ]
    if missing:
        return Check(
            "opencv api",
            "FAIL",
            f"OpenCV {cv2.__version__} lacks {', '.join(missing)}",
            "install the locked OpenCV (make setup) or another release",
        )
    intrinsics = CameraIntrinsics(
        np.array([[800.0, 0, 320], [0, 800, 240], [0, 0, 1]]),
        np.array([-0.3, 0.1, 0.001, -0.001, 0.0]),
        (640, 480),
    )
    pixels = np.array([[10.0, 12.0], [630.0, 470.0], [320.0, 240.0]])
    normalised = intrinsics.normalised_from_pixels(pixels)
    projected, _ = cv2.projectPoints(
        np.column_stack([normalised, np.ones(3)]),
        np.zeros(3),
        np.zeros(3),
        intrinsics.camera_matrix,
        intrinsics.distortion,
    )
    error_px = float(np.abs(projected.reshape(-1, 2) - pixels).max())
    if error_px > 1e-6:
        return Check(
            "opencv api",
            "FAIL",
            f"undistortion does not invert projection (error {error_px:.2g} px)",
            "report this OpenCV release as broken; install the locked one (make setup)",
        )
    return Check("opencv api", "OK", f"undistort/project round trip {error_px:.1e} px")


def _cache_directory() -> Check:
    import platformdirs

    folder = Path(platformdirs.user_cache_dir("igcs"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        return Check(
            "cache directory",
            "FAIL",
            f"{folder} is not writable ({error.strerror})",
            "set XDG_CACHE_HOME to a writable folder",
        )
    return Check("cache directory", "OK", f"{folder} (sample data, compiled kernels)")


def _probe(kind: str, env: dict[str, str], timeout_s: float) -> tuple[int, dict[str, Any], str]:
    """Run one probe in a child process; (exit status, its JSON result, last stderr line)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "navigation.commands.doctor", kind],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return -1, {}, f"no answer within {timeout_s:.0f} s"
    result: dict[str, Any] = {}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    # VTK's log lines carry colour codes and a "time [thread] file:line LEVEL|" prefix.
    plain = re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)
    errors = [line.rsplit("| ", 1)[-1].strip() for line in plain.splitlines() if line.strip()]
    telling = [line for line in errors if "could not" in line.lower() or "error" in line.lower()]
    return done.returncode, result, (telling or errors or [""])[0][:300]


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"crashed (signal {-code})"
    return f"exit status {code}"


def _render(render_window: str | None) -> Check:
    env = dict(os.environ)
    env["VTK_DEFAULT_OPENGL_WINDOW"] = render_window or env.get(
        "VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow"
    )
    fix = (
        "install Mesa's EGL (Debian/Ubuntu: apt install libegl1 libgl1-mesa-dri) and keep "
        "VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow"
    )
    code, result, last = _probe("render", env, 120.0)
    name = f"offscreen rendering ({env['VTK_DEFAULT_OPENGL_WINDOW']})"
    if code != 0 or not result:
        return Check(name, "FAIL", f"the test render {_describe_exit(code)}: {last}", fix)
    centre, corner = result["centre_rgb"], result["corner_rgb"]
    if not (centre[0] > 200 and centre[1] < 60 and centre[2] < 60 and max(corner) < 30):
        return Check(
            name,
            "FAIL",
            f"wrong pixels: centre {centre} (expected red), corner {corner} (expected black)",
            fix,
        )
    return Check(
        name,
        "OK",
        f"{result['window_class']} drew the test scene ({result['renderer']}, "
        f"{result['seconds']:.2f} s)",
    )


def _qt_display() -> Check:
    if importlib.util.find_spec("PySide6") is None:
        return Check(
            "qt display",
            "WARN",
            "PySide6 not installed: no surgeon's window (igcs navigate --headless still works)",
            "pip install 'igcs[gui]'",
        )
    env = dict(os.environ)
    code, result, last = _probe("qt", env, 60.0)
    fix = (
        "run igcs navigate in a desktop session (or under xvfb-run for tests); "
        "--headless needs no display"
    )
    if code != 0 or not result:
        return Check("qt display", "WARN", f"no display for the window: {last}", fix)
    if result["platform"] in ("offscreen", "minimal"):
        detail = f"Qt platform {result['platform']!r}: windows are not shown"
        return Check("qt display", "WARN", detail, fix)
    return Check(
        "qt display",
        "OK",
        f"Qt {result['qt']} on {result['platform']!r}, screen {result['screen']}",
    )


def _numba_kernels() -> Check:
    code, result, last = _probe("numba", dict(os.environ), 600.0)
    fix = "reinstall numba and llvmlite from the lock (make setup); clear ~/.cache/igcs/numba"
    if code != 0 or not result:
        return Check("numba kernels", "FAIL", f"did not run: {_describe_exit(code)}: {last}", fix)
    if not result["near_visible"] or result["far_visible"]:
        return Check(
            "numba kernels",
            "FAIL",
            "the visibility kernel gave a wrong answer on a test sphere",
            fix,
        )
    return Check(
        "numba kernels",
        "OK",
        f"visibility of a test sphere right ({result['seconds']:.1f} s including compilation, "
        f"{result['threads']} threads)",
    )


def _port(port: int) -> Check:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            return Check(
                f"OpenIGTLink port {port}",
                "WARN",
                f"in use on this machine ({error.strerror}): a PLUS server or 3D Slicer?",
                "stop the other server or choose another port (--port)",
            )
    return Check(f"OpenIGTLink port {port}", "OK", "free")


# --- probes, run in a child process: ``python -m navigation.commands.doctor KIND`` -----------


def _render_probe() -> dict[str, Any]:
    import numpy as np
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    start = time.perf_counter()
    sphere = vtk.vtkSphereSource()
    sphere.SetRadius(1.0)
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(sphere.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(1.0, 0.0, 0.0)
    actor.GetProperty().SetLighting(False)
    renderer = vtk.vtkRenderer()
    renderer.SetBackground(0.0, 0.0, 0.0)
    renderer.AddActor(actor)
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(64, 64)
    window.AddRenderer(renderer)
    renderer.ResetCamera()
    window.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.Update()
    pixels = vtk_to_numpy(grab.GetOutput().GetPointData().GetScalars()).reshape(64, 64, -1)
    info = window.ReportCapabilities() or ""
    renderer_line = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if "renderer" in line), "?"
    )
    return {
        "window_class": window.GetClassName(),
        "renderer": renderer_line,
        "centre_rgb": [int(v) for v in pixels[32, 32, :3]],
        "corner_rgb": [int(v) for v in np.asarray(pixels[1, 1, :3])],
        "seconds": time.perf_counter() - start,
    }


def _qt_probe() -> dict[str, Any]:
    from PySide6 import QtCore, QtWidgets

    app = QtWidgets.QApplication([])
    widget = QtWidgets.QWidget()
    widget.show()
    app.processEvents()
    screen = app.primaryScreen()
    size = screen.size() if screen is not None else None
    return {
        "qt": QtCore.qVersion(),
        "platform": app.platformName(),
        "screen": f"{size.width()}x{size.height()}" if size is not None else "none",
    }


def _numba_probe() -> dict[str, Any]:
    import numba
    import numpy as np
    import pyvista

    from registration.camera_intrinsics import CameraIntrinsics
    from rendering.fluorescence.camera_model import CameraModel
    from rendering.fluorescence.visibility import VISIBLE, compute_visibility

    start = time.perf_counter()
    sphere = pyvista.Sphere(radius=20.0, theta_resolution=40, phi_resolution=40)
    mesh = surface_from_polydata(sphere, normals_array=None)
    camera = CameraModel(
        CameraIntrinsics(
            np.array([[400.0, 0, 160], [0, 400, 120], [0, 0, 1]]), np.zeros(5), (320, 240)
        )
    )
    # Camera 200 mm in front of the sphere on +z, looking down -z (OpenCV: z forward).
    camera_from_image = np.diag([1.0, -1.0, -1.0, 1.0])
    camera_from_image[2, 3] = 200.0
    visibility = compute_visibility(mesh, camera, camera_from_image)
    near = int(np.argmax(mesh.vertices_in_image[:, 2]))
    far = int(np.argmin(mesh.vertices_in_image[:, 2]))
    return {
        "near_visible": bool(visibility.status[near] == VISIBLE),
        "far_visible": bool(visibility.status[far] == VISIBLE),
        "seconds": time.perf_counter() - start,
        "threads": int(numba.get_num_threads()),
    }


_PROBES = {"render": _render_probe, "qt": _qt_probe, "numba": _numba_probe}

if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in _PROBES:
        print(
            f"usage: python -m navigation.commands.doctor {{{','.join(_PROBES)}}}", file=sys.stderr
        )
        raise SystemExit(2)
    print(json.dumps(_PROBES[kind]()), flush=True)
