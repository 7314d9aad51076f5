"""A plain backdrop (one colour around every photo) replaces the background field of mask-less runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from fields3d.data import load_scene
from fields3d.recon.pipeline import build_model, choose_backdrop, run_background_color
from fields3d.recon.plain_background import border_pixels, detect_plain_background


def test_border_pixels_are_the_frame():
    image = np.zeros((6, 5, 3), np.float32)
    image[2:4, 2:3] = 1.0  # the centre is not part of the 1-pixel frame
    ring = border_pixels(image, width=1)
    assert ring.shape == (2 * 5 + 2 * 4, 3) and ring.max() == 0.0
    with pytest.raises(ValueError, match="expected an"):
        border_pixels(np.zeros((4, 4, 3)), width=2)


def without_stated_background(capture, folder, noisy: bool = False):
    """A copy of ``capture`` whose transforms.json does not state the background (and, with ``noisy``,
    whose photos have random borders)."""
    from PIL import Image

    shutil.copytree(capture, folder)
    data = json.loads((folder / "transforms.json").read_text())
    data.pop("fields3d", None)
    (folder / "transforms.json").write_text(json.dumps(data))
    if noisy:
        rng = np.random.default_rng(0)
        for p in sorted((folder / "images").glob("*.png")):
            im = np.asarray(Image.open(p).convert("RGB")).copy()
            im[:3] = rng.integers(0, 256, im[:3].shape)
            Image.fromarray(im).save(p)
    return folder


def test_detects_the_black_backdrop_of_a_rendered_capture(tiny_capture):
    color = detect_plain_background(load_scene(tiny_capture))
    assert color is not None and color.shape == (3,) and np.abs(color).max() < 2 / 255


def test_textured_borders_are_not_a_backdrop(tiny_capture, tmp_path):
    scene = load_scene(without_stated_background(tiny_capture, tmp_path / "noisy", noisy=True))
    assert detect_plain_background(scene) is None


@pytest.mark.parametrize("stated", [True, False])
def test_runs_without_masks_use_the_backdrop_instead_of_a_background_field(
    tiny_capture, make_tiny_config, tmp_path, stated
):
    capture = tiny_capture if stated else without_stated_background(tiny_capture, tmp_path / "plain")
    scene = load_scene(capture)
    config = make_tiny_config()
    config.data.use_masks = False
    messages = []
    choose_backdrop(config, scene, list(range(len(scene))), messages.append)
    assert config.data.background == (0.0, 0.0, 0.0)
    assert ("states" if stated else "borders are one colour") in messages[0]
    assert build_model(config, scene, torch.device("cpu")).background is None
    assert torch.equal(run_background_color(config, scene), torch.zeros(3))


def test_masks_or_textured_borders_keep_the_usual_models(tiny_capture, make_tiny_config, tmp_path):
    scene = load_scene(tiny_capture)
    config = make_tiny_config()  # masks: no background field, nothing detected
    choose_backdrop(config, scene, [0, 1], lambda *_: None)
    cpu = torch.device("cpu")
    assert config.data.background is None and build_model(config, scene, cpu).background is None
    noisy = load_scene(without_stated_background(tiny_capture, tmp_path / "noisy", noisy=True))
    config.data.use_masks = False
    choose_backdrop(config, noisy, [0, 1], lambda *_: None)
    assert config.data.background is None and build_model(config, noisy, cpu).background is not None
