import numpy as np
import pytest

from fields3d.extract.case_tables import (
    CORNER_OFFSETS,
    KUHN_TETRAHEDRA,
    TET_EDGES,
    marching_cubes_table,
    tetrahedra_cube_table,
    tetrahedron_table,
)


@pytest.mark.parametrize("make", [marching_cubes_table, tetrahedra_cube_table])
def test_triangles_use_exactly_the_crossed_edges(make):
    table = make()
    for code in range(256):
        inside = [(code >> c) & 1 for c in range(8)]
        crossed = {e for e, (a, b) in enumerate(table.edges) if inside[a] != inside[b]}
        tris = table.triangles[code][table.triangles[code] >= 0]
        assert len(tris) == 3 * table.triangle_count[code]
        assert set(tris.tolist()) == crossed, code


def test_marching_cubes_table_matches_the_classic_counts():
    table = marching_cubes_table()
    assert table.triangle_count[0] == table.triangle_count[255] == 0
    assert table.triangle_count.max() == 5
    assert table.triangle_count[1] == 1  # one corner cut off
    assert table.triangle_count[0b00000011] == 2  # two corners along an edge: a quad


@pytest.mark.parametrize("make", [marching_cubes_table, tetrahedra_cube_table])
def test_single_corner_triangle_faces_away_from_the_inside_corner(make):
    table = make()
    pos = CORNER_OFFSETS.astype(float)
    for corner in range(8):
        code = 1 << corner
        tris = table.triangles[code][table.triangles[code] >= 0].reshape(-1, 3)
        for tri in tris:
            mids = [(pos[table.edges[e][0]] + pos[table.edges[e][1]]) / 2 for e in tri]
            normal = np.cross(mids[1] - mids[0], mids[2] - mids[0])
            assert np.dot(normal, np.mean(mids, axis=0) - pos[corner]) > 0


def test_kuhn_tetrahedra_fill_the_cube():
    pos = CORNER_OFFSETS.astype(float)
    volumes = [abs(np.linalg.det(pos[list(t[1:])] - pos[t[0]])) / 6 for t in KUHN_TETRAHEDRA]
    assert np.isclose(sum(volumes), 1.0)


def test_tetrahedron_table_winds_outwards():
    ref = np.array([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)], dtype=float)
    table = tetrahedron_table()
    for code in range(1, 15):
        inside = [(code >> i) & 1 for i in range(4)]
        outward = ref[[i for i in range(4) if not inside[i]]].mean(0) - ref[
            [i for i in range(4) if inside[i]]
        ].mean(0)
        tris = table[code][table[code] >= 0].reshape(-1, 3)
        assert len(tris) == (1 if sum(inside) in (1, 3) else 2)
        for tri in tris:
            m = [ref[TET_EDGES[e]].mean(0) for e in tri]
            assert np.dot(np.cross(m[1] - m[0], m[2] - m[0]), outward) > 0
