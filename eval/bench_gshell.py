"""G-Shell benchmark: mesh fitting, multi-view reconstruction against the watertight baseline, runtime.

Sections (``--sections``; each prints a table):

* ``fit``          ``gshell fit`` of the SNUG garments and planexy at ``--fit-resolutions`` (default 64 128):
                   Chamfer in % of the bounding-box diagonal (``fields3d.metrics.mesh_distances``, 100k
                   samples), boundary loops of the result against the source's, components, process CPU time.
* ``reconstruct``  ``fields3d synth`` captures (48 views, 128^2) of the three garments, reconstructed with
                   G-Shell and with the watertight SDF-only baseline (``--methods``, ``--preset``,
                   ``--steps``, ``--resolution``, ``--seeds``, ``--override``): Chamfer against mesh_gt,
                   F-score, boundary loops of the exported mesh (``loops_raw``: before the cut
                   post-processing of small holes and thin strips), held-out PSNR, time.
* ``runtime``      one training step (extraction + 4 views rasterized + losses + backward) and the
                   extraction alone, on a dense grid of a sphere-like shell at ``--runtime-resolutions``
                   (CPU: 32 64; CUDA: 128 256), medians of ``--repeats``.

Usage::

    python eval/bench_gshell.py --sections fit
    python eval/bench_gshell.py --sections reconstruct --out runs/bench_gshell            # CPU, fast preset
    python eval/bench_gshell.py --sections runtime reconstruct --preset default --out runs/gshell_gpu  # GPU

The CPU is shared on development machines: process CPU time is reported next to wall time, and the load
average before each case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FIELDS3D_SHARED_DATA", ROOT.parent / "shared" / "data"))
GARMENTS = ("tshirt", "pants", "shorts")


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


# --------------------------------------------------------------------------------------------------
def bench_fit(args) -> list[dict]:
    from fields3d.io.mesh import read_mesh
    from fields3d.recon.gshell_fit import GShellFitConfig, fit_mesh

    meshes = {g: SHARED / "garments_snug" / f"{g}.obj" for g in GARMENTS}
    meshes["planexy"] = SHARED / "reference_meshes" / "planexy.off"
    rows = []
    for name, path in meshes.items():
        if not path.is_file():
            print(f"skipping {name}: {path} not found")
            continue
        source = read_mesh(path)
        for res in args.fit_resolutions:
            load = _load()
            config = GShellFitConfig(resolution=res, steps=args.fit_steps, device=args.device)
            t0, c0 = time.perf_counter(), time.process_time()
            result = fit_mesh(source.vertices, source.faces, config, progress=False, log=None)
            m = result.metrics
            rows.append(
                {
                    "mesh": name,
                    "grid": res,
                    "steps": args.fit_steps,
                    "chamfer_%diag": m["chamfer_pct_diagonal"],
                    "init_chamfer_%diag": m["initial"]["chamfer_pct_diagonal"],
                    "fscore": m["fscore"],
                    "loops": m["boundary_loops"],
                    "source_loops": m["source_boundary_loops"],
                    "components": m["components"],
                    "faces": m["faces"],
                    "tets": m["grid"]["tets"],
                    "wall_s": time.perf_counter() - t0,
                    "cpu_s": time.process_time() - c0,
                    "load": load,
                }
            )
            print(json.dumps(rows[-1]))
    print("\n## gshell fit")
    _table(rows, list(rows[0]) if rows else [])
    return rows


# --------------------------------------------------------------------------------------------------
def _capture(name: str, out: Path) -> Path:
    from fields3d.data.synthetic import SynthConfig, render_capture

    folder = out / "captures" / name
    if not (folder / "transforms.json").is_file():
        mesh = SHARED / "garments_snug" / f"{name}.obj"
        render_capture(mesh, folder, SynthConfig(views=48), progress=False)
    return folder


def bench_reconstruct(args) -> list[dict]:
    from fields3d.cli.overrides import apply_overrides
    from fields3d.data import load_scene
    from fields3d.recon.gshell_reconstruct import gshell_config, reconstruct_gshell

    out = Path(args.out)
    rows = []
    for name in args.garments:
        capture = _capture(name, out)
        scene = load_scene(capture)
        for method, seed in [(m, s) for s in args.seeds for m in args.methods]:
            watertight = method == "watertight"
            load = _load()
            config = gshell_config(
                args.preset,
                watertight=watertight,
                steps=args.steps,
                resolution=args.resolution,
                device=args.device,
                threads=args.threads,
                seed=seed,
            )
            apply_overrides(config, args.override)
            t0, c0 = time.perf_counter(), time.process_time()
            run = out / (f"{name}_{method}" + (f"_seed{seed}" if seed else ""))
            result = reconstruct_gshell(scene, run, config, progress=False, log=None)
            m = result.metrics
            rows.append(
                {
                    "garment": name,
                    "method": method,
                    "seed": seed,
                    "grid": config.grid.resolution,
                    "steps": config.steps,
                    "chamfer_%diag": m.get("chamfer_pct_diagonal"),
                    "accuracy": m["mesh"]["accuracy"],
                    "completeness": m["mesh"]["completeness"],
                    "fscore": m.get("fscore"),
                    "loops": m["boundary_loops"],
                    "loops_raw": m.get("topology", {}).get("loops_before"),
                    "gt_loops": m.get("gt_boundary_loops"),
                    "openings_matched": m.get("gt_openings_matched"),
                    "watertight": m["mesh_stats"]["watertight"],
                    "psnr": m.get("heldout_psnr"),
                    "mask_iou": m.get("heldout_mask_iou"),
                    "s/step": m["timing"]["seconds_per_step"],
                    "wall_s": time.perf_counter() - t0,
                    "cpu_s": time.process_time() - c0,
                    "device": m["timing"]["device"],
                    "load": load,
                }
            )
            print(json.dumps(rows[-1]))
    print("\n## reconstruct: G-Shell vs the watertight (SDF-only) baseline")
    _table(rows, list(rows[0]) if rows else [])
    return rows


# --------------------------------------------------------------------------------------------------
def bench_runtime(args) -> list[dict]:
    import numpy as np
    import torch

    from fields3d.cameras import Cameras
    from fields3d.data.synthetic import look_at, sphere_directions
    from fields3d.fields.gshell_appearance import GShellAppearance
    from fields3d.fields.gshell_grid import GShellGrid, GShellGridConfig, cubic_grid
    from fields3d.recon.gshell_reconstruct import render_views
    from fields3d.render import Rasterizer

    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device if args.device != "auto" else auto)
    resolutions = args.runtime_resolutions or ([128, 256] if device.type == "cuda" else [32, 64])
    poses = np.stack([look_at(3.0 * d, np.zeros(3), np.array([0, 1.0, 0])) for d in sphere_directions(4)])
    cams = Cameras.from_fov(np.radians(40), args.image_size, args.image_size, poses).to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    rows = []
    for res in resolutions:
        grid = cubic_grid([[-1, -1, -1], [1, 1, 1]], res)
        shell = GShellGrid(grid, GShellGridConfig(resolution=res, deform=True)).to(device)
        with torch.no_grad():
            p = shell.base_points
            shell.sdf.copy_(p.norm(dim=1) - 0.6 - 0.05 * torch.sin(8 * p[:, 0]))
            shell.msdf.copy_(0.3 - p[:, 1])
        appearance = GShellAppearance(torch.tensor(grid.aabb)).to(device)
        raster = Rasterizer()
        extract_t, step_t = [], []
        faces = 0
        for _ in range(args.repeats + 1):
            sync()
            t0 = time.perf_counter()
            with torch.no_grad():
                mesh = shell.extract()
            sync()
            extract_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            mesh = shell.extract()
            out = render_views(mesh, appearance, cams, torch.zeros(3, device=device), raster)
            loss = out["rgb"].mean() + out["coverage"].mean() + out["msdf"].clamp_min(0).mean()
            loss = loss + shell.eikonal()
            loss.backward()
            sync()
            step_t.append(time.perf_counter() - t0)
            faces = mesh.num_faces
        rows.append(
            {
                "device": str(device),
                "grid": res,
                "points": shell.num_points,
                "tets": int(shell.tets.shape[0]),
                "faces": faces,
                "views": len(cams),
                "image": args.image_size,
                "extract_ms": 1e3 * statistics.median(extract_t[1:]),
                "train_step_ms": 1e3 * statistics.median(step_t[1:]),
                "backend": out["raster"].backend,
                "load": _load(),
            }
        )
        print(json.dumps(rows[-1]))
    print("\n## runtime (medians)")
    _table(rows, list(rows[0]))
    return rows


SECTIONS = {"fit": bench_fit, "reconstruct": bench_reconstruct, "runtime": bench_runtime}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["fit"], choices=list(SECTIONS))
    parser.add_argument("--out", default="runs/bench_gshell", help="captures and run folders")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fit-resolutions", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--fit-steps", type=int, default=50)
    parser.add_argument("--garments", nargs="+", default=list(GARMENTS), choices=list(GARMENTS))
    parser.add_argument(
        "--methods", nargs="+", default=["gshell", "watertight"], choices=["gshell", "watertight"]
    )
    parser.add_argument("--preset", default="fast", choices=["fast", "default", "quality"])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="reconstruct: one run per seed")
    parser.add_argument(
        "--override", nargs="*", default=[], help="reconstruct: KEY=VALUE overrides (fields3d reconstruct)"
    )
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--runtime-resolutions", type=int, nargs="*", default=None)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="write all rows to this file")
    args = parser.parse_args()
    if args.device == "cpu" or args.device == "auto":
        import torch

        if not torch.cuda.is_available():
            torch.set_num_threads(args.threads)
    results = {name: SECTIONS[name](args) for name in args.sections}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
