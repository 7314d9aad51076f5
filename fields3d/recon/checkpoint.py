"""Training checkpoints: model, optimiser, step, random state and history in one file, written atomically.

A run keeps ``checkpoints/latest.pt``: every save is checked first (all parameters and optimiser
moments finite), so the file is always the *last good* state; a failed check writes nothing.  The
previous save is kept as ``checkpoints/previous.pt``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from fields3d.errors import InputError
from fields3d.io.atomic import atomic_path

LATEST = "latest.pt"
PREVIOUS = "previous.pt"
FORMAT_VERSION = 1


def state_is_finite(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> bool:
    """True when every parameter (and optimiser moment) is finite."""
    for p in model.parameters():
        if not bool(torch.isfinite(p).all()):
            return False
    if optimizer is not None:
        for state in optimizer.state.values():
            for v in state.values():
                if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
                    return False
    return True


def save_checkpoint(
    folder: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    extra: dict | None = None,
) -> Path | None:
    """Write ``folder/latest.pt`` (moving the old one to ``previous.pt``); returns its path, or None (and
    writes nothing) when the state is not finite."""
    if not state_is_finite(model, optimizer):
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    latest = folder / LATEST
    state = {
        "format": FORMAT_VERSION,
        "step": int(step),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "extra": extra or {},
    }
    with atomic_path(latest.with_name(".next.pt")) as tmp:
        torch.save(state, tmp)
    if latest.exists():
        shutil.copyfile(latest, folder / PREVIOUS)
    os.replace(folder / ".next.pt", latest)
    return latest


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (InputError when missing or unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "no checkpoint to resume from (expected checkpoints/latest.pt in the run folder)", path
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # a truncated or foreign file
        raise InputError(f"checkpoint does not load ({e.__class__.__name__}: {e})", path) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise InputError(f"expected a fields3d checkpoint of format {FORMAT_VERSION}, got another file", path)
    return state
