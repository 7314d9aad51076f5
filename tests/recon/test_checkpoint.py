"""Checkpoints: resume gives the same state and the same next step; a NaN stops with a clear message."""

from __future__ import annotations

import pytest
import torch

from fields3d.data import load_scene
from fields3d.errors import Fields3dError, InputError
from fields3d.recon.checkpoint import load_checkpoint, save_checkpoint, state_is_finite
from fields3d.recon.dataset import RayDataset
from fields3d.recon.trainer import Trainer, TrainingDiverged
from fields3d.recon.unisdf import UniSDFModel

pytestmark = pytest.mark.usefixtures("one_thread")


def make_trainer(capture, config, folder):
    torch.manual_seed(0)
    data = RayDataset(load_scene(capture), list(range(6)))
    model = UniSDFModel(config.model)
    return Trainer(model, data, config.train, folder, progress=False)


def test_resume_reproduces_the_uninterrupted_run(tiny_capture, make_tiny_config, tmp_path):
    config = make_tiny_config(steps=14)
    config.train.checkpoint_every = 8
    a = make_trainer(tiny_capture, config, tmp_path / "a")
    a.train()
    b = make_trainer(tiny_capture, config, tmp_path / "b")
    b.train(until=8)  # stop at the checkpoint, as an interrupted run
    c = make_trainer(tiny_capture, config, tmp_path / "b")
    assert c.resume(tmp_path / "b" / "latest.pt") == 8
    c.train()
    for (name, pa), pc in zip(a.model.state_dict().items(), c.model.state_dict().values(), strict=True):
        assert torch.allclose(pa.float(), pc.float(), atol=1e-6), name
    assert [h["step"] for h in c.history] == [h["step"] for h in a.history]
    assert (tmp_path / "b" / "previous.pt").is_file()


def test_non_finite_states_are_not_saved(tiny_capture, make_tiny_config, tmp_path):
    t = make_trainer(tiny_capture, make_tiny_config(), tmp_path)
    assert state_is_finite(t.model, t.optimizer)
    with torch.no_grad():
        t.model.variance.fill_(float("nan"))
    assert not state_is_finite(t.model)
    assert save_checkpoint(tmp_path, t.model, t.optimizer, 3) is None
    assert not (tmp_path / "latest.pt").exists()


def test_nan_loss_stops_with_the_step_and_the_checkpoint(tiny_capture, make_tiny_config, tmp_path):
    config = make_tiny_config(steps=20)
    t = make_trainer(tiny_capture, config, tmp_path)
    t.train(until=10)
    with torch.no_grad():
        t.model.field.mlp.linears[-1].bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="training diverged at step 10") as info:
        t.train()
    assert "--resume" in str(info.value) and str(tmp_path / "latest.pt") in str(info.value)
    assert isinstance(info.value, Fields3dError)
    assert (tmp_path / "diverged.json").is_file()
    # the last good checkpoint is intact and resumes with a halved learning rate
    r = make_trainer(tiny_capture, config, tmp_path)
    assert r.resume(tmp_path / "latest.pt", lr_scale=0.5) == 10 and r.lr_scale == 0.5
    assert state_is_finite(r.model)


def test_missing_or_foreign_checkpoint(tmp_path):
    with pytest.raises(InputError, match="no checkpoint"):
        load_checkpoint(tmp_path / "latest.pt")
    torch.save({"something": 1}, tmp_path / "x.pt")
    with pytest.raises(InputError, match="fields3d checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
