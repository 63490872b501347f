"""The accuracy study's outputs: ``report.html``, ``results.csv``, ``summary.json`` (+ PNGs).

``report.html`` is self-contained (PNG figures embedded as data URIs, also written beside it as
files). ``summary.json`` holds the main case (first layout, first FLE level)::

    {schema: "igcs-accuracy-summary", schema_version: 1, fre_rms_mm, fre_rms_predicted_mm,
     targets: [{name, position_lps_mm, tre_rms_mm, tre_rms_predicted_mm, tre_p95_mm,
                fre_tre_correlation}],
     study: {...}, cases: [{layout, dropped_fiducial, fle_rms_mm, fle_image_rms_mm, ...}],
     surfaces: [{name, vertices, tre_rms_predicted_min_mm, ..._mean_mm, ..._max_mm}],
     gates: [{name, target, quantity, threshold_mm, value_mm, passed}],
     passed: true | false | null (no gates)}

``results.csv`` has one row per case and quantity (FRE or TRE at a target). Every file is
written atomically (:mod:`registration.core.atomic_files`).
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registration.accuracy import plots
from registration.accuracy.engine import CaseResult, StudyResults
from registration.accuracy.gates import TREGate
from registration.core.atomic_files import write_bytes_atomic, write_json_atomic, write_text_atomic
from registration.core.checks import Float64Array, check_points
from registration.reports.page import ReportFigure, figures_html, html_page, table, verdict
from registration.tre import predict_tre_rms

SUMMARY_SCHEMA = "igcs-accuracy-summary"


@dataclass(frozen=True)
class SurfaceTREMap:
    """Predicted RMS TRE (Fitzpatrick et al. 1998) at every vertex of a surface.

    name : surface label; vertices_lps_mm : (V, 3) mm, LPS; tre_rms_mm : (V,) mm.
    """

    name: str
    vertices_lps_mm: Float64Array
    tre_rms_mm: Float64Array


def surface_tre_maps(
    results: StudyResults, surfaces: Mapping[str, Float64Array]
) -> tuple[SurfaceTREMap, ...]:
    """Theory TRE maps of the main case over each surface's vertices ((V, 3) LPS mm)."""
    case = results.main.case
    return tuple(
        SurfaceTREMap(
            name,
            vertices := check_points(points, f"surface {name!r} vertices"),
            predict_tre_rms(
                case.layout.fiducials_lps_mm, vertices, fle_rms_mm=case.fle_total_rms_mm
            ),
        )
        for name, points in surfaces.items()
    )


def summary(
    results: StudyResults,
    maps: tuple[SurfaceTREMap, ...] = (),
    gates: tuple[TREGate, ...] = (),
) -> dict[str, Any]:
    """The JSON-ready summary of a study (see the module docstring)."""
    study = results.study
    main = results.main
    return {
        "schema": SUMMARY_SCHEMA,
        "schema_version": 1,
        "coordinate_system": "LPS",
        "units": "mm",
        "fre_rms_mm": main.fre_rms_mm,
        "fre_rms_predicted_mm": main.fre_rms_predicted_mm,
        "targets": _targets(results, main),
        "study": {
            "layouts": [
                {
                    "name": layout.name,
                    "fiducials": [
                        {"name": n, "position_lps_mm": p.tolist()}
                        for n, p in zip(layout.fiducial_names, layout.fiducials_lps_mm, strict=True)
                    ],
                }
                for layout in study.layouts
            ],
            "fle_rms_mm": list(study.fle_rms_mm),
            "fle_image_rms_mm": study.fle_image_rms_mm,
            "trials": study.trials,
            "seed": study.seed,
            "chunk_trials": study.chunk_trials,
            "theory": "Fitzpatrick, West & Maurer 1998; FLE total = sqrt(FLE^2 + FLE_image^2)",
        },
        "cases": [
            {
                "layout": c.case.base_layout,
                "dropped_fiducial": c.case.dropped,
                "fiducial_count": len(c.case.layout.fiducial_names),
                "fle_rms_mm": c.case.fle_rms_mm,
                "fle_image_rms_mm": c.case.fle_image_rms_mm,
                "fre_rms_mm": c.fre_rms_mm,
                "fre_rms_predicted_mm": c.fre_rms_predicted_mm,
                "targets": _targets(results, c),
            }
            for c in results.cases
        ],
        "surfaces": [
            {
                "name": m.name,
                "vertices": len(m.tre_rms_mm),
                "tre_rms_predicted_min_mm": float(m.tre_rms_mm.min()),
                "tre_rms_predicted_mean_mm": float(m.tre_rms_mm.mean()),
                "tre_rms_predicted_max_mm": float(m.tre_rms_mm.max()),
            }
            for m in maps
        ],
        "gates": [g.to_dict() for g in gates],
        "passed": all(g.passed for g in gates) if gates else None,
    }


def results_rows(results: StudyResults) -> list[dict[str, Any]]:
    """Rows of ``results.csv``: each case's FRE and TRE at each target, simulated and theory."""
    rows = []
    for c in results.cases:
        base = {
            "case": c.case.index,
            "layout": c.case.base_layout,
            "dropped_fiducial": c.case.dropped or "",
            "fiducials": len(c.case.layout.fiducial_names),
            "fle_rms_mm": c.case.fle_rms_mm,
            "fle_image_rms_mm": c.case.fle_image_rms_mm,
            "trials": len(c.fre_mm),
        }
        rows.append(
            base
            | {
                "quantity": "FRE",
                "target": "",
                "l_mm": "",
                "p_mm": "",
                "s_mm": "",
                "rms_simulated_mm": c.fre_rms_mm,
                "rms_predicted_mm": c.fre_rms_predicted_mm,
                "p50_mm": float(np.median(c.fre_mm)),
                "p95_mm": float(np.percentile(c.fre_mm, 95)),
                "max_mm": float(c.fre_mm.max()),
            }
        )
        p50, p95 = c.tre_percentile_mm(50), c.tre_percentile_mm(95)
        for j, target in enumerate(results.study.targets):
            x, y, z = target.position_lps_mm.tolist()
            rows.append(
                base
                | {
                    "quantity": "TRE",
                    "target": target.name,
                    "l_mm": x,
                    "p_mm": y,
                    "s_mm": z,
                    "rms_simulated_mm": float(c.tre_rms_mm[j]),
                    "rms_predicted_mm": float(c.tre_rms_predicted_mm[j]),
                    "p50_mm": float(p50[j]),
                    "p95_mm": float(p95[j]),
                    "max_mm": float(c.tre_mm[:, j].max()),
                }
            )
    return rows


def write_report(
    out_dir: str | Path,
    results: StudyResults,
    *,
    maps: tuple[SurfaceTREMap, ...] = (),
    gates: tuple[TREGate, ...] = (),
) -> dict[str, Path]:
    """Write report.html, results.csv, summary.json and the PNG figures into ``out_dir``
    (created if needed), each atomically. Returns {file kind: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [t.name for t in results.study.targets]
    main = results.main
    figures: list[tuple[str, str, bytes | None]] = [
        ("fre_histogram.png", "FRE distribution", plots.fre_histogram(main)),
        (
            "tre_histograms.png",
            "TRE distributions at the targets",
            plots.tre_histograms(main, names),
        ),
        ("sim_vs_theory.png", "Simulation and theory", plots.sim_vs_theory(main, names)),
        ("fre_vs_tre.png", "FRE against TRE", plots.fre_vs_tre(main, names[0])),
        ("drop_effect.png", "Dropping one fiducial", plots.drop_effect(results, names[0])),
        ("fle_levels.png", "TRE against FLE", plots.fle_levels(results, names[0])),
    ]
    fiducials = main.case.layout.fiducials_lps_mm
    figures += [
        (
            f"tre_map_{m.name}.png",
            f"Predicted TRE over the {m.name} surface",
            plots.tre_map(m.name, m.vertices_lps_mm, m.tre_rms_mm, fiducials),
        )
        for m in maps
    ]
    written: dict[str, Path] = {}
    for file_name, _, png in figures:
        if png is not None:
            write_bytes_atomic(out / file_name, png)
            written[file_name] = out / file_name
    rows = results_rows(results)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "results.csv", buffer.getvalue())
    write_json_atomic(out / "summary.json", summary(results, maps, gates))
    write_text_atomic(out / "report.html", _html(results, maps, figures, gates))
    written.update(
        csv=out / "results.csv", summary=out / "summary.json", report=out / "report.html"
    )
    return written


def _targets(results: StudyResults, case: CaseResult) -> list[dict[str, Any]]:
    p95 = case.tre_percentile_mm(95)
    correlation = case.fre_tre_correlation
    return [
        {
            "name": t.name,
            "position_lps_mm": t.position_lps_mm.tolist(),
            "tre_rms_mm": float(case.tre_rms_mm[j]),
            "tre_rms_predicted_mm": float(case.tre_rms_predicted_mm[j]),
            "tre_p95_mm": float(p95[j]),
            "fre_tre_correlation": float(correlation[j]) if np.isfinite(correlation[j]) else None,
        }
        for j, t in enumerate(results.study.targets)
    ]


def _html(
    results: StudyResults,
    maps: tuple[SurfaceTREMap, ...],
    figures: list[tuple[str, str, bytes | None]],
    gates: tuple[TREGate, ...] = (),
) -> str:
    study, main = results.study, results.main
    case = main.case
    intro = (
        f"<p>Monte Carlo study: {study.trials} registrations per case, seed {study.seed}; "
        f"{len(results.cases)} cases ({len(study.layouts)} layout(s) x {len(study.fle_rms_mm)} "
        f"FLE level(s), plus dropped fiducials). Main case: layout "
        f"<b>{html.escape(case.layout.name)}</b> ({len(case.layout.fiducial_names)} fiducials), "
        f"tracked FLE {case.fle_rms_mm:.3f} mm, "
        f"image FLE {case.fle_image_rms_mm:.3f} mm RMS (isotropic). Theory: Fitzpatrick, West "
        "&amp; Maurer 1998 with &lt;FLE&sup2;&gt; the sum of both sides. Positions LPS mm. "
        "FRE measures the fit, not accuracy: TRE at the targets does.</p>"
    ) + "".join(verdict(g.passed, g.describe().split(": ", 1)[1]) for g in gates)
    main_rows = [["FRE", "", main.fre_rms_mm, main.fre_rms_predicted_mm, "", ""]]
    main_rows += [
        [
            "TRE",
            t.name,
            float(main.tre_rms_mm[j]),
            float(main.tre_rms_predicted_mm[j]),
            float(main.tre_percentile_mm(95)[j]),
            float(main.fre_tre_correlation[j]),
        ]
        for j, t in enumerate(study.targets)
    ]
    tables = table(
        [
            "quantity",
            "target",
            "RMS simulated (mm)",
            "RMS theory (mm)",
            "P95 simulated (mm)",
            "r(FRE, TRE)",
        ],
        main_rows,
    )
    first = study.targets[0].name
    case_rows = [
        [
            c.case.base_layout,
            c.case.dropped or "-",
            len(c.case.layout.fiducial_names),
            c.case.fle_rms_mm,
            c.fre_rms_mm,
            c.fre_rms_predicted_mm,
            float(c.tre_rms_mm[0]),
            float(c.tre_rms_predicted_mm[0]),
        ]
        for c in results.cases
    ]
    tables += "<h2>All cases</h2>" + table(
        [
            "layout",
            "dropped",
            "N",
            "FLE (mm)",
            "FRE sim",
            "FRE theory",
            f"TRE sim at {first}",
            f"TRE theory at {first}",
        ],
        case_rows,
    )
    if maps:
        tables += "<h2>Predicted TRE over the surfaces</h2>" + table(
            ["surface", "vertices", "min (mm)", "mean (mm)", "max (mm)"],
            [
                [
                    m.name,
                    len(m.tre_rms_mm),
                    float(m.tre_rms_mm.min()),
                    float(m.tre_rms_mm.mean()),
                    float(m.tre_rms_mm.max()),
                ]
                for m in maps
            ],
        )
    images = figures_html([ReportFigure(name, title, png) for name, title, png in figures])
    return html_page(
        "igcs accuracy report", f"<h1>Registration accuracy</h1>{intro}{tables}{images}"
    )
