"""Rasterization timings by image size and face count; prints a Markdown table.

    python eval/bench_raster.py                          # cpu backend (z-buffer and open3d visibility)
    python eval/bench_raster.py --backends nvdiffrast cpu --device cuda   # on a GPU machine

Scene: an icosphere of radius 1 (subdivisions 3 / 5 / 6 = 1,280 / 20,480 / 81,920 faces) seen by N
cameras on a circle at distance 3 (45 degree field of view).  Columns:

* ``raster``: ``Rasterizer.rasterize`` (visibility + differentiable barycentrics and depth);
* ``+interp+cov``: that plus ``interpolate`` of vertex positions and the antialiased ``coverage``;
* ``fwd+bwd``: that plus backward of a loss on both (gradients to the vertex positions).

Times are medians over ``--repeats`` runs after one warm-up (CUDA: synchronised wall time).  On a
shared machine use ``--threads 1 --clock process``: process CPU time is little affected by other
work on the cores (it sums all threads of this process, open3d's included).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from fields3d.cameras import Cameras
from fields3d.render.rasterize import Rasterizer, RasterizerConfig, coverage, interpolate


def orbit(n: int, size: int, device) -> Cameras:
    poses = []
    for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
        eye = np.array([3 * np.cos(a), 1.2, 3 * np.sin(a)])
        z = -eye / np.linalg.norm(eye)
        x = np.cross(z, [0.0, -1.0, 0.0])
        x /= np.linalg.norm(x)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, np.cross(z, x), z, eye
        poses.append(pose)
    return Cameras.from_fov(np.radians(45), size, size, np.stack(poses)).to(device)


CLOCKS = {"wall": time.perf_counter, "process": time.process_time}
clock = time.perf_counter


def timed(fn, repeats: int, device) -> float:
    fn()  # warm-up (and nvdiffrast's plugin build)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - start)
    return statistics.median(times)


def bench(config: RasterizerConfig, verts, faces, cams, repeats: int) -> tuple[float, float, float]:
    rasterizer = Rasterizer(config)
    device = verts.device

    def raster():
        with torch.no_grad():
            rasterizer.rasterize(verts, faces, cams)

    def forward():
        with torch.no_grad():
            out = rasterizer.rasterize(verts, faces, cams)
            interpolate(verts, out)
            coverage(out)

    def forward_backward():
        v = verts.detach().requires_grad_()
        out = rasterizer.rasterize(v, faces, cams)
        loss = interpolate(v, out).square().mean() + coverage(out).mean()
        loss.backward()

    return tuple(timed(fn, repeats, device) for fn in (raster, forward, forward_backward))


def table(args) -> None:
    """Print the table for ``args`` (backends, visibility, sizes, subdivisions, views, repeats, device)."""
    import trimesh

    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"\n### Rasterization ({device} ({name}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads, {args.views} views, median of {args.repeats}, "
        f"{getattr(args, 'clock', 'wall')} clock)\n"
    )
    print("| backend | visibility | image | faces | raster | +interp+cov | fwd+bwd |")
    print("|---|---|---|---|---|---|---|")
    for sub in args.subdivisions:
        mesh = trimesh.creation.icosphere(subdivisions=sub)
        verts = torch.tensor(mesh.vertices, dtype=torch.float32, device=device)
        faces = torch.tensor(mesh.faces, dtype=torch.long, device=device)
        for size in args.sizes:
            cams = orbit(args.views, size, device)
            for backend in args.backends:
                modes = args.visibility if backend == "cpu" else ["-"]
                for vis in modes:
                    if vis == "open3d" and device.type != "cpu":
                        continue
                    config = RasterizerConfig(
                        backend=backend, cpu_visibility=vis if vis != "-" else "zbuffer"
                    )
                    t = bench(config, verts, faces, cams, args.repeats)
                    print(
                        f"| {backend} | {vis} | {size}² | {len(faces):,} | "
                        + " | ".join(f"{1000 * x:.1f} ms" for x in t)
                        + " |",
                        flush=True,
                    )


def bench_rasterization(args) -> None:
    """A section for ``eval/bench_extract.py``'s ``SECTIONS`` registry: the default table on
    ``args.device`` with ``args.repeats`` and ``args.clock``.  Register it there with
    ``from bench_raster import bench_rasterization`` and
    ``SECTIONS["rasterization"] = bench_rasterization``."""
    global clock
    clock = CLOCKS[getattr(args, "clock", "wall")]
    cuda = torch.device(args.device).type == "cuda"
    defaults = argparse.Namespace(
        backends=["nvdiffrast", "cpu"] if cuda else ["cpu"],
        visibility=["zbuffer"] if cuda else ["zbuffer", "open3d"],
        sizes=[64, 128, 256],
        subdivisions=[3, 5, 6],
        views=8,
        repeats=args.repeats,
        device=args.device,
        clock=getattr(args, "clock", "wall"),
    )
    table(defaults)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["cpu"], choices=["cpu", "nvdiffrast"])
    parser.add_argument(
        "--visibility", nargs="+", default=["zbuffer", "open3d"], choices=["zbuffer", "open3d"]
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--subdivisions", nargs="+", type=int, default=[3, 5, 6])
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall", help="wall time or process CPU time"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    global clock
    clock = CLOCKS[args.clock]
    table(args)


if __name__ == "__main__":
    main()
