"""The demo's bundled object: a closed torus-knot tube generated in code (no files, no downloads).

A (p, q) torus knot is a closed curve winding p times around the axis of a torus and q times through
its hole; sweeping a circle along it gives a watertight, genus-1 tube with self-occlusions and
thin parts, a fair small test for capture, SfM and reconstruction.
"""

from __future__ import annotations

import math

import numpy as np


def torus_knot_curve(
    t: np.ndarray, p: int = 2, q: int = 3, major: float = 1.0, minor: float = 0.45
) -> np.ndarray:
    """(T, 3) points of the (p, q) torus knot at parameters ``t`` in [0, 2 pi) (knot in the xy plane)."""
    r = major + minor * np.cos(q * t)
    return np.stack([r * np.cos(p * t), r * np.sin(p * t), -minor * np.sin(q * t)], -1)


def torus_knot_mesh(
    p: int = 2,
    q: int = 3,
    tube_radius: float = 0.2,
    segments: int = 240,
    sides: int = 20,
    tilt_deg: float = 30.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A watertight tube around the (p, q) torus knot.

    The circle cross-sections follow rotation-minimising (parallel-transport) frames; the frames'
    residual twist after one loop is spread evenly along the curve so the tube closes without a seam.
    The knot stands upright in the xy plane (y is up in ``fields3d synth``), tilted by ``tilt_deg``
    about the x axis.

    Returns:
        (V, 3) float64 vertices (about unit size) and (F, 3) int64 faces, outward-facing
        (V = segments * sides, F = 2 * V).
    """
    if math.gcd(p, q) != 1:
        raise ValueError(f"expected coprime p and q (a knot, not a link), got p={p}, q={q}")
    if segments < 8 or sides < 3:
        raise ValueError(f"expected segments >= 8 and sides >= 3, got {segments} and {sides}")
    t = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    centre = torus_knot_curve(t, p, q)
    tangent = np.roll(centre, -1, axis=0) - np.roll(centre, 1, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)

    normal = np.zeros_like(centre)
    seed = np.cross(tangent[0], [0.0, 0.0, 1.0])
    if np.linalg.norm(seed) < 1e-6:
        seed = np.cross(tangent[0], [1.0, 0.0, 0.0])
    normal[0] = seed / np.linalg.norm(seed)
    for i in range(1, segments):  # parallel transport: remove the component along the new tangent
        n = normal[i - 1] - tangent[i] * (normal[i - 1] @ tangent[i])
        normal[i] = n / np.linalg.norm(n)
    # twist left after the loop: angle from the transported last frame back to the first one
    n_end = normal[-1] - tangent[0] * (normal[-1] @ tangent[0])
    n_end /= np.linalg.norm(n_end)
    b0 = np.cross(tangent[0], normal[0])
    twist = math.atan2(float(n_end @ b0), float(n_end @ normal[0]))
    binormal = np.cross(tangent, normal)
    angle = -twist * np.arange(segments) / segments
    normal, binormal = (
        np.cos(angle)[:, None] * normal + np.sin(angle)[:, None] * binormal,
        -np.sin(angle)[:, None] * normal + np.cos(angle)[:, None] * binormal,
    )

    phi = np.linspace(0.0, 2.0 * np.pi, sides, endpoint=False)
    ring = np.cos(phi)[None, :, None] * normal[:, None] + np.sin(phi)[None, :, None] * binormal[:, None]
    vertices = (centre[:, None] + tube_radius * ring).reshape(-1, 3)

    i = np.arange(segments)[:, None]
    j = np.arange(sides)[None, :]
    a = i * sides + j
    b = ((i + 1) % segments) * sides + j
    c = ((i + 1) % segments) * sides + (j + 1) % sides
    d = i * sides + (j + 1) % sides
    faces = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)], 1).reshape(-1, 3)

    c, s = math.cos(math.radians(tilt_deg)), math.sin(math.radians(tilt_deg))
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    vertices = vertices @ tilt.T
    # orient faces outward: the signed volume of a closed outward mesh is positive
    tri = vertices[faces]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    if volume < 0:
        faces = faces[:, ::-1].copy()
    return vertices, faces.astype(np.int64)
