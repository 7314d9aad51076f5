"""Boundary edges and loops of triangle meshes."""

from __future__ import annotations

import numpy as np
import pytest

from fields3d.extract.gshell_boundary import boundary_report


def _grid_mesh(n: int, hole: bool):
    """A square (n x n quads) in z = 0, optionally without its central quad."""
    xs = np.linspace(0, 1, n + 1)
    v = np.array([(x, y, 0.0) for y in xs for x in xs])
    faces = []
    for j in range(n):
        for i in range(n):
            if hole and i == n // 2 and j == n // 2:
                continue
            a, b, c, d = (
                j * (n + 1) + i,
                j * (n + 1) + i + 1,
                (j + 1) * (n + 1) + i,
                (j + 1) * (n + 1) + i + 1,
            )
            faces += [(a, b, d), (a, d, c)]
    return v, np.array(faces)


def test_square_has_one_loop_and_a_hole_adds_one():
    v, f = _grid_mesh(4, hole=False)
    r = boundary_report(v, f)
    assert (r.loops, r.boundary_edges, r.nonmanifold_edges) == (1, 16, 0)
    assert r.loop_perimeters[0] == pytest.approx(4.0)
    v, f = _grid_mesh(5, hole=True)
    r = boundary_report(v, f)
    assert r.loops == 2
    assert r.loop_lengths == (20, 4)


def test_duplicated_seam_vertices_are_welded():
    v, f = _grid_mesh(4, hole=False)
    # split the mesh along x = 0.5 by duplicating the seam vertices for the right half (a UV seam)
    seam = np.isclose(v[:, 0], 0.5)
    dup = np.nonzero(seam)[0]
    new_index = {int(i): len(v) + k for k, i in enumerate(dup)}
    v2 = np.concatenate([v, v[dup]])
    centroids = v[f].mean(1)
    f2 = f.copy()
    for fi in np.nonzero(centroids[:, 0] > 0.5)[0]:
        f2[fi] = [new_index.get(int(i), int(i)) for i in f2[fi]]
    assert boundary_report(v2, f2, weld_tolerance=0).boundary_edges == 16 + 8
    assert boundary_report(v2, f2).boundary_edges == 16


def test_closed_mesh_has_no_loops_and_bad_shapes_are_refused():
    import trimesh

    s = trimesh.creation.icosphere(2)
    r = boundary_report(s.vertices, s.faces)
    assert (r.loops, r.boundary_edges) == (0, 0)
    with pytest.raises(ValueError, match="expected faces of shape"):
        boundary_report(s.vertices, s.faces[:, :2])


def test_openings_are_matched_by_position_not_by_count():
    import math

    import torch

    from fields3d.extract.gshell_boundary import boundary_loops, matched_openings
    from fields3d.extract.gshell_extraction import gshell_extract
    from fields3d.extract.tetrahedral_mesh import cube_tet_grid

    points, tets = cube_tet_grid([[-1, -1, -1], [1, 1, 1]], 20, dtype=torch.float64)
    sdf = points.norm(dim=1) - 0.7

    def cut(msdf):
        m = gshell_extract(points, tets, sdf, msdf)
        return m.vertices.detach().numpy(), m.faces.numpy()

    top = cut(0.4 - points[:, 1])  # a cap removed at the top: one opening
    bottom = cut(0.4 + points[:, 1])  # the same opening at the bottom
    loops = boundary_loops(*top)
    assert len(loops) == 1 and loops[0][0][1] > 0.3
    assert loops[0][1] == pytest.approx(2 * math.pi * math.sqrt(0.7**2 - 0.4**2), rel=0.05)
    assert matched_openings(*top, *top) == 1
    assert matched_openings(*bottom, *top) == 0  # one loop each, in the wrong place
    closed = cut(torch.ones_like(sdf))
    assert boundary_loops(*closed) == [] and matched_openings(*closed, *top) == 0
