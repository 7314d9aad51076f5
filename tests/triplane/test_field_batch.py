import torch

from fields3d.triplane.field_batch import BatchedMLP, TriplaneFieldBatch, TriplaneFieldConfig

CFG = TriplaneFieldConfig(channels=4, resolution=8, hidden=16, hidden_layers=2, backend="torch")


def test_batched_mlp_matches_a_loop_over_objects():
    mlp = BatchedMLP(3, 4, 8, 2, 2)
    mlp.reset_parameters([torch.Generator().manual_seed(k) for k in range(3)])
    h = torch.randn(3, 10, 4)
    out = mlp(h)
    for b in range(3):
        x = h[b]
        for k, (w, bias) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
            x = x @ w[b] + bias[b, 0]
            x = torch.relu(x) if k < 2 else x
        assert torch.allclose(out[b], x, atol=1e-6)
    assert torch.allclose(mlp.select(1)(h[1:2])[0], out[1], atol=1e-6)


def test_object_start_does_not_depend_on_the_batch():
    a = TriplaneFieldBatch(3, CFG, seeds=[7, 8, 9])
    b = TriplaneFieldBatch(2, CFG, seeds=[9, 1])
    assert torch.equal(a.planes[2], b.planes[0])
    assert torch.equal(a.decoder.weights[0][2], b.decoder.weights[0][0])


def test_object_field_and_round_trip_through_tensors():
    fields = TriplaneFieldBatch(3, CFG, seeds=[1, 2, 3])
    with torch.no_grad():
        fields.planes.normal_()
    x = torch.rand(3, 50, 3) * 2 - 1
    out = fields(x)[..., 0]
    for b in range(3):
        assert torch.allclose(fields.object_field(b)(x[b]), out[b], atol=1e-5)
    again = TriplaneFieldBatch.from_tensors(fields.planes.detach().clone(), fields.decoder_state(), CFG)
    assert torch.allclose(again(x), fields(x), atol=1e-6)


def test_shared_decoder_is_one_mlp():
    cfg = TriplaneFieldConfig(
        channels=4, resolution=8, hidden=16, hidden_layers=1, decoder="shared", backend="torch"
    )
    fields = TriplaneFieldBatch(3, cfg)
    assert fields.decoder.weights[0].shape[0] == 1
    x = torch.rand(3, 20, 3) * 2 - 1
    same_planes = fields.planes.detach()[:1].expand(3, -1, -1, -1, -1).clone()
    again = TriplaneFieldBatch.from_tensors(same_planes, fields.decoder_state(), cfg)
    y = again(x)
    assert torch.allclose(again.object_field(2)(x[0]), y[0, :, 0], atol=1e-6)
