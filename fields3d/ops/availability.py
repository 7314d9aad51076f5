"""Which accelerated backends can run here, and why not when they cannot.

Every probe is cheap, imports lazily and never raises: ``fields3d info`` and the ``backend="auto"``
dispatch of each op read these answers.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Availability:
    """Whether a backend is usable; ``reason`` explains a ``False`` (or names the device for ``True``)."""

    available: bool
    reason: str

    def __bool__(self) -> bool:
        return self.available


@cache
def cuda_device() -> Availability:
    import torch

    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        return Availability(False, f"no CUDA device (torch {torch.__version__}, {build})")
    return Availability(True, torch.cuda.get_device_name(0))


def module_available(name: str) -> bool:
    """True when ``name`` can be found (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@cache
def nvdiffrast() -> Availability:
    cuda = cuda_device()
    if not module_available("nvdiffrast"):
        return Availability(False, "nvdiffrast is not installed (pip install 'fields3d[gpu]')")
    if not cuda:
        return Availability(False, cuda.reason)
    return Availability(True, "nvdiffrast (CUDA)")


@cache
def tinycudann() -> Availability:
    if not module_available("tinycudann"):
        return Availability(False, "tinycudann is not installed (optional; build it from its source)")
    cuda = cuda_device()
    if not cuda:
        return Availability(False, cuda.reason)
    try:
        importlib.import_module("tinycudann")
    except Exception as e:  # a broken build must not break fields3d
        return Availability(False, f"tinycudann does not import: {e.__class__.__name__}: {e}")
    return Availability(True, "tinycudann")


def cuda_extension() -> Availability:
    """Whether fields3d's own CUDA kernels (``fields3d._C`` or a JIT build of ``cuda_ext/``) can be used.

    Not cached: the answer changes once a build has been tried in this process.
    """
    cuda = cuda_device()
    if not cuda:
        return Availability(False, cuda.reason)
    from fields3d.ops import extension

    return extension.status("cuda")


def cpu_extension() -> Availability:
    """Whether fields3d's own C++ CPU kernels (same sources, no CUDA needed) can be used (not cached)."""
    from fields3d.ops import extension

    return extension.status("cpu")
