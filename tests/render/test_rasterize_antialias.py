"""Silhouette antialiasing (cpu twin): exact coverage at straight edges, gradients vs finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras
from fields3d.render.rasterize import Rasterizer, RasterizerConfig, antialias, coverage
from fields3d.render.rasterize_antialias import edge_neighbours

CPU = RasterizerConfig(backend="cpu")


def screen_quad(corners_uv, depth=2.0, width=24, height=16, f=20.0, dtype=torch.float64):
    """A two-triangle quad at constant depth whose corners project to ``corners_uv`` (4, 2)."""
    K = torch.tensor([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=torch.float32)
    cams = Cameras(K, torch.eye(4)[None], width, height)
    uv = torch.as_tensor(corners_uv, dtype=dtype)
    xy = (uv - torch.tensor([width / 2, height / 2], dtype=dtype)) / f * depth
    verts = torch.cat([xy, torch.full((4, 1), depth, dtype=dtype)], -1)
    return verts, torch.tensor([[0, 1, 2], [0, 2, 3]]), cams


def test_edge_neighbours_of_a_tetrahedron_and_a_lone_triangle():
    faces = torch.tensor([[0, 1, 2], [0, 3, 1], [1, 3, 2], [2, 3, 0]])
    neighbour, wing = edge_neighbours(faces)
    for f in range(4):
        for k in range(3):
            edge = {int(faces[f, (k + 1) % 3]), int(faces[f, (k + 2) % 3])}
            g = int(neighbour[f, k])
            assert g != f and edge <= set(faces[g].tolist())
            assert set(faces[g].tolist()) - edge == {int(wing[f, k])}
    neighbour, wing = edge_neighbours(torch.tensor([[0, 1, 2]]))
    assert (neighbour == -1).all() and (wing == -1).all()


@pytest.mark.parametrize("right", [(10.3, 10.3), (9.2, 12.7), (14.05, 11.4)])
def test_coverage_along_a_straight_edge_is_the_covered_area(right):
    """A quad covering u < x(v), past the image on three sides: each row's coverage is x at the row centre."""
    top, bottom = right
    verts, faces, cams = screen_quad([[-5, -5], [top, -5], [bottom, 21], [-5, 21]])
    out = Rasterizer(CPU).rasterize(verts, faces, cams)
    rows = torch.arange(16, dtype=torch.float64) + 0.5
    x_at_row = top + (bottom - top) * (rows + 5) / 26
    cov = coverage(out)[0]
    assert torch.allclose(cov.sum(-1), x_at_row, atol=1e-6)
    assert not torch.equal(cov, out.mask[0].double())  # antialiasing changed something
    assert cov.min() >= 0 and cov.max() <= 1


def test_shallow_edges_are_antialiased_along_columns():
    verts, faces, cams = screen_quad([[-5, -5], [30, -5], [30, 7.3], [-5, 9.1]])  # bottom edge v(u)
    out = Rasterizer(CPU).rasterize(verts, faces, cams)
    cols = torch.arange(24, dtype=torch.float64) + 0.5
    v_at_col = 9.1 + (7.3 - 9.1) * (cols + 5) / 35
    assert torch.allclose(coverage(out)[0].sum(0), v_at_col, atol=1e-6)


def test_colour_is_blended_across_an_occluding_edge():
    """A near quad over a far one: the silhouette blends the near colour into the far pixel behind it."""
    near_v, faces, cams = screen_quad([[-5, -5], [10.8, -5], [10.8, 21], [-5, 21]], depth=2.0)
    far_v, _, _ = screen_quad([[-5, -5], [30, -5], [30, 21], [-5, 21]], depth=3.0)
    verts = torch.cat([near_v, far_v])
    out = Rasterizer(CPU).rasterize(verts, torch.cat([faces, faces + 4]), cams)
    color = torch.where(out.triangle_id[..., None] < 2, 1.0, 0.0).double()  # near = 1, far = 0
    blended = antialias(color, out)[0, :, :, 0]
    # the edge at u = 10.8 leaves 0.2 of pixel 10 (centre 10.5) to the far quad
    assert torch.allclose(blended[:, 10], torch.full((16,), 0.8, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(blended.sum(-1), torch.full((16,), 10.8, dtype=torch.float64), atol=1e-6)


def test_coverage_gradcheck_wrt_vertex_positions():
    verts, faces, cams = screen_quad(
        [[3.31, 2.23], [19.63, 4.17], [17.21, 13.77], [5.13, 11.41]]
    )  # edges >= 0.005 px from centres
    rasterizer = Rasterizer(CPU)
    weight = torch.rand(1, 16, 24, dtype=torch.float64)
    reference = rasterizer.rasterize(verts, faces, cams).mask

    def loss(v):
        out = rasterizer.rasterize(v, faces, cams)
        assert torch.equal(out.mask, reference)  # (ids may swap on the shared diagonal: no effect)
        return (coverage(out) * weight).sum()

    assert torch.autograd.gradcheck(loss, (verts.clone().requires_grad_(),))
    v = verts.clone().requires_grad_()
    (grad,) = torch.autograd.grad(loss(v), v)
    assert grad[:, :2].abs().min() > 0  # every corner is on the silhouette


def test_antialias_rejects_bad_images(icosphere, orbit_cameras):
    verts, faces = icosphere(1)
    out = Rasterizer(CPU).rasterize(verts, faces, orbit_cameras(2, 8, 6))
    with pytest.raises(ValueError, match=r"expected color of shape \(2, 6, 8, C\), got \(2, 8, 6, 3\)"):
        antialias(torch.rand(2, 8, 6, 3), out)
    with pytest.raises(ValueError, match="expected color as a floating-point tensor, got torch.uint8"):
        antialias(torch.zeros(2, 6, 8, 3, dtype=torch.uint8), out)


# --------------------------------------------------------------------------------------------------
# the silhouette gradient of a moving sphere against finite differences
def _sphere_silhouette_loss(unit, faces, cams, weight):
    rasterizer = Rasterizer(CPU)

    def loss(radius, centre):
        return (coverage(rasterizer.rasterize(unit * radius + centre, faces, cams)) * weight).sum()

    return loss


@pytest.mark.parametrize("seed", [0, 1])
def test_silhouette_gradient_matches_finite_differences(icosphere, look_at, seed):
    """d/d(radius) and d/d(centre x) of sum(coverage * weight) for an icosphere seen by two cameras.

    Visibility is discrete, so the loss is only piecewise smooth: antialiased coverage is continuous
    but its slope jumps where a silhouette edge passes a pixel centre or a face vertex, and pairs whose
    silhouette edge is flatter than 45 degrees to both axes, or lies beyond ``MAX_WALK`` faces, are
    not blended.  Central differences over +-0.01 (about 0.3 px of silhouette motion) therefore match
    autograd only approximately: 0-8 % was seen over random spheres; the bound is 15 %.
    """
    unit, faces = icosphere(3, torch.float64)
    cams = Cameras.from_fov(np.radians(40), 64, 48, np.stack([look_at([0, 0, -3]), look_at([3, 0.5, 0])]))
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 64), indexing="ij")
    weight = (1 + 0.8 * cols + 0.3 * rows**2).double().expand(2, 48, 64)
    loss = _sphere_silhouette_loss(unit, faces, cams, weight)
    rng = np.random.default_rng(seed)
    radius = torch.tensor(rng.uniform(0.6, 0.8), dtype=torch.float64, requires_grad=True)
    centre = torch.tensor(rng.uniform(-0.15, 0.15, 3), requires_grad=True)
    loss(radius, centre).backward()
    h = 0.01
    with torch.no_grad():
        fd_radius = (loss(radius + h, centre) - loss(radius - h, centre)) / (2 * h)
        step = torch.tensor([h, 0.0, 0.0], dtype=torch.float64)
        fd_x = (loss(radius, centre + step) - loss(radius, centre - step)) / (2 * h)
    assert abs(fd_radius) > 1000 and abs(fd_x) > 500  # the loss does depend on both
    assert abs(radius.grad / fd_radius - 1) < 0.15
    assert abs(centre.grad[0] / fd_x - 1) < 0.15


def test_without_antialiasing_there_is_no_silhouette_gradient(icosphere, orbit_cameras):
    """The plain mask is piecewise constant; only coverage() carries the radius gradient."""
    unit, faces = icosphere(2, torch.float64)
    cams = orbit_cameras(1, 32, 32)
    radius = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    out = Rasterizer(CPU).rasterize(unit * radius, faces, cams)
    (grad,) = torch.autograd.grad(coverage(out).sum(), radius)
    assert grad > 0  # a bigger sphere covers more
    assert not out.mask.requires_grad


def test_walking_finds_silhouettes_of_faces_thinner_than_a_pixel(icosphere, look_at):
    """With ``silhouette_walk=1`` (nvdiffrast's rule) most silhouette pixels of a smooth sphere are missed."""
    unit, faces = icosphere(3)
    cams = Cameras.from_fov(np.radians(40), 64, 48, look_at([0, 0, -3]))
    covered = {}
    for walk in (1, 6):
        out = Rasterizer(RasterizerConfig(backend="cpu", silhouette_walk=walk)).rasterize(
            unit * 0.7, faces, cams
        )
        covered[walk] = int((coverage(out) != out.mask.float()).sum())
    perimeter_pixels = (
        2 * np.pi * 0.7 / 3 * cams.K[0, 0, 0].item()
    )  # about one blended pixel per boundary row/column
    assert covered[6] > 0.6 * perimeter_pixels
    assert covered[1] < 0.5 * covered[6]
    quad, quad_faces, quad_cams = screen_quad([[-5, -5], [10.3, -5], [9.1, 21], [-5, 21]])
    results = [
        coverage(
            Rasterizer(RasterizerConfig(backend="cpu", silhouette_walk=w)).rasterize(
                quad, quad_faces, quad_cams
            )
        )
        for w in (1, 6)
    ]
    assert torch.equal(results[0], results[1])  # big faces: the covering face owns the silhouette edge
    with pytest.raises(ValueError, match="expected silhouette_walk >= 1, got 0"):
        RasterizerConfig(silhouette_walk=0)
