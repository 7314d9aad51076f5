"""Finding, packaging and loading the kernel sources (no compilation here except through fixtures)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from fields3d.ops import extension

ROOT = Path(__file__).resolve().parents[2]


def test_sources_are_found_in_the_repository():
    root = extension.sources_dir()
    assert root is not None and (root / "bindings.cpp").is_file()
    cpu = {p.name for p in extension.source_files("cpu")}
    cuda = {p.name for p in extension.source_files("cuda")}
    assert {"bindings.cpp", "hashgrid_cpu.cpp", "triplane_cpu.cpp"} <= cpu
    assert not any(name.endswith(".cu") for name in cpu)
    assert {"hashgrid.cu", "triplane.cu"} <= cuda


def test_status_never_builds_and_explains(monkeypatch):
    monkeypatch.setattr(extension, "_loaded", {})
    monkeypatch.setattr(extension, "_failed", {})
    monkeypatch.setenv("FIELDS3D_NO_JIT", "1")
    monkeypatch.setattr(extension, "_prebuilt", lambda kind: None)
    status = extension.status("cpu")
    assert not status and "FIELDS3D_NO_JIT" in status.reason
    with pytest.raises(extension.ExtensionUnavailable, match="FIELDS3D_NO_JIT"):
        extension.load("cpu")
    assert not extension.try_load("cpu")  # the failure is remembered, not retried
    with pytest.raises(ValueError, match="expected kind"):
        extension.status("metal")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer on a machine without CUDA")
def test_cuda_status_on_a_cpu_machine_says_why(monkeypatch):
    monkeypatch.setattr(extension, "_failed", {})
    status = extension.status("cuda")
    assert not status
    assert "CPU-only" in status.reason or "CUDA" in status.reason


@pytest.mark.slow
def test_wheel_contains_kernel_sources_and_installed_package_finds_them(tmp_path):
    """`pip wheel .` packages cuda_ext/ as fields3d/_cuda_ext; a non-editable install uses that copy."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info")
    shutil.copytree(ROOT / "fields3d", tree / "fields3d", ignore=ignore)
    shutil.copytree(ROOT / "cuda_ext", tree / "cuda_ext", ignore=ignore)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(tree),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
        ],
        check=True,
        env={**os.environ, "FIELDS3D_BUILD_CUDA": "", "FIELDS3D_BUILD_CPU": ""},
    )
    (wheel,) = wheels.glob("fields3d-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in (
        "bindings.cpp",
        "hashgrid/hashgrid.cu",
        "hashgrid/hashgrid_cpu.cpp",
        "triplane/triplane.cu",
    ):
        assert f"fields3d/_cuda_ext/{source}" in names
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
    )
    found = subprocess.run(
        [sys.executable, "-c", "from fields3d.ops import extension; print(extension.sources_dir())"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(found) == site / "fields3d" / "_cuda_ext"
