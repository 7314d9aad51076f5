"""Write affine-corrupted depth priors for an RGB-D folder (the FrozenRecon acceptance recipe).

Usage (from the repository root, inside the venv)::

    python datasets/frozenrecon_7scenes/make_corrupted_priors.py \\
        /work/shared/data/rgbd_7scenes_tsdf_fusion_subset /tmp/7scenes_priors [--seed 0]

For every ``frame-XXXXXX.depth.png`` (16-bit millimetres, 0 = missing) it writes
``OUT/frame-XXXXXX.color.npy``: (480, 640) float32 ``s * gt * (1 + 0.03 e) + t * median(gt)`` with ``s``
log-uniform in [0.5, 2], ``t`` uniform in [-0.5, 0.5], ``e ~ N(0, 1)`` per pixel, NaN where gt is missing
(:func:`fields3d.frozenrecon.corruption.corrupt_depth`), and ``OUT/corruption.json`` with the recipe, each
frame's ``s`` and ``t`` and the focal length to start from (30 % above the true 585 px).  The priors are
named after the colour images, so ``fields3d frozenrecon FRAMES --depth OUT`` finds them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fields3d.data.rgbd import read_rgbd_folder
from fields3d.frozenrecon.corruption import CorruptionConfig, write_corrupted_priors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rgbd_folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--focal-offset",
        type=float,
        default=0.30,
        help="relative error of the starting focal length (0.30 = 30 %% too long)",
    )
    args = parser.parse_args()
    scene = read_rgbd_folder(args.rgbd_folder)
    config = CorruptionConfig(seed=args.seed)
    summary = write_corrupted_priors(scene, args.out, config, focal_offset=args.focal_offset)
    print(f"wrote {len(summary['frames'])} corrupted priors and corruption.json to {args.out}")
    print(f"start the focal length at {summary['focal_init']:.1f} px (true {summary['focal_true']:.1f})")


if __name__ == "__main__":
    main()
