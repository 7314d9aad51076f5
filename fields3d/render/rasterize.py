"""Differentiable triangle rasterization: one output type, two backends (nvdiffrast on CUDA, cpu).

``Rasterizer.rasterize(vertices, faces, cameras)`` returns a :class:`RasterOutput` per camera pixel:
the visible triangle's id, its perspective-correct barycentrics, the camera depth and a mask.

* **Visibility is discrete** (which triangle is nearest at each pixel centre) and carries no gradient.
* **Values are differentiable**: barycentrics and depth are exact functions of the visible triangle's
  camera-space vertices and the pixel's ray, so :func:`interpolate` passes gradients to the vertex
  attributes *and* to the vertex positions (and camera poses, if they require grad).
* **Silhouettes** get gradients from :func:`antialias` / :func:`coverage`: analytic edge antialiasing
  in the manner of nvdiffrast's ``antialias`` — where a silhouette edge passes between two neighbouring
  pixel centres, their colours are blended by the sub-pixel position of the crossing, which moves with
  the edge's vertices.  On CUDA this is nvdiffrast's own op; on CPU a pure-PyTorch twin
  (:mod:`fields3d.render.rasterize_antialias`).

Conventions: fields3d's cameras (OpenCV axes, ``K`` in pixels, pixel centres at +0.5; see
:mod:`fields3d.cameras.conventions`).  Rasterization samples each pixel at its centre with a **pinhole**
model: lens distortion is not rendered.  Cameras with distortion coefficients are refused unless
``RasterizerConfig.ignore_distortion`` is set (then the undistorted image is rendered; compare it with
``fields3d.cameras.undistort_image`` of the captured image).  A fragment is visible when its camera depth
``z`` lies in ``[near, far]``; no faces are culled by orientation (both sides render).

Backends (``RasterizerConfig.backend``):

* ``"nvdiffrast"``: NVIDIA's CUDA rasterizer (``pip install 'fields3d[gpu]'``), tensors on CUDA.
* ``"cpu"``: pure PyTorch (vectorised z-buffer over the pixels in each triangle's bounding box, or open3d
  ray casting with ``cpu_visibility="open3d"``).  Despite the name it runs on any torch device; it is the
  specification the nvdiffrast backend is tested against.
* ``"auto"``: nvdiffrast when it is usable and the vertices are on CUDA, else cpu.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from fields3d.cameras import Cameras

BACKENDS = ("auto", "cpu", "nvdiffrast")
CPU_VISIBILITY = ("zbuffer", "open3d")


@dataclass
class RasterizerConfig:
    """How to rasterize: backend, clip planes, CPU visibility method."""

    backend: Literal["auto", "cpu", "nvdiffrast"] = "auto"
    """auto = nvdiffrast for CUDA tensors when it is installed, else the pure-PyTorch cpu backend."""
    near: float = 1e-2
    """Near clip plane: smallest visible camera depth, world units."""
    far: float = 1e3
    """Far clip plane: largest visible camera depth, world units."""
    cpu_visibility: Literal["zbuffer", "open3d"] = "zbuffer"
    """cpu backend: vectorised torch z-buffer, or open3d ray casting (CPU tensors only)."""
    ignore_distortion: bool = False
    """Render cameras with distortion coefficients as pinhole cameras instead of refusing them."""
    zbuffer_chunk: int = 1 << 20
    """cpu z-buffer: (triangle, pixel) candidate pairs processed at once (bounds peak memory)."""
    silhouette_walk: int = 64
    """antialias: most faces followed across the surface from a pixel towards its neighbour to find the
    silhouette edge between them (the walk stops earlier, past the neighbour's centre).  1 = only the
    face covering the pixel, as nvdiffrast's own antialias (which the nvdiffrast backend then uses); more
    also finds silhouette edges of faces thinner than a pixel — smooth or finely tessellated meshes,
    marching-cubes slivers — computed by the PyTorch antialias on either backend."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"expected backend in {BACKENDS}, got {self.backend!r}")
        if self.cpu_visibility not in CPU_VISIBILITY:
            raise ValueError(f"expected cpu_visibility in {CPU_VISIBILITY}, got {self.cpu_visibility!r}")
        if not (0 < self.near < self.far):
            raise ValueError(f"expected 0 < near < far, got near={self.near}, far={self.far}")
        if self.zbuffer_chunk < 1:
            raise ValueError(f"expected zbuffer_chunk >= 1, got {self.zbuffer_chunk}")
        if self.silhouette_walk < 1:
            raise ValueError(f"expected silhouette_walk >= 1, got {self.silhouette_walk}")


@dataclass
class RasterOutput:
    """What each pixel of N equally sized images sees (H rows, W columns, row 0 at the top).

    Attributes:
        triangle_id: (N, H, W) int64 index of the visible face, -1 = background.
        barycentrics: (N, H, W, 3) float perspective-correct weights of the visible face's three vertices
            (in ``faces`` order; they sum to 1), zero on background.  Differentiable w.r.t. vertex positions.
        depth: (N, H, W) float camera depth ``z`` (along the optical axis, world units), zero on background.
            Differentiable w.r.t. vertex positions.
        mask: (N, H, W) bool, ``triangle_id >= 0``.
        backend: "cpu" or "nvdiffrast", the backend that produced it (``interpolate``/``antialias`` use it).
        faces: (F, 3) int64 faces that were rasterized.
        vertices_camera: (N, V, 3) float vertex positions in each camera's frame (OpenCV axes).
        K: (N, 3, 3) float intrinsics in pixels.
        near, far: the clip planes used.
        silhouette_walk: ``RasterizerConfig.silhouette_walk`` used by ``antialias``.
    """

    triangle_id: torch.Tensor
    barycentrics: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    backend: str
    faces: torch.Tensor
    vertices_camera: torch.Tensor
    K: torch.Tensor
    near: float
    far: float
    silhouette_walk: int = 64
    native: Any = field(default=None, repr=False)
    """Backend-private data (nvdiffrast: its raster tensor, clip-space positions and int32 faces)."""

    @property
    def num_images(self) -> int:
        return self.triangle_id.shape[0]

    @property
    def resolution(self) -> tuple[int, int]:
        """(H, W)."""
        return self.triangle_id.shape[1], self.triangle_id.shape[2]


# --------------------------------------------------------------------------------------------------
# shared torch math (the specification both backends follow)
def camera_space(vertices: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """World vertices (V, 3) or (N, V, 3) -> (N, V, 3) positions in each camera's frame (OpenCV axes)."""
    w2c = torch.linalg.inv(c2w.to(vertices.dtype))
    rot, trans = w2c[:, :3, :3], w2c[:, None, :3, 3]
    if vertices.ndim == 2:
        return torch.einsum("nij,vj->nvi", rot, vertices) + trans
    return torch.einsum("nij,nvj->nvi", rot, vertices) + trans


def pixel_ray_grids(
    K: torch.Tensor, height: int, width: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame ray slopes of pixel centres: x (N, W) = (j + 0.5 - cx) / fx, y (N, H) likewise with rows.

    The ray through pixel (i, j) is ``(x[j], y[i], 1)`` in camera coordinates (its z component is 1, so a
    point at ray parameter t has camera depth t).
    """
    K = K.to(dtype)
    cols = torch.arange(width, device=K.device, dtype=dtype) + 0.5
    rows = torch.arange(height, device=K.device, dtype=dtype) + 0.5
    x = (cols[None] - K[:, 0, 2:3]) / K[:, 0, 0:1]
    y = (rows[None] - K[:, 1, 2:3]) / K[:, 1, 1:2]
    return x, y


def gather_per_view(table: torch.Tensor, image: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[image, index]`` for a (N, R, ...) table and broadcastable integer tensors ``image``, ``index``.

    One ``index_select`` on the flattened table: several times faster on CPU than advanced indexing
    with two index tensors, and differentiable the same way.
    """
    rows = table.shape[1]
    flat = table.reshape(table.shape[0] * rows, *table.shape[2:])
    idx = image * rows + index
    return flat.index_select(0, idx.reshape(-1)).reshape(*idx.shape, *table.shape[2:])


Components = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def corner_components(
    vertices_camera: torch.Tensor, image: torch.Tensor, corners: torch.Tensor
) -> list[Components]:
    """Camera-space (x, y, z) of each face corner, as three (M,) tensors per corner k = 0, 1, 2.

    Args:
        vertices_camera: (N, V, 3); image: (M,) camera index; corners: (M, 3) vertex indices.
    Kept as separate components (structure of arrays): 1-D gathers and arithmetic are several times
    faster on CPU than on (M, 3, 3) rows.  Differentiable.
    """
    n, num_vertices = vertices_camera.shape[:2]
    columns = [vertices_camera[..., c].reshape(n * num_vertices) for c in range(3)]
    flat = image[:, None] * num_vertices + corners  # (M, 3)
    return [tuple(col.index_select(0, flat[:, k]) for col in columns) for k in range(3)]


def _cross(p: Components, q: Components) -> Components:
    return (p[1] * q[2] - p[2] * q[1], p[2] * q[0] - p[0] * q[2], p[0] * q[1] - p[1] * q[0])


def edge_normals(corners: list[Components], corner_ids: torch.Tensor) -> list[Components]:
    """Corners p_0..p_2 (camera space) and their (M, 3) vertex ids -> ``c_k = p_(k+1) x p_(k+2)``, k = 0..2.

    For a ray direction d from the camera centre, ``s_k = d . c_k`` is proportional to the
    perspective-correct barycentric of corner k; the ray meets the triangle iff the three s_k share a sign,
    and it meets the face's plane at depth ``(p_0 . c_0) / sum_k s_k`` (for d with z = 1).

    Evaluated as ``c = a x (b - a)`` with a, b the edge's endpoints ordered by vertex id (and negated
    for the other order): the rounding error then scales with |p| |b - a| instead of |p|^2 — small faces
    far from the camera stay accurate — and two faces sharing an edge get exactly negated values, so
    they agree on which side of it every ray passes (no cracks, no double hits).
    """
    result = []
    for k in range(3):
        j, l = (k + 1) % 3, (k + 2) % 3
        swap = corner_ids[:, j] > corner_ids[:, l]
        a = tuple(torch.where(swap, pl, pj) for pj, pl in zip(corners[j], corners[l], strict=True))
        b = tuple(torch.where(swap, pj, pl) for pj, pl in zip(corners[j], corners[l], strict=True))
        c = _cross(a, (b[0] - a[0], b[1] - a[1], b[2] - a[2]))
        result.append(tuple(torch.where(swap, -ci, ci) for ci in c))
    return result


def surface_at_pixels(
    vertices_camera: torch.Tensor,
    faces: torch.Tensor,
    image: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    face: torch.Tensor,
    ray_x: torch.Tensor,
    ray_y: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable barycentrics (M, 3) and depth (M,) of ``face`` (M,) seen at pixels (image, rows, cols).

    ``b_k = s_k / sum(s)`` with ``s_k = d . (p_(k+1) x p_(k+2))`` and ``depth = sum_k b_k z_k``; exact
    ray/plane intersection, so gradients reach the camera-space vertex positions.
    """
    corner_ids = faces.index_select(0, face)
    p = corner_components(vertices_camera, image, corner_ids)
    dx = ray_x.reshape(-1).index_select(0, image * ray_x.shape[1] + cols)
    dy = ray_y.reshape(-1).index_select(0, image * ray_y.shape[1] + rows)
    s = torch.stack([c[0] * dx + c[1] * dy + c[2] for c in edge_normals(p, corner_ids)], -1)  # (M, 3)
    total = s.sum(-1, keepdim=True)
    total = torch.where(total == 0, torch.full_like(total, torch.finfo(total.dtype).tiny), total)
    bary = s / total
    depth = bary[:, 0] * p[0][2] + bary[:, 1] * p[1][2] + bary[:, 2] * p[2][2]
    return bary, depth


# --------------------------------------------------------------------------------------------------
# validation
def _validate(
    vertices, faces, cameras, config: RasterizerConfig
) -> tuple[torch.Tensor, torch.Tensor, Cameras]:
    if not isinstance(cameras, Cameras):
        raise ValueError(f"expected cameras as fields3d.cameras.Cameras, got {type(cameras).__name__}")
    if not isinstance(vertices, torch.Tensor) or not vertices.is_floating_point():
        got = vertices.dtype if isinstance(vertices, torch.Tensor) else type(vertices).__name__
        raise ValueError(f"expected vertices as a floating-point tensor, got {got}")
    n = len(cameras)
    if not (vertices.ndim == 2 and vertices.shape[1] == 3) and not (
        vertices.ndim == 3 and vertices.shape[2] == 3
    ):
        raise ValueError(f"expected vertices of shape (V, 3) or (N, V, 3), got {tuple(vertices.shape)}")
    if vertices.ndim == 3 and vertices.shape[0] != n:
        raise ValueError(
            f"expected vertices of shape ({n}, V, 3) for {n} cameras, got {tuple(vertices.shape)}"
        )
    if (
        not isinstance(faces, torch.Tensor)
        or faces.is_floating_point()
        or faces.is_complex()
        or faces.dtype == torch.bool
    ):
        got = faces.dtype if isinstance(faces, torch.Tensor) else type(faces).__name__
        raise ValueError(f"expected faces as an integer tensor, got {got}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"expected faces of shape (F, 3), got {tuple(faces.shape)}")
    num_vertices = vertices.shape[-2]
    faces = faces.to(device=vertices.device, dtype=torch.long)
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= num_vertices):
        raise ValueError(
            f"expected face indices in [0, {num_vertices}), got [{int(faces.min())}, {int(faces.max())}]"
        )
    if not bool(torch.isfinite(vertices).all()):
        raise ValueError("expected finite vertex positions, got NaN or infinity")
    sizes = set(zip(cameras.height.tolist(), cameras.width.tolist(), strict=True))
    if len(sizes) != 1:
        raise ValueError(f"expected all cameras to share one image size (H, W), got {sorted(sizes)}")
    if cameras.has_distortion and not config.ignore_distortion:
        raise ValueError(
            "expected cameras without lens distortion (the rasterizer is pinhole), got distortion "
            "coefficients; pass cameras.without_distortion() (and compare with undistort_image of the "
            "captures) "
            "or set RasterizerConfig(ignore_distortion=True)"
        )
    return vertices, faces, cameras.to(vertices.device)


def _resolve_backend(requested: str, vertices: torch.Tensor) -> str:
    from fields3d.ops import availability

    if requested == "auto":
        return "nvdiffrast" if vertices.is_cuda and availability.nvdiffrast() else "cpu"
    if requested == "nvdiffrast" and not vertices.is_cuda:
        raise ValueError(f"expected CUDA tensors for backend='nvdiffrast', got vertices on {vertices.device}")
    return requested


# --------------------------------------------------------------------------------------------------
# public API
class Rasterizer:
    """Rasterize triangle meshes into fields3d cameras; see the module docstring for the model.

    Example (not run)::

        out = Rasterizer(RasterizerConfig(backend="cpu")).rasterize(vertices, faces, cameras)
        normals_image = interpolate(vertex_normals, out)  # (N, H, W, 3)
        silhouette = coverage(out)  # (N, H, W), gradients w.r.t. vertices at silhouette edges
    """

    def __init__(self, config: RasterizerConfig | None = None):
        self.config = config if config is not None else RasterizerConfig()

    def rasterize(self, vertices: torch.Tensor, faces: torch.Tensor, cameras: Cameras) -> RasterOutput:
        """Rasterize a mesh into every camera.

        Args:
            vertices: (V, 3) float world positions (float32; float64 on the cpu backend), or (N, V, 3)
                one set per camera (same faces).
            faces: (F, 3) integer vertex indices.
            cameras: N cameras sharing one image size (H, W); moved to the vertices' device.
        Returns:
            RasterOutput with (N, H, W) images.
        """
        vertices, faces, cameras = _validate(vertices, faces, cameras, self.config)
        backend = _resolve_backend(self.config.backend, vertices)
        if backend == "nvdiffrast":
            from fields3d.render import rasterize_nvdiffrast

            return rasterize_nvdiffrast.rasterize(vertices, faces, cameras, self.config)
        from fields3d.render import rasterize_cpu

        return rasterize_cpu.rasterize(vertices, faces, cameras, self.config)

    def interpolate(self, attributes: torch.Tensor, out: RasterOutput) -> torch.Tensor:
        """Vertex attributes (V, C) or (N, V, C) -> (N, H, W, C); see :func:`interpolate`."""
        return interpolate(attributes, out)

    def antialias(self, color: torch.Tensor, out: RasterOutput) -> torch.Tensor:
        """(N, H, W, C) image with silhouette edges antialiased; see :func:`antialias`."""
        return antialias(color, out)

    def coverage(self, out: RasterOutput) -> torch.Tensor:
        """(N, H, W) antialiased silhouette; see :func:`coverage`."""
        return coverage(out)


def interpolate(attributes: torch.Tensor, out: RasterOutput) -> torch.Tensor:
    """Per-pixel interpolation of vertex attributes with the visible face's barycentrics.

    Args:
        attributes: (V, C) or (N, V, C) float per-vertex values (e.g. world positions, normals, colours).
        out: a :class:`RasterOutput`.
    Returns:
        (N, H, W, C), zero on background; differentiable w.r.t. ``attributes`` and the vertex positions.
    """
    n = out.num_images
    num_vertices = out.vertices_camera.shape[1]
    if not isinstance(attributes, torch.Tensor) or not attributes.is_floating_point():
        got = getattr(attributes, "dtype", type(attributes).__name__)
        raise ValueError(f"expected attributes as a floating-point tensor, got {got}")
    ok = (attributes.ndim == 2 and attributes.shape[0] == num_vertices) or (
        attributes.ndim == 3 and attributes.shape[:2] == (n, num_vertices)
    )
    if not ok:
        expected = f"({num_vertices}, C) or ({n}, {num_vertices}, C)"
        raise ValueError(f"expected attributes of shape {expected}, got {tuple(attributes.shape)}")
    attributes = attributes.to(out.barycentrics.device)
    if out.backend == "nvdiffrast":
        from fields3d.render import rasterize_nvdiffrast

        return rasterize_nvdiffrast.interpolate(attributes, out)
    if out.faces.shape[0] == 0:
        return attributes.new_zeros(*out.triangle_id.shape, attributes.shape[-1])
    idx = out.faces[out.triangle_id.clamp(min=0)]  # (N, H, W, 3)
    if attributes.ndim == 2:
        values = attributes[idx]  # (N, H, W, 3, C)
    else:
        values = gather_per_view(attributes, torch.arange(n, device=idx.device)[:, None, None, None], idx)
    return (out.barycentrics.to(attributes.dtype)[..., None] * values).sum(-2)


def antialias(color: torch.Tensor, out: RasterOutput) -> torch.Tensor:
    """Analytic antialiasing of silhouette edges: (N, H, W, C) image -> (N, H, W, C).

    Where a silhouette edge of the nearer surface passes between two horizontally (for steep edges) or
    vertically (for flat edges) adjacent pixel centres, the pixel on the far side of the midpoint takes
    a share of its neighbour's colour equal to the distance of the edge beyond the midpoint (a box filter
    in 1-D).  The result is continuous in the vertex positions, and its gradient w.r.t. them is nonzero
    exactly at silhouette pixels.  PyTorch (:mod:`fields3d.render.rasterize_antialias`) on either backend;
    nvdiffrast's own ``antialias`` on the nvdiffrast backend with ``silhouette_walk=1``.
    """
    h, w = out.resolution
    if not isinstance(color, torch.Tensor) or not color.is_floating_point():
        raise ValueError(
            f"expected color as a floating-point tensor, got {getattr(color, 'dtype', type(color))}"
        )
    if color.ndim != 4 or color.shape[:3] != (out.num_images, h, w):
        raise ValueError(f"expected color of shape ({out.num_images}, {h}, {w}, C), got {tuple(color.shape)}")
    if out.backend == "nvdiffrast" and out.silhouette_walk == 1:
        from fields3d.render import rasterize_nvdiffrast

        return rasterize_nvdiffrast.antialias(color, out)
    from fields3d.render import rasterize_antialias

    return rasterize_antialias.antialias(color, out, max_walk=out.silhouette_walk)


def coverage(out: RasterOutput) -> torch.Tensor:
    """Antialiased silhouette (N, H, W) in [0, 1]: the mask, with gradients w.r.t. vertex positions."""
    return antialias(out.mask.to(out.barycentrics.dtype)[..., None], out)[..., 0]
