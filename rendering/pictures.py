"""PNG files of rendered frames (VTK's ``vtkPNGWriter`` to memory, written atomically)."""

from __future__ import annotations

import os

import numpy as np
import vtk
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from registration.core.atomic_files import write_bytes_atomic
from registration.core.checks import InputError


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding of a (height, width, 3) uint8 RGB picture, row 0 at the top."""
    picture = np.asarray(rgb)
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
        raise InputError(
            f"a picture must be (height, width, 3) uint8; got {picture.dtype} {picture.shape}."
        )
    height, width, _ = picture.shape
    image = vtk.vtkImageData()
    image.SetDimensions(width, height, 1)
    flat = np.ascontiguousarray(picture[::-1]).reshape(-1, 3)  # VTK rows run bottom-up
    scalars = numpy_to_vtk(flat, deep=True, array_type=vtk.VTK_UNSIGNED_CHAR)
    scalars.SetNumberOfComponents(3)
    image.GetPointData().SetScalars(scalars)
    writer = vtk.vtkPNGWriter()
    writer.SetInputData(image)
    writer.WriteToMemoryOn()
    writer.Write()
    return bytes(vtk_to_numpy(writer.GetResult()).tobytes())


def write_png(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write a (height, width, 3) uint8 RGB picture as PNG, atomically."""
    write_bytes_atomic(path, png_bytes(rgb))


def grab_rgb(window: vtk.vtkRenderWindow) -> np.ndarray:
    """(height, width, 3) uint8 RGB of a render window's last frame, row 0 at the top."""
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.ReadFrontBufferOff()
    grab.ShouldRerenderOff()
    grab.Update()
    image = grab.GetOutput()
    width, height, _ = image.GetDimensions()
    pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3])
