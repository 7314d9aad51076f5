"""``fields3d frozenrecon FRAMES --out RUN``: pose-free reconstruction from frozen affine-invariant depth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro


@dataclass
class FrozenRecon:
    """Reconstruct a scene from frames and per-frame depth that is only known up to a scale and a shift
    (a frozen monocular depth model's output): recovers one focal length, the camera poses and each
    frame's scale and shift (optionally a coarse grid of local scale corrections, --local-grid),
    then fuses the rectified depths (TSDF, open3d).
    Writes RUN/mesh.ply, points.ply, transforms.json (feeds `fields3d reconstruct`), images/, depth/,
    result.json, previews/ and, with --gt, metrics.json (focal error, depth AbsRel after one global
    scale, ATE RMSE after Sim(3), mesh accuracy/completeness against a mesh fused from the ground truth)."""

    frames: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="FRAMES")]]
    """Folder of images (sorted by name; 7-Scenes frame-*.color.* recognised) or a video file."""
    out: Path
    """Run folder to write (created; files there are replaced)."""
    depth: Path | None = None
    """Folder of precomputed depth maps named after the frames (.npy float, NaN = missing; or 16-bit .png,
    0 = missing), any per-frame scale and shift."""
    depth_model: Path | None = None
    """Local TorchScript depth model (nothing is downloaded); the error message says what to fetch."""
    depth_model_output: Literal["depth", "disparity"] = "depth"
    """What the depth model predicts."""
    gt: Path | None = None
    """Ground truth (an RGB-D folder or a capture with poses and depth) for metrics.json."""
    focal_init: float | None = None
    """Starting focal length in pixels (default: EXIF 35 mm equivalent, else a 60 degree field of view)."""
    max_frames: int | None = None
    """Use at most this many frames."""
    stride: int = 1
    """Use every stride-th frame."""
    keyframe_min_change: float = 0.02
    """Frames this close to the last keyframe (mean colour / prior change) are dropped; 0 keeps all."""
    working_cells: int = 64
    """Working resolution: cells along the longer image side."""
    local_grid: int = 0
    """Cells per side of each frame's grid of local scale corrections; 0: no local stage (default; the
    stage is experimental, see fields3d.frozenrecon.pipeline.LOCAL_STAGE)."""
    photometric_weight: float = 0.0
    """Weight of the photometric residual in the later stages (0: geometry only)."""
    voxel_fraction: float = 1.0 / 150.0
    """TSDF voxel size as a fraction of the median rectified depth."""
    device: str = "cpu"
    """Where the optimisation runs: cpu or cuda (not yet measured on a GPU)."""
    quiet: bool = False
    """No progress bars."""

    def run(self) -> None:
        from dataclasses import replace

        from fields3d.frozenrecon.fusion import FusionConfig
        from fields3d.frozenrecon.pipeline import DEFAULT_STAGES, LOCAL_STAGE, FrozenReconConfig
        from fields3d.frozenrecon.run_folder import RunInputs, run_frozenrecon

        stages = DEFAULT_STAGES + ((LOCAL_STAGE,) if self.local_grid > 0 else ())
        stages = tuple(
            replace(s, photometric_weight=self.photometric_weight) if i > 0 else s
            for i, s in enumerate(stages)
        )
        config = FrozenReconConfig(
            working_cells=self.working_cells,
            grid_size=(max(self.local_grid, 1),) * 2,
            keyframe_min_change=self.keyframe_min_change,
            stages=stages,
        )
        inputs = RunInputs(
            frames=self.frames,
            depth_dir=self.depth,
            depth_model=self.depth_model,
            depth_model_output=self.depth_model_output,
            gt=self.gt,
            focal_init=self.focal_init,
            max_frames=self.max_frames,
            stride=self.stride,
            device=self.device,
        )
        summary = run_frozenrecon(
            inputs,
            self.out,
            config,
            FusionConfig(voxel_fraction=self.voxel_fraction),
            progress=not self.quiet,
        )
        r = summary.result
        print(
            f"reconstructed {r['keyframes']} keyframes of {r['frames']} frames "
            f"({r['image_size'][0]}x{r['image_size'][1]}): focal {r['focal']:.1f} px "
            f"(started at {r['focal_init']:.1f}, {r['focal_init_source']})"
        )
        for key in (
            "mesh",
            "points",
            "transforms",
            "result",
            "metrics",
            "gt_mesh",
            "preview_depth",
            "preview_trajectory",
        ):
            if key in summary.paths:
                print(f"  {key:<18} {summary.paths[key]}")
        m = summary.metrics
        if m:
            line = [
                f"focal error {m['focal']['error_percent']:.2f} %",
                f"ATE RMSE {m['trajectory']['ate_rmse']:.4f}",
            ]
            if "depth" in m:
                line.append(f"AbsRel {m['depth']['abs_rel']:.4f}")
            if "mesh" in m:
                line.append(f"mesh acc {m['mesh']['accuracy']:.4f} / comp {m['mesh']['completeness']:.4f}")
            print("  " + ", ".join(line))
