"""Self-contained HTML report pages: tables, PNG figures embedded as data URIs (and written
beside the page), matplotlib figures rendered without pyplot state (Agg canvas).

A report is a folder: ``report.html`` plus one PNG per figure, each written atomically.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from registration.core.atomic_files import write_bytes_atomic, write_text_atomic

_STYLE = (
    "body{font-family:sans-serif;max-width:1300px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:right}th{background:#eee}img{max-width:100%}"
    ".pass{color:#1a7f37;font-weight:bold}.fail{color:#c00;font-weight:bold}"
    ".warning{background:#fff3cd;border:1px solid #e0c36a;padding:6px 10px;margin:6px 0}"
    "dt{font-weight:bold;margin-top:4px}"
)


@dataclass(frozen=True)
class ReportFigure:
    """One figure: the PNG file name, its title and the PNG bytes (None: not drawn)."""

    file_name: str
    title: str
    png: bytes | None


def figure_png(figure: Figure, *, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib ``Figure`` (Agg canvas, no pyplot)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def cell(value: Any) -> str:
    """A table cell's text: floats to 3 decimals, everything else escaped."""
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; floats shown to 3 decimals."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def definitions(items: dict[str, str]) -> str:
    """A definition list (term: meaning)."""
    body = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in items.items()
    )
    return f"<dl>{body}</dl>"


def verdict(passed: bool, text: str) -> str:
    """A PASS/FAIL line."""
    kind = "pass" if passed else "fail"
    return f"<p class='{kind}'>{'PASS' if passed else 'FAIL'}: {html.escape(text)}</p>"


def warnings_html(warnings: Sequence[str]) -> str:
    return "".join(f"<div class='warning'>WARNING: {html.escape(w)}</div>" for w in warnings)


def figures_html(figures: Sequence[ReportFigure]) -> str:
    """The figures as headed ``<img>`` elements with embedded PNG data."""
    return "".join(
        f"<h2>{html.escape(f.title)}</h2><img alt='{html.escape(f.title)}' "
        f"src='data:image/png;base64,{base64.b64encode(f.png).decode('ascii')}'/>"
        for f in figures
        if f.png is not None
    )


def html_page(title: str, body: str) -> str:
    """A complete page with the shared style."""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def write_report_folder(
    out_dir: str | Path, title: str, body: str, figures: Sequence[ReportFigure]
) -> dict[str, Path]:
    """Write ``report.html`` (``body`` then the figures) and each figure's PNG into
    ``out_dir`` (created). Returns {file name or "report": path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for figure in figures:
        if figure.png is not None:
            write_bytes_atomic(out / figure.file_name, figure.png)
            written[figure.file_name] = out / figure.file_name
    write_text_atomic(out / "report.html", html_page(title, body + figures_html(figures)))
    written["report"] = out / "report.html"
    return written
