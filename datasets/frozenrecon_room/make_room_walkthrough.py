"""Render the synthetic room walk-through of the FrozenRecon acceptance and corrupt its depth.

Usage (repository root, inside the venv)::

    python datasets/frozenrecon_room/make_room_walkthrough.py /tmp/room [--views 60] [--res 128] \
        [--walk-radius 0.4] [--walk-sweep 90]

Writes ``OUT/room.ply`` (the furnished box room of :mod:`fields3d.frozenrecon.synthetic_room`: 4 x 2.4 x
5 units, seven spheres), renders it with ``fields3d synth``'s renderer from inside
(``camera_path="walkthrough"``, 60 degree field of view) into ``OUT/capture`` and writes the 7-Scenes
recipe's affine-corrupted priors of its ground-truth depth into ``OUT/priors`` (``corruption.json`` gives
the focal length to start from, 30 % too long).  Then::

    fields3d frozenrecon OUT/capture/images --out OUT/run --depth OUT/priors --gt OUT/capture \\
        --focal-init <focal_init from OUT/priors/corruption.json>
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fields3d.data import load_scene
from fields3d.data.synthetic import SynthConfig, render_capture
from fields3d.frozenrecon.corruption import CorruptionConfig, write_corrupted_priors
from fields3d.frozenrecon.synthetic_room import room_mesh
from fields3d.io.mesh import write_mesh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--views", type=int, default=60)
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--walk-radius", type=float, default=0.4, help="arc radius (normalised units)")
    parser.add_argument("--walk-sweep", type=float, default=90.0, help="arc angle in degrees")
    args = parser.parse_args()
    vertices, faces = room_mesh()
    mesh = write_mesh(args.out / "room.ply", vertices, faces)
    config = SynthConfig(
        views=args.views,
        resolution=args.res,
        camera_path="walkthrough",
        fov_deg=60.0,
        seed=args.seed,
        walk_radius=args.walk_radius,
        walk_sweep_deg=args.walk_sweep,
    )
    capture = render_capture(mesh, args.out / "capture", config)
    summary = write_corrupted_priors(
        load_scene(capture.transforms), args.out / "priors", CorruptionConfig(seed=args.seed)
    )
    print(f"rendered {args.views} views to {capture.out}; priors in {args.out / 'priors'}")
    print(f"start the focal length at {summary['focal_init']:.2f} px (true {summary['focal_true']:.2f})")


if __name__ == "__main__":
    main()
