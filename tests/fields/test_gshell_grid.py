"""GShellGrid: cubic grids, narrow bands closed at their frontier, regularisers, state round trip."""

from __future__ import annotations

import pytest
import torch

from fields3d.extract.gshell_boundary import boundary_report
from fields3d.extract.tetrahedral_mesh import cube_tet_grid
from fields3d.fields.gshell_grid import GShellGrid, GShellGridConfig, cubic_grid, dilate_cells, trilinear


def test_cubic_grid_has_cubic_cells_and_covers_the_box():
    grid = cubic_grid([[0, 0, 0], [2.0, 1.0, 0.1]], 21, padding_cells=1)
    sx, sy, sz = grid.spacing
    assert sx == pytest.approx(sy) and sy == pytest.approx(sz)
    assert grid.shape[0] == 21
    lo, hi = grid.aabb
    assert lo[0] < 0 and hi[0] > 2.0 and lo[2] < 0 and hi[2] > 0.1
    with pytest.raises(ValueError, match="expected a resolution >= 4"):
        cubic_grid([[0, 0, 0], [1, 1, 1]], 3)


def test_tets_of_a_cell_subset_are_those_of_the_full_grid():
    aabb = [[-1, -1, -1], [1, 1, 1]]
    _, full = cube_tet_grid(aabb, 5)
    cells = torch.tensor([[0, 0, 0], [3, 1, 2]])
    _, sub = cube_tet_grid(aabb, 5, cells=cells)
    assert sub.shape == (12, 4)
    full_set = {tuple(t) for t in full.tolist()}
    assert all(tuple(t) in full_set for t in sub.tolist())
    with pytest.raises(ValueError, match="expected cell indices"):
        cube_tet_grid(aabb, 5, cells=torch.tensor([[4, 0, 0]]))


def _sphere_grid(res=16, band=None, **cfg):
    grid = cubic_grid([[-1, -1, -1], [1, 1, 1]], res)
    shell = GShellGrid(grid, GShellGridConfig(resolution=res, **cfg), band)
    with torch.no_grad():
        p = shell.base_points
        shell.sdf.copy_(p.norm(dim=1) - 0.6)
        shell.msdf.copy_(p[:, 1])
    return shell


def test_dense_grid_extracts_a_cut_sphere_and_the_baseline_keeps_it_closed():
    shell = _sphere_grid()
    mesh = shell.extract()
    assert boundary_report(mesh.vertices, mesh.faces, weld_tolerance=0).loops == 1
    closed = _sphere_grid(use_msdf=False).extract()
    report = boundary_report(closed.vertices, closed.faces, weld_tolerance=0)
    assert report.loops == 0 and closed.num_faces == closed.template.num_faces


def test_a_surface_leaving_the_band_is_closed_at_the_frontier_and_cut_away():
    grid = cubic_grid([[-1, -1, -1], [1, 1, 1]], 16)
    # band: the cells of the lower half only; the sphere crosses the band's upper edge
    cells = torch.zeros(grid.cells, dtype=torch.bool)
    cells[:, :7, :] = True
    shell = GShellGrid(grid, GShellGridConfig(resolution=16), cells)
    with torch.no_grad():
        p = shell.base_points
        shell.sdf.copy_(p.norm(dim=1) - 0.6)
        shell.msdf.fill_(1.0)
    mesh = shell.extract()
    template = boundary_report(mesh.template.vertices, mesh.template.faces, weld_tolerance=0)
    assert template.boundary_edges == 0  # closed by the frontier
    cut = boundary_report(mesh.vertices, mesh.faces, weld_tolerance=0)
    assert cut.loops == 1  # the closure is cut away: an open lower cap
    assert float(mesh.vertices[:, 1].max()) < 0.0


def test_regularisers_vanish_for_exact_linear_fields_and_grow_otherwise():
    shell = _sphere_grid(res=12)
    with torch.no_grad():
        shell.sdf.copy_(shell.base_points[:, 0] - 0.05)  # a plane: |grad| = 1
    assert float(shell.eikonal(near_cells=None).detach()) == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        shell.sdf.mul_(3.0)
    assert float(shell.eikonal(near_cells=None).detach()) == pytest.approx(4.0, rel=1e-5)
    assert float(shell.sign_regularizer().detach()) > 0
    with torch.no_grad():
        shell.sdf.fill_(1.0)
    assert float(shell.sign_regularizer().detach()) == 0.0


def test_state_round_trip_and_trilinear_sampling():
    shell = _sphere_grid(res=10, band=None, deform=True)
    with torch.no_grad():
        shell.deform.normal_()
    again = GShellGrid.from_state(shell.to_state())
    assert torch.equal(again.sdf, shell.sdf) and torch.equal(again.points(), shell.points())
    a, b = shell.extract(), again.extract()
    assert torch.equal(a.faces, b.faces) and torch.allclose(a.vertices, b.vertices)
    # trilinear sampling reproduces linear fields exactly
    dense = shell.dense(shell.base_points[:, 0] * 2 + 1, fill=0.0)
    q = torch.rand(100, 3) * 1.8 - 0.9
    assert torch.allclose(trilinear(dense, shell.grid, q, 0.0), q[:, 0] * 2 + 1, atol=1e-5)
    with pytest.raises(ValueError, match="expected a fields3d.gshell_grid/1 state"):
        GShellGrid.from_state({"format": "other"})


def test_deformation_moves_vertices_and_receives_gradients():
    shell = _sphere_grid(res=10, deform=True)
    mesh = shell.extract()
    mesh.vertices.sum().backward()
    assert shell.deform.grad is not None and float(shell.deform.grad.abs().sum()) > 0
    bound = shell.config.max_deform * shell.cell_size
    with torch.no_grad():
        shell.deform.fill_(100.0)
    assert float((shell.points() - shell.base_points).abs().max()) <= bound + 1e-6


def test_dilation_grows_by_whole_cells():
    m = torch.zeros(7, 7, 7, dtype=torch.bool)
    m[3, 3, 3] = True
    assert int(dilate_cells(m, 1).sum()) == 27
    assert int(dilate_cells(m, 0).sum()) == 1
