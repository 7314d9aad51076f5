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
