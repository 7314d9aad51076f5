import pytest
import torch

from fields3d.extract import cube_tet_grid, extract_mesh, marching_tetrahedra

BOX = [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]


def _face_set(faces):
    f = faces.tolist()
    return {tuple(t[t.index(min(t)) :] + t[: t.index(min(t))]) for t in f}


def _canonical(mesh):
    """Vertices sorted by their edge (a, b); faces renumbered accordingly, as a set."""
    a, b = mesh.edge_endpoints.unbind(1)
    order = torch.argsort(a * (b.max() + 1) + b)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    return mesh.edge_endpoints[order], mesh.vertices[order], _face_set(rank[mesh.faces])


def test_cube_tet_grid_is_positively_oriented_and_fills_the_box():
    points, tets = cube_tet_grid(BOX, (4, 5, 3), dtype=torch.float64)
    assert points.shape == (60, 3) and tets.shape == (6 * 3 * 4 * 2, 4)
    p = points[tets]
    det = torch.linalg.det(torch.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], dim=1))
    assert (det > 0).all()
    assert torch.isclose(det.sum() / 6, torch.tensor(8.0, dtype=torch.float64))


def test_explicit_tets_give_the_same_surface_as_extract_mesh(fields):
    points, tets = cube_tet_grid(BOX, 17, dtype=torch.float64)
    values = fields.torus(points)
    explicit = marching_tetrahedra(points, tets, values)
    implicit = extract_mesh(fields.torus, BOX, 17, method="tetrahedra", dtype=torch.float64)
    (ea, va, fa), (eb, vb, fb) = _canonical(explicit), _canonical(implicit)
    assert torch.equal(ea, eb)
    assert torch.allclose(va, vb, atol=1e-12)
    assert fa == fb
    ok, why = fields.closed_and_oriented(explicit.faces)
    assert ok, why


def test_orientation_is_read_from_the_positions(fields):
    """Reversing half of the tetrahedra (negative orientation) still gives an outward, closed surface."""
    points, tets = cube_tet_grid(BOX, 13, dtype=torch.float64)
    values = fields.sphere(points, [0, 0, 0], 0.55)
    reference = marching_tetrahedra(points, tets, values)
    mixed = tets.clone()
    mixed[::2] = mixed[::2][:, [1, 0, 2, 3]]
    mesh = marching_tetrahedra(points, mixed, values)
    assert torch.equal(mesh.edge_endpoints, reference.edge_endpoints)
    ok, why = fields.closed_and_oriented(mesh.faces)
    assert ok, why
    assert mesh.to_trimesh().volume == pytest.approx(reference.to_trimesh().volume, rel=1e-3)
    assert reference.to_trimesh().volume > 0


def test_gradients_to_values_and_points_match_finite_differences(fields):
    points, tets = cube_tet_grid(BOX, 9, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    points = points + 0.02 * torch.randn(points.shape, generator=g, dtype=torch.float64)  # deformed grid
    values = fields.sphere(points, [0.05, 0, 0], 0.6)
    weights = torch.randn(5000, 3, generator=g, dtype=torch.float64)

    def loss(p, v):
        m = marching_tetrahedra(p, tets, v)
        return (m.vertices * weights[: m.num_vertices]).sum() + m.vertices.pow(2).sum()

    p, v = points.clone().requires_grad_(True), values.clone().requires_grad_(True)
    loss(p, v).backward()
    eps = 1e-6
    dv = torch.randn(values.shape, generator=g, dtype=torch.float64)
    dp = torch.randn(points.shape, generator=g, dtype=torch.float64)
    with torch.no_grad():
        fd_v = (loss(points, values + eps * dv) - loss(points, values - eps * dv)) / (2 * eps)
        fd_p = (loss(points + eps * dp, values) - loss(points - eps * dp, values)) / (2 * eps)
    assert torch.isclose((v.grad * dv).sum(), fd_v, rtol=1e-6)
    assert torch.isclose((p.grad * dp).sum(), fd_p, rtol=1e-6)


def test_edge_records_interpolate_a_second_field(fields):
    """G-Shell reads a second per-point field (the manifold SDF) with the same edge weights."""
    points, tets = cube_tet_grid(BOX, 11, dtype=torch.float64)
    mesh = marching_tetrahedra(points, tets, fields.sphere(points, [0, 0, 0], 0.5))
    a, b = mesh.edge_endpoints.unbind(1)
    assert torch.allclose(mesh.lerp(points[a], points[b]), mesh.vertices)
    msdf = points[:, 2] - 0.1  # linear, so interpolation is exact
    on_surface = mesh.lerp(msdf[a], msdf[b])
    assert torch.allclose(on_surface, mesh.vertices[:, 2] - 0.1)
    assert ((mesh.edge_weights > 0) & (mesh.edge_weights <= 1)).all()


def test_positive_inside_and_empty_inputs(fields):
    points, tets = cube_tet_grid(BOX, 9)
    occupancy = torch.sigmoid(-10 * fields.sphere(points, [0, 0, 0], 0.5))
    mesh = marching_tetrahedra(points, tets, occupancy, 0.5, positive_inside=True)
    assert mesh.num_faces > 0 and mesh.to_trimesh().volume > 0
    empty = marching_tetrahedra(points, tets, torch.ones(points.shape[0]))
    assert empty.vertices.shape == (0, 3) and empty.faces.shape == (0, 3)


def test_bad_inputs():
    points, tets = cube_tet_grid(BOX, 3)
    values = torch.zeros(points.shape[0])
    with pytest.raises(ValueError, match=r"expected points of shape \(P, 3\), got"):
        marching_tetrahedra(points[:, :2], tets, values)
    with pytest.raises(ValueError, match=r"expected integer tets of shape \(T, 4\), got"):
        marching_tetrahedra(points, tets[:, :3], values)
    with pytest.raises(ValueError, match="expected values of shape"):
        marching_tetrahedra(points, tets, values[:-1])
    with pytest.raises(ValueError, match="expected tet indices in"):
        marching_tetrahedra(points, tets + 100, values)
    with pytest.raises(ValueError, match="expected resolution >= 2"):
        cube_tet_grid(BOX, 1)
