"""Preview images of a run: renders beside their photos, normal maps, blend weights, a mesh turntable."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from fields3d.recon.evaluation import RenderedView


def normals_to_image(normals: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit normals (0 = none) -> (H, W, 3) float colours (n + 1) / 2, black where none."""
    valid = np.abs(normals).sum(-1, keepdims=True) > 0
    return np.where(valid, 0.5 * (normals + 1.0), 0.0).astype(np.float32)


def write_view_previews(
    views: list[RenderedView], folder: Path, prefix: str = "view"
) -> list[tuple[str, Path]]:
    """For each view, ``folder/<prefix>_NNN.png``: photo | render | normals | |error| (| W for UniSDF).

    Returns (caption, path) pairs.
    """
    from fields3d.io.images import write_image
    from fields3d.io.report import image_grid

    out = []
    for v in views:
        tiles = [
            v.target,
            v.rgb,
            normals_to_image(v.normals),
            np.clip(np.abs(v.rgb - v.target).mean(-1) * 4, 0, 1),
        ]
        labels = ["photo", "render", "normals", "|error| x4"]
        if v.blend_weight.any():
            tiles.append(v.blend_weight * (v.opacity > 0.5))
            labels.append("W (reflection)")
        path = folder / f"{prefix}_{v.index:03d}.png"
        write_image(path, image_grid(tiles, columns=len(tiles), labels=labels))
        out.append((f"view {v.index}", path))
    return out


def orbit_cameras(
    center: np.ndarray,
    radius: float,
    n_views: int,
    size: int,
    elevation_deg: float = 20.0,
    up: np.ndarray | None = None,
):
    """``n_views`` cameras on a circle around ``center`` looking at it, framing a sphere of ``radius``."""
    from fields3d.cameras import Cameras

    up = np.array([0.0, 1.0, 0.0]) if up is None else np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    a = np.cross(up, [1.0, 0.0, 0.0])
    if np.linalg.norm(a) < 1e-6:
        a = np.cross(up, [0.0, 0.0, 1.0])
    a /= np.linalg.norm(a)
    b = np.cross(up, a)
    fov = math.radians(40.0)
    dist = radius / math.sin(fov / 2) * 1.05
    el = math.radians(elevation_deg)
    poses = []
    for k in range(n_views):
        az = 2 * math.pi * k / n_views
        direction = math.cos(el) * (math.cos(az) * a + math.sin(az) * b) + math.sin(el) * up
        eye = center + dist * direction
        z = center - eye
        z /= np.linalg.norm(z)
        x = np.cross(z, up)  # OpenCV: x right, y = z cross x points down (against up)
        if np.linalg.norm(x) < 1e-6:
            x = a.copy()
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
        poses.append(pose)
    return Cameras.from_fov(fov, size, size, np.stack(poses))


def render_turntable(
    vertices: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray | None,
    n_views: int = 8,
    size: int = 256,
    up: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Shaded views (list of (size, size, 3) float32) of a mesh on a circle around it (CPU rasterizer).

    Shading: vertex colours (grey without) times a headlight Lambert term, on a dark background.
    """
    from fields3d.render import Rasterizer, RasterizerConfig, interpolate

    v = torch.as_tensor(vertices, dtype=torch.float64)
    f = torch.as_tensor(faces, dtype=torch.int64)
    lo, hi = v.min(0).values.numpy(), v.max(0).values.numpy()
    center = 0.5 * (lo + hi)
    radius = 0.5 * float(np.linalg.norm(hi - lo))
    cams = orbit_cameras(center, radius, n_views, size, up=up)
    raster = Rasterizer(RasterizerConfig(backend="cpu", near=1e-3 * radius, far=1e3 * radius))
    e1, e2 = v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]
    fn = torch.nn.functional.normalize(torch.cross(e1, e2, dim=-1), dim=-1)
    vn = torch.zeros_like(v).index_add_(0, f.reshape(-1), fn.repeat_interleave(3, 0))
    vn = torch.nn.functional.normalize(vn, dim=-1)
    col = (
        (torch.as_tensor(colors, dtype=torch.float64) / 255.0)
        if colors is not None
        else torch.full_like(v, 0.7)
    )
    images = []
    for i in range(n_views):
        out = raster.rasterize(v, f, cams[i])
        attrs = interpolate(torch.cat([vn, col], dim=-1), out)[0]
        n = torch.nn.functional.normalize(attrs[..., :3], dim=-1)
        view_dir = cams.c2w[i, :3, 2].double()
        shade = (n @ -view_dir).abs().clamp(0, 1)[..., None]
        img = attrs[..., 3:] * (0.25 + 0.75 * shade)
        bg = torch.tensor([0.12, 0.12, 0.14], dtype=img.dtype)
        img = torch.where(out.mask[0][..., None], img, bg)
        images.append(img.float().numpy())
    return images


def write_turntable(
    vertices, faces, colors, folder: Path, n_views: int = 8, size: int = 256, up: np.ndarray | None = None
) -> list[tuple[str, Path]]:
    """``folder/turntable.png`` (a grid) and ``folder/turntable.gif`` (animated; left out if GIF writing
    fails), as the report's captioned images ``[("turntable", png), ("animated", gif)]``."""
    from fields3d.io.atomic import atomic_path
    from fields3d.io.images import to_uint8, write_image
    from fields3d.io.report import image_grid

    frames = render_turntable(vertices, faces, colors, n_views, size, up)
    grid_path = write_image(folder / "turntable.png", image_grid(frames, columns=min(4, len(frames))))
    gif_path = folder / "turntable.gif"
    try:
        from PIL import Image

        pil = [Image.fromarray(to_uint8(fr)) for fr in frames]
        with atomic_path(gif_path) as tmp:
            pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:], duration=250, loop=0)
    except (OSError, ValueError):
        return [("turntable", grid_path)]
    return [("turntable", grid_path), ("animated", gif_path)]
