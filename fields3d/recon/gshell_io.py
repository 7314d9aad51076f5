"""Saved G-Shells (``gshell.pt``): reading them back and extracting their meshes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from fields3d.errors import InputError

GSHELL_FILE = "gshell.pt"


def load_gshell(path: str | os.PathLike):
    """The :class:`~fields3d.fields.gshell_grid.GShellGrid` in a ``gshell.pt`` file (or a run folder
    holding one) and the file's extra entries (e.g. ``world_from_grid``, a similarity to world units)."""
    from fields3d.fields.gshell_grid import GShellGrid

    path = Path(path)
    if path.is_dir():
        path = path / GSHELL_FILE
    if not path.is_file():
        raise InputError("G-Shell file not found (expected gshell.pt or a run folder holding it)", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        grid = GShellGrid.from_state(state["gshell"] if "gshell" in state else state)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as e:
        raise InputError(f"not a G-Shell file ({e})", path) from None
    extra = {k: v for k, v in state.items() if k != "gshell"} if "gshell" in state else {}
    return grid, extra


def extract_saved_gshell(path, out, template: bool = False, log=print) -> Path:
    """Write the surface (or the template) of a saved G-Shell to ``out``; world units when the file
    holds a ``world_from_grid`` similarity (reconstruction runs)."""
    from fields3d.geometry.similarity import Similarity
    from fields3d.io.mesh import write_mesh

    grid, extra = load_gshell(path)
    with torch.no_grad():
        mesh = grid.extract()
    surface = mesh.template if template else mesh
    vertices = surface.vertices.detach().double().numpy()
    if "world_from_grid" in extra:
        vertices = Similarity.from_dict(extra["world_from_grid"]).apply_points(vertices)
    if len(surface.faces) == 0:
        raise InputError("the G-Shell has an empty surface", path)
    written = write_mesh(out, np.asarray(vertices), surface.faces.numpy())
    kind = "template" if template else "surface"
    log(f"{kind}: {written} ({len(vertices)} vertices, {len(surface.faces)} faces)")
    return written
