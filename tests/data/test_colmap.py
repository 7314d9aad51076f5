"""COLMAP sparse models (text and binary) built with pycolmap from known cameras."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.data.colmap import read_colmap
from fields3d.data.transforms_json import read_transforms_json
from fields3d.errors import InputError
from fields3d.io.images import write_image

pytest.importorskip("PIL.Image")  # Pillow before pycolmap: see fields3d/data/pycolmap_import.py
pycolmap = pytest.importorskip("pycolmap")

MODEL_PARAMS = {
    "SIMPLE_PINHOLE": [50.0, 31.5, 24.25],
    "PINHOLE": [50.0, 52.0, 31.5, 24.25],
    "SIMPLE_RADIAL": [50.0, 31.5, 24.25, -0.12],
    "RADIAL": [50.0, 31.5, 24.25, -0.12, 0.03],
    "OPENCV": [50.0, 52.0, 31.5, 24.25, -0.12, 0.03, 1e-3, -2e-3],
    "FULL_OPENCV": [50.0, 52.0, 31.5, 24.25, -0.12, 0.03, 1e-3, -2e-3, 0.004, 0.01, -0.002, 0.0005],
}


def _reconstruction(model: str, params, c2w_list, names, width, height, points=None):
    rec = pycolmap.Reconstruction()
    cam = pycolmap.Camera.create_from_model_name(1, model, 1.0, width, height)
    cam.params = list(params)
    rec.add_camera_with_trivial_rig(cam)
    for i, (c2w, name) in enumerate(zip(c2w_list, names, strict=True)):
        w2c = np.linalg.inv(np.asarray(c2w, dtype=np.float64))
        rec.add_image_with_trivial_frame(
            pycolmap.Image(name=name, camera_id=1, image_id=i + 1), pycolmap.Rigid3d(w2c[:3, :4])
        )
    for p in points if points is not None else []:
        rec.add_point3D(np.asarray(p, dtype=np.float64), pycolmap.Track())
    return rec


def _look_at(eye, target=(0.0, 0.0, 0.0)):
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, np.cross(z, x), z], 1)
    c2w[:3, 3] = eye
    return c2w


@pytest.fixture
def fox_colmap(shared_data, tmp_path):
    """A COLMAP model of 6 fox views (OPENCV, the fox's intrinsics and poses) in text and binary layouts."""
    fox = read_transforms_json(shared_data("nerf_fox"))
    pick = [0, 9, 18, 27, 36, 45]
    cams = fox.cameras[pick]
    K = cams.K[0].double()
    params = [K[0, 0], K[1, 1], K[0, 2], K[1, 2], *cams.distortion[0, :4].double().tolist()]
    names = [fox.image_paths[i].name for i in pick]
    center = fox.normalization.inverse().translation
    points = center + np.random.default_rng(0).normal(size=(60, 3)) * 0.3
    rec = _reconstruction(
        "OPENCV", [float(p) for p in params], cams.c2w.double().numpy(), names, 1080, 1920, points
    )
    layouts = {}
    for kind, sub in (("text", "sparse/0"), ("binary", "colmap/sparse/0"), ("flat", "sparse")):
        data = tmp_path / kind
        (data / sub).mkdir(parents=True)
        (rec.write_text if kind != "binary" else rec.write_binary)(str(data / sub))
        (data / "images").mkdir()
        for i in pick:
            (data / "images" / fox.image_paths[i].name).symlink_to(fox.image_paths[i])
        layouts[kind] = data
    return cams, names, points, layouts


def test_text_and_binary_models_match_the_source_cameras(fox_colmap):
    cams, names, points, layouts = fox_colmap
    for kind, data in layouts.items():
        scene = read_colmap(data)
        assert scene.format == "colmap" and len(scene) == 6, kind
        order = np.argsort(names)
        assert [p.name for p in scene.image_paths] == sorted(names)
        assert torch.allclose(scene.cameras.K, cams.K[order], atol=1e-4)
        assert torch.allclose(scene.cameras.distortion, cams.distortion[order], atol=1e-7)
        assert torch.allclose(scene.cameras.c2w, cams.c2w[order], atol=1e-5)
        assert scene.cameras.image_size(0) == (1920, 1080)
        assert scene.points.shape == (60, 3) and np.allclose(
            np.sort(scene.points, 0), np.sort(points, 0), atol=1e-5
        )
        center = scene.normalization.apply_points(points.mean(0))
        assert np.linalg.norm(center) < 0.5 and "points" in scene.metadata["normalization_method"]
    # the model folder itself, with images found two levels up; or an explicit image folder
    assert len(read_colmap(layouts["text"] / "sparse" / "0")) == 6
    (layouts["text"] / "images").rename(layouts["text"] / "photos")
    with pytest.raises(InputError, match="images/ folder"):
        read_colmap(layouts["text"])
    assert len(read_colmap(layouts["text"], images="photos")) == 6


@pytest.mark.parametrize("model", list(MODEL_PARAMS))
def test_camera_models_project_like_colmap(tmp_path, model):
    poses = [_look_at((3.0, 0.5, 1.0)), _look_at((-1.0, 2.5, 0.5))]
    rec = _reconstruction(model, MODEL_PARAMS[model], poses, ["a.png", "b.png"], 64, 48)
    (tmp_path / "sparse" / "0").mkdir(parents=True)
    rec.write_binary(str(tmp_path / "sparse" / "0"))
    for name in ("a.png", "b.png"):
        write_image(tmp_path / "images" / name, np.zeros((48, 64, 3), dtype=np.float32))
    scene = read_colmap(tmp_path)
    pts = np.random.default_rng(1).normal(size=(30, 3)) * 0.3
    cam = rec.cameras[1]
    for i, image_id in enumerate((1, 2)):
        cfw = rec.images[image_id].cam_from_world()
        p_cam = pts @ cfw.rotation.matrix().T + cfw.translation
        expected = cam.img_from_cam(p_cam)
        uv, _ = scene.cameras.project(torch.tensor(pts, dtype=torch.float32), i)
        assert np.allclose(uv.numpy(), expected, atol=2e-3), model


def test_unsupported_camera_model_is_named(tmp_path):
    params = [50.0, 50.0, 32.0, 24.0, 0.1, 0.0, 0.0, 0.0]
    rec = _reconstruction("OPENCV_FISHEYE", params, [_look_at((3, 0, 1))], ["a.png"], 64, 48)
    (tmp_path / "sparse" / "0").mkdir(parents=True)
    rec.write_text(str(tmp_path / "sparse" / "0"))
    write_image(tmp_path / "images" / "a.png", np.zeros((48, 64, 3), dtype=np.float32))
    with pytest.raises(InputError, match="OPENCV_FISHEYE is not supported") as e:
        read_colmap(tmp_path)
    assert e.value.path == tmp_path / "sparse" / "0" / "cameras.txt"


def test_missing_image_and_wrong_size(tmp_path):
    rec = _reconstruction("PINHOLE", MODEL_PARAMS["PINHOLE"], [_look_at((3, 0, 1))], ["a.png"], 64, 48)
    (tmp_path / "sparse").mkdir()
    rec.write_text(str(tmp_path / "sparse"))
    (tmp_path / "images").mkdir()
    with pytest.raises(InputError, match="image 'a.png' of the COLMAP model not found") as e:
        read_colmap(tmp_path)
    assert e.value.path == tmp_path / "images" / "a.png"
    write_image(tmp_path / "images" / "a.png", np.zeros((40, 64, 3), dtype=np.float32))
    with pytest.raises(InputError, match="expected an image of 64x48"):
        read_colmap(tmp_path)
