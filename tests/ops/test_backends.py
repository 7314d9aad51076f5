"""`fields3d info`'s backend table for the hash grid and tri-plane (CPU machine)."""

from __future__ import annotations

import pytest
import torch

from fields3d.ops import extension
from fields3d.ops.backends import op_backends


def entries() -> dict[str, object]:
    return {b.op: b for b in op_backends()}


@pytest.mark.skipif(torch.cuda.is_available(), reason="describes a machine without CUDA")
def test_cpu_machine_reports_cpp_kernels_with_their_origin(cpu_kernels):
    table = entries()
    for op in ("hash grid", "tri-plane"):
        assert table[op].backend == "cpp"
        assert "fields3d_cpu" in table[op].reason or "fields3d._C" in table[op].reason


@pytest.mark.skipif(torch.cuda.is_available(), reason="describes a machine without CUDA")
def test_cpu_machine_reports_twin_and_why_when_kernels_cannot_build(monkeypatch):
    monkeypatch.setattr(extension, "_loaded", {})
    monkeypatch.setattr(extension, "_failed", {})
    monkeypatch.setattr(extension, "_prebuilt", lambda kind: None)
    monkeypatch.setenv("FIELDS3D_NO_JIT", "1")
    table = entries()
    assert table["hash grid"].backend == "torch" and "FIELDS3D_NO_JIT" in table["hash grid"].reason
    assert table["tri-plane"].backend == "torch" and "cpp:" in table["tri-plane"].reason


def test_info_command_prints_the_backends(capsys):
    from fields3d.cli.main import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "hash grid" in out and "tri-plane" in out
