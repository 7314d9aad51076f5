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


# reconstruction (tests/recon, tests/integration) -------------------------------------------------
def tiny_config(steps: int = 30):
    """A configuration small enough for tests: 4-level grid, 256 rays, 32^3 occupancy and mesh grids."""
    from fields3d.encodings import HashGridEncodingConfig
    from fields3d.recon.presets import make_config

    c = make_config("unisdf", "fast")
    c.model.sdf.grid = HashGridEncodingConfig(
        n_levels=4,
        log2_table_size=12,
        base_resolution=8,
        finest_resolution=64,
        coarse_to_fine_start=2,
        coarse_to_fine_steps=10,
    )
    c.model.sdf.mlp.hidden_dim = 32
    c.model.color.mlp.hidden_dim = 32
    c.model.sampling.grid.resolution = 32
    c.model.sampling.grid.update_every = 8
    c.model.sampling.min_step = 2.0 / 64
    c.train.steps, c.train.rays_per_step, c.train.warmup_steps = steps, 256, 5
    c.train.eikonal_surface_points, c.train.eikonal_space_points = 64, 32
    c.train.checkpoint_every = 10
    c.data.holdout, c.data.max_image_size, c.data.eval_max_image_size = 1, None, None
    c.export.resolution = 32
    c.turntable_views, c.turntable_size = 2, 64
    c.threads = 1
    return c


@pytest.fixture(scope="session")
def make_tiny_config():
    """``make_tiny_config(steps=30)`` -> a reconstruction configuration small enough for tests."""
    return tiny_config


@pytest.fixture
def one_thread():
    """Run with one torch thread (two threads on a busy 2-core machine are several times slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
