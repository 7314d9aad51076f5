"""Tri-plane fitting throughput (shapes per minute at 600 steps) and fit quality (median Chamfer).

    python eval/bench_triplane_fit.py [--device cpu|cuda] [--threads 1 2] [--batch 32] [--points 2048 1024]
                                      [--shapes 32] [--steps 600] [--json out.json]

Shapes: seeded procedural shapes (all classes in turn, fields3d.triplane.procedural_shapes), SDF
supervision, 3 x 16 x 32 x 32 planes with per-object decoders (the defaults of `fields3d triplane fit`).
For each setting it times, separately:
- prepare: mesh -> normalised supervision (open3d on CPU; the PyTorch twin where open3d is missing);
- fit: the batched optimisation of ``--batch`` objects for ``--steps`` steps;
- quality: decode every field with extract_mesh (64^3) + Chamfer to the source (10k samples) + IoU.
CPU times are process CPU seconds (robust on a shared machine; with 2 threads they add up both
threads, so the wall column shows the parallel speed-up when the machine is idle); CUDA times are wall
seconds after synchronisation. "fit shapes/min" = 60 * batch / fit seconds; "all shapes/min" includes
prepare and quality (one process).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


class Clock:
    def __init__(self, device: str):
        self.device = device

    def __enter__(self):
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.cpu = time.process_time() - self.cpu
        self.wall = time.perf_counter() - self.wall

    @property
    def seconds(self) -> float:
        return self.wall if self.device == "cuda" else self.cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument(
        "--batch", type=int, default=None, help="objects per batch (default 32 on CPU, 256 on CUDA)"
    )
    ap.add_argument("--shapes", type=int, default=None, help="shapes to fit (default: one batch)")
    ap.add_argument("--points", type=int, nargs="*", default=[2048])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from fields3d.geometry.similarity import Similarity  # noqa: F401
    from fields3d.triplane.field_batch import TriplaneFieldConfig
    from fields3d.triplane.fit_dataset import DatasetFitConfig, ObjectPlan, prepare_object
    from fields3d.triplane.fit_quality import fit_quality, median_or_none
    from fields3d.triplane.fitting import FitConfig, fit_fields
    from fields3d.triplane.normalization import CopySpec
    from fields3d.triplane.procedural_shapes import CLASSES, generate_shape
    from fields3d.triplane.shapes import Shape
    from fields3d.triplane.sources import ShapeSource

    batch = args.batch or (256 if args.device == "cuda" else 32)
    n_shapes = args.shapes or batch
    classes = sorted(CLASSES)
    meshes = [generate_shape(classes[i % len(classes)], 1000 + i) for i in range(n_shapes)]
    rows = []
    threads_list = args.threads if args.device == "cpu" else [torch.get_num_threads()]
    for threads in threads_list:
        torch.set_num_threads(threads)
        for points in args.points:
            config = DatasetFitConfig(
                planes=TriplaneFieldConfig(), fit=FitConfig(steps=args.steps, points_per_step=points)
            )
            prep_s = fit_s = fit_wall = q_s = 0.0
            chamfers, ious = [], []
            for start in range(0, n_shapes, batch):
                chunk = meshes[start : start + batch]
                with Clock("cpu") as c:
                    prepared = [
                        prepare_object(
                            ObjectPlan(
                                start + j,
                                start + j,
                                ShapeSource(Path(f"shape_{start + j}")),
                                CopySpec(0, np.eye(3), 1.0),
                                "train",
                                -1,
                            ),
                            config,
                            Shape(m.vertices, m.faces, "closed-mesh"),
                            None,
                            args.device,
                        )
                        for j, m in enumerate(chunk)
                    ]
                prep_s += c.cpu
                pts = torch.from_numpy(np.stack([p.points for p in prepared])).to(args.device)
                vals = torch.from_numpy(np.stack([p.values for p in prepared])).to(args.device)
                with Clock(args.device) as c:
                    res = fit_fields(
                        pts, vals, "sdf", config.planes, config.fit, list(range(start, start + len(chunk)))
                    )
                fit_s += c.seconds
                fit_wall += c.wall
                with Clock("cpu") as c:
                    for j, p in enumerate(prepared):
                        q = fit_quality(
                            res.fields.object_field(j),
                            "sdf",
                            p.distance,
                            config.quality,
                            np.random.default_rng(j),
                        )
                        chamfers.append(q["chamfer"])
                        ious.append(q["iou"])
                q_s += c.cpu
            row = {
                "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
                "threads": threads,
                "batch": batch,
                "points_per_step": points,
                "steps": args.steps,
                "shapes": n_shapes,
                "fit_seconds": fit_s,
                "fit_wall_seconds": fit_wall,
                "fit_shapes_per_min": 60.0 * n_shapes / fit_s,
                "prepare_s_per_shape": prep_s / n_shapes,
                "quality_s_per_shape": q_s / n_shapes,
                "all_shapes_per_min": 60.0 * n_shapes / (fit_s + prep_s + q_s),
                "median_chamfer": median_or_none(chamfers),
                "median_iou": median_or_none(ious),
            }
            rows.append(row)
            print(
                f"done: threads {threads}, points {points}: {row['fit_shapes_per_min']:.1f} shapes/min (fit)",
                flush=True,
            )
    print()
    print(
        f"{'device':<24} {'thr':>3} {'batch':>5} {'pts/step':>8} {'fit s':>8} {'wall s':>8} {'fit/min':>8} "
        f"{'prep s':>7} {'qual s':>7} {'all/min':>8} {'chamfer':>8} {'IoU':>6}"
    )
    for r in rows:
        print(
            f"{r['device'][:24]:<24} {r['threads']:>3} {r['batch']:>5} {r['points_per_step']:>8} "
            f"{r['fit_seconds']:>8.1f} "
            f"{r['fit_wall_seconds']:>8.1f} {r['fit_shapes_per_min']:>8.1f} {r['prepare_s_per_shape']:>7.2f} "
            f"{r['quality_s_per_shape']:>7.2f} {r['all_shapes_per_min']:>8.1f} {r['median_chamfer']:>8.4f} "
            f"{r['median_iou']:>6.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
