"""DeepMesh gradients against finite differences of the whole (non-differentiable) extraction."""

import pytest
import torch

from fields3d.extract import extract_mesh
from fields3d.extract.deepmesh import deepmesh_vertices, spatial_gradient

BOX = [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]
F64 = dict(dtype=torch.float64)


def chamfer(vertices: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    d = torch.cdist(vertices, target)
    return d.min(dim=1).values.pow(2).mean() + d.min(dim=0).values.pow(2).mean()


def finite_difference(loss_of, theta: torch.Tensor, eps: float) -> torch.Tensor:
    grad = torch.zeros_like(theta)
    for i in range(theta.numel()):
        step = torch.zeros_like(theta).reshape(-1)
        step[i] = eps
        step = step.reshape(theta.shape)
        grad.reshape(-1)[i] = (loss_of(theta + step) - loss_of(theta - step)) / (2 * eps)
    return grad


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("method,tolerance", [("cubes", 0.08), ("tetrahedra", 0.08)])
def test_sphere_radius_and_centre_gradients_match_finite_differences(method, tolerance, fields):
    """Chamfer to points on a slightly different sphere.  DeepMesh moves vertices along the normal, the
    discrete extraction along grid edges; the two agree up to the tangential part (a few % here)."""
    target = fields.sphere_points(2000, [0.05, -0.02, 0.03], 0.55)
    theta = torch.tensor([0.6, 0.1, 0.0, -0.05], dtype=torch.float64)  # radius, centre

    def loss_of(p, differentiable=False):
        sdf = lambda x: fields.sphere(x, p[1:], p[0])  # noqa: E731
        return chamfer(
            extract_mesh(sdf, BOX, 24, method=method, differentiable=differentiable, **F64).vertices, target
        )

    p = theta.clone().requires_grad_(True)
    loss_of(p, differentiable=True).backward()
    with torch.no_grad():
        fd = finite_difference(loss_of, theta, 1e-6)
    assert relative_error(p.grad, fd) < tolerance, (p.grad, fd)
    assert relative_error(p.grad[:1], fd[:1]) < tolerance  # the radius alone, too


@pytest.mark.parametrize("method,tolerance", [("cubes", 0.03), ("tetrahedra", 0.12)])
def test_box_size_gradient_matches_finite_differences(method, tolerance, fields):
    """Box faces sit mid-way between grid planes, so the discrete extraction has no near-tangent edges."""
    target = fields.box_points(1500, [0, 0, 0], [0.44, 0.40, 0.32])
    size = torch.tensor([0.42, 0.38, 0.30], dtype=torch.float64)
    aabb = [[-0.6] * 3, [0.6] * 3]

    def loss_of(b, differentiable=False):
        sdf = lambda x: fields.box(x, [0, 0, 0], b)  # noqa: E731
        mesh = extract_mesh(sdf, aabb, 31, method=method, differentiable=differentiable, **F64)
        return chamfer(mesh.vertices, target)

    b = size.clone().requires_grad_(True)
    loss_of(b, differentiable=True).backward()
    with torch.no_grad():
        fd = finite_difference(loss_of, size, 1e-6)
    assert relative_error(b.grad, fd) < tolerance, (b.grad, fd)


def test_vertex_jacobian_is_the_deepmesh_formula(fields):
    """Per vertex: dv/dr = n and dv/dc = n n^T for f = |x - c| - r (unit gradient n)."""
    c = torch.tensor([0.1, -0.05, 0.02], dtype=torch.float64, requires_grad=True)
    r = torch.tensor(0.55, dtype=torch.float64, requires_grad=True)
    mesh = extract_mesh(lambda x: fields.sphere(x, c, r), BOX, 17, **F64)
    v = mesh.vertices
    n = torch.nn.functional.normalize(v.detach() - c.detach(), dim=1)
    weights = torch.randn(v.shape, dtype=torch.float64)
    gr, gc = torch.autograd.grad((v * weights).sum(), (r, c))
    assert torch.allclose(gr, (weights * n).sum(), atol=1e-9)
    assert torch.allclose(gc, ((weights * n).sum(1, keepdim=True) * n).sum(0), atol=1e-9)


def test_dense_grid_gradient_is_exact(fields):
    """For a grid of values the vertices are exact functions of the values: FD agrees to ~1e-7."""
    n = 17
    ax = torch.linspace(-1, 1, n, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), dim=-1)
    values = fields.torus(pts)
    target = fields.torus_points(2000, 0.52, 0.21)
    direction = torch.randn(values.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def loss_of(grid, differentiable=False):
        return chamfer(extract_mesh(grid, BOX, differentiable=differentiable, **F64).vertices, target)

    grid = values.clone().requires_grad_(True)
    loss_of(grid, differentiable=True).backward()
    eps = 1e-7
    with torch.no_grad():
        fd = (loss_of(values + eps * direction) - loss_of(values - eps * direction)) / (2 * eps)
    analytic = (grid.grad * direction).sum()
    assert abs(float(analytic - fd)) < 1e-5 * max(1.0, abs(float(fd)))
    # a parameter upstream of the grid (the radius of a sphere sampled on it)
    r = torch.tensor(0.53, dtype=torch.float64, requires_grad=True)  # no grid point on the sphere
    loss_of(pts.norm(dim=-1) - r, differentiable=True).backward()
    with torch.no_grad():
        fd_r = (loss_of(pts.norm(dim=-1) - (0.53 + eps)) - loss_of(pts.norm(dim=-1) - (0.53 - eps))) / (
            2 * eps
        )
    assert abs(float(r.grad - fd_r)) < 1e-5 * max(1.0, abs(float(fd_r)))


def test_occupancy_field_gradient_matches_the_sdf_gradient(fields):
    """The DeepMesh formula is invariant to reparametrising the field: occupancy = sigmoid(-k sdf)."""
    target = fields.sphere_points(2000, [0, 0, 0], 0.55)
    grads = []
    for occupancy in (False, True):
        r = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
        if occupancy:
            field = lambda x, r=r: torch.sigmoid(-10 * fields.sphere(x, [0, 0, 0], r))  # noqa: E731
            mesh = extract_mesh(field, BOX, 25, level=0.5, positive_inside=True, **F64)
        else:
            mesh = extract_mesh(lambda x, r=r: fields.sphere(x, [0, 0, 0], r), BOX, 25, **F64)
        chamfer(mesh.vertices, target).backward()
        grads.append(r.grad)
    assert torch.allclose(grads[0], grads[1], rtol=2e-3)


def test_central_differences_give_the_same_gradient_as_autograd(fields):
    c = torch.tensor([0.1, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    target = fields.sphere_points(1000, [0, 0, 0], 0.5)
    grads = []
    for method in ("autograd", "central"):
        mesh = extract_mesh(lambda x: fields.sphere(x, c, 0.5), BOX, 21, spatial_gradient=method, **F64)
        (g,) = torch.autograd.grad(chamfer(mesh.vertices, target), c)
        grads.append(g)
    assert torch.allclose(grads[0], grads[1], rtol=1e-5, atol=1e-9)


def test_fields_without_parameters_give_plain_vertices(fields):
    mesh = extract_mesh(lambda x: fields.sphere(x, [0, 0, 0], 0.5), BOX, 13)
    assert not mesh.vertices.requires_grad
    r = torch.tensor(0.5, requires_grad=True)
    mesh = extract_mesh(lambda x: fields.sphere(x, [0, 0, 0], r), BOX, 13, differentiable=False)
    assert not mesh.vertices.requires_grad
    with torch.no_grad():
        mesh = extract_mesh(lambda x: fields.sphere(x, [0, 0, 0], r), BOX, 13)
    assert not mesh.vertices.requires_grad


def test_spatial_gradient_falls_back_to_central_differences(fields):
    """A field that hides its input from autograd still gets its normals."""
    x = fields.sphere_points(50, [0, 0, 0], 0.4)

    def opaque(p):
        return fields.sphere(p.detach(), [0, 0, 0], 0.4)

    g = spatial_gradient(opaque, x, step=1e-5)
    assert torch.allclose(g, torch.nn.functional.normalize(x, dim=1), atol=1e-6)
    with pytest.raises(ValueError, match="expected spatial_gradient"):
        spatial_gradient(opaque, x, method="forward")


def test_deepmesh_vertices_keep_their_values(fields):
    r = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    v = fields.sphere_points(20, [0, 0, 0], 0.4)
    out = deepmesh_vertices(lambda x: fields.sphere(x, [0, 0, 0], r), v)
    assert torch.equal(out.detach(), v) and out.requires_grad
    assert deepmesh_vertices(lambda x: x[:, 0], v[:0]).shape == (0, 3)
