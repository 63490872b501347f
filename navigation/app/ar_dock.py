"""The AR view in the window (Qt): a dock holding the camera frame at its native size.

:class:`ARDock` is a ``QDockWidget`` whose VTK widget is exactly the camera's image size (one
screen pixel per camera pixel) and draws :class:`~navigation.app.ar_frame.ARPresenter`'s view:
the model and the fluorescence map over the live frame from the tracked camera pose. The
window toggles it (key M) and calls :meth:`ARDock.refresh` once per rendered frame; a new camera
frame (or a new map) is drawn, otherwise nothing is done. The dock can float, so a layout can
put it on its own screen area or monitor.
"""

from __future__ import annotations

import vtk
from PySide6 import QtCore, QtWidgets
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from navigation.app.ar_frame import ARPresenter
from navigation.app.qt_widgets import embeddable_render_window
from navigation.app.session import NavigationSession
from rendering.scene3d import SurfaceModel


class ARDock(QtWidgets.QDockWidget):
    """The AR view of ``session`` (which must have camera intrinsics) over ``models``."""

    def __init__(
        self,
        session: NavigationSession,
        models: list[SurfaceModel],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__("AR view: model over the live camera frame", parent)
        assert session.intrinsics is not None
        self.setObjectName("ar_view")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.widget_vtk = QVTKRenderWindowInteractor(self, rw=embeddable_render_window())
        self.widget_vtk.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        width, height = session.intrinsics.image_size_px
        ratio = self.devicePixelRatioF() or 1.0
        self.widget_vtk.setFixedSize(round(width / ratio), round(height / ratio))
        interactor = self.widget_vtk.GetRenderWindow().GetInteractor()
        interactor.SetInteractorStyle(vtk.vtkInteractorStyleUser())  # the pose is the camera's
        for event in ("CharEvent", "KeyPressEvent", "KeyReleaseEvent"):
            interactor.RemoveObservers(event)
        self.renderer = vtk.vtkRenderer()
        self.widget_vtk.GetRenderWindow().AddRenderer(self.renderer)
        self.presenter = ARPresenter(session, self.renderer, models)
        self.setWidget(self.widget_vtk)
        self._initialised = False

    def refresh(self) -> bool:
        """Draw a new frame if there is one (only while shown); True when drawn."""
        if not self.isVisible():
            return False
        if not self._initialised:
            self.widget_vtk.Initialize()
            self._initialised = True
        if self.presenter.refresh():
            self.widget_vtk.GetRenderWindow().Render()
            return True
        return False

    def shutdown(self) -> None:
        """Release the view's graphics resources."""
        self.widget_vtk.Finalize()
