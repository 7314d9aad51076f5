"""Analytic fields and mesh checks shared by the extraction tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch


def sphere_sdf(x: torch.Tensor, center, radius) -> torch.Tensor:
    return (x - torch.as_tensor(center, dtype=x.dtype)).norm(dim=-1) - radius


def torus_sdf(x: torch.Tensor, major: float = 0.5, minor: float = 0.2) -> torch.Tensor:
    ring = torch.sqrt(x[..., 0] ** 2 + x[..., 1] ** 2) - major
    return torch.sqrt(ring**2 + x[..., 2] ** 2) - minor


def box_sdf(x: torch.Tensor, center, half_size) -> torch.Tensor:
    q = (x - torch.as_tensor(center, dtype=x.dtype)).abs() - torch.as_tensor(half_size, dtype=x.dtype)
    return q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)


def sphere_points(n: int, center, radius, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return d / d.norm(dim=1, keepdim=True) * radius + torch.as_tensor(center, dtype=torch.float64)


def torus_points(n: int, major: float = 0.5, minor: float = 0.2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u, v = (
        torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi,
        torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi,
    )
    r = major + minor * torch.cos(v)
    return torch.stack([r * torch.cos(u), r * torch.sin(u), minor * torch.sin(v)], dim=1)


def box_points(n: int, center, half_size, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, 3, generator=g, dtype=torch.float64) * 2 - 1
    axis = torch.randint(0, 3, (n,), generator=g)
    p[torch.arange(n), axis] = (torch.randint(0, 2, (n,), generator=g) * 2 - 1).double()
    return p * torch.as_tensor(half_size, dtype=torch.float64) + torch.as_tensor(center, dtype=torch.float64)


def closed_and_oriented(faces) -> tuple[bool, str]:
    """Every directed edge appears once and its reverse once (closed, consistently wound 2-manifold edges)."""
    f = np.asarray(faces.cpu() if hasattr(faces, "cpu") else faces)
    if len(f) == 0:
        return False, "no faces"
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    if (directed[:, 0] == directed[:, 1]).any():
        return False, "a face repeats a vertex"
    pairs, counts = np.unique(directed, axis=0, return_counts=True)
    if (counts != 1).any():
        return False, f"{int((counts != 1).sum())} directed edges used more than once"
    reverse = {tuple(p) for p in pairs}
    missing = sum((b, a) not in reverse for a, b in pairs)
    return missing == 0, f"{missing} directed edges without their reverse (holes)"


def mesh_to_surface_distances(vertices, faces, sdf, surface_points, samples: int = 60_000, seed: int = 0):
    """(mesh -> surface, surface -> mesh) distances: |sdf| at random points of the triangles, and for
    points of the true surface the distance to the nearest of ``samples`` random points of the mesh."""
    from scipy.spatial import cKDTree

    v = vertices.detach().double().cpu()
    tri = v[faces.cpu()]
    g = torch.Generator().manual_seed(seed)
    choice = torch.randint(0, tri.shape[0], (samples,), generator=g)
    a, b = (
        torch.rand(samples, generator=g, dtype=torch.float64),
        torch.rand(samples, generator=g, dtype=torch.float64),
    )
    flip = a + b > 1
    a, b = torch.where(flip, 1 - a, a), torch.where(flip, 1 - b, b)
    t = tri[choice]
    on_mesh = t[:, 0] + a[:, None] * (t[:, 1] - t[:, 0]) + b[:, None] * (t[:, 2] - t[:, 0])
    to_surface = sdf(on_mesh).abs().numpy()
    to_mesh, _ = cKDTree(on_mesh.numpy()).query(surface_points.numpy())
    return to_surface, to_mesh


@pytest.fixture
def fields():
    """The analytic fields and surface samplers as a namespace."""

    class Fields:
        sphere = staticmethod(sphere_sdf)
        torus = staticmethod(torus_sdf)
        box = staticmethod(box_sdf)
        sphere_points = staticmethod(sphere_points)
        torus_points = staticmethod(torus_points)
        box_points = staticmethod(box_points)
        closed_and_oriented = staticmethod(closed_and_oriented)
        mesh_to_surface_distances = staticmethod(mesh_to_surface_distances)

    return Fields
