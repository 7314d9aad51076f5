"""``fields3d eval-mesh PRED GT``: Chamfer, F-score and normal consistency of a mesh against a reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

DEFAULT_THRESHOLD_FRACTION = 0.01


def default_metrics_path(pred: Path) -> Path:
    """``<pred folder>/<pred stem>.metrics.json``."""
    return pred.with_name(pred.stem + ".metrics.json")


def evaluate_mesh_files(pred: Path, gt: Path, threshold: float | None = None, samples: int = 100_000,
                        seed: int = 0) -> dict:
    """Read two mesh files and return :func:`fields3d.metrics.mesh_distances` plus how the threshold was set.

    ``threshold=None`` uses 1 % of the ground truth's bounding-box diagonal.  Raises InputError for
    unreadable meshes, meshes without faces or surface area, and non-positive threshold / samples.
    """
    import numpy as np

    from fields3d.errors import InputError
    from fields3d.io.mesh import read_mesh
    from fields3d.metrics.mesh_distance import mesh_distances

    if samples < 1:
        raise InputError(f"expected --samples >= 1, got {samples}")
    if threshold is not None and not (np.isfinite(threshold) and threshold > 0):
        raise InputError(f"expected a positive --threshold, got {threshold}")
    pred_mesh, gt_mesh = read_mesh(pred), read_mesh(gt)
    for path, mesh in ((pred, pred_mesh), (gt, gt_mesh)):
        if not mesh.area > 0:
            raise InputError(f"expected a mesh with positive surface area, got area {mesh.area}", path)
    diagonal = float(np.linalg.norm(np.ptp(np.asarray(gt_mesh.vertices), axis=0)))
    if threshold is None:
        threshold = DEFAULT_THRESHOLD_FRACTION * diagonal
        rule = f"default: {DEFAULT_THRESHOLD_FRACTION:.0%} of the GT bounding-box diagonal ({diagonal:.6g})"
    else:
        rule = "given with --threshold"
    metrics = mesh_distances(pred_mesh, gt_mesh, threshold=threshold, samples=samples, seed=seed)
    metrics.update({"threshold_rule": rule, "gt_bbox_diagonal": diagonal, "seed": seed,
                    "pred": str(pred), "gt": str(gt)})
    return metrics


@dataclass
class EvalMesh:
    """Compare a predicted mesh with a ground-truth mesh: accuracy (pred -> gt), completeness (gt -> pred),
    Chamfer (their mean), precision / recall / F-score at a distance threshold, and unsigned normal
    consistency, from points sampled uniformly on both surfaces.  Prints the metrics as JSON and writes
    them to --out (default: <pred-stem>.metrics.json beside PRED)."""

    pred: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="PRED")]]
    """Predicted mesh (.ply, .obj, .off, .glb, .gltf, .stl)."""
    gt: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="GT")]]
    """Ground-truth mesh, in the same units and frame as PRED."""
    threshold: float | None = None
    """F-score distance threshold in mesh units (default: 1 % of the GT bounding-box diagonal)."""
    samples: int = 100_000
    """Points sampled on each surface."""
    seed: int = 0
    """Seed of the surface sampling."""
    out: Path | None = None
    """Where to write the metrics JSON (default: <pred-stem>.metrics.json beside PRED)."""

    def run(self) -> None:
        import json
        import sys

        from fields3d.io.atomic import write_json

        metrics = evaluate_mesh_files(self.pred, self.gt, self.threshold, self.samples, self.seed)
        out = self.out if self.out is not None else default_metrics_path(self.pred)
        write_json(out, metrics)
        print(json.dumps(metrics, indent=2))
        print(f"wrote {out}", file=sys.stderr)
