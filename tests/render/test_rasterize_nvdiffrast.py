"""The nvdiffrast backend: its clip-space boundary (CPU) and, with ``-m gpu`` on a CUDA machine with
diffrp-nvdiffrast, its outputs against the cpu backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras
from fields3d.ops import availability
from fields3d.render.rasterize import Rasterizer, RasterizerConfig, coverage, interpolate
from fields3d.render.rasterize_nvdiffrast import clip_matrix, triangle_ids


def needs_nvdiffrast(test):
    """Mark a test ``gpu`` and skip it where nvdiffrast cannot run."""
    reason = f"nvdiffrast unusable: {availability.nvdiffrast().reason}"
    return pytest.mark.gpu(pytest.mark.skipif(not availability.nvdiffrast(), reason=reason)(test))


# --------------------------------------------------------------------------------------------------
# CPU: the conventions at the boundary
def test_clip_matrix_maps_pixels_to_nvdiffrast_ndc_with_row_0_on_top():
    K = torch.tensor([[[50.0, 0, 33.0], [0, 40.0, 21.0], [0, 0, 1]]])
    width, height, near, far = 64, 48, 0.1, 20.0
    cams = Cameras(K, torch.eye(4)[None], width, height)
    points = torch.tensor([[0.3, -0.2, 2.0], [-1.1, 0.7, 5.0], [0.0, 0.0, near], [0.2, 0.1, far]])
    uv, z = cams.project(points, 0)
    clip = torch.cat([points, torch.ones(4, 1)], -1) @ clip_matrix(K, width, height, near, far)[0].T
    ndc = clip[:, :3] / clip[:, 3:]
    assert torch.allclose(clip[:, 3], z)  # w = camera depth
    # nvdiffrast samples memory pixel (row r, column c) at ndc ((2c + 1) / W - 1, (2r + 1) / H - 1)
    assert torch.allclose((ndc[:, 0] + 1) * width / 2, uv[:, 0], atol=1e-4)
    assert torch.allclose((ndc[:, 1] + 1) * height / 2, uv[:, 1], atol=1e-4)
    assert torch.allclose(ndc[2:, 2], torch.tensor([-1.0, 1.0]), atol=1e-5)  # near -> -1, far -> +1


def test_triangle_ids_decode_nvdiffrast_codes_above_2_to_the_24():
    ids = torch.tensor([-1, 0, 5, 16777215, 16777216, 40000000])
    large = (ids + 1 + 0x4A800000).to(torch.int32).view(torch.float32)
    code = torch.where(ids + 1 <= 16777216, (ids + 1).float(), large)
    rast = torch.zeros(1, 1, 6, 4)
    rast[..., 3] = code
    assert torch.equal(triangle_ids(rast)[0, 0], ids)


# --------------------------------------------------------------------------------------------------
# GPU: nvdiffrast against the cpu backend


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


@needs_nvdiffrast
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


@needs_nvdiffrast
def test_cpu_backend_on_cuda_tensors_matches_cpu(scenes):
    verts, faces, cams = scenes["cow"]
    on_cpu = Rasterizer(RasterizerConfig(backend="cpu")).rasterize(verts, faces, cams)
    on_cuda = Rasterizer(RasterizerConfig(backend="cpu")).rasterize(
        verts.cuda(), faces.cuda(), cams.to("cuda")
    )
    assert on_cuda.backend == "cpu" and on_cuda.triangle_id.is_cuda
    assert (on_cuda.triangle_id.cpu() == on_cpu.triangle_id).float().mean() > 0.999
    assert torch.allclose(coverage(on_cuda).cpu(), coverage(on_cpu), atol=1e-4)


@needs_nvdiffrast
def test_auto_backend_on_cuda_is_nvdiffrast(scenes):
    verts, faces, cams = scenes["cube"]
    assert Rasterizer().rasterize(verts.cuda(), faces.cuda(), cams).backend == "nvdiffrast"


@needs_nvdiffrast
@pytest.mark.parametrize("name", ["cube", "icosphere"])
def test_nvdiffrast_antialias_equals_the_torch_twin_with_walk_1(scenes, name):
    """silhouette_walk=1 selects nvdiffrast's own antialias: the twin computes the same coverage."""
    verts, faces, cams = scenes[name]
    cpu, gpu = both(verts, faces, cams, silhouette_walk=1)
    cov_cpu, cov_gpu = coverage(cpu), coverage(gpu).cpu()
    assert (cov_cpu != cpu.mask.float()).sum() > 50  # something was antialiased
    close = (cov_cpu - cov_gpu).abs() < 1e-3
    assert close.float().mean() > 0.995  # differences: pixels whose visible face differs (edge ties)


@needs_nvdiffrast
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


@needs_nvdiffrast
def test_interpolate_gradients_reach_vertices_on_nvdiffrast(scenes):
    verts, faces, cams = scenes["icosphere"]
    v = verts.cuda().requires_grad_()
    out = Rasterizer(RasterizerConfig(backend="nvdiffrast")).rasterize(v, faces.cuda(), cams)
    colors = torch.rand(len(verts), 3, device="cuda", requires_grad=True)
    (interpolate(colors, out).sum() + out.depth.sum()).backward()
    assert v.grad.abs().sum() > 0 and colors.grad.abs().sum() > 0
