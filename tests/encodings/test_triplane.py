"""TriplaneEncoding and BatchedTriplaneEncoding: shapes, channel-last storage, backends agree."""

from __future__ import annotations

import pytest
import torch

from fields3d.encodings import BatchedTriplaneEncoding, TriplaneEncoding, TriplaneEncodingConfig
from fields3d.ops.triplane import triplane_torch


@pytest.mark.parametrize("reduce,out_dim", [("sum", 8), ("product", 8), ("concat", 24)])
def test_shapes_and_layout(reduce, out_dim):
    enc = TriplaneEncoding(TriplaneEncodingConfig(channels=8, resolution=16, reduce=reduce, backend="torch"))
    assert enc.planes.shape == (3, 8, 16, 16)
    assert enc.planes.permute(0, 2, 3, 1).is_contiguous()  # channel-last memory: kernels read it in place
    assert enc.out_dim == out_dim and enc(torch.rand(2, 7, 3)).shape == (2, 7, out_dim)
    with pytest.raises(ValueError, match="expected reduce"):
        TriplaneEncoding(TriplaneEncodingConfig(reduce="mean"))


def test_encoding_is_the_op_on_its_planes():
    enc = TriplaneEncoding(TriplaneEncodingConfig(channels=4, resolution=8, backend="torch"))
    x = torch.rand(30, 3)
    torch.testing.assert_close(enc(x), triplane_torch(x, enc.planes.detach()))


def test_batched_encoding_and_backends_agree(cpu_kernels, rel_err):
    cfg = dict(channels=8, resolution=16, reduce="product", init_std=1.0)
    enc_t = BatchedTriplaneEncoding(5, TriplaneEncodingConfig(**cfg, backend="torch"))
    enc_c = BatchedTriplaneEncoding(5, TriplaneEncodingConfig(**cfg, backend="cpp"))
    enc_c.load_state_dict(enc_t.state_dict())
    assert enc_c.planes.shape == (5, 3, 8, 16, 16)
    x, index = torch.rand(4, 100, 3), torch.randint(0, 5, (4, 100))
    out_t, out_c = enc_t(x, index), enc_c(x, index)
    assert out_t.shape == (4, 100, 8) and rel_err(out_c, out_t) < 1e-6
    (g_t,) = torch.autograd.grad(out_t.square().sum(), enc_t.planes)
    (g_c,) = torch.autograd.grad(out_c.square().sum(), enc_c.planes)
    assert rel_err(g_c, g_t) < 1e-5
    with pytest.raises(ValueError, match="object index of shape"):
        enc_t(x, index[:, :10])
