"""Camera models, fluorescence projection, scenes and views (VTK / pyvista).

May import :mod:`registration`, never :mod:`navigation`. Rendering is offscreen through Mesa's
EGL unless a Qt window is used (see :mod:`rendering.offscreen`).
"""
