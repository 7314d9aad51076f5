import json

import numpy as np
import pytest

from fields3d.frozenrecon.corruption import CorruptionConfig, corrupt_depth, write_corrupted_priors


def test_recipe_draws_stay_in_their_ranges_and_are_reproducible():
    gt = np.linspace(0.5, 3.0, 40 * 30).reshape(30, 40)
    scales, fractions = [], []
    for k in range(200):
        d, c = corrupt_depth(gt, k)
        scales.append(c.scale)
        fractions.append(c.shift_fraction)
        assert c.shift == pytest.approx(c.shift_fraction * np.median(gt))
    assert 0.5 <= min(scales) and max(scales) <= 2.0
    assert -0.5 <= min(fractions) and max(fractions) <= 0.5
    assert min(scales) < 0.6 and max(scales) > 1.7  # the whole range is used
    d1, _ = corrupt_depth(gt, 7)
    d2, _ = corrupt_depth(gt, 7)
    assert np.array_equal(d1, d2)
    assert not np.array_equal(d1, corrupt_depth(gt, 7, CorruptionConfig(seed=1))[0])


def test_noise_is_three_percent_multiplicative():
    gt = np.full((200, 200), 2.0)
    gt[0, 0] = 1.0  # not constant
    d, c = corrupt_depth(gt, 3)
    e = ((d - c.shift) / c.scale / gt - 1.0)[1:]
    assert e.std() == pytest.approx(0.03, rel=0.05)
    assert abs(e.mean()) < 0.002


def test_missing_ground_truth_becomes_nan_and_all_missing_is_refused():
    gt = np.ones((4, 5))
    gt[0, :2] = 0.0
    gt[1, 1] = np.nan
    d, _ = corrupt_depth(gt, 0)
    assert np.isnan(d[0, :2]).all() and np.isnan(d[1, 1])
    assert np.isfinite(d).sum() == 17
    with pytest.raises(ValueError, match="valid"):
        corrupt_depth(np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match="scale_range"):
        corrupt_depth(gt, 0, CorruptionConfig(scale_range=(2.0, 1.0)))


def test_write_corrupted_priors_from_an_rgbd_folder(rgbd_room, tmp_path):
    from fields3d.data.rgbd import read_rgbd_folder

    summary = write_corrupted_priors(read_rgbd_folder(rgbd_room), tmp_path / "priors")
    files = sorted((tmp_path / "priors").glob("*.npy"))
    assert [f.name for f in files][:2] == ["frame-000000.color.npy", "frame-000001.color.npy"]
    assert len(files) == 8
    saved = json.loads((tmp_path / "priors" / "corruption.json").read_text())
    assert saved["focal_init"] == pytest.approx(1.3 * saved["focal_true"])
    assert saved["frames"][0]["scale"] == summary["frames"][0]["scale"]
    prior = np.load(files[0])
    assert prior.shape == (48, 64) and prior.dtype == np.float32
