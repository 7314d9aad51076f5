"""The backend each op would use with ``backend="auto"`` here, and why a faster one is unused."""

from __future__ import annotations

from dataclasses import dataclass

from fields3d.ops import availability as av


@dataclass(frozen=True)
class OpBackend:
    op: str
    backend: str
    reason: str


def _first(
    op: str, candidates: list[tuple[str, av.Availability]], fallback: str, fallback_reason: str
) -> OpBackend:
    missing = []
    for name, a in candidates:
        if a:
            return OpBackend(op, name, a.reason)
        missing.append(f"{name}: {a.reason}")
    return OpBackend(op, fallback, "; ".join(missing) if missing else fallback_reason)


def op_backends() -> list[OpBackend]:
    """One entry per accelerated op, in the order ``fields3d info`` prints them.

    The hash grid and tri-plane entries describe the dispatch of ``fields3d.ops.hashgrid.hash_grid``
    and ``fields3d.ops.triplane.triplane_sample`` for tensors on the default device (CUDA when there
    is one); on a CUDA machine a second entry covers CPU tensors.
    """
    cuda = av.cuda_device()
    cpu_ext = av.cpu_extension()
    entries = []
    if cuda:
        ext = av.cuda_extension()
        entries += [
            _first("hash grid", [("cuda", ext), ("tcnn", av.tinycudann())], "torch", "pure-PyTorch twin"),
            _first("tri-plane", [("cuda", ext)], "torch", "grid_sample twin"),
        ]
    entries += [
        _first("hash grid" + (" (cpu)" if cuda else ""), [("cpp", cpu_ext)], "torch", "pure-PyTorch twin"),
        _first("tri-plane" + (" (cpu)" if cuda else ""), [("cpp", cpu_ext)], "torch", "grid_sample twin"),
    ]
    entries += [
        _first("rasterizer", [("nvdiffrast", av.nvdiffrast())], "cpu", "z-buffer rasterizer"),
        OpBackend(
            "marching cubes",
            "torch",
            f"vectorised PyTorch on the field's device ({cuda.reason if cuda else 'CPU'}); no CUDA kernel; "
            "backend='skimage' is the CPU reference",
        ),
    ]
    return entries
