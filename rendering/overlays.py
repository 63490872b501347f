"""2-D overlays: tool status badges, the heartbeat, guidance text and orientation letters.

Each overlay owns VTK 2-D actors in a renderer it is given and rewrites them from every
:class:`~rendering.view_state.ViewSnapshot`; none keeps state of its own. Type is large and
bold (a surgeon reads it at a glance from beside the table), in monospace so badges line up.
"""

from __future__ import annotations

from dataclasses import dataclass

import vtk

from rendering.alarms import rectangle_actor, set_rectangle
from rendering.orientation import edge_letters
from rendering.view_state import ViewSnapshot

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class BadgeStyle:
    """Label and colours of one tool state's badge."""

    label: str
    background: RGB
    text: RGB


#: Badge look per state: OK calm green; every other state loud.
BADGE_STYLES: dict[str, BadgeStyle] = {
    "OK": BadgeStyle("OK", (0.0, 0.55, 0.0), (1.0, 1.0, 1.0)),
    "OUT_OF_VIEW": BadgeStyle("OUT OF VIEW", (1.0, 0.45, 0.0), (0.0, 0.0, 0.0)),
    "STALE": BadgeStyle("STALE", (1.0, 0.9, 0.0), (0.0, 0.0, 0.0)),
    "INVALID": BadgeStyle("INVALID", (0.85, 0.0, 0.85), (1.0, 1.0, 1.0)),
    "DISCONNECTED": BadgeStyle("DISCONNECTED", (0.85, 0.0, 0.0), (1.0, 1.0, 1.0)),
}

_BADGE_CHARS = 12
#: States from harmless to worst (an overflow badge shows the worst it hides).
_SEVERITY = ("OK", "OUT_OF_VIEW", "STALE", "INVALID", "DISCONNECTED")
_WARNING_BACKGROUND: RGB = (0.85, 0.0, 0.0)
_BLANK_TEXT: RGB = (0.6, 0.6, 0.6)


def _text_actor(size: int, *, bold: bool = True, mono: bool = False) -> vtk.vtkTextActor:
    actor = vtk.vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetBold(bold)
    prop.SetColor(1.0, 1.0, 1.0)
    if mono:
        prop.SetFontFamilyToCourier()
    actor.SetTextScaleModeToNone()
    return actor


class StatusBar:
    """One badge per tool ("Pointer" over "STALE", in the state's colour) and a heartbeat.

    The heartbeat shows the frame counter, the snapshot time and the app's frame rate, with a
    square that alternates bright/dim every frame: if it stops changing, the view is frozen.
    Up to five badges at full size, up to nine smaller; beyond that the last badge reads
    "+N more" in the colour of the worst state among the tools it stands for.
    """

    max_badges = 9

    def __init__(self, renderer: vtk.vtkRenderer) -> None:
        self.renderer = renderer
        renderer.SetBackground(0.08, 0.08, 0.1)
        self._badges: list[vtk.vtkTextActor] = []
        for _ in range(self.max_badges):
            actor = _text_actor(26, mono=True)
            actor.GetTextProperty().SetJustificationToCentered()
            actor.GetTextProperty().SetBackgroundOpacity(1.0)
            actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            actor.VisibilityOff()
            renderer.AddViewProp(actor)
            self._badges.append(actor)
        self.heartbeat = _text_actor(18, mono=True)
        self.heartbeat.GetTextProperty().SetJustificationToRight()
        self.heartbeat.GetTextProperty().SetVerticalJustificationToCentered()
        self.heartbeat.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.heartbeat.SetPosition(0.965, 0.5)
        renderer.AddViewProp(self.heartbeat)
        self._pulse = _square_actor()
        renderer.AddViewProp(self._pulse)
        self._badge_names: list[str] = []
        self._font_cache: dict[tuple[int, int], int] = {}

    def update(self, snapshot: ViewSnapshot) -> None:
        states = dict(snapshot.tool_states)
        names = list(states)
        badges = [(name, states[name]) for name in names[: self.max_badges]]
        if len(names) > self.max_badges:
            hidden = [states[name] for name in names[self.max_badges - 1 :]]
            worst = max(hidden, key=_SEVERITY.index)
            badges[-1] = (f"+{len(hidden)} more", worst)
        self._badge_names = [name for name, _ in badges]
        slot = 0.79 / max(len(badges), 5)
        font = self._font_size(len(badges), slot)
        for index, actor in enumerate(self._badges):
            if index >= len(badges):
                actor.VisibilityOff()
                continue
            name, state = badges[index]
            style = BADGE_STYLES[state]
            actor.SetInput(f"{name[:_BADGE_CHARS]:^{_BADGE_CHARS}}\n{style.label:^{_BADGE_CHARS}}")
            prop = actor.GetTextProperty()
            prop.SetFontSize(font)
            prop.SetBackgroundColor(*style.background)
            prop.SetColor(*style.text)
            actor.SetPosition(0.01 + slot * (index + 0.5), 0.1)
            actor.VisibilityOn()
        fps = f"  {snapshot.render_fps:5.1f} fps" if snapshot.render_fps is not None else ""
        self.heartbeat.SetInput(
            f"frame {snapshot.frame_index:>7d}\nt {snapshot.timestamp_s:12.3f} s{fps}"
        )
        bright = snapshot.frame_index % 2 == 0
        self._pulse.GetProperty().SetColor(*((0.2, 1.0, 0.2) if bright else (0.1, 0.3, 0.1)))
        size = self.renderer.GetSize()
        self._pulse.SetPosition(size[0] * 0.975, size[1] * 0.5 - 10)

    def _font_size(self, count: int, slot: float) -> int:
        """The largest badge font (26 pt down to 12 pt) whose widest badge fits its slot."""
        width = self.renderer.GetSize()[0]
        key = (count, width)
        if key not in self._font_cache:
            probe = self._badges[0]
            saved_text, saved_size = probe.GetInput(), probe.GetTextProperty().GetFontSize()
            probe.SetInput(f"{'M' * _BADGE_CHARS}\n{'M' * _BADGE_CHARS}")
            chosen = 12
            for size in (26, 24, 22, 20, 18, 16, 14, 12):
                probe.GetTextProperty().SetFontSize(size)
                box = [0.0, 0.0, 0.0, 0.0]
                probe.GetBoundingBox(self.renderer, box)
                if box[1] - box[0] <= slot * width - 6:
                    chosen = size
                    break
            probe.SetInput(saved_text or "")
            probe.GetTextProperty().SetFontSize(saved_size)
            self._font_cache[key] = chosen
        return self._font_cache[key]

    def badge_text(self, tool_name: str) -> str:
        """The text the badge of ``tool_name`` shows now (for tests and logs)."""
        return self.badge_actor(tool_name).GetInput()

    def badge_actor(self, tool_name: str) -> vtk.vtkTextActor:
        """The text actor of the badge of ``tool_name`` (after an update that listed it)."""
        if tool_name not in self._badge_names:
            raise KeyError(f"no badge for tool {tool_name!r}; shown: {self._badge_names}")
        return self._badges[self._badge_names.index(tool_name)]

    def badge_box(self, tool_name: str) -> tuple[int, int, int, int]:
        """(x0, x1, y0, y1) of the badge in window pixels (VTK display: y up), after render."""
        actor = self.badge_actor(tool_name)
        box = [0.0, 0.0, 0.0, 0.0]
        actor.GetBoundingBox(self.renderer, box)
        x, y = actor.GetPositionCoordinate().GetComputedDisplayValue(self.renderer)
        return (int(x + box[0]), int(x + box[1]), int(y + box[2]), int(y + box[3]))


def _square_actor(size: float = 20.0) -> vtk.vtkActor2D:
    actor, points = rectangle_actor((1.0, 1.0, 1.0))
    set_rectangle(points, 0.0, 0.0, size, size)
    actor.VisibilityOn()
    return actor


class GuidancePanel:
    """Distance from the tip to the tumour surface with the predicted TRE at the tip, and the
    margin warning.

    Shown only while the pointer is OK and the snapshot carries guidance; otherwise the panel
    says why there is no guidance and shows no number. The predicted TRE is shown as a number
    only under a registration that passed its checks; otherwise it reads "NOT VALID".
    """

    def __init__(self, renderer: vtk.vtkRenderer) -> None:
        self.renderer = renderer
        renderer.SetBackground(0.08, 0.08, 0.1)
        self.distance = _text_actor(30)
        self.distance.GetTextProperty().SetVerticalJustificationToCentered()
        self.distance.GetTextProperty().SetBackgroundOpacity(1.0)
        self.distance.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.distance.SetPosition(0.02, 0.66)
        self.tre = _text_actor(20)
        self.tre.GetTextProperty().SetVerticalJustificationToCentered()
        self.tre.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.tre.SetPosition(0.02, 0.22)
        renderer.AddViewProp(self.distance)
        renderer.AddViewProp(self.tre)

    def update(self, snapshot: ViewSnapshot) -> None:
        guidance = snapshot.guidance
        prop = self.distance.GetTextProperty()
        if not snapshot.pointer_ok or guidance is None:
            if snapshot.placement_note is not None:
                reason = snapshot.placement_note
            elif not snapshot.pointer_ok:
                reason = f"{snapshot.pointer_name} {BADGE_STYLES[snapshot.pointer_state].label}"
            else:
                reason = "no tumour model"
            self.distance.SetInput(f"No guidance: {reason}")
            prop.SetColor(*_BLANK_TEXT)
            prop.SetBackgroundColor(0.08, 0.08, 0.1)
            self.tre.SetInput("")
            return
        d = guidance.signed_distance_mm
        where = f"{d:.1f} mm outside" if d >= 0 else f"INSIDE, {-d:.1f} mm deep"
        text = f"Tip to tumour: {where}"
        if guidance.margin_warning:
            text = f"MARGIN < {guidance.warning_distance_mm:g} mm   {text}"
            prop.SetBackgroundColor(*_WARNING_BACKGROUND)
        else:
            prop.SetBackgroundColor(0.08, 0.08, 0.1)
        prop.SetColor(1.0, 1.0, 1.0)
        self.distance.SetInput(text)
        tre = guidance.shown_tre_mm
        unverified = snapshot.registration is not None and not snapshot.registration.verified
        if unverified or not guidance.tre_valid:
            self.tre.SetInput("predicted TRE at tip: NOT VALID (unverified registration)")
            self.tre.GetTextProperty().SetColor(1.0, 0.35, 0.35)
            return
        self.tre.GetTextProperty().SetColor(1.0, 1.0, 1.0)
        self.tre.SetInput(
            "predicted TRE at tip: unknown" if tre is None else f"predicted TRE at tip {tre:.1f} mm"
        )

    @property
    def text(self) -> str:
        """Everything the panel shows now (for tests and logs)."""
        return f"{self.distance.GetInput()} {self.tre.GetInput()}".strip()


class EdgeLetters:
    """R/L/A/P/S/I letters at the four edges of a view, read from its camera every frame."""

    def __init__(self, renderer: vtk.vtkRenderer, *, size: int = 26) -> None:
        self.renderer = renderer
        self.actors: dict[str, vtk.vtkTextActor] = {}
        # (x, y, horizontal, vertical): justification 0 left/bottom, 1 centred, 2 right/top.
        placement = {
            "left": (0.015, 0.5, 0, 1),
            "right": (0.985, 0.5, 2, 1),
            "top": (0.5, 0.985, 1, 2),
            "bottom": (0.5, 0.015, 1, 0),
        }
        for edge, (x, y, horizontal, vertical) in placement.items():
            actor = _text_actor(size)
            prop = actor.GetTextProperty()
            prop.SetColor(1.0, 0.85, 0.3)
            prop.SetJustification(horizontal)
            prop.SetVerticalJustification(vertical)
            actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            actor.SetPosition(x, y)
            renderer.AddViewProp(actor)
            self.actors[edge] = actor
        self._camera_axes: tuple[tuple[float, ...], tuple[float, ...]] | None = None
        self._letters: dict[str, str] = {}

    def update(self) -> dict[str, str]:
        """Set the letters from the renderer's active camera; returns them by edge (worked out
        again only when the camera's direction or view-up changed)."""
        camera = self.renderer.GetActiveCamera()
        forward = camera.GetDirectionOfProjection()
        up = camera.GetViewUp()
        if (forward, up) == self._camera_axes:
            return dict(self._letters)
        right = [
            forward[1] * up[2] - forward[2] * up[1],
            forward[2] * up[0] - forward[0] * up[2],
            forward[0] * up[1] - forward[1] * up[0],
        ]
        letters = edge_letters(right, up)
        for edge, letter in letters.items():
            self.actors[edge].SetInput(letter)
        self._camera_axes, self._letters = (forward, up), letters
        return dict(letters)

    @property
    def letters(self) -> dict[str, str]:
        return {edge: actor.GetInput() for edge, actor in self.actors.items()}
