"""``fields3d gshell fit MESH --out RUN`` and ``fields3d gshell extract GSHELL --out MESH``.

G-Shell tools: an SDF and a manifold SDF on a tetrahedral grid (open and closed surfaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro


@dataclass
class Fit:
    """Turn an open or closed mesh into a G-Shell — a watertight template (SDF on a tetrahedral grid) cut
    by a manifold SDF — and back into a mesh.  Writes RUN/mesh.ply (open where the source is open),
    RUN/template.ply, RUN/gshell.pt, RUN/metrics.json (Chamfer in % of the diagonal, boundary loops
    against the source's), RUN/previews/ and RUN/report.html."""

    mesh: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="MESH")]]
    """Mesh to fit (.obj, .off, .ply, .glb, .gltf, .stl)."""
    out: Path
    """Run folder to write."""
    resolution: int = 128
    """Grid points along the longest side of the mesh's bounding box."""
    steps: int = 50
    """Chamfer optimisation steps after the initialisation (0: initialisation only)."""
    band_cells: int = 3
    """Cells stored on each side of the surface (narrow band)."""
    deform: bool = False
    """Also learn offsets of the grid points."""
    samples: int = 30000
    """Surface samples per optimisation step."""
    device: str = "auto"
    """auto (CUDA when available), cpu, cuda."""
    seed: int = 0
    """Seed of the surface sampling."""
    quiet: bool = False
    """No progress bar."""

    def config(self):
        from fields3d.recon.gshell_fit import GShellFitConfig

        c = GShellFitConfig(
            resolution=self.resolution,
            steps=self.steps,
            band_cells=self.band_cells,
            deform=self.deform,
            samples=self.samples,
            device=self.device,
            seed=self.seed,
        )
        c.validate()
        return c

    def run(self) -> None:
        from fields3d.recon.gshell_fit import fit_mesh_file

        fit_mesh_file(self.mesh, self.out, self.config(), progress=not self.quiet)


@dataclass
class Extract:
    """Extract the surface (or the watertight template) of a saved G-Shell — RUN/gshell.pt of `gshell fit`
    or of `reconstruct --method gshell` — into a mesh file (.ply, .obj, .glb by suffix)."""

    gshell: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="GSHELL")]]
    """A gshell.pt file, or the run folder holding it."""
    out: Path
    """Mesh file to write."""
    template: bool = False
    """Write the watertight template instead of the cut (open) surface."""

    def run(self) -> None:
        from fields3d.recon.gshell_io import extract_saved_gshell

        extract_saved_gshell(self.gshell, self.out, template=self.template)


@dataclass
class GShell:
    """G-Shell: open and closed surfaces as a manifold SDF on a watertight SDF template."""

    cmd: tyro.conf.OmitSubcommandPrefixes[
        Annotated[Fit, tyro.conf.subcommand("fit")] | Annotated[Extract, tyro.conf.subcommand("extract")]
    ]

    def run(self) -> None:
        self.cmd.run()
