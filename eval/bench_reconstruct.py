"""Acceptance benchmark of ``fields3d reconstruct``: quality and time on synthetic and real captures.

Cases (``--cases``; each prints one row of the table at the end):

* ``spot``          ``fields3d synth`` of spot (48 views, 128^2, diffuse), ``--preset fast``,
                    Chamfer against mesh_gt.
* ``glossy-blended`` / ``glossy-view``  the same object rendered ``--material glossy``; UniSDF's blended
                    colour against the camera-view-only colour at the same budget.
* ``sfm``           the spot capture's images alone (pose files removed): SfM, then reconstruction
                    (Chamfer after aligning the SfM frame to the ground truth with the cameras).
* ``dtu``           dtu_scan65_neus (masks), 5 held-out views.
* ``ethiopian``     nerd_ethiopian_head (masks), 5 held-out views.
* ``lego``, ``fox``   GPU cases (run them with ``--preset default`` on a GPU machine).
* ``gpu-synthetic`` 100 views of 400^2 of spot, ``--preset default`` (the GPU target: <= 0.5 % in 5 minutes).

Usage::

    python eval/bench_reconstruct.py --cases spot glossy-blended glossy-view --out runs/bench
    python eval/bench_reconstruct.py --cases dtu ethiopian --out runs/bench

The CPU is shared on development machines: the load average is printed before and after each case, and
``cpu_s`` (the process's CPU time) next to the wall time ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FIELDS3D_SHARED_DATA", ROOT.parent / "shared" / "data"))
SPOT = SHARED / "reference_meshes" / "spot.obj"


def synth(out: Path, views: int, res: int, material: str = "diffuse") -> Path:
    from fields3d.data.synthetic import SynthConfig, render_capture

    if not (out / "transforms.json").is_file():
        render_capture(SPOT, out, SynthConfig(views=views, resolution=res, material=material), progress=False)
    return out


def bare_images(capture: Path, out: Path) -> Path:
    """A folder holding only the capture's images (no poses, no masks)."""
    if not out.is_dir():
        out.mkdir(parents=True)
        for p in sorted((capture / "images").glob("*.png")):
            shutil.copy(p, out / p.name)
    return out


def run_case(name: str, args) -> dict:
    from fields3d.recon.pipeline import reconstruct
    from fields3d.recon.presets import make_config

    work = Path(args.out)
    preset = args.preset
    config = make_config("unisdf", preset)
    gt = None
    if name == "spot":
        data = synth(work / "captures" / f"spot_{args.views}_{args.res}", args.views, args.res)
        gt = data / "mesh_gt.ply"
    elif name.startswith("glossy"):
        data = synth(
            work / "captures" / f"spot_glossy_{args.views}_{args.res}", args.views, args.res, "glossy"
        )
        gt = data / "mesh_gt.ply"
        config.model.color.mode = "blended" if name.endswith("blended") else "view"
    elif name == "sfm":
        capture = synth(work / "captures" / f"spot_{args.views}_{args.res}", args.views, args.res)
        data = bare_images(capture, work / "captures" / "spot_bare_images")
    elif name == "gpu-synthetic":
        data = synth(work / "captures" / "spot_100_400", 100, 400)
        gt = data / "mesh_gt.ply"
    else:
        data = (
            SHARED
            / {
                "dtu": "dtu_scan65_neus",
                "ethiopian": "nerd_ethiopian_head",
                "lego": "nerf_synthetic_lego_subset",
                "fox": "nerf_fox",
            }[name]
        )
        if not data.exists():
            return {"case": name, "error": f"shared data missing: {data}"}
    if args.steps:
        config.train.steps = args.steps
    if args.color_normals:
        config.model.color_normals = args.color_normals
    config.threads = args.threads
    run = work / f"{name}_{preset}{args.tag}"
    if run.exists() and not args.keep:
        shutil.rmtree(run)
    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    result = reconstruct(data, run, config, gt_mesh=gt, progress=not args.quiet, log=print)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    m = result.metrics
    row = {
        "case": name,
        "preset": preset,
        "color": config.model.color.mode,
        "normals": config.model.color_normals,
        "seconds": seconds,
        "cpu_s": cpu_seconds,
        "train_s": m["timing"]["train_seconds_total"],
        "threads": m["timing"]["threads"],
        "load": f"{load_before:.1f}/{os.getloadavg()[0]:.1f}",
        "psnr": m.get("heldout_psnr"),
        "ssim": m.get("heldout", {}).get("ssim_masked", m.get("heldout", {}).get("ssim")),
        "watertight": m["mesh_stats"]["watertight"],
        "components": m["mesh_stats"]["components"],
    }
    if "mesh" in m:
        row.update(
            chamfer_pct=m["mesh"]["chamfer_pct_diagonal"],
            fscore=m["mesh"]["fscore"],
            normal_err_deg=m["mesh"]["normal_error_deg"],
        )
    if name == "sfm":
        row.update(sfm_alignment(run, work / "captures" / f"spot_{args.views}_{args.res}"))
    (run / "bench_row.json").write_text(json.dumps(row, indent=2))
    return row


def sfm_alignment(run: Path, capture: Path) -> dict:
    """Chamfer of an SfM-frame mesh after a similarity alignment of the SfM cameras to the true ones."""
    import numpy as np

    from fields3d.data import load_scene
    from fields3d.io.mesh import read_mesh
    from fields3d.metrics.trajectory import umeyama
    from fields3d.recon.evaluation import mesh_metrics

    est = load_scene(run / "sfm")
    truth = load_scene(capture)
    by_name = {p.name: i for i, p in enumerate(truth.image_paths)}
    idx = [by_name[p.name] for p in est.image_paths]
    sim = umeyama(est.cameras.centers.double().numpy(), truth.cameras.centers[idx].double().numpy())
    mesh = read_mesh(run / "mesh.ply")
    mesh.vertices = sim.apply_points(np.asarray(mesh.vertices))
    m = mesh_metrics(mesh, read_mesh(capture / "mesh_gt.ply"))
    return {
        "registered": len(est),
        "chamfer_pct": m["chamfer_pct_diagonal"],
        "fscore": m["fscore"],
        "normal_err_deg": m["normal_error_deg"],
    }


def print_table(rows: list[dict]) -> None:
    cols = [
        "case",
        "preset",
        "color",
        "seconds",
        "cpu_s",
        "train_s",
        "threads",
        "load",
        "chamfer_pct",
        "fscore",
        "normal_err_deg",
        "psnr",
        "ssim",
        "watertight",
        "components",
        "registered",
        "error",
    ]
    cols = [c for c in cols if any(c in r for r in rows)]

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
        return "" if v is None else str(v)

    table = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    print(" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for t in table:
        print(" | ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["spot"],
        choices=[
            "spot",
            "glossy-blended",
            "glossy-view",
            "sfm",
            "dtu",
            "ethiopian",
            "lego",
            "fox",
            "gpu-synthetic",
        ],
    )
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench_reconstruct"))
    parser.add_argument("--preset", default="fast", choices=["fast", "default", "quality"])
    parser.add_argument("--steps", type=int, default=0, help="override the preset's steps (0: keep)")
    parser.add_argument("--color-normals", choices=["predicted", "gradient"], default=None,
                        help="override the normals the colour branches see")
    parser.add_argument("--tag", default="", help="suffix of the run folders")
    parser.add_argument("--views", type=int, default=48)
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="0: the idle cores")
    parser.add_argument("--keep", action="store_true", help="do not delete an earlier run folder of a case")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    rows = []
    for case in args.cases:
        print(f"=== {case} (load average {os.getloadavg()[0]:.2f})", flush=True)
        try:
            rows.append(run_case(case, args))
        except Exception as e:  # report (with the traceback) and go on with the other cases
            traceback.print_exc()
            rows.append({"case": case, "error": f"{e.__class__.__name__}: {e}"})
        print(json.dumps(rows[-1]), flush=True)
    print()
    print_table(rows)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
