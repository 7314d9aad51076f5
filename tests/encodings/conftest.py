"""Fixtures for the compiled-kernel tests: the kernels (built at first use, or skipped with the reason)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def cpu_kernels():
    """fields3d's C++ CPU kernels (compiled on first use, about a minute, then cached)."""
    from fields3d.ops import extension

    ok = extension.try_load("cpu")
    if not ok:
        pytest.skip(f"C++ kernels unavailable here: {ok.reason}")
    return extension.load("cpu")


@pytest.fixture(scope="session")
def cuda_kernels():
    """fields3d's CUDA kernels (compiled for this GPU on first use, then cached)."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from fields3d.ops import extension

    ok = extension.try_load("cuda")
    if not ok:
        pytest.fail(f"CUDA kernels did not build on a CUDA machine: {ok.reason}")
    return extension.load("cuda")


@pytest.fixture
def rel_err():
    """rel_err(a, b) = ||a - b|| / ||b|| (0 when both are 0), in float64."""

    def err(a: torch.Tensor, b: torch.Tensor) -> float:
        a, b = a.detach().double(), b.detach().double()
        denominator = b.norm()
        return float((a - b).norm() / denominator) if denominator > 0 else float((a - b).norm())

    return err
