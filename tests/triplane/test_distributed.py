"""Sharded fitting and DDP training under torchrun: 2 CPU processes on gloo."""

import json
import os
import subprocess
import sys

import pytest
import torch

from fields3d.triplane import dataset_files

FIT = [
    "triplane",
    "fit",
    "--channels",
    "4",
    "--resolution",
    "8",
    "--steps",
    "20",
    "--points-per-step",
    "128",
    "--batch",
    "2",
    "--quality-resolution",
    "16",
    "--device",
    "cpu",
]


def _run(args, torchrun: bool):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    prefix = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        if torchrun
        else [sys.executable]
    )
    cmd = prefix + ["-m", "fields3d.cli.main", *args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.slow
def test_torchrun_fit_matches_one_process_and_ddp_trains(tiny_shapes, tmp_path):
    folder, labels = tiny_shapes
    meshes = folder / "meshes"
    _run([*FIT, str(meshes), "--labels", str(labels), "--out", str(tmp_path / "one")], torchrun=False)
    res = _run([*FIT, str(meshes), "--labels", str(labels), "--out", str(tmp_path / "two")], torchrun=True)
    assert "fitted 6 tri-planes" in res.stdout
    one = dataset_files.read_manifest(tmp_path / "one")
    two = dataset_files.read_manifest(tmp_path / "two")
    assert two["summary"]["processes"] == 2 and len(two["objects"]) == 6
    assert [o["source"] for o in one["objects"]] == [o["source"] for o in two["objects"]]
    a = dataset_files.load_tensors(tmp_path / "one", one, ("planes",))["planes"]
    b = dataset_files.load_tensors(tmp_path / "two", two, ("planes",))["planes"]
    assert torch.allclose(a, b, atol=1e-5)  # the output does not depend on the number of processes

    _run(
        [
            "triplane",
            "train",
            str(tmp_path / "two"),
            "--out",
            str(tmp_path / "run"),
            "--epochs",
            "2",
            "--batch-size",
            "2",
            "--device",
            "cpu",
        ],
        torchrun=True,
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["samples"] == 3
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
