"""The 3-D navigation view: plan models, the pointer, the NIR camera frustum, the fused map.

World coordinates are the image frame, LPS mm. The models come from the plan (static; decimated
once to a triangle budget by :mod:`rendering.lod`); everything that moves comes from the
:class:`~rendering.view_state.ViewSnapshot` of the frame. A tool that is not OK is not drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyvista as pv
import vtk
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import InputError
from rendering.colour_scale import colour_bar, legend_text, lookup_table
from rendering.lod import DisplayMesh, decimate, split_budget, triangles_of
from rendering.orientation import CAMERA_PRESETS
from rendering.overlays import EdgeLetters
from rendering.view_state import FluorescenceOverlay, ViewSnapshot

#: Roles a model can have; "skin" follows ``DisplayOptions.skin_opacity``.
MODEL_ROLES = ("skin", "bone", "tumour", "node", "other")

#: Triangles drawn in total by default (software rendering: about 25 ms at 1280x1024 here).
DEFAULT_TRIANGLE_BUDGET = 120_000

#: The tip marker's colour (unlit, so its pixels are exactly this colour where unoccluded).
TIP_RGB: tuple[float, float, float] = (0.0, 1.0, 1.0)
#: The tip's colour under a registration that failed its checks (never the trusted cyan).
UNTRUSTED_TIP_RGB: tuple[float, float, float] = (1.0, 0.35, 0.0)
SHAFT_RGB: tuple[float, float, float] = (0.78, 0.78, 0.85)
FRUSTUM_RGB: tuple[float, float, float] = (0.55, 1.0, 0.3)
TIP_RADIUS_MM = 1.5
SHAFT_RADIUS_MM = 1.0
FLUORESCENCE_ARRAY = "fluorescence"


@dataclass(frozen=True, eq=False)
class SurfaceModel:
    """One plan surface to draw.

    name : unique name (the plan's label name, e.g. "skin", "tumour").
    mesh : surface, vertices in image LPS mm (as written by ``igcs plan``).
    color : (r, g, b) in 0..1 (the plan's label colour).
    role : one of :data:`MODEL_ROLES`.
    opacity : 0..1; ignored for the skin, whose opacity is a display option.
    """

    name: str
    mesh: pv.PolyData
    color: tuple[float, float, float]
    role: str = "other"
    opacity: float = 1.0

    def __post_init__(self) -> None:
        if self.role not in MODEL_ROLES:
            raise InputError(
                f"model {self.name!r}: role {self.role!r} is not one of {', '.join(MODEL_ROLES)}."
            )
        color = tuple(float(c) for c in self.color)
        if len(color) != 3 or not all(0.0 <= c <= 1.0 for c in color):
            raise InputError(f"model {self.name!r}: color must be (r, g, b) in 0..1; got {color}.")
        if not 0.0 <= float(self.opacity) <= 1.0:
            raise InputError(f"model {self.name!r}: opacity must be in [0, 1].")
        object.__setattr__(self, "color", color)


class Scene3D:
    """The 3-D view in ``renderer``; call :meth:`update` with each snapshot, then render.

    Parameters
    ----------
    renderer : the VTK renderer (viewport) to draw into.
    models : the plan surfaces; names must be unique.
    triangle_budget : total triangles drawn for the models (level of detail).
    preset : initial camera preset (:data:`rendering.orientation.CAMERA_PRESETS`).
    """

    def __init__(
        self,
        renderer: vtk.vtkRenderer,
        models: Sequence[SurfaceModel],
        *,
        triangle_budget: int = DEFAULT_TRIANGLE_BUDGET,
        preset: str = "anterior",
    ) -> None:
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise InputError(f"model names must be unique; got {names}.")
        self.renderer = renderer
        renderer.SetBackground(0.12, 0.13, 0.16)
        self.models = {m.name: m for m in models}
        counts = [len(triangles_of(m.mesh, f"model {m.name!r}")) for m in models]
        budgets = split_budget(counts, int(triangle_budget))
        self.display_meshes: dict[str, DisplayMesh] = {
            m.name: decimate(m.mesh, budget, name=f"model {m.name!r}")
            for m, budget in zip(models, budgets, strict=True)
        }
        self.actors: dict[str, vtk.vtkActor] = {}
        for model in models:
            self.actors[model.name] = self._model_actor(model)
        self._tip = _sphere_actor(TIP_RADIUS_MM, TIP_RGB)
        self._shaft = _shaft_actor()
        self._frustum_points = vtk.vtkPoints()
        self._frustum = _frustum_actor(self._frustum_points)
        for actor in (self._tip, self._shaft, self._frustum):
            actor.VisibilityOff()
            renderer.AddActor(actor)
        # What the drawn map derives from: its model, its values array (held, so an identical
        # object means identical values) and its scale.
        self._fluorescence_model: str | None = None
        self._fluorescence_values: np.ndarray | None = None
        self._fluorescence_scale: tuple[str, float, float, float] | None = None
        self.colour_bar = colour_bar(vtk.vtkLookupTable(), "")
        self.colour_bar.VisibilityOff()
        renderer.AddViewProp(self.colour_bar)
        self.legend = vtk.vtkTextActor()
        prop = self.legend.GetTextProperty()
        prop.SetFontSize(16)
        prop.SetBold(True)
        prop.SetJustificationToRight()
        prop.SetColor(1.0, 1.0, 1.0)
        self.legend.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.legend.SetPosition(0.985, 0.03)
        self.legend.VisibilityOff()
        renderer.AddViewProp(self.legend)
        self.letters = EdgeLetters(renderer)
        self.apply_camera_preset(preset)

    @property
    def triangle_count(self) -> int:
        """Triangles drawn for the models (after level of detail)."""
        return sum(d.triangle_count for d in self.display_meshes.values())

    def _model_actor(self, model: SurfaceModel) -> vtk.vtkActor:
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputData(self.display_meshes[model.name].mesh)
        mapper.ScalarVisibilityOff()
        mapper.SetInterpolateScalarsBeforeMapping(True)
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetColor(*model.color)
        prop.SetSpecularColor(1.0, 1.0, 1.0)  # SetColor tints highlights too: keep them white
        prop.SetOpacity(model.opacity)
        prop.SetSpecular(0.15 if model.role != "skin" else 0.05)
        prop.SetSpecularPower(20.0)
        self.renderer.AddActor(actor)
        return actor

    def apply_camera_preset(self, preset: str) -> None:
        """Point the camera along a preset direction and fit the models in view."""
        if preset not in CAMERA_PRESETS:
            raise InputError(
                f"unknown camera preset {preset!r}; use one of {', '.join(CAMERA_PRESETS)}."
            )
        view = CAMERA_PRESETS[preset]
        bounds = self.model_bounds()
        centre = np.array([(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2,
                           (bounds[4] + bounds[5]) / 2])  # fmt: skip
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*centre)
        camera.SetPosition(*(centre - view.direction_of_projection * 500.0))
        camera.SetViewUp(*view.view_up)
        self.renderer.ResetCamera(bounds)

    def model_bounds(self) -> tuple[float, float, float, float, float, float]:
        """(xmin, xmax, ymin, ymax, zmin, zmax) of all models, LPS mm."""
        boxes = np.array([d.mesh.bounds for d in self.display_meshes.values()])
        return (
            float(boxes[:, 0].min()), float(boxes[:, 1].max()),
            float(boxes[:, 2].min()), float(boxes[:, 3].max()),
            float(boxes[:, 4].min()), float(boxes[:, 5].max()),
        )  # fmt: skip

    def update(self, snapshot: ViewSnapshot) -> None:
        """Set every actor from ``snapshot`` (the window's next render shows it)."""
        for name, model in self.models.items():
            if model.role == "skin":
                opacity = snapshot.display.skin_opacity
                self.actors[name].GetProperty().SetOpacity(opacity)
                self.actors[name].SetVisibility(opacity > 0.0)
        self._update_pointer(snapshot)
        self._update_frustum(snapshot)
        self._update_fluorescence(snapshot.fluorescence)
        camera = self.renderer.GetActiveCamera()
        if snapshot.display.follow_tool and snapshot.pointer_ok:
            tip = np.asarray(snapshot.pointer_tip_lps_mm)
            shift = tip - np.asarray(camera.GetFocalPoint())
            camera.SetFocalPoint(*tip)
            camera.SetPosition(*(np.asarray(camera.GetPosition()) + shift))
        camera.OrthogonalizeViewUp()
        self.renderer.ResetCameraClippingRange()
        self.letters.update()

    def _update_pointer(self, snapshot: ViewSnapshot) -> None:
        if not snapshot.pointer_ok:
            self._tip.VisibilityOff()
            self._shaft.VisibilityOff()
            return
        tip = np.asarray(snapshot.pointer_tip_lps_mm)
        origin = np.asarray(snapshot.image_from_pointer)[:3, 3]
        self._tip.GetProperty().SetColor(
            *(TIP_RGB if snapshot.pointer_trusted else UNTRUSTED_TIP_RGB)
        )
        self._tip.SetPosition(*tip)
        self._tip.VisibilityOn()
        length = float(np.linalg.norm(origin - tip))
        start_gap = 1.5 * TIP_RADIUS_MM
        if length <= start_gap:
            self._shaft.VisibilityOff()
            return
        axis = (origin - tip) / length
        start = tip + axis * start_gap
        self._shaft.SetUserMatrix(_cylinder_matrix(start, origin, SHAFT_RADIUS_MM))
        self._shaft.VisibilityOn()

    def _update_frustum(self, snapshot: ViewSnapshot) -> None:
        if not snapshot.camera_ok:
            self._frustum.VisibilityOff()
            return
        assert snapshot.camera_intrinsics is not None and snapshot.image_from_camera is not None
        corners = frustum_corners(snapshot.camera_intrinsics, snapshot.display.frustum_depth_mm)
        image_from_camera = np.asarray(snapshot.image_from_camera)
        points = corners @ image_from_camera[:3, :3].T + image_from_camera[:3, 3]
        for index, point in enumerate(points):
            self._frustum_points.SetPoint(index, *point)
        self._frustum_points.Modified()
        self._frustum.VisibilityOn()

    def _update_fluorescence(self, fluorescence: FluorescenceOverlay | None) -> None:
        """Colour the map's model by its values. Derived display data is kept while what it
        derives from is unchanged: the values array (an identical, read-only object means
        identical values) for the per-vertex scalars; the scale (quantity, thresholds, top)
        for the lookup table, colour bar and legend."""
        if fluorescence is None:
            if self._fluorescence_model is not None:
                self.actors[self._fluorescence_model].GetMapper().ScalarVisibilityOff()
            self._fluorescence_model = None
            self._fluorescence_values = None
            self._fluorescence_scale = None
            self.colour_bar.VisibilityOff()
            self.legend.VisibilityOff()
            return
        name = fluorescence.mesh_name
        if name not in self.display_meshes:
            raise InputError(
                f"fluorescence is mapped on {name!r}, which is not a model of this scene "
                f"({', '.join(self.display_meshes)})."
            )
        scale = (
            fluorescence.quantity,
            fluorescence.close_threshold,
            fluorescence.positive_threshold,
            float(fluorescence.scale_max or 0.0),
        )
        same_model = name == self._fluorescence_model
        if not (same_model and fluorescence.values is self._fluorescence_values):
            if self._fluorescence_model not in (None, name):
                self.actors[str(self._fluorescence_model)].GetMapper().ScalarVisibilityOff()
                self._fluorescence_scale = None  # the new model's mapper needs the table
            self._set_fluorescence_values(name, fluorescence.values)
            self._fluorescence_values = fluorescence.values
            self._fluorescence_model = name
        if scale != self._fluorescence_scale:
            table = lookup_table(fluorescence)
            mapper = self.actors[name].GetMapper()
            mapper.SetLookupTable(table)
            mapper.UseLookupTableScalarRangeOn()
            mapper.SetScalarModeToUsePointFieldData()
            mapper.SelectColorArray(FLUORESCENCE_ARRAY)
            mapper.ScalarVisibilityOn()
            self.renderer.RemoveViewProp(self.colour_bar)  # its ticks belong to the old scale
            self.colour_bar = colour_bar(table, fluorescence.quantity)
            self.renderer.AddViewProp(self.colour_bar)
            self.legend.SetInput(legend_text(fluorescence))
            self.legend.VisibilityOn()
            self._fluorescence_scale = scale

    def _set_fluorescence_values(self, name: str, values: np.ndarray) -> None:
        """The display mesh's per-vertex fluorescence array (written in place when it exists)."""
        display = self.display_meshes[name]
        try:
            drawn = display.transfer(values)
        except InputError as error:
            raise InputError(f"fluorescence on model {name!r}: {error}") from None
        point_data = display.mesh.GetPointData()
        array = point_data.GetArray(FLUORESCENCE_ARRAY)
        if array is not None and array.GetNumberOfTuples() == len(drawn):
            vtk_to_numpy(array)[:] = drawn
            array.Modified()
        else:
            array = numpy_to_vtk(drawn, deep=True)
            array.SetName(FLUORESCENCE_ARRAY)
            point_data.RemoveArray(FLUORESCENCE_ARRAY)
            point_data.AddArray(array)
        display.mesh.Modified()


def frustum_corners(intrinsics: CameraIntrinsics, depth_mm: float) -> np.ndarray:
    """(5, 3) apex and the four image-corner rays at ``depth_mm``, camera frame (OpenCV), mm.

    Order: apex, then corners (0, 0), (w, 0), (w, h), (0, h) in pixels (top-left first;
    distortion is ignored, which is fine for a display outline).
    """
    width, height = intrinsics.image_size_px
    k_inverse = np.linalg.inv(intrinsics.camera_matrix)
    pixels = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], float)
    rays = pixels @ k_inverse.T
    return np.vstack([np.zeros(3), rays / rays[:, 2:3] * depth_mm])


def _sphere_actor(radius: float, rgb: tuple[float, float, float]) -> vtk.vtkActor:
    source = vtk.vtkSphereSource()
    source.SetRadius(radius)
    source.SetThetaResolution(24)
    source.SetPhiResolution(16)
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(source.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*rgb)
    prop.LightingOff()  # flat, exact colour: findable in the pixels and readable on any model
    return actor


def _shaft_actor() -> vtk.vtkActor:
    source = vtk.vtkCylinderSource()  # unit height along y, centred on the origin
    source.SetRadius(1.0)
    source.SetHeight(1.0)
    source.SetResolution(16)
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(source.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*SHAFT_RGB)
    actor.GetProperty().SetSpecular(0.4)
    return actor


def _cylinder_matrix(start: np.ndarray, end: np.ndarray, radius: float) -> vtk.vtkMatrix4x4:
    """Maps vtkCylinderSource's unit cylinder (y axis) onto the segment start-end."""
    axis = end - start
    length = float(np.linalg.norm(axis))
    direction = axis / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(direction[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    a = np.cross(direction, helper)
    a /= np.linalg.norm(a)
    b = np.cross(a, direction)
    m = np.eye(4)
    m[:3, 0] = a * radius
    m[:3, 1] = direction * length
    m[:3, 2] = b * radius
    m[:3, 3] = (start + end) / 2
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(m.ravel().tolist())
    return matrix


def _frustum_actor(points: vtk.vtkPoints) -> vtk.vtkActor:
    points.SetNumberOfPoints(5)
    for index in range(5):
        points.SetPoint(index, 0.0, 0.0, 0.0)
    lines = vtk.vtkCellArray()
    for a, b in ((0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (2, 3), (3, 4), (4, 1)):
        lines.InsertNextCell(2, [a, b])
    poly = vtk.vtkPolyData()
    poly.SetPoints(points)
    poly.SetLines(lines)
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputData(poly)
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*FRUSTUM_RGB)
    prop.SetLineWidth(3.0)
    prop.LightingOff()
    return actor
