"""``igcs demo``: plan the bundled phantom and render a picture of its meshes."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Generate (or reuse) the sample phantom CT in sample_data/, run `igcs plan` on it "
        "with the tumour seed from its truth.json, and render the plan's meshes offscreen to "
        "a PNG. Prints where everything is."
    )
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder")


def run(args: argparse.Namespace) -> int:
    import pyvista as pv

    from navigation.commands.plan import make_plan_from_path, print_summary
    from navigation.planning.phantom import load_truth
    from navigation.planning.sample_data import ensure_sample_phantom
    from rendering.snapshot import MeshLayer, snapshot_meshes

    phantom = ensure_sample_phantom()
    truth = load_truth(phantom)
    print(f"sample phantom: {phantom}")
    seed = ",".join(f"{v:.2f}" for v in truth.tumour_seed_lps_mm)
    node = ",".join(f"{v:.2f}" for v in truth.node_centroid_lps_mm)
    plan_dir = args.out / "plan"
    print(f"igcs plan {phantom / 'dicom'} --out {plan_dir} --tumour-seed={seed} --node-seed={node}")
    plan_args = argparse.Namespace(
        input=phantom / "dicom",
        out=plan_dir,
        tumour_seed=seed,
        tumour_box=None,
        node_seed=node,
        series=None,
        labels=False,
        expected_fiducials=len(truth.fiducial_names),
        no_resampling=False,
        no_stl=False,
        overwrite=True,
    )
    plan = make_plan_from_path(plan_args)
    print_summary(plan)
    layers = [
        MeshLayer(
            pv.PolyData(pv.read(plan.mesh_path(entry.name))),
            entry.color,
            0.3 if entry.name == "skin" else 1.0,
            entry.name,
        )
        for entry in plan.labels
        if entry.mesh is not None
    ]
    picture = snapshot_meshes(layers, args.out / "plan_meshes.png", title="igcs plan")
    errors = np.linalg.norm(
        plan.fiducials_lps_mm[:, None, :] - truth.fiducials_lps_mm[None, :, :], axis=2
    ).min(axis=0)
    print(f"fiducial localisation vs truth: max {errors.max():.3f} mm over {errors.size} markers")
    if plan.tumour_volume_ml is not None:
        error = 100.0 * (plan.tumour_volume_ml / truth.tumour_volume_ml - 1.0)
        print(f"tumour volume vs truth: {plan.tumour_volume_ml:.2f} ml ({error:+.1f} %)")
    print(f"picture of the meshes: {picture}")
    print(f"plan folder: {plan.root} (open labels.seg.nrrd and meshes/*.vtp in 3D Slicer)")
    return 0
