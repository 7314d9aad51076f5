"""``fields3d extract RUN --resolution N --out MESH``: re-extract a reconstruction's mesh."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro


@dataclass
class Extract:
    """Extract the surface of a reconstruction run (fields3d reconstruct) again, at any resolution, in the
    capture's world units with vertex colours; the format follows the suffix of --out (.ply, .obj, .glb)."""

    run_dir: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="RUN")]]
    """The run folder written by fields3d reconstruct."""
    out: Path
    """The mesh file to write (.ply, .obj or .glb)."""
    resolution: int | None = None
    """Grid points per axis over the occupied box (default: the run's)."""
    device: str | None = None
    """auto, cpu or cuda (default: the run's)."""

    def run(self) -> None:
        from fields3d.recon.pipeline import extract_run

        extract_run(self.run_dir, self.out, self.resolution, self.device)
