"""``fields3d frozenrecon`` end to end on a tiny synthetic RGB-D folder, and its bad-input messages."""

import json

import numpy as np
import pytest

from fields3d.cli.main import main
from fields3d.frozenrecon.synthetic_room import write_rgbd_folder

pytest.importorskip("open3d")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    from fields3d.data.rgbd import read_rgbd_folder
    from fields3d.frozenrecon.corruption import write_corrupted_priors

    root = tmp_path_factory.mktemp("frozenrecon_cli")
    scene = write_rgbd_folder(root / "scene", frames=6, sweep_deg=30.0)
    write_corrupted_priors(read_rgbd_folder(scene), root / "priors")
    return root


def test_cli_writes_mesh_transforms_metrics_and_previews(capture, capsys):
    out = capture / "run"
    args = [
        "frozenrecon",
        str(capture / "scene"),
        "--out",
        str(out),
        "--depth",
        str(capture / "priors"),
        "--gt",
        str(capture / "scene"),
        "--focal-init",
        "65",
        "--working-cells",
        "24",
        "--voxel-fraction",
        "0.04",
        "--quiet",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "focal error" in printed and str(out / "mesh.ply") in printed
    for name in (
        "mesh.ply",
        "points.ply",
        "transforms.json",
        "result.json",
        "metrics.json",
        "gt_mesh.ply",
        "previews/depth.png",
        "previews/trajectory.png",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["focal"]["initial_error_percent"] == pytest.approx(30.0)
    assert metrics["focal"]["error_percent"] < 15.0
    assert metrics["depth"]["abs_rel"] < metrics["depth"]["abs_rel_input_prior"]
    assert {"accuracy", "completeness"} <= set(metrics["mesh"])

    from fields3d.data.transforms_json import read_transforms_json

    scene = read_transforms_json(out / "transforms.json")
    assert len(scene.cameras) == 6 and scene.depth_paths is not None
    assert float(scene.cameras.K[0, 0, 0]) == pytest.approx(metrics["focal"]["estimate"], rel=1e-5)


def test_missing_depth_model_is_a_one_line_error(capture, capsys):
    code = main(
        [
            "frozenrecon",
            str(capture / "scene"),
            "--out",
            str(capture / "x"),
            "--depth-model",
            str(capture / "nope.pt"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "nope.pt" in err and "TorchScript" in err


def test_depth_maps_not_matching_the_frames_name_the_file(capture, tmp_path, capsys):
    for p in sorted((capture / "priors").glob("*.npy")):
        np.save(tmp_path / p.name, np.load(p)[:40])
    code = main(
        ["frozenrecon", str(capture / "scene"), "--out", str(tmp_path / "run"), "--depth", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "frame-000000.color.npy" in err and "64x48" in err


def test_nan_depth_and_missing_depth_are_refused(capture, tmp_path, capsys):
    for p in sorted((capture / "priors").glob("*.npy")):
        np.save(tmp_path / p.name, np.load(p))
    np.save(tmp_path / "frame-000003.color.npy", np.full((48, 64), np.nan, dtype=np.float32))
    code = main(
        ["frozenrecon", str(capture / "scene"), "--out", str(tmp_path / "run"), "--depth", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "frame-000003.color.npy" in err and "valid depth" in err
    (tmp_path / "frame-000003.color.npy").unlink()
    code = main(
        ["frozenrecon", str(capture / "scene"), "--out", str(tmp_path / "run"), "--depth", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "frame-000003.color.png" in err
