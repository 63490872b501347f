"""Warnings nobody can miss, drawn over the whole navigation window.

:class:`AlarmOverlay` owns a renderer in the render window's top layer (layer 1, covering the
whole window, not interactive) and rewrites its 2-D actors from every
:class:`~rendering.view_state.ViewSnapshot`:

- **Tracking lost or stale** (``snapshot.tracking_alarms``): a thick red border round the whole
  3-D view and a large red label in it naming each tool, its state and the time since its last
  good pose ("POINTER STALE - no good pose for 1.4 s").
- **Margin** (``snapshot.guidance.margin_warning`` while the pointer is drawn): a red band across
  the full width of the window with the distance ("MARGIN  tip 3.2 mm outside the tumour
  (< 5 mm)").
- **Unverified registration** (``snapshot.registration`` not verified): a red label at the top
  of the 3-D view for as long as that registration is in use.

Pure red on white type, sized from the window height, drawn after (over) every view. What is
shown is exposed as :attr:`AlarmOverlay.shown` (tests, logs, the session recording).
"""

from __future__ import annotations

import vtk

from rendering.view_state import ViewSnapshot

RGB = tuple[float, float, float]
#: The alarm red (pure enough to find in the pixels, dark enough for white type).
ALARM_RGB: RGB = (0.86, 0.0, 0.0)
#: Border thickness and margin band height as fractions of the window height.
BORDER_FRACTION = 0.016
BAND_FRACTION = 0.085
#: Viewport (xmin, ymin, xmax, ymax) the band spans vertically (full width); y from bottom.
DEFAULT_BAND_Y = (0.0, BAND_FRACTION)


def rectangle_actor(rgb: RGB) -> tuple[vtk.vtkActor2D, vtk.vtkPoints]:
    """A flat 2-D rectangle (hidden) and its 4 corner points, display pixels: place it with
    :func:`set_rectangle`."""
    points = vtk.vtkPoints()
    points.SetNumberOfPoints(4)
    cells = vtk.vtkCellArray()
    cells.InsertNextCell(4, [0, 1, 2, 3])
    poly = vtk.vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    mapper = vtk.vtkPolyDataMapper2D()
    mapper.SetInputData(poly)
    actor = vtk.vtkActor2D()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*rgb)
    actor.VisibilityOff()
    return actor, points


def set_rectangle(points: vtk.vtkPoints, x0: float, y0: float, x1: float, y1: float) -> None:
    for index, (x, y) in enumerate(((x0, y0), (x1, y0), (x1, y1), (x0, y1))):
        points.SetPoint(index, x, y, 0.0)
    points.Modified()


def _label(justify_centre: bool) -> vtk.vtkTextActor:
    actor = vtk.vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetBold(True)
    prop.SetColor(1.0, 1.0, 1.0)
    prop.SetBackgroundColor(*ALARM_RGB)
    prop.SetBackgroundOpacity(1.0)
    prop.SetFrame(True)
    prop.SetFrameColor(1.0, 1.0, 1.0)
    prop.SetFrameWidth(2)
    if justify_centre:
        prop.SetJustificationToCentered()
    prop.SetVerticalJustificationToCentered()
    actor.SetTextScaleModeToNone()
    actor.VisibilityOff()
    return actor


def _fit_font(
    actor: vtk.vtkTextActor,
    renderer: vtk.vtkRenderer,
    largest: int,
    max_width: float,
    cache: dict[tuple[str, int, int], int],
) -> int:
    """Set the largest font size (down to 12) whose text fits ``max_width`` pixels."""
    key = (actor.GetInput() or "", largest, int(max_width))
    if key not in cache:
        size = largest
        box = [0.0, 0.0, 0.0, 0.0]
        while size > 12:
            actor.GetTextProperty().SetFontSize(size)
            actor.GetBoundingBox(renderer, box)
            if box[1] - box[0] <= max_width:
                break
            size = max(12, int(size * 0.9))
        cache[key] = size
    actor.GetTextProperty().SetFontSize(cache[key])
    return cache[key]


class AlarmOverlay:
    """The red border, margin band and UNVERIFIED label over a render window's views.

    Parameters
    ----------
    render_window : the window of the views (its number of layers is raised to 2).
    view_3d : the renderer of the 3-D view (the border goes round its viewport).
    band_y : (ymin, ymax) of the margin band in normalised window coordinates (y up); the
        band spans the full window width.
    """

    def __init__(
        self,
        render_window: vtk.vtkRenderWindow,
        view_3d: vtk.vtkRenderer,
        *,
        band_y: tuple[float, float] = DEFAULT_BAND_Y,
    ) -> None:
        self.render_window = render_window
        self.view_3d = view_3d
        self.band_y = band_y
        render_window.SetNumberOfLayers(max(2, render_window.GetNumberOfLayers()))
        renderer = vtk.vtkRenderer()
        renderer.SetLayer(1)
        renderer.SetViewport(0.0, 0.0, 1.0, 1.0)
        renderer.InteractiveOff()
        render_window.AddRenderer(renderer)
        self.renderer = renderer
        self._border = [rectangle_actor(ALARM_RGB) for _ in range(4)]
        self._band, self._band_points = rectangle_actor(ALARM_RGB)
        for actor, _ in (*self._border, (self._band, self._band_points)):
            renderer.AddViewProp(actor)
        self.tracking_label = _label(True)
        self.band_label = _label(True)
        self.band_label.GetTextProperty().SetFrame(False)
        self.registration_label = _label(True)
        for actor in (self.tracking_label, self.band_label, self.registration_label):
            renderer.AddViewProp(actor)
        self.shown: dict[str, str] = {}
        self._fonts: dict[tuple[str, int, int], int] = {}

    def update(self, snapshot: ViewSnapshot) -> dict[str, str]:
        """Show the snapshot's alarms; returns what is shown (alarm kind -> its text)."""
        width, height = (int(v) for v in self.render_window.GetSize())
        x0n, y0n, x1n, y1n = self.view_3d.GetViewport()
        x0, y0, x1, y1 = x0n * width, y0n * height, x1n * width, y1n * height
        shown: dict[str, str] = {}
        font = max(18, round(height * 0.04))

        alarms = snapshot.tracking_alarms
        if alarms:
            lines = []
            for alarm in alarms:
                state = alarm.state.replace("_", " ")
                since = (
                    "never tracked"
                    if alarm.since_good_s is None
                    else f"no good pose for {alarm.since_good_s:.1f} s"
                )
                lines.append(f"{alarm.tool.upper()} {state} - {since}")
            text = "\n".join(lines)
            thickness = max(8.0, BORDER_FRACTION * height)
            sides = (
                (x0, y0, x1, y0 + thickness),
                (x0, y1 - thickness, x1, y1),
                (x0, y0, x0 + thickness, y1),
                (x1 - thickness, y0, x1, y1),
            )
            for (actor, points), box in zip(self._border, sides, strict=True):
                set_rectangle(points, *box)
                actor.VisibilityOn()
            self.tracking_label.SetInput(text)
            _fit_font(self.tracking_label, self.renderer, font, 0.92 * (x1 - x0), self._fonts)
            self.tracking_label.SetPosition((x0 + x1) / 2, y0 + 0.62 * (y1 - y0))
            self.tracking_label.VisibilityOn()
            shown["tracking"] = text
        else:
            for actor, _ in self._border:
                actor.VisibilityOff()
            self.tracking_label.VisibilityOff()

        guidance = snapshot.guidance
        if snapshot.pointer_ok and guidance is not None and guidance.margin_warning:
            d = guidance.signed_distance_mm
            where = f"{d:.1f} mm outside" if d >= 0 else f"{-d:.1f} mm INSIDE"
            text = f"MARGIN   tip {where} the tumour   (< {guidance.warning_distance_mm:g} mm)"
            b0, b1 = self.band_y[0] * height, self.band_y[1] * height
            set_rectangle(self._band_points, 0.0, b0, float(width), b1)
            self._band.VisibilityOn()
            self.band_label.SetInput(text)
            largest = max(18, round(0.6 * (b1 - b0)))
            _fit_font(self.band_label, self.renderer, largest, 0.96 * width, self._fonts)
            self.band_label.SetPosition(width / 2, (b0 + b1) / 2)
            self.band_label.VisibilityOn()
            shown["margin"] = text
        else:
            self._band.VisibilityOff()
            self.band_label.VisibilityOff()

        registration = snapshot.registration
        if registration is not None and not registration.verified:
            # "UNVERIFIED REGISTRATION" on its own line, each failed check on one below.
            text = registration.text.replace(": ", "\n", 1).replace("; ", "\n")
            self.registration_label.SetInput(text)
            size = _fit_font(
                self.registration_label, self.renderer, font, 0.94 * (x1 - x0), self._fonts
            )
            count = text.count("\n") + 1
            inset = max(8.0, BORDER_FRACTION * height) + 0.6 * size * count + 8
            self.registration_label.SetPosition((x0 + x1) / 2, y1 - inset)
            self.registration_label.VisibilityOn()
            shown["registration"] = text
        else:
            self.registration_label.VisibilityOff()
        self.shown = shown
        return shown
