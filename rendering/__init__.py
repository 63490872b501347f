"""Camera models, fluorescence projection, scenes and views (VTK / pyvista).

May import :mod:`registration`, never :mod:`navigation`. Rendering is offscreen through Mesa's
EGL unless a Qt window is used (see :mod:`rendering.offscreen`).

The navigation views hold no state of their own: the application builds a
:class:`rendering.view_state.ViewSnapshot` every frame and calls
:meth:`rendering.layout.NavigationLayout.render` with it.

- :mod:`rendering.view_state`: the snapshot (tool states, poses, fluorescence, guidance).
- :mod:`rendering.layout`: the window (3-D + axial/coronal/sagittal + badges + guidance),
  ``render``, ``screenshot``, ``pixel_of``.
- :mod:`rendering.scene3d`, :mod:`rendering.slice_views`, :mod:`rendering.overlays`: the views.
- :mod:`rendering.alarms`: the warnings nobody can miss, over all views (red border for lost
  tracking, full-width margin band, UNVERIFIED REGISTRATION).
  The views keep only display data derived from what they draw (a slice picture, the
  fluorescence scalars and colour scale), keyed by what it derives from.
- :mod:`rendering.slice_sampling`, :mod:`rendering.slice_picture`: a slice's samples and its
  composed picture (grey image, label fill and outlines) for the slice views;
  :mod:`rendering.window_level`: the grey window (presets, automatic, drags);
  :mod:`rendering.slice_marks`: the cross-hair, closest-point ring and texts over a slice.
- :mod:`rendering.guidance`: signed distance from the tip to the tumour surface and its
  closest point; :mod:`rendering.guidance_marks` (3-D) and :mod:`rendering.target_view` (the
  bull's-eye along the pointer) draw them.
- :mod:`rendering.ar_view`: the model and the fused map over the camera frame, through the
  calibrated camera (VTK's explicit projection).
- :mod:`rendering.lod`, :mod:`rendering.colour_scale`, :mod:`rendering.orientation`: level of
  detail, the fluorescence colour scale, patient-axis conventions.

Compiled numba kernels are cached in the user's cache directory
(``platformdirs.user_cache_dir("igcs")/numba``), never next to the installed package, unless
``NUMBA_CACHE_DIR`` says otherwise; it is set here, before any kernel module imports numba.
"""

import os as _os

import platformdirs as _platformdirs

_os.environ.setdefault(
    "NUMBA_CACHE_DIR", _os.path.join(_platformdirs.user_cache_dir("igcs"), "numba")
)
