"""DeepMesh gradients through a rendered-silhouette loss: extract_mesh -> Rasterizer -> coverage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras
from fields3d.extract import extract_mesh
from fields3d.render.rasterize import Rasterizer, RasterizerConfig, coverage


class SphereSDF(torch.nn.Module):
    """Signed distance to a sphere with learnable radius and centre."""

    def __init__(self, radius: float, centre):
        super().__init__()
        self.radius = torch.nn.Parameter(torch.tensor(float(radius)))
        self.centre = torch.nn.Parameter(torch.tensor(centre, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.centre).norm(dim=-1) - self.radius


@pytest.mark.parametrize("seed", [0, 1])
def test_deepmesh_gradient_through_the_silhouette_matches_finite_differences(look_at, seed):
    """d/d(radius) and d/d(centre x) of sum(coverage * weight) of the extracted mesh, vs re-extraction.

    Autograd goes loss -> antialiased coverage -> mesh vertices -> DeepMesh (dv/dtheta =
    -grad f / |grad f|^2 df/dtheta) -> the field's parameters.  The finite difference re-extracts the
    mesh at theta +- 0.01 (vertices slide along grid edges and the marching-cubes mesh changes), and
    visibility is discrete, so agreement is approximate: 0.6-3 % was seen; the bound is 15 %.
    """
    cams = Cameras.from_fov(np.radians(40), 64, 48, np.stack([look_at([0, 0, -3]), look_at([3, 0.5, 0])]))
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 64), indexing="ij")
    weight = (1 + 0.8 * cols + 0.3 * rows**2).expand(2, 48, 64)
    rasterizer = Rasterizer(RasterizerConfig(backend="cpu"))
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])

    def loss(field, differentiable=True):
        mesh = extract_mesh(field, aabb, 40, differentiable=differentiable)
        return (coverage(rasterizer.rasterize(mesh.vertices, mesh.faces, cams)) * weight).sum()

    rng = np.random.default_rng(seed)
    radius, centre = float(rng.uniform(0.5, 0.7)), rng.uniform(-0.1, 0.1, 3).tolist()
    field = SphereSDF(radius, centre)
    loss(field).backward()
    h = 0.01
    with torch.no_grad():
        fd_radius = (
            loss(SphereSDF(radius + h, centre), False) - loss(SphereSDF(radius - h, centre), False)
        ) / (2 * h)
        plus, minus = list(centre), list(centre)
        plus[0] += h
        minus[0] -= h
        fd_x = (loss(SphereSDF(radius, plus), False) - loss(SphereSDF(radius, minus), False)) / (2 * h)
    assert fd_radius > 1000 and fd_x > 300
    assert abs(field.radius.grad / fd_radius - 1) < 0.15
    assert abs(field.centre.grad[0] / fd_x - 1) < 0.15
