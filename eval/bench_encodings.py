"""Benchmark of the hash grid and tri-plane lookups on every available backend.

Prints a table of forward and forward+backward times (medians), throughput and peak memory at
2^16 .. 2^22 points (2^16 .. 2^20 on CPU) for the reference configuration of ../shared/GPU.md:
hash grid 16 levels x 2 features, table 2^19, resolution 16 .. 2048; tri-plane 3 x 32 x 256^2, sum.
The backward pass computes the parameter gradients (table / planes); ``--input-grad`` adds the
gradient with respect to the points.

    python eval/bench_encodings.py                    # CUDA if present, else CPU
    python eval/bench_encodings.py --device cpu --max-log2 18 --json out.json

GPU timings use CUDA events after a warm-up; CPU timings use perf_counter. Peak memory is
``torch.cuda.max_memory_allocated`` above the inputs on GPU, and the peak resident-set growth of the
process (sampled every 2 ms) on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from fields3d.ops import availability, extension  # noqa: E402
from fields3d.ops.hashgrid import HashGridLayout, hash_grid  # noqa: E402
from fields3d.ops.triplane import triplane_sample  # noqa: E402


@dataclass
class Row:
    op: str
    backend: str
    points: int
    forward_ms: float | None
    forward_backward_ms: float | None
    peak_mib: float | None
    note: str = ""


# ------------------------------------------------------------------------------------------------ timing


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak on GPU, sampled RSS growth on CPU (MiB)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0.0

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = _rss_bytes()
            self.high = self.base
            self.running = True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.high = max(self.high, _rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = (torch.cuda.max_memory_allocated() - self.base) / 2**20
        else:
            self.running = False
            self.thread.join()
            self.peak = (max(self.high, _rss_bytes()) - self.base) / 2**20


def median_ms(fn, device: torch.device, repeats: int, budget_s: float) -> float:
    """Median wall time of fn() in ms after one warm-up; stops early once budget_s is spent."""
    fn()
    times: list[float] = []
    spent = 0.0
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            ms = start.elapsed_time(end)
        else:
            t0 = time.perf_counter()
            fn()
            ms = (time.perf_counter() - t0) * 1e3
        times.append(ms)
        spent += ms / 1e3
        if spent > budget_s:
            break
    return statistics.median(times)


# ------------------------------------------------------------------------------------------------ cases


def hashgrid_case(backend: str, n: int, device: torch.device, input_grad: bool):
    layout = HashGridLayout.create(3, 16, 2, 19, 16, 2048)
    table = ((torch.rand(layout.n_entries, 2, device=device) * 2 - 1) * 1e-1).requires_grad_(True)
    x = torch.rand(n, 3, device=device, requires_grad=input_grad)
    grad = torch.randn(n, layout.out_dim, device=device)

    def forward():
        with torch.no_grad():
            hash_grid(x, table, layout, backend=backend)

    def forward_backward():
        table.grad = None
        x.grad = None
        hash_grid(x, table, layout, backend=backend).backward(grad)

    return forward, forward_backward


def grid_sample_x3(x: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
    """The baseline: three separate grid_sample calls (xy, xz, yz), summed."""
    g = x * 2 - 1
    out = 0
    for p, (a, b) in enumerate(((0, 1), (0, 2), (1, 2))):
        grid = torch.stack([g[:, a], g[:, b]], dim=-1)[None, None]  # (1, 1, N, 2)
        out = (
            out + F.grid_sample(planes[p : p + 1], grid, align_corners=True, padding_mode="border")[0, :, 0].T
        )
    return out


def triplane_case(backend: str, n: int, device: torch.device, input_grad: bool):
    planes = (torch.randn(3, 32, 256, 256, device=device) * 0.1).requires_grad_(True)
    if backend in (
        "cpp",
        "cuda",
    ):  # kernels read channel-last planes in place (as TriplaneEncoding stores them)
        planes = (
            (torch.randn(3, 256, 256, 32, device=device) * 0.1)
            .permute(0, 3, 1, 2)
            .detach()
            .requires_grad_(True)
        )
    x = torch.rand(n, 3, device=device, requires_grad=input_grad)
    grad = torch.randn(n, 32, device=device)

    def run():
        if backend == "grid_sample_x3":
            return grid_sample_x3(x, planes)
        return triplane_sample(x, planes, reduce="sum", backend=backend)

    def forward():
        with torch.no_grad():
            run()

    def forward_backward():
        planes.grad = None
        x.grad = None
        run().backward(grad)

    return forward, forward_backward


CASES = {"hashgrid": hashgrid_case, "triplane": triplane_case}


def cpu_peak_mib(op: str, backend: str, n: int, input_grad: bool) -> float | None:
    """Peak RSS growth of one forward+backward, in a fresh process whose allocator returns large
    blocks to the system when freed (so that the sampled RSS follows the allocations)."""
    import subprocess

    command = [sys.executable, __file__, "--device", "cpu", "--memory-cell", f"{op}:{backend}:{n}"]
    if input_grad:
        command.append("--input-grad")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"]


# ------------------------------------------------------------------------------------------------ main


def available_backends(op: str, device: torch.device) -> list[tuple[str, str]]:
    """(backend, note) for the op on the device, torch twin first."""
    kind = "cuda" if device.type == "cuda" else "cpu"
    kernel = "cuda" if device.type == "cuda" else "cpp"
    out = [("torch", "twin")]
    if op == "triplane":
        out.append(("grid_sample_x3", "baseline"))
    ok = extension.try_load(kind)
    if ok:
        out.append((kernel, "kernel"))
    else:
        print(f"# {op}: {kernel} unavailable: {ok.reason}", flush=True)
    if op == "hashgrid" and device.type == "cuda":
        tcnn = availability.tinycudann()
        if tcnn:
            out.append(("tcnn", "tinycudann"))
        else:
            print(f"# hashgrid: tcnn unavailable: {tcnn.reason}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--ops", default="hashgrid,triplane", help="comma-separated: hashgrid, triplane")
    parser.add_argument("--min-log2", type=int, default=16)
    parser.add_argument("--max-log2", type=int, default=None, help="default 22 on CUDA, 20 on CPU")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per cell (default 10 GPU, 3 CPU)"
    )
    parser.add_argument("--budget", type=float, default=None, help="seconds per cell before stopping early")
    parser.add_argument(
        "--skip-after", type=float, default=60.0, help="skip larger sizes of a backend slower than this (s)"
    )
    parser.add_argument("--input-grad", action="store_true", help="also differentiate w.r.t. the points")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--memory-cell", default=None, help=argparse.SUPPRESS)  # OP:BACKEND:N, internal
    args = parser.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else args.device)
    if args.device == "auto" and not torch.cuda.is_available():
        device = torch.device("cpu")
    gpu = device.type == "cuda"
    if args.memory_cell:
        op, backend, n = args.memory_cell.split(":")
        forward_backward = CASES[op](backend, int(n), device, args.input_grad)[1]
        with PeakMemory(device) as mem:
            forward_backward()
        print(json.dumps({"peak_mib": mem.peak}))
        return 0
    max_log2 = args.max_log2 if args.max_log2 is not None else (22 if gpu else 20)
    repeats = args.repeats or (10 if gpu else 3)
    budget = args.budget if args.budget is not None else (5.0 if gpu else 20.0)
    sizes = [1 << k for k in range(args.min_log2, max_log2 + 1)]
    name = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"# device: {name}; torch {torch.__version__}; input grad: {args.input_grad}", flush=True)

    cases = CASES
    rows: list[Row] = []
    for op in [o.strip() for o in args.ops.split(",") if o.strip()]:
        if op not in cases:
            parser.error(f"expected ops among {sorted(cases)}, got {op!r}")
        for backend, note in available_backends(op, device):
            too_slow = False
            for n in sizes:
                if too_slow:
                    rows.append(Row(op, backend, n, None, None, None, "skipped (slow)"))
                    continue
                torch.manual_seed(0)
                try:
                    forward, forward_backward = cases[op](backend, n, device, args.input_grad)
                    fwd = median_ms(forward, device, repeats, budget)
                    if gpu:
                        with PeakMemory(device) as mem:
                            forward_backward()
                        peak = mem.peak
                    else:
                        peak = cpu_peak_mib(op, backend, n, args.input_grad)
                    both = median_ms(forward_backward, device, repeats, budget)
                    rows.append(Row(op, backend, n, fwd, both, peak, note))
                    too_slow = both / 1e3 > args.skip_after
                except torch.OutOfMemoryError:
                    rows.append(Row(op, backend, n, None, None, None, "out of memory"))
                    too_slow = True
                    if gpu:
                        torch.cuda.empty_cache()
                r = rows[-1]
                print(
                    f"# {op} {backend} 2^{n.bit_length() - 1}: {r.forward_ms} / {r.forward_backward_ms} ms",
                    flush=True,
                )
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"device": name, "rows": [asdict(r) for r in rows]}, indent=2))
        print(f"wrote {args.json}")
    return 0


def print_table(rows: list[Row]) -> None:
    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    twin = {(r.op, r.points): r for r in rows if r.backend == "torch"}
    header = (
        f"{'op':<9} {'backend':<15} {'points':>8} {'fwd ms':>10} {'fwd+bwd ms':>11} "
        f"{'fwd Mpt/s':>10} {'f+b Mpt/s':>10} {'x twin':>7} {'peak MiB':>9}  note"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        ref = twin.get((r.op, r.points))
        speedup = (
            ref.forward_backward_ms / r.forward_backward_ms
            if ref and ref.forward_backward_ms and r.forward_backward_ms
            else None
        )
        fwd_rate = None if r.forward_ms is None else r.points / r.forward_ms / 1e3
        both_rate = None if r.forward_backward_ms is None else r.points / r.forward_backward_ms / 1e3
        size = "2^" + str(r.points.bit_length() - 1)
        print(
            f"{r.op:<9} {r.backend:<15} {size:>8} {fmt(r.forward_ms, '10.2f')} "
            f"{fmt(r.forward_backward_ms, '11.2f')} {fmt(fwd_rate, '10.3f')} {fmt(both_rate, '10.3f')} "
            f"{fmt(speedup, '7.1f')} {fmt(r.peak_mib, '9.0f')}  {r.note}"
        )


if __name__ == "__main__":
    sys.exit(main())
