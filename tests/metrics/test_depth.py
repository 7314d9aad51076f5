import numpy as np
import pytest
import torch

from fields3d.metrics.depth import (
    align_depth,
    depth_errors,
    least_squares_scale,
    least_squares_scale_shift,
    median_scale,
    valid_depth_mask,
)


@pytest.fixture
def gt():
    rng = np.random.default_rng(0)
    return rng.uniform(1.0, 5.0, size=(24, 32))


def test_perfect_prediction(gt):
    e = depth_errors(gt.copy(), gt)
    assert e["abs_rel"] == 0 and e["rmse"] == 0 and e["sq_rel"] == 0 and e["rmse_log"] == 0
    assert e["delta1"] == e["delta2"] == e["delta3"] == 1.0
    assert e["valid_pixels"] == gt.size


def test_scaled_prediction_known_values(gt):
    e = depth_errors(1.1 * gt, gt)
    assert e["abs_rel"] == pytest.approx(0.1)
    assert e["sq_rel"] == pytest.approx(0.01 * gt.mean())
    assert e["rmse"] == pytest.approx(0.1 * np.sqrt((gt**2).mean()))
    assert e["rmse_log"] == pytest.approx(np.log(1.1))
    assert e["delta1"] == 1.0
    e = depth_errors(1.3 * gt, gt)  # 1.25 < 1.3 < 1.25^2
    assert (e["delta1"], e["delta2"], e["delta3"]) == (0.0, 1.0, 1.0)
    e = depth_errors(gt / 1.6, gt)  # 1.25^2 < 1.6 < 1.25^3
    assert (e["delta1"], e["delta2"], e["delta3"]) == (0.0, 0.0, 1.0)


def test_half_the_pixels_wrong(gt):
    pred = gt.copy()
    pred[:12] *= 2.0
    e = depth_errors(pred, gt)
    assert e["delta1"] == pytest.approx(0.5) and e["abs_rel"] == pytest.approx(0.5)


def test_invalid_pixels_are_ignored(gt):
    gt = gt.copy()
    gt[0, :4] = [0.0, -1.0, np.nan, np.inf]
    pred = gt.copy()
    pred[0, :4] = [100.0, np.nan, 3.0, 7.0]  # garbage where gt is invalid: ignored
    e = depth_errors(pred, gt)
    assert e["abs_rel"] == 0 and e["valid_pixels"] == gt.size - 4
    mask = np.ones_like(gt, dtype=bool)
    mask[1] = False
    pred[1] = 50.0  # garbage outside the mask: ignored
    e = depth_errors(pred, gt, mask=mask)
    assert e["rmse"] == 0 and e["valid_pixels"] == gt.size - 4 - gt.shape[1]
    assert valid_depth_mask(gt, mask).sum() == e["valid_pixels"]


def test_alignments(gt):
    assert median_scale(0.5 * gt, gt) == pytest.approx(2.0)
    assert least_squares_scale(0.5 * gt, gt) == pytest.approx(2.0)
    s, t = least_squares_scale_shift(0.5 * gt - 0.3, gt)
    assert (s, t) == (pytest.approx(2.0), pytest.approx(0.6))
    for align in ("median", "scale"):
        assert depth_errors(0.5 * gt, gt, align=align)["rmse"] == pytest.approx(0.0, abs=1e-12)
    assert depth_errors(0.5 * gt - 0.3, gt, align="scale_shift")["rmse"] == pytest.approx(0.0, abs=1e-9)
    assert depth_errors(0.5 * gt - 0.3, gt, align="median")["rmse"] > 0.1  # a shift survives scale alignment
    aligned = align_depth(torch.from_numpy(0.25 * gt), torch.from_numpy(gt), align="scale")
    assert np.allclose(aligned, gt)


def test_negative_aligned_depth_counts_as_miss(gt):
    pred = gt.copy()
    pred[0, 0] = -1.0
    e = depth_errors(pred, gt)
    assert np.isnan(e["rmse_log"])
    assert e["delta3"] == pytest.approx(1 - 1 / gt.size)


def test_errors(gt):
    with pytest.raises(ValueError, match="same shape"):
        depth_errors(gt[:, :3], gt)
    with pytest.raises(ValueError, match="at least one valid pixel"):
        depth_errors(gt, np.zeros_like(gt))
    with pytest.raises(ValueError, match="finite predicted depth"):
        depth_errors(gt * np.nan, gt)
    with pytest.raises(ValueError, match="align in"):
        depth_errors(gt, gt, align="affine")
    with pytest.raises(ValueError, match="two or more distinct"):
        least_squares_scale_shift(np.ones_like(gt), gt)
    with pytest.raises(ValueError, match="mask of shape"):
        valid_depth_mask(gt, np.ones((2, 2)))
