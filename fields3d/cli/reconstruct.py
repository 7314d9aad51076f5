"""``fields3d reconstruct DATA --out RUN``: a mesh in world units from a folder of images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro


@dataclass
class Reconstruct:
    """Reconstruct a surface from posed images (UniSDF: an SDF on a hash grid, camera-view and reflection
    colour branches blended by a learned weight; or NeuS) and write RUN/mesh.ply (world units, vertex
    colours), RUN/metrics.json (PSNR on held-out views; Chamfer / F-score with --gt-mesh),
    RUN/previews/ and RUN/report.html.  DATA may be any capture fields3d reads (transforms.json, COLMAP,
    NeuS npz, LLFF, RGB-D) or a bare folder of images (poses by SfM first, into RUN/sfm).  --method gshell
    fits a G-Shell through the rasterizer instead (open surfaces such as garments; also RUN/gshell.pt)."""

    data: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="DATA")]]
    """The capture folder (or its transforms*.json / cameras npz / poses_bounds.npy)."""
    out: Path
    """The run folder to write."""
    method: Literal["unisdf", "neus", "gshell"] = "unisdf"
    """unisdf: blended camera-view and reflection colour; neus: camera-view colour only; gshell: SDF and
    manifold SDF on a tetrahedral grid, rasterized (open or closed surfaces)."""
    preset: Literal["fast", "default", "quality"] = "fast"
    """fast: CPU minutes; default: GPU minutes; quality: GPU, longer."""
    color: Literal["blended", "view", "reflection"] | None = None
    """Override the colour branches (ablations): blended, view or reflection."""
    gt_mesh: Path | None = None
    """A reference mesh in the capture's world units: Chamfer, F-score and normal error in metrics.json."""
    resume: bool = False
    """Continue the run in --out from its last checkpoint, with the configuration saved there."""
    steps: int | None = None
    """Override the number of training steps."""
    rays: int | None = None
    """Override the rays per step."""
    resolution: int | None = None
    """Override the mesh grid resolution (points per axis over the occupied box)."""
    holdout: int | None = None
    """Override the number of views held out for PSNR (default 5)."""
    max_image_size: int | None = None
    """Override the longest image side used for training (0: full size)."""
    masks: bool = True
    """Use the capture's masks (or alpha) when it has them (--no-masks ignores them)."""
    device: str = "auto"
    """auto (CUDA when available), cpu, cuda."""
    threads: int = 0
    """CPU threads (0: the idle cores)."""
    seed: int = 0
    """Seed of the initialisation and the ray sampling."""
    quiet: bool = False
    """No progress bars."""
    watertight: bool = False
    """With --method gshell: keep the whole template (the SDF-only baseline, no mSDF cut)."""
    override: tuple[str, ...] = ()
    """Set any configuration field, KEY=VALUE with a dotted key (VALUE as JSON), after the preset and
    the options above, e.g. --override train.weights.eikonal=0.05 or, with --method gshell,
    weights.residual_threshold=0.09; the run's config.json lists every key."""

    def config(self):
        from fields3d.cli.overrides import apply_overrides
        from fields3d.recon.presets import make_config

        c = make_config(self.method, self.preset)
        if self.color is not None:
            c.model.color.mode = self.color
        if self.steps is not None:
            c.train.steps = self.steps
        if self.rays is not None:
            c.train.rays_per_step = self.rays
        if self.resolution is not None:
            c.export.resolution = self.resolution
        if self.holdout is not None:
            c.data.holdout = self.holdout
        if self.max_image_size is not None:
            c.data.max_image_size = self.max_image_size or None
        c.data.use_masks = self.masks
        c.device, c.threads, c.train.seed = self.device, self.threads, self.seed
        apply_overrides(c, self.override)
        return c

    def gshell_config(self):
        from fields3d.cli.overrides import apply_overrides
        from fields3d.errors import InputError
        from fields3d.recon.gshell_reconstruct import gshell_config

        unsupported = [
            name
            for name, value in (("--resume", self.resume), ("--color", self.color), ("--rays", self.rays))
            if value not in (None, False)
        ]
        if unsupported:
            raise InputError(f"expected no {', '.join(unsupported)} with --method gshell, got them")
        c = gshell_config(
            self.preset,
            watertight=self.watertight,
            steps=self.steps,
            resolution=self.resolution,
            holdout=self.holdout,
            max_image_size=self.max_image_size,
            use_masks=self.masks,
            device=self.device,
            threads=self.threads,
            seed=self.seed,
        )
        apply_overrides(c, self.override)
        return c

    def run(self) -> None:
        if self.method == "gshell":
            from fields3d.recon.gshell_reconstruct import reconstruct_gshell_from_path

            reconstruct_gshell_from_path(
                self.data, self.out, self.gshell_config(), gt_mesh=self.gt_mesh, progress=not self.quiet
            )
            return
        if self.watertight:
            from fields3d.errors import InputError

            raise InputError(f"expected --watertight only with --method gshell, got --method {self.method}")
        if self.resume and self.override:
            from fields3d.errors import InputError

            raise InputError("expected no --override with --resume (the run goes on with its config.json)")
        from fields3d.recon.pipeline import reconstruct

        reconstruct(
            self.data,
            self.out,
            None if self.resume else self.config(),
            resume=self.resume,
            gt_mesh=self.gt_mesh,
            progress=not self.quiet,
        )
