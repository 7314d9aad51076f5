"""Benchmark: structure from motion on synthetic captures with known poses.

Renders meshes with ``fields3d synth`` (seeded), runs ``fields3d sfm`` on the bare images and prints a
table: registered images, rotation error after a Sim(3) alignment of the camera centres (max / mean,
degrees), focal length error, reprojection error and wall times.

    python eval/bench_sfm_synthetic.py                       # spot + cow, 24 views at 256², seeds 0-2
    python eval/bench_sfm_synthetic.py --meshes ../shared/data/reference_meshes/spot.obj --views 48 --res 128

Meshes default to ``$FIELDS3D_SHARED_DATA/reference_meshes`` (or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("FIELDS3D_SHARED_DATA", root.parent / "shared" / "data"))
    default_meshes = [shared / "reference_meshes" / name for name in ("spot.obj", "cow.obj")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meshes", nargs="+", type=Path, default=default_meshes)
    parser.add_argument("--views", type=int, default=24)
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--camera-model", default="SIMPLE_RADIAL")
    parser.add_argument("--material", default="diffuse")
    parser.add_argument("--sphere-distance", action="store_true", help="one camera distance for all views")
    args = parser.parse_args(argv)

    from fields3d.data.sfm import SfmConfig, pose_errors, run_sfm
    from fields3d.data.synthetic import SynthConfig, render_capture
    from fields3d.errors import InputError

    header = (
        f"{'mesh':<12} {'seed':>4} {'reg':>7} {'rot max':>8} {'rot mean':>8} {'focal %':>8} "
        f"{'reproj px':>9} {'render s':>8} {'sfm s':>6}"
    )
    print(f"{args.views} views at {args.res}x{args.res}, {args.material}, camera model {args.camera_model}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for mesh in args.meshes:
            for seed in args.seeds:
                cfg = SynthConfig(
                    views=args.views,
                    resolution=args.res,
                    seed=seed,
                    material=args.material,
                    fit_distance=not args.sphere_distance,
                )
                t0 = time.perf_counter()
                cap = render_capture(mesh, Path(tmp) / "synth", cfg, progress=False)
                t1 = time.perf_counter()
                try:
                    res = run_sfm(
                        Path(tmp) / "synth" / "images",
                        Path(tmp) / "sfm",
                        SfmConfig(camera_model=args.camera_model),
                        log=None,
                    )
                except InputError as e:
                    print(f"{mesh.stem:<12} {seed:>4} failed: {e.message[:70]}")
                    continue
                t2 = time.perf_counter()
                idx = [int(p.stem) for p in res.scene.image_paths]
                err = pose_errors(res.scene.cameras.c2w.numpy(), cap.cameras.c2w.numpy()[idx])
                rot = err["rotation_errors_deg"]
                focal = float(res.scene.cameras.K[0, 0, 0] / cap.cameras.K[0, 0, 0] - 1.0) * 100
                print(
                    f"{mesh.stem:<12} {seed:>4} {res.num_registered:>3}/{res.num_images:<3} "
                    f"{rot.max():>8.3f} "
                    f"{rot.mean():>8.3f} {focal:>8.2f} {res.mean_reprojection_error_px:>9.3f} "
                    f"{t1 - t0:>8.1f} {t2 - t1:>6.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
