"""Shared test fixtures.

Real data is read from ``../shared/data`` (beside the project root) or from ``$FIELDS3D_SHARED_DATA``;
tests that need it skip with the reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import PIL.Image  # noqa: F401  (Pillow before pycolmap; see fields3d/data/pycolmap_import.py)
import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    return Path(os.environ.get("FIELDS3D_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data():
    """Callable ``shared_data(item)`` -> Path of ``../shared/data/<item>``; skips the test when missing."""

    def get(item: str) -> Path:
        path = shared_data_root() / item
        if not path.exists():
            pytest.skip(f"shared data '{item}' not found at {path} (set FIELDS3D_SHARED_DATA)")
        return path

    return get


@pytest.fixture(autouse=True)
def _seed():
    import numpy as np
    import torch

    torch.manual_seed(0)
    np.random.seed(0)


# compiled kernels (built at first use, or skipped with the reason) ------------------------------
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
    import torch

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

    def err(a, b) -> float:
        a, b = a.detach().double(), b.detach().double()
        denominator = b.norm()
        return float((a - b).norm() / denominator) if denominator > 0 else float((a - b).norm())

    return err
