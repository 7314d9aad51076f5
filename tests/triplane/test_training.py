import json

import pytest
import torch

from fields3d.errors import InputError
from fields3d.triplane.classifier import ChannelTransformerConfig, TriplaneCNNConfig
from fields3d.triplane.evaluation import evaluate_run, load_run
from fields3d.triplane.task_data import load_task_data
from fields3d.triplane.training import TrainConfig, train

SMALL = dict(
    transformer=ChannelTransformerConfig(dim=16, layers=1, heads=2),
    cnn=TriplaneCNNConfig(width=4),
    batch_size=2,
    points_per_shape=64,
    eval_every=2,
)


def test_classifier_run_writes_its_folder_and_resumes(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    m = train(tiny_dataset, run, TrainConfig(epochs=2, **SMALL), device="cpu", progress=False)
    for name in ("config.json", "metrics.json", "confusion.png", "report.html", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    assert (
        m["samples"] == 3
        and 0 <= m["accuracy"] <= 1
        and set(m["per_class_accuracy"]) == {"mug", "snowman", "table"}
    )
    assert [h["epoch"] for h in m["history"]] == [1, 2] and "test" in m["history"][1]
    # resume: two more epochs continue from epoch 2 (the config must match, so extend via the checkpoint)
    m2 = train(tiny_dataset, run, TrainConfig(epochs=2, **SMALL), device="cpu", progress=False)
    assert [h["epoch"] for h in m2["history"]] == [1, 2]  # nothing left to do: same history
    with pytest.raises(InputError, match="different ones"):
        train(tiny_dataset, run, TrainConfig(epochs=3, **SMALL), device="cpu", progress=False)
    model, config, desc = load_run(run)
    assert config.epochs == 2 and desc["classes"] == ["mug", "snowman", "table"]
    e = evaluate_run(run, tiny_dataset, tmp_path / "ev", split="all")
    assert e["samples"] == 6 and (tmp_path / "ev" / "confusion.png").is_file()
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["accuracy"] == e["accuracy"]


def test_classifier_learns_the_tiny_training_set(tiny_dataset, tmp_path):
    cfg = TrainConfig(epochs=40, lr=3e-3, warmup_epochs=1, **{**SMALL, "eval_every": 0})
    train(tiny_dataset, tmp_path / "run", cfg, device="cpu", progress=False)
    e = evaluate_run(tmp_path / "run", tiny_dataset, tmp_path / "ev", split="train")
    assert e["accuracy"] == 1.0


@pytest.mark.parametrize("model", ["cnn", "pointnet"])
def test_baselines_train(tiny_dataset, tmp_path, model):
    m = train(
        tiny_dataset,
        tmp_path / model,
        TrainConfig(model=model, epochs=1, **SMALL),
        device="cpu",
        progress=False,
    )
    assert m["samples"] == 3


def test_segmenter_run_and_folds(tiny_dataset, tmp_path):
    cfg = TrainConfig(task="segment", epochs=1, folds=2, fold=1, **SMALL)
    m = train(tiny_dataset, tmp_path / "seg", cfg, device="cpu", progress=False)
    assert (
        0 <= m["instance_miou"] <= 1
        and m["shapes"] == 3
        and (tmp_path / "seg" / "segmentation.png").is_file()
    )
    data = load_task_data(tiny_dataset)
    test = data.split_indices("test", 1, 2)
    train_idx = data.split_indices("train", 1, 2)
    assert sorted(test + train_idx) == list(range(6)) and len(test) == 3
    assert sorted(data.objects[i]["class"] for i in test) == ["mug", "snowman", "table"]
    with pytest.raises(InputError, match="--model transformer"):
        train(
            tiny_dataset,
            tmp_path / "x",
            TrainConfig(task="segment", model="cnn"),
            device="cpu",
            progress=False,
        )


def test_training_permutes_channels_for_the_cnn_only():
    from fields3d.triplane.training import forward_batch

    calls = []

    class Probe(torch.nn.Module):
        def forward(self, planes):
            calls.append(planes)
            return torch.zeros(planes.shape[0], 2, requires_grad=True)

    planes = torch.randn(2, 3, 4, 4, 4)
    for model in ("transformer", "cnn"):
        forward_batch(
            Probe(),
            TrainConfig(model=model),
            planes,
            None,
            None,
            torch.zeros(2, dtype=torch.long),
            torch.Generator().manual_seed(0),
            train=True,
        )
    assert torch.equal(calls[0], planes) and not torch.equal(calls[1], planes)
