"""Benchmarks of mesh extraction (marching cubes / tetrahedra), by section; prints Markdown tables.

    python eval/bench_extract.py                                  # marching cubes, 128 256 512, CPU
    python eval/bench_extract.py --threads 1 --clock process      # steadier on a shared machine
    python eval/bench_extract.py --memory --resolutions 512       # + peak memory (one process per row)
    python eval/bench_extract.py --device cuda --resolutions 128 256 512 1024   # on a GPU machine

Sections (``--sections``): ``marching_cubes`` (this file's first section).  Another section (e.g.
rasterization) is a function ``bench_<name>(args) -> None`` registered in ``SECTIONS``.

Marching cubes scene: a sphere signed distance (radius 0.8 in [-1, 1]^3, centre off the grid's
symmetry) as a ``torch.nn.Module`` with a learnable radius and centre; ``resolution`` is grid points per
axis (512 = the 512^3 grid scikit-image would be given).  Rows:

* ``skimage (eval + mc)``: the field sampled on the dense grid, then scikit-image marching cubes;
  the baseline for a callable field.  ``skimage (mc only)``: scikit-image on a precomputed grid.
* ``torch dense grid``: ``extract_mesh(grid_tensor, ...)`` on the same precomputed grid (block
  culling + table-driven marching); ``fwd+bwd`` adds the exact gradient to the grid values through a
  loss on the vertices.
* ``torch sparse``: ``extract_mesh(field, ...)``, the default path for a callable (coarse-to-fine
  narrow band); ``fwd+bwd`` adds DeepMesh and the backward of a loss on the vertices to the
  field's parameters.  ``torch sparse, tetrahedra``: the same with ``method="tetrahedra"``.

``fwd`` is ``differentiable=False``; ``fwd+bwd`` is a differentiable extraction, the loss and its
backward.  Times are medians of ``--repeats`` runs after one warm-up (CUDA: synchronised).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from fields3d.extract import extract_mesh

CLOCKS = {"wall": time.perf_counter, "process": time.process_time}
clock = time.perf_counter
AABB = [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]


def timed(fn, repeats: int, device: torch.device) -> tuple[float, object]:
    """Median seconds of ``fn()`` over ``repeats`` runs after a warm-up, and its last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = clock()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - start)
    return statistics.median(times), result


# ---------------------------------------------------------------------------------------------------
# section: marching cubes
# ---------------------------------------------------------------------------------------------------


class SphereField(torch.nn.Module):
    """f(x) = |x - c| - r with learnable r and c: (N, 3) -> (N,)."""

    def __init__(self, radius: float = 0.8, center=(0.013, -0.021, 0.007)):
        super().__init__()
        self.radius = torch.nn.Parameter(torch.tensor(radius))
        self.center = torch.nn.Parameter(torch.tensor(center))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.center).norm(dim=-1) - self.radius


def dense_grid(field: SphereField, resolution: int, device: torch.device) -> torch.Tensor:
    """The field sampled on the full (resolution,)*3 grid, slab by slab (float32)."""
    ax = torch.linspace(-1, 1, resolution, device=device)
    out = torch.empty((resolution,) * 3, device=device)
    with torch.no_grad():
        for i in range(resolution):
            pts = torch.stack(torch.broadcast_tensors(ax[i], ax[:, None], ax[None, :]), dim=-1).reshape(-1, 3)
            out[i] = field(pts).reshape(resolution, resolution)
    return out


def vertex_loss(vertices: torch.Tensor) -> torch.Tensor:
    return (vertices.norm(dim=1) - 0.75).pow(2).mean()


def marching_cubes_cases(resolution: int, device: torch.device) -> dict:
    """name -> (forward fn or None, forward+backward fn or None); built lazily per resolution."""
    field = SphereField().to(device)
    cases = {}
    grid_cache: dict[str, torch.Tensor] = {}

    def grid() -> torch.Tensor:
        if "g" not in grid_cache:
            grid_cache["g"] = dense_grid(field, resolution, device)
        return grid_cache["g"]

    if device.type == "cpu":

        def skimage_full():
            return extract_mesh(field, AABB, resolution, backend="skimage", differentiable=False)

        def skimage_mc():
            return extract_mesh(grid(), AABB, backend="skimage", differentiable=False)

        cases["skimage (eval + mc)"] = (skimage_full, None)
        cases["skimage (mc only)"] = (skimage_mc, None)

    def dense_fwd():
        return extract_mesh(grid(), AABB, differentiable=False)

    def dense_bwd():
        values = grid().clone().requires_grad_(True)
        mesh = extract_mesh(values, AABB)
        vertex_loss(mesh.vertices).backward()
        return mesh

    def sparse(method: str):
        def fwd():
            return extract_mesh(field, AABB, resolution, method=method, differentiable=False)

        def bwd():
            field.zero_grad()
            mesh = extract_mesh(field, AABB, resolution, method=method)
            vertex_loss(mesh.vertices).backward()
            return mesh

        return fwd, bwd

    cases["torch dense grid"] = (dense_fwd, dense_bwd)
    cases["torch sparse"] = sparse("cubes")
    cases["torch sparse, tetrahedra"] = sparse("tetrahedra")
    return cases


def marching_cubes_row(name: str, resolution: int, device: torch.device, repeats: int, grads: bool) -> dict:
    fwd, bwd = marching_cubes_cases(resolution, device)[name]
    row = {"case": name, "resolution": resolution, "device": str(device)}
    seconds, mesh = timed(fwd, repeats, device)
    row.update(fwd_ms=1e3 * seconds, vertices=mesh.num_vertices, faces=mesh.num_faces)
    if grads and bwd is not None:
        row["fwd_bwd_ms"] = 1e3 * timed(bwd, repeats, device)[0]
    return row


def peak_memory_row(name: str, resolution: int, args) -> dict:
    """Run one row in a fresh process and read its peak resident memory (CPU) or CUDA allocation."""
    cmd = [
        sys.executable,
        __file__,
        "--_single",
        name,
        "--resolutions",
        str(resolution),
        "--repeats",
        "1",
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _single(args) -> None:
    device = torch.device(args.device)
    name, resolution = args._single, args.resolutions[0]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    row = marching_cubes_row(name, resolution, device, 1, grads=not args.no_grads)
    if device.type == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    else:
        row["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps(row))


def bench_marching_cubes(args) -> None:
    device = torch.device(args.device)
    rows = []
    for resolution in args.resolutions:
        names = list(marching_cubes_cases(resolution, device))
        if args.cases:
            names = [n for n in names if n in args.cases]
        for name in names:
            if args.memory:
                row = peak_memory_row(name, resolution, args)
            else:
                row = marching_cubes_row(name, resolution, device, args.repeats, grads=not args.no_grads)
            rows.append(row)
            print(f"  {resolution}^3 {name}: {row}", file=sys.stderr)
    print(f"\n### Marching cubes ({device}, {torch.get_num_threads()} threads, {args.clock} clock)\n")
    head = "| resolution | case | fwd ms | fwd+bwd ms | vertices | faces |" + (
        " peak GiB |" if args.memory else ""
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        bwd = f"{r['fwd_bwd_ms']:.0f}" if "fwd_bwd_ms" in r else "-"
        size = f"{r['vertices']} | {r['faces']}"
        line = f"| {r['resolution']}^3 | {r['case']} | {r['fwd_ms']:.0f} | {bwd} | {size} |"
        if args.memory:
            line += f" {r['peak_gib']:.2f} |"
        print(line)


SECTIONS = {"marching_cubes": bench_marching_cubes}
"""Benchmark sections: name -> function(args).  Add e.g. ``"rasterization": bench_rasterization``."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--resolutions", nargs="+", type=int, default=[128, 256, 512])
    parser.add_argument("--cases", nargs="*", default=None, help="only these marching cubes rows (by name)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall")
    parser.add_argument("--no-grads", action="store_true", help="skip the fwd+bwd columns")
    parser.add_argument("--memory", action="store_true", help="peak memory per row (one process per row)")
    parser.add_argument("--_single", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._single:
        _single(args)
        return
    for name in args.sections:
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
