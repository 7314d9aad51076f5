import json
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from fields3d.cli.main import main
from fields3d.io.mesh import write_mesh


@pytest.fixture
def spheres(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=3)
    pred = write_mesh(tmp_path / "pred.ply", sphere.vertices * 1.1, sphere.faces)
    gt = write_mesh(tmp_path / "gt.obj", sphere.vertices, sphere.faces)
    return pred, gt


def test_eval_mesh_prints_and_writes_metrics(spheres, capsys):
    pred, gt = spheres
    assert main(["eval-mesh", str(pred), str(gt), "--samples", "20000"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((pred.parent / "pred.metrics.json").read_text())  # default: beside PRED
    assert printed == written
    for key in ("accuracy", "completeness", "chamfer", "precision", "recall", "fscore", "normal_consistency"):
        assert isinstance(written[key], float)
    assert written["accuracy"] == pytest.approx(0.1, abs=3e-3)
    assert written["completeness"] == pytest.approx(0.1, abs=3e-3)
    diagonal = np.linalg.norm(np.ptp(trimesh.creation.icosphere(subdivisions=3).vertices, axis=0))
    assert written["threshold"] == pytest.approx(0.01 * diagonal)
    assert "1% of the GT bounding-box diagonal" in written["threshold_rule"]
    assert written["samples"] == 20000 and written["fscore"] == 0.0


def test_eval_mesh_threshold_and_out(spheres, tmp_path, capsys):
    pred, gt = spheres
    out = tmp_path / "metrics" / "m.json"
    args = ["eval-mesh", str(pred), str(gt), "--threshold", "0.2", "--samples", "5000", "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads(out.read_text())
    assert metrics["threshold"] == 0.2 and metrics["fscore"] == 1.0
    assert metrics["threshold_rule"] == "given with --threshold"
    assert f"wrote {out}" in capsys.readouterr().err


def test_eval_mesh_bad_inputs_exit_2(spheres, tmp_path, capsys):
    pred, gt = spheres
    assert main(["eval-mesh", str(tmp_path / "missing.ply"), str(gt)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and err.startswith("error: ") and "mesh file not found" in err
    points = tmp_path / "points.obj"
    points.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    assert main(["eval-mesh", str(pred), str(points)]) == 2
    assert "mesh has no faces" in capsys.readouterr().err
    flat = write_mesh(tmp_path / "flat.ply", np.zeros((3, 3)), np.array([[0, 1, 2]]))
    assert main(["eval-mesh", str(flat), str(gt)]) == 2
    assert "positive surface area" in capsys.readouterr().err
    assert main(["eval-mesh", str(pred), str(gt), "--threshold", "-1"]) == 2
    assert main(["eval-mesh", str(pred), str(gt), "--samples", "0"]) == 2
    assert not (tmp_path / "pred.metrics.json").exists()


def test_eval_mesh_console_on_real_mesh(shared_data, tmp_path):
    spot = shared_data("reference_meshes") / "spot.obj"
    shifted = trimesh.load(spot, process=False)
    pred = write_mesh(tmp_path / "spot_shifted.glb", shifted.vertices + [0.0, 0.0, 0.01], shifted.faces)
    done = subprocess.run(
        [sys.executable, "-m", "fields3d.cli.main", "eval-mesh", str(pred), str(spot), "--samples", "20000",
         "--threshold", "0.02"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["accuracy"] < 0.015 and metrics["fscore"] > 0.95 and metrics["normal_consistency"] > 0.95
    assert (tmp_path / "spot_shifted.metrics.json").is_file()
