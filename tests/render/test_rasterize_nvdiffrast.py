"""nvdiffrast backend against the cpu backend (needs a CUDA device and diffrp-nvdiffrast: ``-m gpu``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras
from fields3d.ops import availability
from fields3d.render.rasterize import Rasterizer, RasterizerConfig, coverage, interpolate

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not availability.nvdiffrast(), reason=f"nvdiffrast unusable: {availability.nvdiffrast().reason}"
    ),
]


def both(verts, faces, cams, **config):
    """(cpu output on CPU tensors, nvdiffrast output on CUDA tensors) for the same scene."""
    cpu = Rasterizer(RasterizerConfig(backend="cpu", **config)).rasterize(verts, faces, cams)
    gpu = Rasterizer(RasterizerConfig(backend="nvdiffrast", **config)).rasterize(
        verts.cuda(), faces.cuda(), cams.to("cuda")
    )
    assert gpu.backend == "nvdiffrast"
    return cpu, gpu


def interior(triangle_id: torch.Tensor) -> torch.Tensor:
    """Pixels whose 3x3 neighbourhood shows one face: away from every edge (silhouette or not)."""
    padded = torch.nn.functional.pad(triangle_id, (1, 1, 1, 1), value=-2)
    same = torch.ones_like(triangle_id, dtype=torch.bool)
    h, w = triangle_id.shape[1:]
    for dy in range(3):
        for dx in range(3):
            same &= padded[:, dy : dy + h, dx : dx + w] == triangle_id
    return same & (triangle_id >= 0)


@pytest.fixture
def scenes(icosphere, orbit_cameras, shared_data, look_at):
    import trimesh

    cow = trimesh.load(shared_data("reference_meshes") / "cow.obj", force="mesh", process=False)
    v = np.asarray(cow.vertices)
    v = (v - (v.max(0) + v.min(0)) / 2) / np.abs(v).max()
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    return {
        "icosphere": (*icosphere(4), orbit_cameras(4, 160, 120)),
        "cow": (
            torch.tensor(v, dtype=torch.float32),
            torch.tensor(cow.faces),
            orbit_cameras(4, 128, 96, radius=2.5),
        ),
        "cube": (
            torch.tensor(box.vertices, dtype=torch.float32),
            torch.tensor(box.faces),
            Cameras.from_fov(np.radians(50), 96, 80, look_at([2.5, 1.8, -3.2])),
        ),
    }


@pytest.mark.parametrize("name", ["icosphere", "cow", "cube"])
def test_nvdiffrast_agrees_with_cpu_away_from_edges(scenes, name):
    verts, faces, cams = scenes[name]
    cpu, gpu = both(verts, faces, cams)
    inside = interior(cpu.triangle_id)
    assert inside.sum() > 1000
    gpu_id = gpu.triangle_id.cpu()
    assert (gpu_id[inside] == cpu.triangle_id[inside]).float().mean() > 0.99
    agree = inside & (gpu_id == cpu.triangle_id)
    assert torch.allclose(gpu.depth.cpu()[agree], cpu.depth[agree], atol=1e-4)
    assert torch.allclose(gpu.barycentrics.cpu()[agree], cpu.barycentrics[agree], atol=1e-3)
    points_gpu = interpolate(verts.cuda(), gpu).cpu()
    points_cpu = interpolate(verts, cpu)
    assert torch.allclose(points_gpu[agree], points_cpu[agree], atol=1e-4)
    assert (gpu.mask.cpu() != cpu.mask).float().mean() < 0.005  # masks differ only on edge ties


def test_cpu_backend_on_cuda_tensors_matches_cpu(scenes):
    verts, faces, cams = scenes["cow"]
    on_cpu = Rasterizer(RasterizerConfig(backend="cpu")).rasterize(verts, faces, cams)
    on_cuda = Rasterizer(RasterizerConfig(backend="cpu")).rasterize(
        verts.cuda(), faces.cuda(), cams.to("cuda")
    )
    assert on_cuda.backend == "cpu" and on_cuda.triangle_id.is_cuda
    assert (on_cuda.triangle_id.cpu() == on_cpu.triangle_id).float().mean() > 0.999
    assert torch.allclose(coverage(on_cuda).cpu(), coverage(on_cpu), atol=1e-4)


def test_auto_backend_on_cuda_is_nvdiffrast(scenes):
    verts, faces, cams = scenes["cube"]
    assert Rasterizer().rasterize(verts.cuda(), faces.cuda(), cams).backend == "nvdiffrast"


@pytest.mark.parametrize("name", ["cube", "icosphere"])
def test_nvdiffrast_antialias_equals_the_torch_twin_with_walk_1(scenes, name):
    """silhouette_walk=1 selects nvdiffrast's own antialias: the twin computes the same coverage."""
    verts, faces, cams = scenes[name]
    cpu, gpu = both(verts, faces, cams, silhouette_walk=1)
    cov_cpu, cov_gpu = coverage(cpu), coverage(gpu).cpu()
    assert (cov_cpu != cpu.mask.float()).sum() > 50  # something was antialiased
    close = (cov_cpu - cov_gpu).abs() < 1e-3
    assert close.float().mean() > 0.995  # differences: pixels whose visible face differs (edge ties)


def test_silhouette_gradients_agree_between_backends(scenes):
    """d/d(scale) of a weighted coverage of the cube, nvdiffrast's antialias vs the cpu twin."""
    verts, faces, cams = scenes["cube"]
    h, w = cams.image_size(0)
    weight = torch.linspace(0.5, 1.5, w).expand(1, h, w)
    grads = {}
    for backend, device, walk in (("cpu", "cpu", 6), ("nvdiffrast", "cuda", 1), ("nvdiffrast", "cuda", 6)):
        scale = torch.tensor(0.8, device=device, requires_grad=True)
        rasterizer = Rasterizer(RasterizerConfig(backend=backend, silhouette_walk=walk))
        out = rasterizer.rasterize(verts.to(device) * scale, faces.to(device), cams.to(device))
        (coverage(out) * weight.to(device)).sum().backward()
        grads[(backend, walk)] = scale.grad.item()
    reference = grads[("cpu", 6)]
    assert reference > 100
    assert abs(grads[("nvdiffrast", 1)] / reference - 1) < 0.05
    assert abs(grads[("nvdiffrast", 6)] / reference - 1) < 0.01


def test_interpolate_gradients_reach_vertices_on_nvdiffrast(scenes):
    verts, faces, cams = scenes["icosphere"]
    v = verts.cuda().requires_grad_()
    out = Rasterizer(RasterizerConfig(backend="nvdiffrast")).rasterize(v, faces.cuda(), cams)
    colors = torch.rand(len(verts), 3, device="cuda", requires_grad=True)
    (interpolate(colors, out).sum() + out.depth.sum()).backward()
    assert v.grad.abs().sum() > 0 and colors.grad.abs().sum() > 0
