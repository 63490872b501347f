"""The accuracy report's figures as PNG bytes (matplotlib's Agg canvas; no pyplot state).

Every function takes results from :mod:`registration.accuracy.engine` and returns ``bytes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import chi2

from registration.accuracy.engine import CaseResult, StudyResults
from registration.core.checks import Float64Array
from registration.reports.page import figure_png

#: Points drawn per view of a TRE map (a stride sample of the vertices keeps plotting fast).
MAP_POINTS = 30_000


def fre_histogram(case: CaseResult) -> bytes:
    """Simulated FRE with the theoretical density: N FRE^2 / sigma^2 ~ chi-square(3N - 6)."""
    n = len(case.case.layout.fiducial_names)
    sigma_squared = case.case.fle_total_rms_mm**2 / 3.0
    figure = Figure(figsize=(6, 3.6))
    axes = figure.add_subplot()
    axes.hist(case.fre_mm, bins=60, density=True, color="#9ecae1", label="simulation")
    if sigma_squared > 0:
        x = np.linspace(0, max(case.fre_mm.max(), 1e-9) * 1.05, 400)
        dof = 3 * n - 6
        density = chi2.pdf(n * x**2 / sigma_squared, dof) * 2 * n * x / sigma_squared
        axes.plot(x, density, color="#08519c", label=f"theory (chi-square, {dof} dof)")
    axes.axvline(case.fre_rms_mm, color="k", linestyle="--", label="RMS simulated")
    axes.axvline(case.fre_rms_predicted_mm, color="#e6550d", linestyle=":", label="RMS theory")
    axes.set_xlabel("FRE (mm)")
    axes.set_ylabel("density")
    axes.set_title(f"FRE, {case.case.layout.name}, FLE {case.case.fle_total_rms_mm:.2f} mm")
    axes.legend(fontsize=8)
    return figure_png(figure)


def tre_histograms(case: CaseResult, target_names: Sequence[str]) -> bytes:
    """One histogram of simulated TRE per target, with simulated and predicted RMS marked."""
    m = len(target_names)
    columns = min(m, 3)
    rows = int(np.ceil(m / columns))
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows))
    for j, name in enumerate(target_names):
        axes = figure.add_subplot(rows, columns, j + 1)
        axes.hist(case.tre_mm[:, j], bins=60, density=True, color="#a1d99b")
        axes.axvline(case.tre_rms_mm[j], color="k", linestyle="--", label="RMS simulated")
        axes.axvline(
            case.tre_rms_predicted_mm[j], color="#e6550d", linestyle=":", label="RMS theory"
        )
        axes.axvline(
            case.tre_percentile_mm(95)[j], color="#756bb1", linestyle="-.", label="P95 simulated"
        )
        axes.set_title(name, fontsize=9)
        axes.set_xlabel("TRE (mm)")
        if j == 0:
            axes.legend(fontsize=7)
    figure.tight_layout()
    return figure_png(figure)


def sim_vs_theory(case: CaseResult, target_names: Sequence[str]) -> bytes:
    """Grouped bars: RMS FRE and RMS TRE at each target, simulation beside theory."""
    labels = ["FRE", *target_names]
    simulated = [case.fre_rms_mm, *case.tre_rms_mm]
    predicted = [case.fre_rms_predicted_mm, *case.tre_rms_predicted_mm]
    x = np.arange(len(labels))
    figure = Figure(figsize=(max(5, 1.2 * len(labels)), 3.6))
    axes = figure.add_subplot()
    axes.bar(x - 0.2, simulated, 0.4, label="simulation", color="#3182bd")
    axes.bar(x + 0.2, predicted, 0.4, label="theory", color="#fd8d3c")
    axes.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    axes.set_ylabel("RMS error (mm)")
    axes.legend(fontsize=8)
    return figure_png(figure)


def fre_vs_tre(case: CaseResult, target_name: str, target: int = 0) -> bytes:
    """Scatter of per-trial TRE at one target against FRE, with the correlation r."""
    figure = Figure(figsize=(5, 3.8))
    axes = figure.add_subplot()
    stride = max(1, len(case.fre_mm) // 5000)
    axes.scatter(case.fre_mm[::stride], case.tre_mm[::stride, target], s=2, alpha=0.4)
    r = case.fre_tre_correlation[target]
    axes.set_title(f"FRE is not accuracy: r = {r:.3f} ({target_name})", fontsize=9)
    axes.set_xlabel("FRE (mm)")
    axes.set_ylabel(f"TRE at {target_name} (mm)")
    return figure_png(figure)


def drop_effect(results: StudyResults, target_name: str, target: int = 0) -> bytes | None:
    """Bars of RMS TRE at one target with each fiducial of the main layout dropped."""
    main = results.main
    drops = [
        c
        for c in results.cases
        if c.case.dropped is not None and c.case.base_layout == main.case.layout.name
    ]
    if not drops:
        return None
    labels = [str(c.case.dropped) for c in drops]
    x = np.arange(len(drops))
    figure = Figure(figsize=(max(5, 0.9 * len(drops)), 3.6))
    axes = figure.add_subplot()
    axes.bar(x - 0.2, [c.tre_rms_mm[target] for c in drops], 0.4, label="simulation")
    axes.bar(x + 0.2, [c.tre_rms_predicted_mm[target] for c in drops], 0.4, label="theory")
    axes.axhline(main.tre_rms_predicted_mm[target], color="k", linestyle="--", label="all kept")
    axes.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    axes.set_ylabel(f"RMS TRE at {target_name} (mm)")
    axes.set_title("Effect of dropping each fiducial", fontsize=9)
    axes.legend(fontsize=8)
    return figure_png(figure)


def fle_levels(results: StudyResults, target_name: str, target: int = 0) -> bytes | None:
    """RMS TRE at one target against FLE for each layout (only with several FLE levels)."""
    if len(results.study.fle_rms_mm) < 2:
        return None
    figure = Figure(figsize=(5.5, 3.6))
    axes = figure.add_subplot()
    for layout in results.study.layouts:
        cases = [c for c in results.cases if c.case.dropped is None and c.case.layout is layout]
        fle = [c.case.fle_rms_mm for c in cases]
        line = axes.plot(fle, [c.tre_rms_predicted_mm[target] for c in cases], label=layout.name)
        axes.plot(fle, [c.tre_rms_mm[target] for c in cases], "o", color=line[0].get_color())
    axes.set_xlabel("tracked FLE, RMS (mm)")
    axes.set_ylabel(f"RMS TRE at {target_name} (mm)")
    axes.set_title("theory (lines) and simulation (dots)", fontsize=9)
    axes.legend(fontsize=8)
    return figure_png(figure)


def tre_map(
    name: str,
    vertices_lps_mm: Float64Array,
    tre_rms_mm: Float64Array,
    fiducials_lps_mm: Float64Array,
) -> bytes:
    """Three orthographic views (anterior, left, superior) of a surface coloured by predicted
    RMS TRE, fiducials as black crosses. Axes in LPS mm."""
    stride = max(1, len(vertices_lps_mm) // MAP_POINTS)
    points = vertices_lps_mm[::stride]
    values = tre_rms_mm[::stride]
    # (horizontal axis, vertical axis, depth axis, draw far-to-near sign, title)
    views = ((0, 2, 1, -1, "anterior"), (1, 2, 0, 1, "left lateral"), (0, 1, 2, 1, "superior"))
    figure = Figure(figsize=(14, 4.4), layout="constrained")
    axis_names = ("L (mm)", "P (mm)", "S (mm)")
    scatter = None
    for j, (h, v, depth, sign, title) in enumerate(views):
        axes = figure.add_subplot(1, 3, j + 1)
        order = np.argsort(sign * points[:, depth])
        scatter = axes.scatter(
            points[order, h],
            points[order, v],
            c=values[order],
            s=1.5,
            cmap="viridis",
            vmin=float(tre_rms_mm.min()),
            vmax=float(tre_rms_mm.max()),
        )
        axes.scatter(fiducials_lps_mm[:, h], fiducials_lps_mm[:, v], marker="x", c="k", s=30)
        axes.set_aspect("equal")
        axes.set_xlabel(axis_names[h])
        axes.set_ylabel(axis_names[v])
        axes.set_title(f"{name}: {title} view", fontsize=9)
    if scatter is not None:
        figure.colorbar(scatter, ax=figure.axes, label="predicted RMS TRE (mm)", shrink=0.9)
    return figure_png(figure)
