"""train/fit_silhouette.py end to end at a tiny size: outputs exist and hold what they say."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "train" / "fit_silhouette.py"


def load_script():
    spec = importlib.util.spec_from_file_location("fit_silhouette_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fit_silhouette_script_writes_mesh_png_and_metrics(tmp_path, capsys):
    from fields3d.io.images import read_image
    from fields3d.io.mesh import read_mesh

    script = load_script()
    out = tmp_path / "run"
    args = ["--mesh", "capsule", "--out", str(out), "--steps", "3", "--views", "6", "--res", "16"]
    assert script.main([*args, "--image-size", "24", "--preview-views", "3"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("chamfer_initial", "chamfer_final", "chamfer_ratio", "chamfer_final_pct_diagonal"):
        assert np.isfinite(metrics[key]) and metrics[key] > 0
    assert metrics["steps"] == 3
    assert json.loads((out / "config.json").read_text())["resolution"] == 16
    assert len(json.loads((out / "history.json").read_text())) == 3
    mesh = read_mesh(out / "mesh.ply")
    assert len(mesh.faces) == metrics["final_faces"] > 0
    image = read_image(out / "silhouettes.png")
    assert image.shape[0] > 3 * 24 and image.shape[1] > 3 * 24  # 3 rows x 3 views
    printed = capsys.readouterr().out
    assert "initial sphere" in printed and str(out / "metrics.json") in printed


def test_fit_silhouette_script_reports_a_missing_mesh(tmp_path, capsys):
    script = load_script()
    assert script.main(["--mesh", str(tmp_path / "nope.obj"), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "run").exists()
