"""The AR view in the window (Qt): the model over the live camera frame, VTK through the camera.

:class:`ARWidget` is the VTK widget of the window's "AR + 3-D" layout: it draws
:class:`~navigation.app.ar_frame.ARPresenter`'s view, the model and the fluorescence map over
the live frame from the tracked camera pose, the frame at its native size (one screen pixel per
camera pixel) when the widget is large enough, scaled down (aspect kept) only when it is not
(:func:`rendering.ar_view.frame_scale`). The window calls :meth:`ARWidget.refresh` once per
rendered frame while the layout shows it; a new camera frame (or a new map) is drawn, otherwise
nothing is done.
"""

from __future__ import annotations

import vtk
from PySide6 import QtCore, QtGui, QtWidgets
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from navigation.app.ar_frame import ARPresenter
from navigation.app.qt_widgets import embeddable_render_window
from navigation.app.session import NavigationSession
from rendering.scene3d import SurfaceModel


class ARWidget(QVTKRenderWindowInteractor):
    """The AR view of ``session`` (which must have camera intrinsics) over ``models``."""

    def __init__(
        self,
        session: NavigationSession,
        models: list[SurfaceModel],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent, rw=embeddable_render_window())
        assert session.intrinsics is not None
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored
        )
        interactor = self.GetRenderWindow().GetInteractor()
        interactor.SetInteractorStyle(vtk.vtkInteractorStyleUser())  # the pose is the camera's
        for event in ("CharEvent", "KeyPressEvent", "KeyReleaseEvent"):
            interactor.RemoveObservers(event)
        self.renderer = vtk.vtkRenderer()
        self.GetRenderWindow().AddRenderer(self.renderer)
        self.presenter = ARPresenter(session, self.renderer, models)
        self._initialised = False
        self._resized = False

    def refresh(self) -> bool:
        """Draw a new frame if there is one (only while shown); True when drawn."""
        if not self.isVisible():
            return False
        if not self._initialised:
            self.Initialize()
            self._initialised = True
        if self.presenter.refresh(viewport_changed=self._resized):
            self._resized = False
            self.GetRenderWindow().Render()
            return True
        return False

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._resized = True  # the frame's fit in the new size: placed again on the next refresh

    def shutdown(self) -> None:
        """Release the view's graphics resources."""
        self.Finalize()
