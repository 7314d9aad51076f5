"""An analytic furnished box room seen from inside: exact depth and a procedural colour texture, no
renderer needed.

Used by tests and demos of FrozenRecon: a camera inside an axis-aligned box ``[-half, half]`` (world units)
with a few spheres in it ("furniture": planes alone are a degenerate scene for affine depth) sees, at
every pixel, the nearest wall or sphere; its z-depth and a smooth colour pattern of the hit point follow
in closed form.  Cameras use fields3d's OpenCV convention (``c2w`` 4x4, pixel origin at the
top-left corner, centres at +0.5).
"""

from __future__ import annotations

import numpy as np


def look_at(eye, target, up=(0.0, -1.0, 0.0)) -> np.ndarray:
    """(4, 4) float64 OpenCV camera-to-world pose at ``eye`` looking at ``target`` (y down)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(-np.asarray(up), z)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose


DEFAULT_SPHERES = (
    ((1.2, 0.6, 1.6), 0.5),
    ((-1.3, 0.8, 1.2), 0.4),
    ((0.2, 0.9, 2.0), 0.3),
    ((1.4, -0.2, -1.5), 0.45),
    ((-1.2, 0.5, -1.8), 0.55),
    ((-1.6, 0.7, 0.0), 0.35),
    ((1.6, 0.8, 0.2), 0.3),
)
"""(centre, radius) of the spheres in the default room."""


def render_box_room(
    c2w: np.ndarray, focal: float, width: int, height: int, half=(2.0, 1.2, 2.5), spheres=DEFAULT_SPHERES
) -> tuple[np.ndarray, np.ndarray]:
    """Render one view of the inside of the box ``[-half, half]``.

    Args:
        c2w: (4, 4) camera-to-world pose; the camera must be inside the box.
        focal: focal length in pixels (principal point at the image centre).
        width, height: image size in pixels.
        half: half extents of the box along x, y, z (world units).
        spheres: (centre (3,), radius) pairs inside the box.
    Returns:
        (H, W) float64 z-depth (world units) and (H, W, 3) float64 RGB in [0, 1].
    """
    c2w = np.asarray(c2w, dtype=np.float64)
    half = np.asarray(half, dtype=np.float64)
    if c2w.shape != (4, 4):
        raise ValueError(f"expected a (4, 4) pose, got shape {c2w.shape}")
    if not (np.abs(c2w[:3, 3]) < half).all():
        raise ValueError(f"expected the camera inside the box {half.tolist()}, got {c2w[:3, 3].tolist()}")
    u = np.arange(width) + 0.5
    v = np.arange(height) + 0.5
    uu, vv = np.meshgrid(u, v)
    rays_cam = np.stack([(uu - width / 2) / focal, (vv - height / 2) / focal, np.ones_like(uu)], -1)
    rays = rays_cam @ c2w[:3, :3].T
    origin = c2w[:3, 3]
    with np.errstate(divide="ignore"):
        t_pos = (half - origin) / rays
        t_neg = (-half - origin) / rays
    t_exit = np.where(rays > 0, t_pos, t_neg)
    t_exit = np.where(np.abs(rays) < 1e-12, np.inf, t_exit)
    t = t_exit.min(-1)  # ray parameter along the camera-frame ray with z = 1, i.e. the z-depth
    for center, radius in spheres:
        oc = origin - np.asarray(center, dtype=np.float64)
        a = (rays * rays).sum(-1)
        b = 2.0 * (rays * oc).sum(-1)
        c = float(oc @ oc) - radius**2
        disc = b * b - 4 * a * c
        with np.errstate(invalid="ignore"):
            t_hit = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2 * a)
        hit_sphere = (disc > 0) & (t_hit > 1e-6) & (t_hit < t)
        t = np.where(hit_sphere, t_hit, t)
    hit = origin + rays * t[..., None]
    color = 0.5 + 0.22 * np.sin(3.1 * hit[..., [0, 1, 2]] + np.array([0.0, 1.3, 2.1]))
    color += 0.2 * np.sin(7.3 * hit[..., [1, 2, 0]] + 0.7) * np.sin(5.1 * hit[..., [2, 0, 1]])
    return t, np.clip(color, 0.0, 1.0)


def walkthrough_poses(
    count: int, radius: float = 0.6, sweep_deg: float = 120.0, height: float = 0.1
) -> np.ndarray:
    """(count, 4, 4) poses walking along an arc near the room centre while panning across the walls
    (the view turns 1.5 times as fast as the walk)."""
    if count < 1:
        raise ValueError(f"expected at least 1 pose, got {count}")
    poses = []
    for k in range(count):
        a = np.deg2rad(-sweep_deg / 2 + sweep_deg * k / max(count - 1, 1))
        eye = np.array([radius * np.sin(a) * 0.5, height + 0.1 * np.sin(2 * a), -radius * np.cos(a) * 0.5])
        target = eye + np.array([np.sin(a * 1.5), 0.15, np.cos(a * 1.5)])
        poses.append(look_at(eye, target))
    return np.stack(poses)


def room_sequence(frames: int = 8, sweep_deg: float = 40.0, width: int = 64, height: int = 48,
                  focal: float = 50.0, radius: float = 1.6, seed: int = 0):
    """A walk through the default room: poses (N, 4, 4), and lists of N ground-truth depth maps (H, W),
    colour images (H, W, 3) and affine-corrupted priors (the acceptance recipe,
    :func:`fields3d.frozenrecon.corruption.corrupt_depth` with ``seed``)."""
    from fields3d.frozenrecon.corruption import CorruptionConfig, corrupt_depth

    poses = walkthrough_poses(frames, radius=radius, sweep_deg=sweep_deg)
    depth, color = [], []
    for pose in poses:
        d, c = render_box_room(pose, focal, width, height)
        depth.append(d)
        color.append(c)
    config = CorruptionConfig(seed=seed)
    prior = [corrupt_depth(d, k, config)[0] for k, d in enumerate(depth)]
    return poses, depth, color, prior


def write_rgbd_folder(folder, frames: int = 8, sweep_deg: float = 40.0, width: int = 64, height: int = 48,
                      focal: float = 50.0):
    """Write a room walk as a 7-Scenes-style folder (``frame-*.color.png``, ``.depth.png`` in mm,
    ``.pose.txt``, ``camera-intrinsics.txt``); returns the folder (a Path)."""
    from pathlib import Path

    from fields3d.io.images import write_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    poses, depth, color, _ = room_sequence(frames, sweep_deg, width, height, focal)
    for k in range(frames):
        name = f"frame-{k:06d}"
        write_image(folder / f"{name}.color.png", color[k])
        write_image(folder / f"{name}.depth.png", np.round(depth[k] * 1000).astype(np.uint16))
        np.savetxt(folder / f"{name}.pose.txt", poses[k])
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    np.savetxt(folder / "camera-intrinsics.txt", K)
    return folder


def room_mesh(half=(2.0, 1.2, 2.5), spheres=DEFAULT_SPHERES, subdivisions: int = 3):
    """The room as a triangle mesh: (V, 3) float64 vertices and (F, 3) int64 faces (box walls facing
    inwards plus icospheres), for renderers such as ``fields3d synth --camera-path walkthrough``."""
    import trimesh

    box = trimesh.creation.box(extents=2.0 * np.asarray(half, dtype=np.float64))
    box.invert()
    parts = [box]
    for center, radius in spheres:
        ball = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
        ball.apply_translation(center)
        parts.append(ball)
    mesh = trimesh.util.concatenate(parts)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
