"""FrequencyEncoding: layout of the sin / cos blocks and the coarse-to-fine window."""

from __future__ import annotations

import math

import torch

from fields3d.encodings import FrequencyEncoding, FrequencyEncodingConfig


def test_layout_and_values():
    enc = FrequencyEncoding(FrequencyEncodingConfig(in_dim=2, n_frequencies=3))
    assert enc.out_dim == 2 * (1 + 6)
    x = torch.tensor([[0.25, -0.5]])
    out = enc(x)
    assert out.shape == (1, 14)
    torch.testing.assert_close(out[0, :2], x[0])
    for k in range(3):
        torch.testing.assert_close(out[0, 2 + 2 * k : 4 + 2 * k], torch.sin(math.pi * 2**k * x[0]))
        torch.testing.assert_close(out[0, 8 + 2 * k : 10 + 2 * k], torch.cos(math.pi * 2**k * x[0]))
    assert FrequencyEncoding(FrequencyEncodingConfig(include_input=False, n_frequencies=4)).out_dim == 24


def test_annealing_window_opens_octaves_in_order():
    enc = FrequencyEncoding(FrequencyEncodingConfig(n_frequencies=4, anneal_steps=100))
    enc.update_step(0)
    assert torch.all(enc.window() == 0)
    x = torch.rand(5, 3)
    torch.testing.assert_close(enc(x)[:, 3:], torch.zeros(5, 24))
    enc.update_step(50)  # alpha = 2: octaves 0 and 1 open, 2 and 3 closed
    torch.testing.assert_close(enc.window(), torch.tensor([1.0, 1.0, 0.0, 0.0]))
    enc.update_step(60)
    w = enc.window()
    assert 0 < w[2] < 1 and w[3] == 0
    enc.update_step(1000)
    torch.testing.assert_close(enc.window(), torch.ones(4))
