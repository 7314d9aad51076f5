"""RayDataset: view split, downscaling, rays that agree with the cameras."""

from __future__ import annotations

import pytest
import torch

from fields3d.data import load_scene
from fields3d.recon.dataset import RayDataset, holdout_indices, scaled_cameras

pytestmark = pytest.mark.usefixtures("one_thread")


def test_holdout_indices_spread_and_keep_the_ends():
    assert holdout_indices(48, 5) == [4, 14, 24, 33, 43]
    assert holdout_indices(10, 0) == []
    h = holdout_indices(8, 1)
    assert h == [4]
    for n, k in ((49, 5), (66, 5), (6, 4)):
        h = holdout_indices(n, k)
        assert len(h) == k and 0 not in h and n - 1 not in h
    with pytest.raises(ValueError, match="at least 7 views"):
        holdout_indices(6, 5)


def test_scaled_cameras_keep_the_field_of_view(tiny_capture):
    scene = load_scene(tiny_capture)
    cams, factors = scaled_cameras(scene.cameras, 16)
    assert factors == [0.5] * len(scene)
    assert cams.image_size(0) == (16, 16)
    assert torch.allclose(cams.K[:, 0, 0] / 16, scene.cameras.K[:, 0, 0] / 32)
    same, f = scaled_cameras(scene.cameras, None)
    assert f == [1.0] * len(scene) and torch.equal(same.K, scene.cameras.K)


def test_batches_match_the_images_and_cameras(tiny_capture):
    scene = load_scene(tiny_capture)
    data = RayDataset(scene, [0, 2, 5])
    assert len(data) == 3 and data.num_pixels == 3 * 32 * 32 and data.has_masks
    view = data.view(1)
    image, mask = data.view_image(1)
    assert torch.allclose(view.rgb.reshape(32, 32, 3), torch.from_numpy(image), atol=1 / 255)
    assert torch.equal(view.mask.reshape(32, 32).bool(), torch.from_numpy(mask))
    rays = scene.normalized_cameras().image_rays(2)
    assert torch.allclose(view.origins, rays.origins, atol=1e-5)
    assert torch.allclose(view.directions, rays.directions, atol=1e-5)
    b = data.sample(500, torch.Generator().manual_seed(0))
    assert b.rgb.shape == (500, 3) and b.mask.shape == (500,) and int(b.camera_index.max()) <= 2
    assert torch.allclose(b.directions.norm(dim=-1), torch.ones(500), atol=1e-5)


def test_downscaled_views(tiny_capture):
    data = RayDataset(load_scene(tiny_capture), [1], max_image_size=16, use_masks=False)
    assert data.image_size(0) == (16, 16) and data.num_pixels == 256 and data.mask is None
