"""Case tables of marching cubes and marching tetrahedra, generated (not typed in) at first use.

Conventions shared by every extraction routine in :mod:`fields3d.extract`:

* A cube cell has 8 corners; corner ``c`` (0..7) sits at the offset ``(c & 1, c >> 1 & 1, c >> 2 & 1)``
  from the cell's lower corner (x is bit 0, y bit 1, z bit 2).
* A corner is **inside** when its value is ``< level`` (signed distance: negative inside).  The case
  code of a cell is ``sum(inside[c] << c)``.
* A cell edge joins corners ``(a, b)`` with ``a < b`` and ``b - a`` a set of axis bits: the 12 cube
  edges (one bit) and, for the tetrahedral decomposition, 6 face diagonals (two bits) and the body
  diagonal (three bits).  A grid edge is named by its lower grid point and its direction bits, so two
  cells that share an edge name it the same way and share its vertex (welded output).
* Triangles are wound counter-clockwise seen from outside, i.e. their right-hand normals point from
  inside (``< level``) to outside (``>= level``).

Marching cubes resolves the ambiguous faces (two inside corners on a diagonal) by always separating
the inside corners.  The rule depends only on the four values of the face, so the two cells sharing
a face cut it the same way and the surface is closed; the triangles of a cell come from closing the
face segments into loops and triangulating each loop without diagonals that lie in a cube face
(so that every mesh edge belongs to exactly two triangles).  At most 5 triangles per cell.
Marching tetrahedra splits each cube into the 6 tetrahedra around its body diagonal (corner 0 to 7,
the Kuhn/Freudenthal decomposition); neighbouring cubes split their shared face along the same
diagonal, so the tetrahedral grid is conforming and its surface closed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

CORNER_OFFSETS = np.array([(c & 1, (c >> 1) & 1, (c >> 2) & 1) for c in range(8)], dtype=np.int64)
"""(8, 3) int64: offset of each cube corner from the cell's lower corner, in grid steps."""


@dataclass(frozen=True)
class CellTable:
    """Triangles of a cube cell for each of the 256 case codes.

    Attributes:
        name: "cubes" (marching cubes) or "tetrahedra" (6 tetrahedra per cube).
        edges: (E, 2) int64 corner pairs ``(a, b)``, ``a < b``; E = 12 or 19.
        triangles: (256, 3 * T) int64 edge indices (into ``edges``), three per triangle, -1 padding.
        triangle_count: (256,) int64 triangles of each case.
    """

    name: str
    edges: np.ndarray
    triangles: np.ndarray
    triangle_count: np.ndarray

    @property
    def direction_bits(self) -> np.ndarray:
        """(E,) int64: the axis bits (1..7) that each edge spans."""
        return self.edges[:, 0] ^ self.edges[:, 1]


def _cube_edges() -> list[tuple[int, int]]:
    return [(c, c | (1 << axis)) for axis in range(3) for c in range(8) if not (c >> axis) & 1]


def _kuhn_edges() -> list[tuple[int, int]]:
    diagonals = [(c, c | bits) for bits in (3, 5, 6) for c in range(8) if not c & bits]
    return _cube_edges() + diagonals + [(0, 7)]


KUHN_TETRAHEDRA = tuple(
    (0, 1 << p[0], (1 << p[0]) | (1 << p[1]), 7) for p in itertools.permutations(range(3))
)
"""The 6 tetrahedra of a cube (corner indices) sharing the body diagonal 0-7."""

_FACES = tuple((axis, side) for axis in range(3) for side in (0, 1))


def _face_corners(axis: int, side: int) -> list[int]:
    return [c for c in range(8) if ((c >> axis) & 1) == side]


def _cube_loops(inside: list[bool], edge_index: dict[tuple[int, int], int]) -> list[list[int]]:
    """Closed, oriented loops of crossed edges for one cube configuration."""
    pos = CORNER_OFFSETS.astype(float)
    mid = {e: (pos[e[0]] + pos[e[1]]) / 2 for e in edge_index}
    successor: dict[int, int] = {}
    for axis, side in _FACES:
        normal = np.zeros(3)
        normal[axis] = 1.0 if side else -1.0
        corners = _face_corners(axis, side)
        face_edges = [e for e in edge_index if e[0] in corners and e[1] in corners]
        crossed = [e for e in face_edges if inside[e[0]] != inside[e[1]]]
        if not crossed:
            continue
        if len(crossed) == 2:
            reference = next(c for c in corners if inside[c])
            segments = [(crossed[0], crossed[1], reference)]
        else:  # ambiguous face: cut off each inside corner by its own segment
            segments = []
            for c in corners:
                if inside[c]:
                    pair = [e for e in crossed if c in e]
                    segments.append((pair[0], pair[1], c))
        for e0, e1, reference in segments:
            p, q = mid[e0], mid[e1]
            if np.dot(np.cross(q - p, normal), pos[reference] - (p + q) / 2) < 0:
                e0, e1 = e1, e0
            successor[edge_index[e0]] = edge_index[e1]
    loops, seen = [], set()
    for start in sorted(successor):
        if start in seen:
            continue
        loop, e = [], start
        while e not in seen:
            seen.add(e)
            loop.append(e)
            e = successor[e]
        if e != start:  # cannot happen for a consistent rule; guards the generator itself
            raise AssertionError(f"marching cubes table generator: open loop {loop}")
        loops.append(loop)
    return loops


def _pad(triangles: list[list[tuple[int, int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    count = np.array([len(t) for t in triangles], dtype=np.int64)
    table = np.full((len(triangles), 3 * max(1, int(count.max()))), -1, dtype=np.int64)
    for code, tris in enumerate(triangles):
        flat = [i for tri in tris for i in tri]
        table[code, : len(flat)] = flat
    return table, count


@cache
def marching_cubes_table() -> CellTable:
    """The 256-case marching cubes table over the 12 cube edges (see the module docstring)."""
    edges = _cube_edges()
    edge_index = {e: i for i, e in enumerate(edges)}
    triangles = []
    for code in range(256):
        inside = [bool((code >> c) & 1) for c in range(8)]
        tris = []
        for loop in _cube_loops(inside, edge_index):
            tris += _triangulate_loop(loop, edges)
        triangles.append(tris)
    table, count = _pad(triangles)
    return CellTable("cubes", np.array(edges, dtype=np.int64), table, count)


def _faces_of_edge(edge: tuple[int, int]) -> set[tuple[int, int]]:
    a, b = edge
    return {(axis, (a >> axis) & 1) for axis in range(3) if (a >> axis) & 1 == (b >> axis) & 1}


def _triangulate_loop(loop: list[int], edges: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Triangulate a loop of crossed cube edges, keeping its winding.

    A diagonal between two vertices on the same cube face would lie in that face, where the
    neighbouring cell may draw the same diagonal: the edge would then belong to four triangles.  Such
    diagonals are excluded; among the remaining triangulations the one with the shortest diagonals
    (at edge midpoints) is taken (dynamic programming over the polygon).
    """
    n = len(loop)
    pos = CORNER_OFFSETS.astype(float)
    mid = [(pos[edges[e][0]] + pos[edges[e][1]]) / 2 for e in loop]
    faces = [_faces_of_edge(edges[e]) for e in loop]

    def weight(i: int, j: int) -> float:
        if (j - i) % n in (1, n - 1):
            return 0.0  # a side of the loop
        if faces[i] & faces[j]:
            return float("inf")
        return float(np.linalg.norm(mid[i] - mid[j]))

    cost = [[0.0] * n for _ in range(n)]
    split = [[-1] * n for _ in range(n)]
    for gap in range(2, n):
        for i in range(n - gap):
            j = i + gap
            best, arg = float("inf"), -1
            for k in range(i + 1, j):
                c = cost[i][k] + cost[k][j] + weight(i, k) + weight(k, j)
                if c < best:
                    best, arg = c, k
            cost[i][j], split[i][j] = best, arg
    if not np.isfinite(cost[0][n - 1]):  # guards the generator itself
        raise AssertionError(f"marching cubes table generator: no valid triangulation of loop {loop}")
    tris: list[tuple[int, int, int]] = []

    def collect(i: int, j: int) -> None:
        if j - i < 2:
            return
        k = split[i][j]
        tris.append((loop[i], loop[k], loop[j]))
        collect(i, k)
        collect(k, j)

    collect(0, n - 1)
    return tris


def tetrahedron_polygon(corners: np.ndarray, inside: list[bool]) -> list[tuple[int, int]]:
    """The surface polygon in one tetrahedron as an ordered list of its crossed edges.

    Args:
        corners: (4, 3) corner positions (any non-degenerate tetrahedron, either orientation).
        inside: 4 flags.
    Returns:
        0, 3 or 4 edges ``(i, j)`` (tetrahedron corner indices, ``i < j``) in the order that winds the
        polygon counter-clockwise seen from outside (normal from inside to outside).
    """
    ins = [i for i in range(4) if inside[i]]
    out = [i for i in range(4) if not inside[i]]
    if not ins or not out:
        return []
    if len(ins) == 1 or len(out) == 1:
        apex, others = (ins[0], out) if len(ins) == 1 else (out[0], ins)
        polygon = [tuple(sorted((apex, o))) for o in others]
    else:
        (i0, i1), (o0, o1) = ins, out
        polygon = [tuple(sorted(e)) for e in ((i0, o0), (i0, o1), (i1, o1), (i1, o0))]
    mids = np.array([(corners[a] + corners[b]) / 2 for a, b in polygon])
    normal = np.zeros(3)
    for k in range(len(mids)):  # Newell's polygon normal
        normal += np.cross(mids[k], mids[(k + 1) % len(mids)])
    outward = corners[out].mean(axis=0) - corners[ins].mean(axis=0)
    if np.dot(normal, outward) < 0:
        polygon.reverse()
    return polygon


@cache
def tetrahedra_cube_table() -> CellTable:
    """The 256-case table of marching tetrahedra over the 6 Kuhn tetrahedra of a cube (19 edges)."""
    edges = _kuhn_edges()
    edge_index = {e: i for i, e in enumerate(edges)}
    pos = CORNER_OFFSETS.astype(float)
    triangles = []
    for code in range(256):
        inside = [bool((code >> c) & 1) for c in range(8)]
        tris = []
        for tet in KUHN_TETRAHEDRA:
            poly = tetrahedron_polygon(pos[list(tet)], [inside[c] for c in tet])
            ids = [edge_index[tuple(sorted((tet[a], tet[b])))] for a, b in poly]
            tris += [(ids[0], ids[i], ids[i + 1]) for i in range(1, len(ids) - 1)]
        triangles.append(tris)
    table, count = _pad(triangles)
    return CellTable("tetrahedra", np.array(edges, dtype=np.int64), table, count)


TET_EDGES = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], dtype=np.int64)
"""(6, 2) int64: the edges of a tetrahedron as corner pairs."""


@cache
def tetrahedron_table() -> np.ndarray:
    """(16, 6) int64: triangles of a positively oriented tetrahedron per case code, as ``TET_EDGES`` ids.

    Two triangles (6 entries) per case, -1 padding.  Positive orientation means
    ``det(p1 - p0, p2 - p0, p3 - p0) > 0``; for a negatively oriented tetrahedron swap two indices of
    each triangle.  The case code is ``sum(inside[i] << i)``.
    """
    reference = np.array([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)], dtype=float)
    edge_index = {tuple(e): i for i, e in enumerate(TET_EDGES.tolist())}
    table = np.full((16, 6), -1, dtype=np.int64)
    for code in range(16):
        poly = tetrahedron_polygon(reference, [bool((code >> i) & 1) for i in range(4)])
        ids = [edge_index[e] for e in poly]
        flat = [i for k in range(1, len(ids) - 1) for i in (ids[0], ids[k], ids[k + 1])]
        table[code, : len(flat)] = flat
    return table
