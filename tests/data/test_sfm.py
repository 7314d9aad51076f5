"""Structure from motion: issue-2 acceptance on a synthetic capture with known poses, outputs, bad input."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from fields3d.data.sfm import SfmConfig, check_images, pose_errors, run_sfm
from fields3d.errors import InputError


def test_acceptance_spot_24_views(shared_data, tmp_path, capsys):
    """>= 90 % of 24 views at 256² register and every rotation error is < 2 deg after Sim(3) alignment."""
    from fields3d.cli.sfm import print_sfm
    from fields3d.data.detect import load_scene
    from fields3d.data.synthetic import SynthConfig, render_capture

    mesh = shared_data("reference_meshes") / "spot.obj"
    t0 = time.perf_counter()
    cap = render_capture(mesh, tmp_path / "synth", SynthConfig(views=24, resolution=256), progress=False)
    t1 = time.perf_counter()
    res = run_sfm(tmp_path / "synth" / "images", tmp_path / "sfm", log=None)
    t2 = time.perf_counter()

    assert res.num_registered >= 0.9 * 24
    idx = [int(p.stem) for p in res.scene.image_paths]
    err = pose_errors(res.scene.cameras.c2w.numpy(), cap.cameras.c2w.numpy()[idx])
    rot = err["rotation_errors_deg"]
    print(
        f"registered {res.num_registered}/24, rotation error max {rot.max():.3f} mean {rot.mean():.3f} deg, "
        f"render {t1 - t0:.1f} s, sfm {t2 - t1:.1f} s"
    )
    assert rot.max() < 2.0
    assert res.mean_reprojection_error_px < 1.0

    # outputs: COLMAP model, points, transforms.json that load_scene reads (relative image paths)
    assert (res.model / "cameras.bin").is_file() and (res.model / "images.bin").is_file()
    doc = json.loads(res.transforms.read_text())
    assert len(doc["frames"]) == res.num_registered
    assert all(not f["file_path"].startswith("/") for f in doc["frames"])
    assert doc["fields3d"]["registered"] == res.num_registered and doc["fields3d"]["num_images"] == 24
    scene = load_scene(tmp_path / "sfm")
    assert scene.format == "transforms_json" and len(scene) == res.num_registered
    assert [p.resolve() for p in scene.image_paths] == [p.resolve() for p in res.scene.image_paths]
    assert scene.points is not None and len(scene.points) > 100
    # the normalisation puts the object (sparse points) inside the unit sphere, cameras outside
    pts = scene.normalization.apply_points(scene.points.astype(np.float64))
    assert np.median(np.linalg.norm(pts, axis=1)) < 1.0
    assert (np.linalg.norm(scene.normalized_cameras().centers.numpy(), axis=1) > 1.0).all()
    print_sfm(res)
    assert f"registered {res.num_registered}/24 images" in capsys.readouterr().out


def _write_images(folder, sizes, seed=0):
    from fields3d.io.images import write_image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (h, w) in enumerate(sizes):
        write_image(folder / f"{i:02d}.png", rng.random((h, w, 3)).astype(np.float32))


def test_check_images_errors(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        check_images(tmp_path / "missing")
    _write_images(tmp_path / "one", [(32, 32)])
    with pytest.raises(InputError, match="at least 2 images"):
        check_images(tmp_path / "one")
    _write_images(tmp_path / "mixed", [(32, 32), (32, 40)])
    with pytest.raises(InputError, match="32x32"):
        check_images(tmp_path / "mixed")
    _write_images(tmp_path / "ok", [(24, 32), (24, 32)])
    paths, size = check_images(tmp_path / "ok")
    assert len(paths) == 2 and size == (24, 32)


def test_unrelated_images_fail_with_one_line_error(tmp_path):
    _write_images(tmp_path / "noise", [(64, 64)] * 4)
    with pytest.raises(InputError, match=r"expected at least 3 of 4 images to register") as info:
        run_sfm(tmp_path / "noise", tmp_path / "out", log=None)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "transforms.json").exists()


def test_config_rules():
    assert SfmConfig().error_threshold(256, 256) == pytest.approx(1.024)
    assert SfmConfig().error_threshold(100, 100) == 1.0
    assert SfmConfig().error_threshold(500, 375) == pytest.approx(2.0)
    assert SfmConfig().error_threshold(4000, 3000) == 4.0
    assert SfmConfig(max_error_px=3.0).error_threshold(256, 256) == 3.0
    assert SfmConfig().sift_first_octave(256, 256) == -2 and SfmConfig().sift_first_octave(1920, 1080) == -1
    for bad in (dict(camera_model="FISHEYE"), dict(min_registered=1), dict(min_registered_fraction=2.0)):
        with pytest.raises(InputError, match="expected"):
            SfmConfig(**bad).validate()


def test_pose_errors_recovers_a_similarity():
    from scipy.spatial.transform import Rotation

    from fields3d.geometry.similarity import Similarity

    rng = np.random.default_rng(0)
    gt = np.tile(np.eye(4), (6, 1, 1))
    gt[:, :3, :3] = Rotation.random(6, random_state=1).as_matrix()
    gt[:, :3, 3] = rng.normal(size=(6, 3)) * 3
    sim = Similarity.from_parts(0.5, Rotation.random(random_state=2).as_matrix(), [1.0, -2.0, 0.5])
    est = sim.apply_c2w(gt)
    est[2, :3, :3] = est[2, :3, :3] @ Rotation.from_euler("x", 3.0, degrees=True).as_matrix()
    err = pose_errors(est, gt)
    assert err["position_errors"].max() < 1e-9
    assert err["rotation_errors_deg"][2] == pytest.approx(3.0, abs=1e-6)
    assert np.delete(err["rotation_errors_deg"], 2).max() < 1e-6
