"""The pure-PyTorch rasterizer backend ("cpu"; it runs on any torch device).

Visibility (which face is nearest at each pixel centre) is found without gradients, either by

* ``zbuffer_visibility``: every (view, face) pair lists the pixel centres inside the face's screen
  bounding box (of the face clipped to the near plane); each candidate is tested against the face's
  three edge planes through the camera centre and, when inside and within [near, far], writes
  ``depth bits << 32 | face`` into a per-pixel ``scatter_reduce(amin)`` — nearest depth wins, ties go to
  the lower face id.  Fully vectorised, processed in chunks of candidate pairs to bound memory; or
* ``open3d_visibility``: open3d's ``RaycastingScene.cast_rays`` (BVH ray casting, CPU tensors only),

and then :func:`fields3d.render.rasterize.surface_at_pixels` recomputes the visible faces' barycentrics and
depths in differentiable torch.
"""

from __future__ import annotations

import torch

from fields3d.cameras import Cameras
from fields3d.render.rasterize import (
    RasterizerConfig,
    RasterOutput,
    camera_space,
    corner_components,
    edge_normals,
    gather_per_view,
    pixel_ray_grids,
    surface_at_pixels,
)

_NO_HIT = torch.iinfo(torch.int64).max
_BBOX_EPS = 1e-3  # pixels: widen bounding boxes so rounding never drops a candidate (the edge test decides)
_MAX_PIXEL_COORD = 1e7  # clamp projected coordinates of faces grazing the near plane


def rasterize(
    vertices: torch.Tensor, faces: torch.Tensor, cameras: Cameras, config: RasterizerConfig
) -> RasterOutput:
    """Rasterize validated inputs (see ``Rasterizer.rasterize``)."""
    n = len(cameras)
    h, w = cameras.image_size(0)
    vertices_camera = camera_space(vertices, cameras.c2w)
    ray_x, ray_y = pixel_ray_grids(cameras.K, h, w, vertices_camera.dtype)
    if faces.shape[0] == 0:
        triangle_id = torch.full((n, h, w), -1, dtype=torch.long, device=vertices.device)
    elif config.cpu_visibility == "open3d":
        triangle_id = open3d_visibility(vertices.detach(), faces, cameras, config.near, config.far)
    else:
        triangle_id = zbuffer_visibility(
            vertices_camera.detach(),
            faces,
            cameras.K,
            ray_x,
            ray_y,
            config.near,
            config.far,
            config.zbuffer_chunk,
        )
    mask = triangle_id >= 0
    image, rows, cols = mask.nonzero(as_tuple=True)
    face = triangle_id[image, rows, cols]
    bary, depth = surface_at_pixels(vertices_camera, faces, image, rows, cols, face, ray_x, ray_y)
    flat = (image * h + rows) * w + cols
    dtype, device = vertices_camera.dtype, vertices_camera.device
    bary_image = torch.zeros(n * h * w, 3, dtype=dtype, device=device).index_put((flat,), bary)
    depth_image = torch.zeros(n * h * w, dtype=dtype, device=device).index_put((flat,), depth)
    return RasterOutput(
        triangle_id=triangle_id,
        barycentrics=bary_image.reshape(n, h, w, 3),
        depth=depth_image.reshape(n, h, w),
        mask=mask,
        backend="cpu",
        faces=faces,
        vertices_camera=vertices_camera,
        K=cameras.K.to(dtype),
        near=config.near,
        far=config.far,
        silhouette_walk=config.silhouette_walk,
    )


# --------------------------------------------------------------------------------------------------
# z-buffer
def _clipped_corners(tri: torch.Tensor, near: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Corners of each triangle clipped to ``z >= near``: points (..., 6, 3) and which are valid (..., 6)."""
    z = tri[..., 2]
    a, b = tri, tri.roll(-1, dims=-2)  # edges (k, k+1)
    za, zb = z, z.roll(-1, dims=-1)
    crosses = (za - near) * (zb - near) < 0
    t = ((near - za) / torch.where(crosses, zb - za, torch.ones_like(za))).clamp(0, 1)
    cut = a + t[..., None] * (b - a)
    return torch.cat([tri, cut], -2), torch.cat([z >= near, crosses], -1)


def _pixel_range(lo: torch.Tensor, hi: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last pixel index (int64) with its centre in [lo, hi] (pixel units), within the image."""
    lo = lo.clamp(-_MAX_PIXEL_COORD, _MAX_PIXEL_COORD)
    hi = hi.clamp(-_MAX_PIXEL_COORD, _MAX_PIXEL_COORD)
    first = torch.ceil(lo - 0.5 - _BBOX_EPS).clamp(0, size).long()
    last = torch.floor(hi - 0.5 + _BBOX_EPS).clamp(-1, size - 1).long()
    return first, last


def _screen_bounds(vertices_camera, faces, K, h, w, near, far):
    """Pixel-index bounding boxes (N, F) x0, x1, y0, y1 of every face clipped to ``z >= near``, and which
    faces may be visible at all (some corner in front of ``near``, some corner before ``far``)."""
    K = K.to(vertices_camera.dtype)
    z = vertices_camera[..., 2]  # (N, V)
    zs = z.clamp(min=near)
    u = K[:, 0, 0, None] * vertices_camera[..., 0] / zs + K[:, 0, 2, None]
    v = K[:, 1, 1, None] * vertices_camera[..., 1] / zs + K[:, 1, 2, None]
    corners = faces.reshape(-1)
    fu, fv, fz = (t.index_select(1, corners).reshape(*t.shape[:1], -1, 3) for t in (u, v, z))  # (N, F, 3)
    zmin, zmax = fz.amin(-1), fz.amax(-1)
    umin, umax, vmin, vmax = fu.amin(-1), fu.amax(-1), fv.amin(-1), fv.amax(-1)
    crossing = (zmin < near) & (zmax >= near)
    if bool(crossing.any()):  # faces cut by the near plane: bound the clipped polygon instead
        ci, cf = crossing.nonzero(as_tuple=True)
        points, valid = _clipped_corners(gather_per_view(vertices_camera, ci[:, None], faces[cf]), near)
        pz = points[..., 2].clamp(min=near)
        pu = K[ci, 0, 0, None] * points[..., 0] / pz + K[ci, 0, 2, None]
        pv = K[ci, 1, 1, None] * points[..., 1] / pz + K[ci, 1, 2, None]
        inf = torch.full_like(pu, torch.inf)
        umin[ci, cf], umax[ci, cf] = (
            torch.where(valid, pu, inf).amin(-1),
            torch.where(valid, pu, -inf).amax(-1),
        )
        vmin[ci, cf], vmax[ci, cf] = (
            torch.where(valid, pv, inf).amin(-1),
            torch.where(valid, pv, -inf).amax(-1),
        )
    x0, x1 = _pixel_range(umin, umax, w)
    y0, y1 = _pixel_range(vmin, vmax, h)
    return x0, x1, y0, y1, (zmax >= near) & (zmin <= far)


@torch.no_grad()
def zbuffer_visibility(
    vertices_camera: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    ray_x: torch.Tensor,
    ray_y: torch.Tensor,
    near: float,
    far: float,
    chunk: int = 1 << 20,
) -> torch.Tensor:
    """Nearest face at every pixel centre.

    Faces are grouped by the size of their screen bounding box, rounded up to powers of two per axis
    (tiles of 1x1 ... 2^k x 2^k pixels), so each group is evaluated with plain broadcasting; at most
    ``chunk`` (face, pixel) candidates are held at once.

    Args:
        vertices_camera: (N, V, 3) camera-space positions.
        faces: (F, 3) int64.
        K: (N, 3, 3) intrinsics; ray_x (N, W), ray_y (N, H) from ``pixel_ray_grids`` (sizes only).
        near, far: visible camera-depth range.
        chunk: candidate (face, pixel) pairs processed at once.
    Returns:
        (N, H, W) int64 face index, -1 where no face is visible.
    """
    n, h, w = K.shape[0], ray_y.shape[1], ray_x.shape[1]
    x0, x1, y0, y1, keep = _screen_bounds(vertices_camera, faces, K, h, w, near, far)
    nx, ny = (x1 - x0 + 1).clamp(min=0), (y1 - y0 + 1).clamp(min=0)
    keep &= (nx > 0) & (ny > 0)
    view, face = keep.nonzero(as_tuple=True)  # entries (E,)
    zbuf = torch.full((n * h * w,), _NO_HIT, dtype=torch.long, device=K.device)
    if view.numel() == 0:
        return torch.full((n, h, w), -1, dtype=torch.long, device=K.device)
    entry = view * faces.shape[0] + face
    nx, ny = nx.reshape(-1).index_select(0, entry), ny.reshape(-1).index_select(0, entry)
    # size class per axis: ceil(log2(extent)) -> tiles of 2^cx by 2^cy pixels; sort entries by class
    group = _ceil_log2(ny) * 64 + _ceil_log2(nx)
    group, order = torch.sort(group)
    view, face, nx, ny, entry = (t.index_select(0, order) for t in (view, face, nx, ny, entry))
    x0, y0 = x0.reshape(-1).index_select(0, entry), y0.reshape(-1).index_select(0, entry)
    corner_ids = faces.index_select(0, face)
    corners = corner_components(vertices_camera, view, corner_ids)
    coef = _pixel_edge_coefficients(corners, corner_ids, K.to(vertices_camera.dtype), view)
    keys, sizes = torch.unique_consecutive(group, return_counts=True)
    start = 0
    for key, size in zip(keys.tolist(), sizes.tolist(), strict=True):
        tile_w, tile_h = 1 << (key % 64), 1 << (key // 64)
        step = max(1, chunk // (tile_w * tile_h))
        for a in range(start, start + size, step):
            b = min(a + step, start + size)
            _zbuffer_tiles(
                zbuf,
                [c[a:b] for c in coef],
                x0[a:b],
                y0[a:b],
                nx[a:b],
                ny[a:b],
                view[a:b],
                face[a:b],
                tile_w,
                tile_h,
                h,
                w,
                near,
                far,
            )
        start += size
    hit = zbuf != _NO_HIT
    ids = torch.where(hit, zbuf & 0xFFFFFFFF, torch.full_like(zbuf, -1))
    return ids.reshape(n, h, w)


def _ceil_log2(count: torch.Tensor) -> torch.Tensor:
    """ceil(log2(count)) for int64 counts >= 1 (exact: the binary exponent of count - 1)."""
    return torch.frexp((count - 1).double()).exponent.long()


def _pixel_edge_coefficients(
    corners: list, corner_ids: torch.Tensor, K: torch.Tensor, view: torch.Tensor
) -> list[torch.Tensor]:
    """Face corners (``corner_components``, E faces), their (E, 3) vertex ids, (N, 3, 3) intrinsics and each
    face's (E,) camera -> 12 (E,) coefficients: for k = 0..2 the affine edge function
    ``s_k(col, row) = A_k col + B_k row + C_k`` of pixel indices (``d . c_k`` for the ray d through the
    pixel centre; see ``edge_normals``), then the corners' depths z_0..z_2.  The ray meets the face's plane
    at depth ``sum_k s_k z_k / sum_k s_k`` (better conditioned than ``p_0 . c_0 / sum_k s_k``).

    Each edge coefficient is an odd function of c_k, so a face sharing an edge gets exactly the negated
    values and the two faces agree at every pixel (watertight).
    """
    fx, fy, cx, cy = (K[:, i, j].index_select(0, view) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    columns = []
    for ck in edge_normals(corners, corner_ids):
        a = ck[0] / fx
        b = ck[1] / fy
        columns += [a, b, ck[2] + a * (0.5 - cx) + b * (0.5 - cy)]
    return columns + [corners[k][2] for k in range(3)]


def _zbuffer_tiles(zbuf, coef, x0, y0, nx, ny, view, face, tile_w, tile_h, h, w, near, far) -> None:
    """Test faces against the pixels of a tile_h x tile_w tile at their bounding box corner; scatter-min."""
    ox = torch.arange(tile_w, device=x0.device)
    oy = torch.arange(tile_h, device=x0.device)
    col = (x0[:, None, None] + ox[None, None, :]).to(coef[0].dtype)  # (E, 1, tw)
    row = (y0[:, None, None] + oy[None, :, None]).to(coef[0].dtype)  # (E, th, 1)
    in_box = (ox[None, None, :] < nx[:, None, None]) & (oy[None, :, None] < ny[:, None, None])
    cf = [c[:, None, None] for c in coef]
    s0 = cf[0] * col + cf[1] * row + cf[2]
    s1 = cf[3] * col + cf[4] * row + cf[5]
    s2 = cf[6] * col + cf[7] * row + cf[8]
    inside = ((s0 >= 0) & (s1 >= 0) & (s2 >= 0)) | ((s0 <= 0) & (s1 <= 0) & (s2 <= 0))
    total = s0 + s1 + s2
    depth = (s0 * cf[9] + s1 * cf[10] + s2 * cf[11]) / torch.where(total == 0, torch.ones_like(total), total)
    ok = inside & in_box & (total != 0) & (depth >= near) & (depth <= far)
    hit = ok.reshape(-1).nonzero().squeeze(1)
    per_face = tile_w * tile_h
    e = hit // per_face
    r = (hit % per_face) // tile_w
    q = hit % tile_w
    depth_bits = (
        depth.reshape(-1).index_select(0, hit).float().view(torch.int32).long()
    )  # orders like the depth
    key = (depth_bits << 32) | face.index_select(0, e)
    pixel = (view.index_select(0, e) * h + y0.index_select(0, e) + r) * w + x0.index_select(0, e) + q
    zbuf.scatter_reduce_(0, pixel, key, reduce="amin")


# --------------------------------------------------------------------------------------------------
# open3d ray casting
@torch.no_grad()
def open3d_visibility(
    vertices: torch.Tensor, faces: torch.Tensor, cameras: Cameras, near: float, far: float
) -> torch.Tensor:
    """Nearest face at every pixel centre by open3d ray casting (BVH); CPU tensors only.

    Args:
        vertices: (V, 3) or (N, V, 3) world positions; faces (F, 3) int64; N cameras of one size.
    Returns:
        (N, H, W) int64 face index, -1 where no face is visible.
    """
    if vertices.device.type != "cpu":
        raise ValueError(f"expected CPU tensors for cpu_visibility='open3d', got {vertices.device}")
    try:
        import open3d as o3d
    except ImportError as e:  # open3d is a core dependency, but may be absent on GPU machines
        from fields3d.errors import MissingDependencyError

        raise MissingDependencyError(
            "open3d", "cpu_visibility='open3d'", "pip install open3d, or use 'zbuffer'"
        ) from e
    n = len(cameras)
    h, w = cameras.image_size(0)
    ray_x, ray_y = pixel_ray_grids(cameras.K, h, w, torch.float64)
    d_cam = torch.stack(
        [
            ray_x[:, None, :].expand(n, h, w),
            ray_y[:, :, None].expand(n, h, w),
            torch.ones(n, h, w, dtype=torch.float64),
        ],
        -1,
    )
    c2w = cameras.c2w.double().cpu()
    d_world = torch.einsum(
        "nij,nhwj->nhwi", c2w[:, :3, :3], d_cam
    )  # camera z of d is 1: t_hit + near = depth
    origins = c2w[:, None, None, :3, 3] + near * d_world
    rays = torch.cat([origins, d_world], -1).float().reshape(n, h * w, 6)
    tri = o3d.core.Tensor(faces.cpu().numpy().astype("uint32"))
    # one scene for all cameras when they share the vertices, else one per camera
    batches = (
        [(slice(0, n), vertices)]
        if vertices.ndim == 2
        else [(slice(i, i + 1), vertices[i]) for i in range(n)]
    )
    ids = torch.full((n, h * w), -1, dtype=torch.long)
    for cams, verts in batches:
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(verts.float().cpu().contiguous().numpy()), tri)
        hits = scene.cast_rays(o3d.core.Tensor(rays[cams].reshape(-1, 6).contiguous().numpy()))
        t_hit = torch.from_numpy(hits["t_hit"].numpy()).reshape(-1, h * w)
        prim = torch.from_numpy(hits["primitive_ids"].numpy().astype("int64")).reshape(-1, h * w)
        ids[cams] = torch.where(torch.isfinite(t_hit) & (t_hit + near <= far), prim, -1)
    return ids.reshape(n, h, w)
