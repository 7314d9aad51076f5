"""G-Shell's mSDF cut: case table, analytic cuts of a sphere template, manifold boundaries, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fields3d.extract.gshell_boundary import boundary_report
from fields3d.extract.gshell_cut import cut_by_msdf, msdf_cut_table
from fields3d.extract.gshell_extraction import gshell_extract
from fields3d.extract.tetrahedral_mesh import cube_tet_grid


def _area(vertices: torch.Tensor, faces: torch.Tensor) -> float:
    tri = vertices[faces].double()
    return float(torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).norm(dim=1).sum() / 2)


def _sphere_gshell(res: int, radius: float, msdf_fn, dtype=torch.float64):
    points, tets = cube_tet_grid([[-1, -1, -1], [1, 1, 1]], res, dtype=dtype)
    sdf = points.norm(dim=1) - radius
    return gshell_extract(points, tets, sdf, msdf_fn(points))


def test_case_table_clips_the_positive_part_of_a_reference_triangle():
    # the clipped area of the unit right triangle, for linear msdf values +-1 at the corners, must be the
    # area where the interpolated value is positive (checked by dense sampling)
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2]])
    rng = np.random.default_rng(0)
    u = rng.random((200_000, 2))
    u = u[u.sum(1) <= 1]
    bary = np.stack([1 - u.sum(1), u[:, 0], u[:, 1]], 1)
    table = msdf_cut_table()
    assert table.shape == (8, 6)
    for code in range(8):
        m = torch.tensor([0.7 if (code >> k) & 1 else -0.4 for k in range(3)], dtype=torch.float64)
        cut = cut_by_msdf(v, f, m)
        expected = 0.5 * float(((bary @ m.numpy()) > 0).mean())
        assert _area(cut.vertices, cut.faces) == pytest.approx(expected, abs=3e-3)
        # winding preserved: every output face has the template's +z normal
        if cut.num_faces:
            tri = cut.vertices[cut.faces]
            n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
            assert bool((n[:, 2] > 0).all())


def test_sphere_cut_by_a_plane_is_a_hemisphere_with_one_boundary_loop():
    radius = 0.7
    mesh = _sphere_gshell(32, radius, lambda p: p[:, 2].clone())
    assert mesh.template.num_faces > 0
    area = _area(mesh.vertices, mesh.faces)
    assert area == pytest.approx(2 * math.pi * radius**2, rel=0.01)
    report = boundary_report(mesh.vertices, mesh.faces, weld_tolerance=0)
    assert report.loops == 1
    assert report.nonmanifold_edges == 0
    assert report.loop_perimeters[0] == pytest.approx(2 * math.pi * radius, rel=0.01)
    # every kept vertex has z >= 0 (up to rounding); the boundary vertices lie on z = 0
    assert float(mesh.vertices[:, 2].min()) > -1e-9
    boundary = mesh.boundary_vertex_mask
    assert float(mesh.vertices[boundary, 2].abs().max()) < 1e-9
    assert float(mesh.msdf[boundary].abs().max()) < 1e-9
    assert bool((mesh.msdf[~boundary] > 0).all())


def test_two_caps_give_two_loops_and_the_template_stays_watertight():
    radius = 0.7
    mesh = _sphere_gshell(24, radius, lambda p: 0.4 - p[:, 2].abs())  # a band around the equator
    template = boundary_report(mesh.template.vertices, mesh.template.faces, weld_tolerance=0)
    assert template.boundary_edges == 0
    report = boundary_report(mesh.vertices, mesh.faces, weld_tolerance=0)
    assert report.loops == 2
    assert report.nonmanifold_edges == 0
    # the band's area is 2 pi r * (2 * 0.4) (Archimedes)
    assert _area(mesh.vertices, mesh.faces) == pytest.approx(2 * math.pi * radius * 0.8, rel=0.02)


def test_all_positive_keeps_the_template_and_all_negative_removes_everything():
    keep = _sphere_gshell(12, 0.6, lambda p: torch.ones(len(p), dtype=p.dtype))
    assert keep.num_faces == keep.template.num_faces
    assert torch.equal(keep.vertices, keep.template.vertices[keep.cut.kept_vertices])
    drop = _sphere_gshell(12, 0.6, lambda p: -torch.ones(len(p), dtype=p.dtype))
    assert drop.num_faces == 0 and drop.num_vertices == 0


def test_boundary_vertices_are_welded_between_neighbouring_triangles():
    mesh = _sphere_gshell(16, 0.6, lambda p: p[:, 0] + 0.3 * p[:, 1])
    faces = mesh.faces.numpy()
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    assert counts.max() <= 2
    boundary = unique[counts == 1]
    degree = np.bincount(boundary.reshape(-1), minlength=mesh.num_vertices)
    # each cut vertex sits on exactly two boundary edges; no kept template vertex is on the boundary
    mask = mesh.boundary_vertex_mask.numpy()
    assert (degree[mask] == 2).all()
    assert (degree[~mask] == 0).all()


def test_gradients_reach_msdf_and_sdf_and_match_finite_differences():
    points, tets = cube_tet_grid([[-1, -1, -1], [1, 1, 1]], 8, dtype=torch.float64)
    sdf = (points.norm(dim=1) - 0.62).requires_grad_()
    msdf = (points[:, 2] + 0.13 + 0.05 * points[:, 0]).requires_grad_()
    weight = torch.randn(10_000, 3, dtype=torch.float64)

    def objective(s, m):
        mesh = gshell_extract(points, tets, s, m)
        return (mesh.vertices * weight[: mesh.num_vertices]).sum()

    objective(sdf, msdf).backward()
    assert msdf.grad is not None and int((msdf.grad != 0).sum()) > 0
    assert sdf.grad is not None and int((sdf.grad != 0).sum()) > 0
    # finite differences on a few mSDF values near the cut (the topology does not change for small steps)
    candidates = torch.nonzero(msdf.grad != 0, as_tuple=True)[0][:5]
    eps = 1e-6
    for i in candidates.tolist():
        up, down = msdf.detach().clone(), msdf.detach().clone()
        up[i] += eps
        down[i] -= eps
        fd = (objective(sdf.detach(), up) - objective(sdf.detach(), down)) / (2 * eps)
        assert float(msdf.grad[i]) == pytest.approx(float(fd), rel=1e-4, abs=1e-6)


def test_transfer_interpolates_other_attributes_with_the_cut_weights():
    mesh = _sphere_gshell(12, 0.6, lambda p: p[:, 1] - 0.1)
    # a linear attribute (the x coordinate of the grid points) arrives as the vertices' x
    points, _ = cube_tet_grid([[-1, -1, -1], [1, 1, 1]], 12, dtype=torch.float64)
    values = points[:, 0]
    assert torch.allclose(mesh.point_values(values), mesh.vertices[:, 0], atol=1e-9)


def test_bad_inputs_are_refused():
    v = torch.zeros(3, 3)
    f = torch.tensor([[0, 1, 2]])
    with pytest.raises(ValueError, match="expected msdf of shape"):
        cut_by_msdf(v, f, torch.zeros(4))
    with pytest.raises(ValueError, match="expected face indices"):
        cut_by_msdf(v, torch.tensor([[0, 1, 3]]), torch.zeros(3))
    with pytest.raises(ValueError, match="expected integer faces"):
        cut_by_msdf(v, f.float(), torch.zeros(3))
