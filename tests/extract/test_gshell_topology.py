"""Small holes and thin strips of a G-Shell cut, found on the template and removed through the grid."""

from __future__ import annotations

import pytest
import torch

from fields3d.extract.gshell_boundary import boundary_report
from fields3d.extract.gshell_extraction import gshell_extract
from fields3d.extract.gshell_topology import (
    fill_small_loops,
    small_hole_loops,
    small_negative_patches,
    thin_kept_vertices,
)
from fields3d.extract.tetrahedral_mesh import cube_tet_grid
from fields3d.fields.gshell_grid import GShellGrid, GShellGridConfig, cubic_grid

RADIUS = 0.6
PIN = torch.tensor([0.0, RADIUS, 0.0])  # top of the sphere


def _pinhole_msdf(p: torch.Tensor, pin_radius: float) -> torch.Tensor:
    """Upper hemisphere kept (msdf = y) with a pinhole of ``pin_radius`` around the top."""
    return torch.minimum(p[:, 1], (p - PIN).norm(dim=1) - pin_radius)


def _loops(mesh) -> int:
    return boundary_report(mesh.vertices, mesh.faces, weld_tolerance=0).loops


def test_small_negative_patches_finds_the_pinhole_not_the_removed_half():
    points, tets = cube_tet_grid([[-1, -1, -1], [1, 1, 1]], 24, dtype=torch.float64)
    mesh = gshell_extract(points, tets, points.norm(dim=1) - RADIUS, _pinhole_msdf(points, 0.12))
    assert _loops(mesh) == 2  # the equator and the pinhole
    t = mesh.template
    patches = small_negative_patches(t.vertices, t.faces, mesh.template_msdf, max_extent=0.4)
    assert patches.components == 2 and patches.small == 1
    pin = t.vertices[patches.small_vertices]
    assert float((pin - PIN.double()).norm(dim=1).max()) < 0.2
    # the lower half is a large patch; protecting the pinhole's vertices hides it
    assert patches.extents[0] > 1.0
    protected = torch.zeros(t.num_vertices, dtype=torch.bool)
    protected[patches.small_vertices[:1]] = True
    assert small_negative_patches(t.vertices, t.faces, mesh.template_msdf, 0.4, protected).small == 0
    with pytest.raises(ValueError, match="expected max_extent >= 0"):
        small_negative_patches(t.vertices, t.faces, mesh.template_msdf, -1.0)
    with pytest.raises(ValueError, match="expected msdf of shape"):
        small_negative_patches(t.vertices, t.faces, mesh.template_msdf[:-1], 0.4)


def test_thin_kept_vertices_are_a_narrow_band_not_the_cap():
    points, tets = cube_tet_grid([[-1, -1, -1], [1, 1, 1]], 32, dtype=torch.float64)
    p = points
    # a cap above y = 0.3 plus a band |z| < 0.04 running down the side: the band is the thin part
    msdf = torch.maximum(p[:, 1] - 0.3, 0.04 - p[:, 2].abs())
    mesh = gshell_extract(points, tets, p.norm(dim=1) - RADIUS, msdf)
    t = mesh.template
    removed = thin_kept_vertices(t.vertices, t.faces, mesh.template_msdf, radius=0.1)
    assert removed.numel() > 0
    v = t.vertices[removed]
    assert float(v[:, 2].abs().max()) < 0.06  # band vertices only: the cap's rim is not nibbled
    band = (mesh.template_msdf > 0) & (t.vertices[:, 1] < 0.2)
    assert bool(torch.isin(torch.nonzero(band)[:, 0], removed).all())


def _pinhole_shell(res: int = 24, pin_radius: float = 0.1) -> GShellGrid:
    shell = GShellGrid(cubic_grid([[-1, -1, -1], [1, 1, 1]], res), GShellGridConfig(resolution=res))
    with torch.no_grad():
        p = shell.base_points
        shell.sdf.copy_(p.norm(dim=1) - RADIUS)
        shell.msdf.copy_(_pinhole_msdf(p, pin_radius))
    return shell


def test_fill_small_holes_closes_the_pinhole_and_keeps_the_opening():
    shell = _pinhole_shell()
    assert _loops(shell.extract()) == 2
    report = shell.fill_small_holes(max_hole_cells=4.0)
    assert report["filled"] == 1 and report["points_raised"] > 0
    mesh = shell.extract()
    boundary = boundary_report(mesh.vertices, mesh.faces, weld_tolerance=0)
    assert boundary.loops == 1
    assert boundary.loop_perimeters[0] == pytest.approx(2 * torch.pi * RADIUS, rel=0.05)
    # a threshold below the pinhole's width leaves it
    shell = _pinhole_shell()
    assert shell.fill_small_holes(max_hole_cells=0.5)["filled"] == 0
    assert _loops(shell.extract()) == 2
    with pytest.raises(ValueError, match="expected max_hole_cells >= 0"):
        shell.fill_small_holes(-1.0)


def test_remove_thin_strips_cuts_a_fringe_and_keeps_the_hemisphere():
    shell = GShellGrid(cubic_grid([[-1, -1, -1], [1, 1, 1]], 32), GShellGridConfig(resolution=32))
    cell = shell.cell_size
    with torch.no_grad():
        p = shell.base_points
        shell.sdf.copy_(p.norm(dim=1) - RADIUS)
        # the upper hemisphere plus a fringe about 1.5 cells wide hanging down at z ~ 0
        shell.msdf.copy_(torch.maximum(p[:, 1], 0.75 * cell - p[:, 2].abs()))
    with torch.no_grad():
        before = shell.extract()
    assert float(before.vertices[:, 1].min()) < -0.3
    report = shell.remove_thin_strips(radius_cells=1.5)
    assert report["removed_vertices"] > 0
    with torch.no_grad():
        mesh = shell.extract()
    assert float(mesh.vertices[:, 1].min()) > -4 * cell  # a stub of the fringe may stay at its root
    assert _loops(mesh) == 1
    watertight = GShellGrid(shell.grid, GShellGridConfig(resolution=32, use_msdf=False))
    assert watertight.remove_thin_strips(1.5)["removed_vertices"] == 0


def test_small_hole_loops_and_fans_close_the_pinhole_but_not_the_opening_or_an_island():
    import numpy as np
    import trimesh

    points, tets = cube_tet_grid([[-1, -1, -1], [1, 1, 1]], 24, dtype=torch.float64)
    mesh = gshell_extract(points, tets, points.norm(dim=1) - RADIUS, _pinhole_msdf(points, 0.12))
    v, f = mesh.vertices.detach(), mesh.faces
    ids = small_hole_loops(v, f, max_extent=0.4)
    assert ids.numel() > 0 and float((v[ids] - PIN.double()).norm(dim=1).max()) < 0.2
    # the equator is the longest loop of its component: never a hole, whatever the threshold
    assert float(v[small_hole_loops(v, f, max_extent=10.0), 1].min()) > 0.3
    colors = np.full((len(v), 3), 200, dtype=np.uint8)
    nv, nf, nc, closed = fill_small_loops(v.numpy(), f.numpy(), 0.4, colors)
    assert closed == 1 and len(nv) == len(v) + 1 and nc.shape == (len(nv), 3) and nc.dtype == np.uint8
    report = boundary_report(nv, nf, weld_tolerance=0)
    assert report.loops == 1 and report.nonmanifold_edges == 0
    assert trimesh.Trimesh(nv, nf, process=False).is_winding_consistent
    # an island (a small disc on its own) has one loop, the longest of its component: left alone
    island = gshell_extract(points, tets, points.norm(dim=1) - RADIUS, 0.1 - (points - PIN).norm(dim=1))
    assert small_hole_loops(island.vertices.detach(), island.faces, 10.0).numel() == 0
    with pytest.raises(ValueError, match="expected max_extent >= 0"):
        small_hole_loops(v, f, -1.0)
