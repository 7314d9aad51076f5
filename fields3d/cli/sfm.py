"""``fields3d sfm IMAGES --out DIR``: camera poses for a bare folder of images (pycolmap, CPU)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro


@dataclass
class Sfm:
    """Estimate camera poses for a folder of images with COLMAP (pycolmap, CPU): SIFT features with one
    camera shared by all images, exhaustive matching, incremental mapping.  Writes the largest model as
    DIR/sparse/0 (COLMAP binary) and DIR/transforms.json (registered images, loadable by every fields3d
    command).  Fails when fewer than max(3, 50 %) of the images register, when the folder has fewer
    than 2 images, or when the images differ in size."""

    images: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="IMAGES")]]
    """Folder with the images (files directly inside it)."""
    out: Path
    """Output folder (created)."""
    camera_model: Literal["SIMPLE_RADIAL", "PINHOLE", "SIMPLE_PINHOLE", "RADIAL", "OPENCV"] = "SIMPLE_RADIAL"
    """COLMAP model of the shared camera (SIMPLE_RADIAL: one focal length and one radial coefficient)."""
    matcher: Literal["exhaustive", "sequential"] = "exhaustive"
    """exhaustive: all pairs (up to a few hundred images); sequential: neighbours in name order (video)."""
    min_registered: int = 3
    """Fail when fewer images than this register."""
    min_registered_fraction: float = 0.5
    """Fail when fewer than this fraction of the images register."""
    seed: int = 0
    """Seed of COLMAP's random sampling."""

    def run(self) -> None:
        from fields3d.data.sfm import SfmConfig, run_sfm

        config = SfmConfig(
            camera_model=self.camera_model,
            matcher=self.matcher,
            min_registered=self.min_registered,
            min_registered_fraction=self.min_registered_fraction,
            seed=self.seed,
        )
        result = run_sfm(self.images, self.out, config)
        print_sfm(result)


def print_sfm(result) -> None:
    """Print the registration count and where the SfM outputs went."""
    secs = sum(result.seconds.values())
    print(
        f"registered {result.num_registered}/{result.num_images} images in {secs:.1f} s "
        f"(mean reprojection error {result.mean_reprojection_error_px:.3f} px)"
    )
    if result.unregistered:
        names = ", ".join(p.name for p in result.unregistered[:5])
        more = f" and {len(result.unregistered) - 5} more" if len(result.unregistered) > 5 else ""
        print(f"  not registered: {names}{more}")
    print(f"  cameras      {result.transforms}")
    print(f"  COLMAP model {result.model}/")
    if result.points_ply.is_file():
        print(f"  points       {result.points_ply} ({len(result.scene.points)} points)")
