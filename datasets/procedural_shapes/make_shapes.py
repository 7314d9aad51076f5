"""Write the procedural part-labelled shape set (12 classes, 170 shapes each = 2,040 by default).

    python datasets/procedural_shapes/make_shapes.py --out DIR [--per-class 170] [--seed 0]

Output: meshes/<class>_<k>.ply (closed), seg/<class>_<k>.seg (global part id per face), parts.csv,
labels.csv (file,class,seg,split,group; every 5th shape of a class is in the test split). Re-running
keeps existing shapes (resumes). See README.md next to this script.
"""

from __future__ import annotations

import argparse
import time

from fields3d.triplane.procedural_shapes import CLASSES, PART_NAMES, write_shape_set


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--per-class", type=int, default=170, help="shapes per class (12 classes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--resolution", type=int, default=96, help="marching-cubes grid points per axis")
    ap.add_argument("--faces", type=int, default=6000, help="target faces after simplification")
    ap.add_argument("--classes", nargs="*", default=None, help=f"subset of {sorted(CLASSES)}")
    args = ap.parse_args()
    t0 = time.perf_counter()
    labels = write_shape_set(
        args.out, args.per_class, args.seed, args.classes, args.test_fraction, args.resolution, args.faces
    )
    n = args.per_class * len(args.classes or CLASSES)
    print(
        f"wrote {n} shapes ({len(args.classes or CLASSES)} classes, {len(PART_NAMES)} parts) "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    print(f"  labels  {labels}")
    print(f"  parts   {labels.parent / 'parts.csv'}")
    print(f"  fit     fields3d triplane fit {labels.parent / 'meshes'} --labels {labels} --out DATASET")


if __name__ == "__main__":
    main()
