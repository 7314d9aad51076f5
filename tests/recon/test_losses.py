"""Colour and mask losses."""

from __future__ import annotations

import pytest
import torch

from fields3d.recon.losses import color_loss, mask_loss


def test_color_losses():
    pred, target = torch.zeros(4, 3), torch.full((4, 3), 0.5)
    assert float(color_loss(pred, target, "l1")) == pytest.approx(0.5)
    assert float(color_loss(pred, target, "mse")) == pytest.approx(0.25)
    assert float(color_loss(pred, target, "charbonnier")) == pytest.approx(0.5, abs=1e-5)
    weight = torch.tensor([1.0, 0.0, 0.0, 0.0])
    pred[1:] = 0.5  # the unweighted rays are wrong only where the weight is 0
    assert float(color_loss(pred, target, "l1", weight)) == pytest.approx(0.5)
    pred[0] = 0.5
    assert float(color_loss(pred, target, "l1", weight)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="colour loss"):
        color_loss(pred, target, "l2")


def test_mask_loss_is_small_when_right_and_finite_at_the_extremes():
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert float(mask_loss(mask.clone(), mask)) < 0.01
    wrong = mask_loss(1 - mask, mask)
    assert torch.isfinite(wrong) and float(wrong) > 5
