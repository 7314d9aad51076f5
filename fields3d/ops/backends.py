"""The backend each op would use with ``backend="auto"`` here, and why a faster one is unused."""

from __future__ import annotations

from dataclasses import dataclass

from fields3d.ops import availability as av


@dataclass(frozen=True)
class OpBackend:
    op: str
    backend: str
    reason: str


def _first(op: str, candidates: list[tuple[str, av.Availability]], fallback: str, fallback_reason: str) -> OpBackend:
    missing = []
    for name, a in candidates:
        if a:
            return OpBackend(op, name, a.reason)
        missing.append(f"{name}: {a.reason}")
    return OpBackend(op, fallback, "; ".join(missing) if missing else fallback_reason)


def op_backends() -> list[OpBackend]:
    """One entry per accelerated op, in the order ``fields3d info`` prints them."""
    ext = av.cuda_extension()
    return [
        _first("hash grid", [("cuda", ext), ("tcnn", av.tinycudann())], "torch", "pure-PyTorch twin"),
        _first("tri-plane", [("cuda", ext)], "torch", "grid_sample twin"),
        _first("rasterizer", [("nvdiffrast", av.nvdiffrast())], "cpu", "z-buffer rasterizer"),
        _first("marching cubes", [("cuda", av.cuda_device())], "scikit-image", "CPU"),
    ]
