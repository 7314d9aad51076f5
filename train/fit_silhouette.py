"""Fit a neural SDF (hash grid + small MLP) to the multi-view silhouettes of a mesh, on the CPU.

The field only sees silhouettes: every step extracts its zero level set with differentiable marching
cubes (DeepMesh gradients), rasterizes it into a few views, and compares the antialiased coverage with
the reference mesh's; the gradient flows back through the rasterizer and the extraction into the hash
grid and the MLP.  It starts as a sphere and ends near the visual hull of the views.  See
:mod:`fields3d.extract.silhouette_fit`.

    python train/fit_silhouette.py --mesh ../shared/data/reference_meshes/spot.obj --out runs/spot_silhouette
    python train/fit_silhouette.py --mesh capsule --out runs/capsule --steps 120 --res 32 --image-size 48

``--mesh capsule`` fits a capsule generated in code (no data needed).  Outputs in ``--out``:

* ``mesh.ply`` — the fitted mesh (reference units), ``initial_mesh.ply`` — the initial sphere;
* ``silhouettes.png`` — rows: target silhouettes, fitted silhouettes, their difference (red: target
  pixels the fit misses, green: extra pixels of the fit), for a few views;
* ``metrics.json`` — Chamfer distance before/after (reference units and % of the bbox diagonal), ratio,
  CPU seconds; ``config.json`` — the full configuration; ``history.json`` — losses per step.

Measured with the defaults (400 steps, 40^3 grid, 4 of 32 views at 64^2 per step), one thread
(``OMP_NUM_THREADS=1``); Chamfer in % of the reference's bounding-box diagonal (20k samples per mesh;
"floor" = the reference against an independent sampling of itself); CPU = process time of the fit:

| mesh                          | initial sphere | fit   | lower | floor | CPU s |
|-------------------------------|---------------:|------:|------:|------:|------:|
| spot.obj                      | 8.74           | 0.40  | 22x   | 0.32  | 56    |
| cow.obj                       | 10.91          | 0.57  | 19x   | 0.29  | 49    |
| box 1.6 x 1.0 x 0.6 (trimesh) | 7.14           | 0.74  | 9.6x  | 0.45  | 53    |
| fandisk.obj (concave CAD)     | 8.21           | 0.97  | 8.4x  | 0.36  | 50    |
| cow.obj, --res 56 --image-size 96 --steps 600 | 10.88 | 0.40 | 27x | 0.29 | 149 |

Silhouettes constrain the visual hull only: concavities (fandisk) stay filled, and parts thinner than
about one grid cell (the cow's legs and horns at 40^3) are not grown from the sphere; a finer grid and
larger images recover them (last row).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path


def capsule_mesh():
    """A capsule along x (length 1.9, radius 0.35) as (V, 3) vertices and (F, 3) faces."""
    import numpy as np
    import trimesh

    mesh = trimesh.creation.capsule(height=1.2, radius=0.35, count=[24, 24])
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    return mesh.vertices, mesh.faces


def parse_args(argv=None) -> argparse.Namespace:
    from fields3d.extract.silhouette_fit import SilhouetteFitConfig

    d = SilhouetteFitConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mesh", required=True, help="reference mesh file (.obj/.ply/.off/...), or 'capsule'")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--steps", type=int, default=d.steps, help="optimisation steps")
    p.add_argument("--views", type=int, default=d.num_views, help="fixed views around the object")
    p.add_argument("--views-per-step", type=int, default=d.views_per_step, help="random views per step")
    p.add_argument("--res", type=int, default=d.resolution, help="marching-cubes points per axis")
    p.add_argument("--image-size", type=int, default=d.image_size, help="silhouette width = height, px")
    p.add_argument("--lr", type=float, default=d.lr, help="hash-grid learning rate (MLP: x mlp_lr_scale)")
    p.add_argument("--eikonal-weight", type=float, default=d.eikonal_weight, help="eikonal loss weight")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--preview-views", type=int, default=6, help="views shown in silhouettes.png")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import torch

    from fields3d.errors import InputError
    from fields3d.extract.silhouette_fit import (
        SilhouetteFitConfig,
        fit_sdf_to_silhouettes,
        render_silhouettes,
    )
    from fields3d.io.atomic import write_json
    from fields3d.io.images import write_image
    from fields3d.io.mesh import read_mesh, write_mesh
    from fields3d.io.report import image_grid

    try:
        if args.mesh == "capsule":
            vertices, faces = capsule_mesh()
        else:
            mesh = read_mesh(args.mesh)
            vertices, faces = mesh.vertices, mesh.faces
        config = SilhouetteFitConfig(
            steps=args.steps,
            resolution=args.res,
            num_views=args.views,
            views_per_step=args.views_per_step,
            image_size=args.image_size,
            lr=args.lr,
            eikonal_weight=args.eikonal_weight,
            seed=args.seed,
        )
        config.validate()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {args.mesh}: {e}", file=sys.stderr)
        return 2

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"mesh": str(args.mesh), **dataclasses.asdict(config)})
    wall = time.perf_counter()
    result = fit_sdf_to_silhouettes(vertices, faces, config, progress=True, log=print)
    wall = time.perf_counter() - wall

    write_mesh(out / "mesh.ply", result.vertices, result.faces)
    write_mesh(out / "initial_mesh.ply", result.initial_vertices, result.initial_faces)
    views = np.linspace(0, config.num_views, min(args.preview_views, config.num_views), endpoint=False)
    views = torch.from_numpy(views.astype(np.int64))
    fitted = render_silhouettes(result, views).numpy()
    target = result.target[views].numpy()
    difference = np.stack([np.clip(target - fitted, 0, 1), np.clip(fitted - target, 0, 1), 0 * fitted], -1)
    zoom = max(1, -(-128 // config.image_size))  # nearest-neighbour upscaling to >= 128 px per view
    tiles = [t.repeat(zoom, 0).repeat(zoom, 1) for t in [*target, *fitted, *difference]]
    labels = [f"target {int(v)}" for v in views] + [f"fit {int(v)}" for v in views]
    labels += ["diff r:miss g:extra"] * len(views)
    write_image(out / "silhouettes.png", image_grid(tiles, columns=len(views), labels=labels))
    metrics = {"mesh": str(args.mesh), **result.summary(), "wall_seconds": wall, "steps": config.steps}
    write_json(out / "metrics.json", metrics)
    write_json(out / "history.json", result.history)
    before, after = metrics["chamfer_initial_pct_diagonal"], metrics["chamfer_final_pct_diagonal"]
    print(f"Chamfer {before:.2f}% -> {after:.2f}% of the bbox diagonal ({result.chamfer_ratio:.1f}x lower)")
    print(f"wrote {out / 'mesh.ply'}, {out / 'silhouettes.png'}, {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
