"""``fields3d reconstruct`` / ``fields3d extract`` end to end on a tiny synthetic capture."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from fields3d.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    import trimesh

    from fields3d.data.synthetic import SynthConfig, render_capture
    from fields3d.io.mesh import write_mesh

    folder = tmp_path_factory.mktemp("recon_capture")
    mesh = trimesh.creation.capsule(height=1.0, radius=0.5)
    write_mesh(folder / "capsule.ply", mesh.vertices, mesh.faces)
    return render_capture(
        folder / "capsule.ply", folder / "capture", SynthConfig(views=8, resolution=32), progress=False
    ).out


@pytest.fixture(scope="module")
def run(capture, tmp_path_factory, make_tiny_config):
    from fields3d.recon.pipeline import reconstruct

    out = tmp_path_factory.mktemp("recon_run") / "run"
    result = reconstruct(
        capture, out, make_tiny_config(), gt_mesh=capture / "mesh_gt.ply", progress=False, log=None
    )
    assert result.mesh == out / "mesh.ply"
    return out


def test_run_folder_holds_every_output(run):
    for name in (
        "config.json",
        "mesh.ply",
        "metrics.json",
        "report.html",
        "checkpoints/latest.pt",
        "previews/turntable.png",
        "previews/loss_curves.png",
    ):
        assert (run / name).is_file(), name
    assert list((run / "previews").glob("view_*.png"))
    html = (run / "report.html").read_text()
    links = re.findall(r'<img src="([^"]+)"', html)
    assert links and all((run / link).is_file() for link in links)
    assert "chamfer_pct_diagonal" in html


def test_metrics_and_mesh(run, capture):
    from fields3d.io.mesh import read_mesh

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_views"] == 7 and metrics["heldout_views"] == 1
    assert np.isfinite(metrics["heldout_psnr"]) and metrics["heldout_psnr"] > 10
    mesh = metrics["mesh"]
    assert 0 < mesh["chamfer_pct_diagonal"] < 20 and 0 <= mesh["fscore"] <= 1
    assert metrics["mesh_stats"]["on_region_boundary"] < 0.5
    out = read_mesh(run / "mesh.ply")
    assert len(out.faces) > 100
    assert np.asarray(out.visual.vertex_colors).shape == (len(out.vertices), 4)
    # world units: the mesh lies where the ground truth does
    gt = read_mesh(capture / "mesh_gt.ply")
    assert np.abs(out.bounds - gt.bounds).max() < 0.3
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["train"]["steps"] == 30 and config["format"] == "transforms_json"


def test_extract_at_another_resolution(run, tmp_path, capsys):
    from fields3d.io.mesh import read_mesh

    out = tmp_path / "again.glb"
    assert main(["extract", str(run), "--resolution", "24", "--out", str(out)]) == 0
    mesh = read_mesh(out)
    assert len(mesh.faces) > 50
    assert str(out) in capsys.readouterr().out


def test_resume_a_finished_run_reuses_its_config(run, capture, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "mesh.ply").unlink()
    assert main(["reconstruct", str(capture), "--out", str(copy), "--resume", "--quiet"]) == 0
    assert (copy / "mesh.ply").is_file()
    assert json.loads((copy / "config.json").read_text())["config"]["train"]["steps"] == 30


def test_cli_reconstruct_with_overrides(capture, tmp_path):
    out = tmp_path / "cli"
    argv = [
        "reconstruct",
        str(capture),
        "--out",
        str(out),
        "--method",
        "neus",
        "--steps",
        "6",
        "--rays",
        "128",
        "--resolution",
        "24",
        "--holdout",
        "1",
        "--threads",
        "1",
        "--quiet",
    ]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["method"] == "neus" and config["model"]["color"]["mode"] == "view"
    assert config["train"]["steps"] == 6 and config["export"]["resolution"] == 24
    assert (out / "mesh.ply").is_file()


def test_too_few_images_is_one_clear_line(capture, tmp_path, capsys):
    few = tmp_path / "few"
    shutil.copytree(capture, few)
    data = json.loads((few / "transforms.json").read_text())
    data["frames"] = data["frames"][:3]
    (few / "transforms.json").write_text(json.dumps(data))
    assert main(["reconstruct", str(few), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected at least 4 images to reconstruct from, got 3" in err[0]


def test_bare_images_that_sfm_cannot_register(capture, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for p in sorted((capture / "images").glob("*.png"))[:4]:
        shutil.copy(p, bare / p.name)
    assert main(["reconstruct", str(bare), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "register" in err[-1]


def test_bare_images_of_different_sizes(capture, tmp_path, capsys):
    from PIL import Image

    bare = tmp_path / "mixed"
    bare.mkdir()
    for i, p in enumerate(sorted((capture / "images").glob("*.png"))[:4]):
        im = Image.open(p)
        (im.resize((48, 48)) if i == 2 else im).save(bare / p.name)
    assert main(["reconstruct", str(bare), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "48x48" in err[-1]


@pytest.mark.slow
def test_bare_folder_of_images_reconstructs_end_to_end(tmp_path, shared_data):
    """48 views of spot at 128^2, pose files removed: SfM, then a short reconstruction."""
    from fields3d.data.synthetic import SynthConfig, render_capture

    spot = shared_data("reference_meshes") / "spot.obj"
    capture = render_capture(
        spot, tmp_path / "capture", SynthConfig(views=48, resolution=128), progress=False
    ).out
    bare = tmp_path / "bare"
    bare.mkdir()
    for p in sorted((capture / "images").glob("*.png")):
        shutil.copy(p, bare / p.name)
    out = tmp_path / "run"
    assert main(["reconstruct", str(bare), "--out", str(out), "--steps", "300", "--quiet"]) == 0
    assert (out / "sfm" / "transforms.json").is_file() and (out / "mesh.ply").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["format"] == "transforms_json" and metrics["heldout_psnr"] > 15


def test_nan_during_training_is_one_line_and_the_run_resumes(
    capture, tmp_path, capsys, monkeypatch, make_tiny_config
):
    """A NaN loss at step 14 stops the CLI with one line naming the last good checkpoint (step 10);
    ``--resume`` continues from it with a halved learning rate and finishes the run."""
    import fields3d.recon.presets as presets
    import fields3d.recon.trainer as trainer

    small = make_tiny_config(steps=20)
    small.train.checkpoint_every = 10
    monkeypatch.setattr(presets, "make_config", lambda method="unisdf", preset="fast": small)
    real_color_loss, calls = trainer.color_loss, []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = real_color_loss(*args, **kwargs)
        return loss * float("nan") if len(calls) == 15 else loss

    monkeypatch.setattr(trainer, "color_loss", poisoned)
    run = tmp_path / "run"
    assert main(["reconstruct", str(capture), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    latest = run / "checkpoints" / "latest.pt"
    assert len(err) == 1
    assert err[0].startswith(f"error: {latest}: training diverged at step 14: the loss is nan")
    assert "--resume" in err[0]
    assert not (run / "mesh.ply").exists()

    monkeypatch.setattr(trainer, "color_loss", real_color_loss)
    assert main(["reconstruct", str(capture), "--out", str(run), "--resume", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "halving the learning rate" in out and "resumed at step 10 of 20" in out
    assert (run / "mesh.ply").is_file() and (run / "checkpoints" / "diverged_step14.json").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert np.isfinite(metrics["heldout_psnr"])


def test_bare_folder_with_too_few_images_fails_before_sfm(capture, tmp_path, capsys):
    bare = tmp_path / "bare3"
    bare.mkdir()
    for p in sorted((capture / "images").glob("*.png"))[:3]:
        shutil.copy(p, bare / p.name)
    assert main(["reconstruct", str(bare), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {bare}: expected at least 4 images to reconstruct from, got 3"]
    assert not (tmp_path / "r" / "sfm").exists()


def test_posed_capture_with_an_image_of_another_size(capture, tmp_path, capsys):
    from PIL import Image

    mixed = tmp_path / "mixed"
    shutil.copytree(capture, mixed)
    image = sorted((mixed / "images").glob("*.png"))[2]
    Image.open(image).resize((48, 40)).save(image)
    assert main(["reconstruct", str(mixed), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {image}: ") and "48x40" in err[0]
