"""The nvdiffrast rasterizer backend (CUDA): ``rasterize``, ``interpolate``, ``antialias``.

At this boundary fields3d's cameras become OpenGL clip space: camera-space points (OpenCV axes) are
mapped with ``opengl_projection(K, W, H, near, far)`` after flipping y and z to OpenGL camera axes.
OpenGL's clip-space y points up, which would put the bottom image row first; the clip-space y row is
negated as well, so nvdiffrast writes row 0 at the top (pixel centre ``v = row + 0.5``) and no image
needs flipping.  (nvdiffrast culls no faces, so the mirrored winding changes nothing.)

Outputs follow :class:`fields3d.render.rasterize.RasterOutput`: nvdiffrast's ``(u, v)`` are the weights
of corners 0 and 1 (corner 2 gets ``1 - u - v``); their gradients w.r.t. the clip-space positions come
from nvdiffrast's rasterize backward.  Depth is the interpolated camera-space z.
"""

from __future__ import annotations

import torch

from fields3d.cameras import Cameras
from fields3d.cameras.conventions import opengl_projection
from fields3d.render.nvdiffrast_loader import load_nvdiffrast
from fields3d.render.rasterize import RasterizerConfig, RasterOutput, camera_space

_CONTEXTS: dict[int, object] = {}
_TRIIDX_FLOAT_LIMIT = 16777216.0  # nvdiffrast stores face ids above 2**24 as raw float bits


def clip_matrix(K: torch.Tensor, width: int, height: int, near: float, far: float) -> torch.Tensor:
    """(N, 4, 4) matrices: OpenCV camera-space points (x, y, z, 1) -> nvdiffrast clip space, row 0 on top."""
    proj = opengl_projection(K, width, height, near, far)
    opencv_to_gl = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=K.dtype, device=K.device))
    top_row_first = torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=K.dtype, device=K.device))
    return top_row_first @ proj @ opencv_to_gl


def _context(device: torch.device):
    dr = load_nvdiffrast()
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _CONTEXTS:
        _CONTEXTS[index] = dr.RasterizeCudaContext(device=torch.device("cuda", index))
    return _CONTEXTS[index]


def triangle_ids(rast: torch.Tensor) -> torch.Tensor:
    """nvdiffrast's channel 3 (face id + 1 as float, 0 = none) -> (N, H, W) int64 id, -1 = background."""
    code = rast[..., 3]
    large = code.contiguous().view(torch.int32).long() - 0x4A800000
    return torch.where(code <= _TRIIDX_FLOAT_LIMIT, code.long(), large) - 1


def rasterize(
    vertices: torch.Tensor, faces: torch.Tensor, cameras: Cameras, config: RasterizerConfig
) -> RasterOutput:
    """Rasterize validated CUDA inputs (see ``Rasterizer.rasterize``)."""
    dr = load_nvdiffrast()
    n = len(cameras)
    h, w = cameras.image_size(0)
    if vertices.dtype != torch.float32:
        raise ValueError(f"expected float32 vertices for backend='nvdiffrast', got {vertices.dtype}")
    vertices_camera = camera_space(vertices, cameras.c2w)  # (N, V, 3)
    if faces.shape[0] == 0:
        empty = torch.zeros(n, h, w, device=vertices.device)
        return RasterOutput(
            triangle_id=torch.full((n, h, w), -1, dtype=torch.long, device=vertices.device),
            barycentrics=torch.zeros(n, h, w, 3, device=vertices.device),
            depth=empty,
            mask=torch.zeros(n, h, w, dtype=torch.bool, device=vertices.device),
            backend="nvdiffrast",
            faces=faces,
            vertices_camera=vertices_camera,
            K=cameras.K,
            near=config.near,
            far=config.far,
            silhouette_walk=config.silhouette_walk,
            native=None,
        )
    clip = clip_matrix(cameras.K, w, h, config.near, config.far)
    homogeneous = torch.cat([vertices_camera, torch.ones_like(vertices_camera[..., :1])], -1)
    pos = torch.einsum("nij,nvj->nvi", clip, homogeneous).contiguous()  # (N, V, 4)
    tri = faces.to(torch.int32).contiguous()
    rast, _ = dr.rasterize(_context(vertices.device), pos, tri, (h, w), grad_db=False)
    triangle_id = triangle_ids(rast.detach())
    mask = triangle_id >= 0
    u, v = rast[..., 0], rast[..., 1]
    bary = torch.stack([u, v, 1.0 - u - v], -1) * mask[..., None]
    depth, _ = dr.interpolate(vertices_camera[..., 2:3].contiguous(), rast, tri)
    return RasterOutput(
        triangle_id=triangle_id,
        barycentrics=bary,
        depth=depth[..., 0] * mask,
        mask=mask,
        backend="nvdiffrast",
        faces=faces,
        vertices_camera=vertices_camera,
        K=cameras.K,
        near=config.near,
        far=config.far,
        silhouette_walk=config.silhouette_walk,
        native=(rast, pos, tri),
    )


def interpolate(attributes: torch.Tensor, out: RasterOutput) -> torch.Tensor:
    """nvdiffrast ``interpolate`` of (V, C) / (N, V, C) attributes -> (N, H, W, C) (float32)."""
    if out.native is None:  # no faces
        return torch.zeros(*out.triangle_id.shape, attributes.shape[-1], device=attributes.device)
    dr = load_nvdiffrast()
    rast, _, tri = out.native
    if attributes.ndim == 2:  # shared by all images: broadcast along nvdiffrast's minibatch axis
        attributes = attributes[None]
    values, _ = dr.interpolate(attributes.float().contiguous(), rast, tri)
    return values


def antialias(color: torch.Tensor, out: RasterOutput) -> torch.Tensor:
    """nvdiffrast ``antialias`` of an (N, H, W, C) image rendered with ``out``."""
    if out.native is None:
        return color.clone()
    dr = load_nvdiffrast()
    rast, pos, tri = out.native
    return dr.antialias(color.float().contiguous(), rast, pos, tri)
