import numpy as np
import pytest
import torch

from fields3d.errors import InputError
from fields3d.frozenrecon.priors import CallablePrior, FolderPrior, check_prior, load_depth_model


def ramp(h=12, w=16):
    return np.linspace(1.0, 3.0, h * w, dtype=np.float32).reshape(h, w)


def test_folder_prior_matches_by_stem_and_reads_npy_and_png(tmp_path):
    from fields3d.io.images import write_image

    np.save(tmp_path / "frame-000000.color.npy", ramp())
    write_image(tmp_path / "b.png", (ramp() * 1000).astype(np.uint16))
    folder = FolderPrior(tmp_path)
    a = folder.load(tmp_path / "frames" / "frame-000000.color.jpg", (12, 16))
    assert np.allclose(a, ramp())
    b = folder.load(tmp_path / "frames" / "b.jpg", (12, 16))
    assert np.allclose(b, ramp(), atol=1e-3)
    with pytest.raises(InputError, match=r"frame c\.jpg"):
        folder.load(tmp_path / "c.jpg", (12, 16))


def test_bad_priors_are_refused_with_the_file_name(tmp_path):
    with pytest.raises(InputError, match="16x12.*got 8x6") as e:
        check_prior(ramp(6, 8), (12, 16), tmp_path / "d.npy")
    assert "d.npy" in str(e.value)
    with pytest.raises(InputError, match="valid depth"):
        check_prior(np.full((12, 16), np.nan), (12, 16), "nan.npy")
    with pytest.raises(InputError, match="valid depth"):
        from fields3d.io.images import write_image

        write_image(tmp_path / "zero.png", np.zeros((12, 16), dtype=np.uint16))
        FolderPrior(tmp_path).load(tmp_path / "x" / "zero.jpg", (12, 16))
    with pytest.raises(InputError, match="constant"):
        check_prior(np.full((12, 16), 2.0), (12, 16), "c.npy")


def test_callable_prior_wraps_numpy_and_torch_models_and_inverts_disparity():
    image = np.zeros((12, 16, 3), dtype=np.float32)
    depth = CallablePrior(lambda img: torch.from_numpy(ramp()))(image)
    assert np.allclose(depth, ramp())
    inv = CallablePrior(lambda img: 1.0 / ramp(), output="disparity")(image)
    assert np.allclose(inv, ramp(), rtol=1e-5)
    with pytest.raises(InputError, match="expected a depth map of the frame's size"):
        CallablePrior(lambda img: ramp(6, 8))(image, "frame.png")


def test_missing_model_checkpoint_says_what_to_fetch_and_where(tmp_path):
    missing = tmp_path / "models" / "depth_anything_v2_small.pt"
    with pytest.raises(InputError) as e:
        load_depth_model(missing)
    msg = str(e.value)
    assert "not found" in msg and "TorchScript" in msg and "Depth Anything" in msg and str(missing) in msg
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(InputError, match="TorchScript"):
        load_depth_model(junk)


def test_torchscript_model_from_a_local_file(tmp_path):
    class Net(torch.nn.Module):
        def forward(self, x):
            return x.mean(1) + 2.0 + torch.linspace(0, 1, x.shape[-1])

    path = tmp_path / "net.pt"
    torch.jit.script(Net()).save(str(path))
    prior = load_depth_model(path, input_size=28)
    depth = prior(np.full((12, 16, 3), 0.5, dtype=np.float32))
    assert depth.shape == (12, 16)
    assert depth[:, -1].mean() > depth[:, 0].mean()
