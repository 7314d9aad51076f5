"""The rasterizer's cpu backend against analytic answers; dispatch; input validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from fields3d.cameras import Cameras
from fields3d.render.rasterize import Rasterizer, RasterizerConfig, interpolate

CPU = RasterizerConfig(backend="cpu")
OPEN3D = RasterizerConfig(backend="cpu", cpu_visibility="open3d")


def pinhole(width: int, height: int, f: float, c2w=None) -> Cameras:
    K = torch.tensor([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=torch.float32)
    c2w = (
        torch.eye(4)[None]
        if c2w is None
        else torch.as_tensor(np.asarray(c2w), dtype=torch.float32).reshape(-1, 4, 4)
    )
    return Cameras(K, c2w, width, height)


def lift(uv, depth, K):
    """Camera-space points (identity pose) that project to pixel coordinates ``uv`` at ``depth``."""
    uv, depth = np.asarray(uv, float), np.broadcast_to(np.asarray(depth, float), (len(uv),))
    x = (uv[:, 0] - K[0, 2]) / K[0, 0] * depth
    y = (uv[:, 1] - K[1, 2]) / K[1, 1] * depth
    return torch.tensor(np.stack([x, y, depth], -1), dtype=torch.float32)


def pixel_centres(height, width):
    v, u = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    return np.stack([u, v], -1)


def signed_area(a, b, p):
    return (b[0] - a[0]) * (p[..., 1] - a[1]) - (b[1] - a[1]) * (p[..., 0] - a[0])


def triangle_inside(tri2d, points, margin=1e-3):
    """(inside, ambiguous) masks of points for a 2-D triangle; ambiguous = within ``margin`` px of an edge."""
    a, b, c = tri2d
    e = np.stack([signed_area(a, b, points), signed_area(b, c, points), signed_area(c, a, points)], -1)
    lengths = np.array([np.linalg.norm(b - a), np.linalg.norm(c - b), np.linalg.norm(a - c)])
    dist = e / lengths * np.sign(signed_area(a, b, c))
    return (dist > 0).all(-1), (np.abs(dist) < margin).any(-1)


# --------------------------------------------------------------------------------------------------
# single triangles
def test_fronto_parallel_triangle_coverage_barycentrics_depth():
    cams = pinhole(16, 16, 20.0)
    K = cams.K[0].numpy()
    uv = np.array([[2.2, 3.1], [13.7, 5.3], [6.4, 14.2]])
    verts = lift(uv, 2.0, K)
    out = Rasterizer(CPU).rasterize(verts, torch.tensor([[0, 1, 2]]), cams)
    inside, ambiguous = triangle_inside(uv, pixel_centres(16, 16))
    mask = out.mask[0].numpy()
    assert inside.sum() > 40
    assert (mask[~ambiguous] == inside[~ambiguous]).all()
    assert (out.triangle_id[0][out.mask[0]] == 0).all() and (out.triangle_id[0][~out.mask[0]] == -1).all()
    b = out.barycentrics[0][out.mask[0]].double().numpy()
    assert np.allclose(b.sum(-1), 1.0, atol=1e-6) and (b > -1e-6).all()
    # constant depth: perspective-correct = screen-space barycentrics, so they reproduce the pixel centre
    assert np.allclose(b @ uv, pixel_centres(16, 16)[mask], atol=1e-4)
    assert torch.allclose(out.depth[0][out.mask[0]], torch.tensor(2.0), atol=1e-5)
    assert (out.depth[0][~out.mask[0]] == 0).all() and (out.barycentrics[0][~out.mask[0]] == 0).all()


def test_tilted_triangle_interpolates_points_on_the_pixel_rays():
    cams = pinhole(24, 20, 25.0)
    K = cams.K[0].numpy()
    verts = torch.cat([lift([[3.0, 2.5]], 1.5, K), lift([[21.2, 6.1]], 4.0, K), lift([[8.3, 18.7]], 2.5, K)])
    out = Rasterizer(CPU).rasterize(verts, torch.tensor([[0, 2, 1]]), cams)  # either winding renders
    points = interpolate(verts, out)[0][out.mask[0]].double()  # identity pose: camera = world
    assert out.mask.sum() > 80
    assert torch.allclose(points[:, 2], out.depth[0][out.mask[0]].double(), atol=1e-5)
    uv = points[:, :2] / points[:, 2:] * 25.0 + torch.tensor([12.0, 10.0], dtype=torch.float64)
    assert torch.allclose(uv, torch.tensor(pixel_centres(20, 24))[out.mask[0]], atol=1e-3)
    # perspective-correct barycentrics differ from screen-space ones on a tilted face
    corners_uv = np.array([[3.0, 2.5], [8.3, 18.7], [21.2, 6.1]])  # in face order (0, 2, 1)
    system = np.vstack([corners_uv.T, np.ones(3)])
    pixels = pixel_centres(20, 24)[out.mask[0].numpy()]
    screen = np.linalg.solve(system, np.vstack([pixels.T, np.ones(len(pixels))])).T
    assert np.abs(screen - out.barycentrics[0][out.mask[0]].numpy()).max() > 0.05


# --------------------------------------------------------------------------------------------------
# a cube seen from a known camera
@pytest.fixture
def cube_scene(look_at):
    import trimesh

    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    verts = torch.tensor(box.vertices, dtype=torch.float32)
    faces = torch.tensor(box.faces, dtype=torch.long)
    cams = Cameras.from_fov(np.radians(50), 96, 80, look_at([2.5, 1.8, -3.2]))
    return verts, faces, cams


@pytest.mark.parametrize("config", [CPU, OPEN3D], ids=["zbuffer", "open3d"])
def test_cube_mask_is_the_projected_hull_and_depth_the_slab_depth(cube_scene, config):
    verts, faces, cams = cube_scene
    out = Rasterizer(config).rasterize(verts, faces, cams)
    # mask: pixel centres inside the convex hull of the projected corners
    uv, _ = cams.project(verts, 0)
    hull = ConvexHull(uv.double().numpy())
    dist = pixel_centres(80, 96) @ hull.equations[:, :2].T + hull.equations[:, 2]  # <= 0 inside, unit normals
    inside = (dist <= 0).all(-1)
    clear = np.abs(dist).min(-1) > 1e-3
    assert inside.sum() > 1500
    assert (out.mask[0].numpy()[clear] == inside[clear]).all()
    # depth: ray/box entry by the slab method, converted to camera z
    rays = cams.image_rays(0)
    o, d = rays.origins.double(), rays.directions.double()
    t1, t2 = (-1 - o) / d, (1 - o) / d
    t_enter = torch.minimum(t1, t2).amax(-1)
    z_axis = cams.c2w[0, :3, 2].double()
    expected = (t_enter * (d @ z_axis)).reshape(80, 96)
    m = out.mask[0]
    assert torch.allclose(out.depth[0][m].double(), expected[m], atol=1e-4)
    # interpolated world positions lie on the pixel rays at the slab entry point
    points = interpolate(verts, out)[0].reshape(-1, 3)[m.reshape(-1)].double()
    on_ray = o[m.reshape(-1)] + t_enter[m.reshape(-1), None] * d[m.reshape(-1)]
    assert torch.allclose(points, on_ray, atol=1e-4)


def test_cube_triangle_ids_name_the_visible_side(cube_scene):
    verts, faces, cams = cube_scene
    out = Rasterizer(CPU).rasterize(verts, faces, cams)
    normals = torch.linalg.cross(
        verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]]
    )
    visible = out.triangle_id[0][out.mask[0]]
    to_camera = cams.centers[0] - verts[faces[visible, 0]]
    assert ((normals[visible] * to_camera).sum(-1) > 0).all()  # trimesh boxes face outwards
    assert len(torch.unique(visible)) == 6  # three sides, two triangles each


# --------------------------------------------------------------------------------------------------
# clipping
def test_ground_plane_behind_and_in_front_of_the_camera_is_clipped_at_near():
    """A 20 x 20 quad at y = 1 (below the camera) that extends behind it; depth = 1 / ray slope."""
    cams = pinhole(40, 30, 20.0)
    verts = torch.tensor([[-10.0, 1.0, -10.0], [10.0, 1.0, -10.0], [10.0, 1.0, 10.0], [-10.0, 1.0, 10.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    centres = pixel_centres(30, 40)
    sx, sy = (centres[..., 0] - 20.0) / 20.0, (centres[..., 1] - 15.0) / 20.0
    for near in (0.05, 2.0):
        out = Rasterizer(RasterizerConfig(backend="cpu", near=near, far=100.0)).rasterize(verts, faces, cams)
        with np.errstate(divide="ignore"):
            depth = np.where(sy > 0, 1.0 / sy, np.inf)
        expected = (depth >= near) & (depth <= 10.0) & (np.abs(sx * depth) <= 10.0)
        clear = (
            (np.abs(depth - near) > 1e-3)
            & (np.abs(depth - 10.0) > 1e-3)
            & (np.abs(np.abs(sx * depth) - 10) > 1e-3)
        )
        assert (out.mask[0].numpy()[clear] == expected[clear]).all()
        assert expected.sum() > 100
        m = out.mask[0]
        assert np.allclose(out.depth[0][m].numpy(), depth[m.numpy()], rtol=1e-5)
    far_out = Rasterizer(RasterizerConfig(backend="cpu", near=0.05, far=3.0)).rasterize(verts, faces, cams)
    assert far_out.depth[0][far_out.mask[0]].max() <= 3.0


def test_camera_inside_a_box_sees_the_walls_everywhere(look_at):
    import trimesh

    box = trimesh.creation.box(extents=(4.0, 4.0, 4.0)).subdivide()
    verts, faces = torch.tensor(box.vertices, dtype=torch.float32), torch.tensor(box.faces)
    cams = Cameras.from_fov(np.radians(100), 48, 40, look_at([0.3, 0.2, 0.1], [1.0, 0.4, 0.6]))
    for config in (CPU, OPEN3D):
        out = Rasterizer(config).rasterize(verts, faces, cams)
        assert out.mask.all()
        rays = cams.image_rays(0)
        o, d = rays.origins.double(), rays.directions.double()
        t_exit = torch.maximum((-2 - o) / d, (2 - o) / d).amin(-1)
        expected = (t_exit * (d @ cams.c2w[0, :3, 2].double())).reshape(40, 48)
        assert torch.allclose(out.depth[0].double(), expected, atol=1e-4)


# --------------------------------------------------------------------------------------------------
# visibility methods, batches
def test_zbuffer_and_open3d_visibility_agree(icosphere, orbit_cameras, shared_data):
    import trimesh

    cow = trimesh.load(shared_data("reference_meshes") / "cow.obj", force="mesh", process=False)
    v = np.asarray(cow.vertices)
    v = (v - (v.max(0) + v.min(0)) / 2) / np.abs(v).max()
    meshes = [icosphere(3), (torch.tensor(v, dtype=torch.float32), torch.tensor(cow.faces))]
    cams = orbit_cameras(3, 64, 48)
    for verts, faces in meshes:
        a = Rasterizer(CPU).rasterize(verts, faces, cams)
        b = Rasterizer(OPEN3D).rasterize(verts, faces, cams)
        assert a.mask.sum() > 1000
        assert (a.mask != b.mask).float().mean() < 1e-3
        assert (a.triangle_id == b.triangle_id).float().mean() > 0.998  # differences: ties on shared edges
        both = a.mask & b.mask
        assert torch.allclose(a.depth[both], b.depth[both], atol=1e-4)


def test_overlapping_triangles_the_nearer_wins():
    cams = pinhole(20, 20, 20.0)
    K = cams.K[0].numpy()
    uv = [[1.0, 1.0], [19.0, 2.0], [10.0, 19.0]]
    verts = torch.cat([lift(uv, 3.0, K), lift(uv, 2.0, K), lift(uv, 4.0, K)])
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    out = Rasterizer(CPU).rasterize(verts, faces, cams)
    assert (out.triangle_id[out.mask] == 1).all()
    assert torch.allclose(out.depth[out.mask], torch.tensor(2.0))


def test_a_batch_of_cameras_equals_one_camera_at_a_time(icosphere, orbit_cameras):
    verts, faces = icosphere(2)
    cams = orbit_cameras(3, 40, 32)
    batch = Rasterizer(CPU).rasterize(verts, faces, cams)
    for i in range(3):
        single = Rasterizer(CPU).rasterize(verts, faces, cams[i])
        assert torch.equal(batch.triangle_id[i], single.triangle_id[0])
        # float32 rounding of the batched camera transform differs by ~1e-7
        assert torch.allclose(batch.barycentrics[i], single.barycentrics[0], atol=1e-4)
        assert torch.allclose(batch.depth[i], single.depth[0], atol=1e-5)
    assert len({tuple(batch.triangle_id[i].flatten()[::37].tolist()) for i in range(3)}) == 3


def test_per_camera_vertices(icosphere, orbit_cameras):
    verts, faces = icosphere(2)
    cams = orbit_cameras(2, 32, 32)
    moved = verts * 0.7 + torch.tensor([0.1, 0.0, -0.2])
    out = Rasterizer(CPU).rasterize(torch.stack([verts, moved]), faces, cams)
    assert torch.equal(out.triangle_id[0], Rasterizer(CPU).rasterize(verts, faces, cams[0]).triangle_id[0])
    assert torch.equal(out.triangle_id[1], Rasterizer(CPU).rasterize(moved, faces, cams[1]).triangle_id[0])
    colors = torch.rand(2, len(verts), 3)
    assert interpolate(colors, out).shape == (2, 32, 32, 3)


def test_empty_mesh_renders_background():
    out = Rasterizer(CPU).rasterize(
        torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), pinhole(8, 6, 10.0)
    )
    assert out.triangle_id.shape == (1, 6, 8) and (out.triangle_id == -1).all() and not out.mask.any()
    assert interpolate(torch.zeros(0, 2), out).shape == (1, 6, 8, 2)


def test_auto_backend_on_cpu_tensors_is_cpu(icosphere, orbit_cameras):
    verts, faces = icosphere(1)
    assert Rasterizer().rasterize(verts, faces, orbit_cameras(1, 8, 8)).backend == "cpu"


# --------------------------------------------------------------------------------------------------
# gradients
def _small_scene():
    cams = Cameras(torch.tensor([[20.0, 0, 6.0], [0, 20.0, 5.0], [0, 0, 1]]), torch.eye(4)[None], 12, 10)
    verts = torch.tensor(
        [[-0.41, -0.33, 2.1], [0.46, -0.27, 2.6], [0.07, 0.39, 1.8], [0.52, 0.44, 2.3]], dtype=torch.float64
    )
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    return verts, faces, cams


def test_interpolate_gradcheck_wrt_attributes_and_vertex_positions():
    verts, faces, cams = _small_scene()
    rasterizer = Rasterizer(CPU)
    attrs = torch.rand(4, 2, dtype=torch.float64, requires_grad=True)
    out = rasterizer.rasterize(verts, faces, cams)
    assert out.mask.sum() > 20
    assert torch.autograd.gradcheck(lambda a: interpolate(a, out), (attrs,))

    def render(v):
        o = rasterizer.rasterize(v, faces, cams)
        assert torch.equal(o.triangle_id, out.triangle_id)  # visibility fixed under the perturbations
        return interpolate(attrs.detach(), o), o.depth, o.barycentrics

    assert torch.autograd.gradcheck(render, (verts.clone().requires_grad_(),), atol=1e-6, fast_mode=True)


def test_gradients_reach_camera_poses():
    verts, faces, cams = _small_scene()
    c2w = cams.c2w.double().clone().requires_grad_()
    posed = Cameras(cams.K, c2w, 12, 10)
    out = Rasterizer(CPU).rasterize(verts, faces, posed)
    out.depth.sum().backward()
    assert c2w.grad is not None and c2w.grad[0, 2, 3] < 0  # moving the camera forward reduces depth


# --------------------------------------------------------------------------------------------------
# bad input
@pytest.mark.parametrize(
    ("vertices", "faces", "match"),
    [
        (torch.rand(4, 3), torch.tensor([[0, 1, 4]]), r"expected face indices in \[0, 4\), got \[0, 4\]"),
        (torch.rand(4, 3), torch.tensor([[0, -1, 2]]), r"expected face indices in \[0, 4\), got \[-1, 2\]"),
        (
            torch.rand(4, 2),
            torch.tensor([[0, 1, 2]]),
            r"expected vertices of shape \(V, 3\) or \(N, V, 3\), got \(4, 2\)",
        ),
        (
            torch.rand(3, 4, 3),
            torch.tensor([[0, 1, 2]]),
            r"expected vertices of shape \(1, V, 3\) for 1 cameras",
        ),
        (torch.rand(4, 3), torch.tensor([0, 1, 2]), r"expected faces of shape \(F, 3\), got \(3,\)"),
        (
            torch.rand(4, 3),
            torch.tensor([[0.0, 1.0, 2.0]]),
            "expected faces as an integer tensor, got torch.float32",
        ),
        (
            torch.tensor([[0, 0, 1]]),
            torch.tensor([[0, 0, 0]]),
            "expected vertices as a floating-point tensor",
        ),
        (torch.full((3, 3), float("nan")), torch.tensor([[0, 1, 2]]), "expected finite vertex positions"),
    ],
)
def test_bad_mesh_input_raises(vertices, faces, match):
    with pytest.raises(ValueError, match=match):
        Rasterizer(CPU).rasterize(vertices, faces, pinhole(8, 8, 10.0))


def test_bad_cameras_and_config_raise(icosphere):
    verts, faces = icosphere(0)
    mixed = Cameras(pinhole(8, 8, 10.0).K.expand(2, 3, 3), torch.eye(4).expand(2, 4, 4), [8, 9], 8)
    expected = r"expected all cameras to share one image size \(H, W\), got \[\(8, 8\), \(8, 9\)\]"
    with pytest.raises(ValueError, match=expected):
        Rasterizer(CPU).rasterize(verts, faces, mixed)
    distorted = Cameras(pinhole(8, 8, 10.0).K, torch.eye(4)[None], 8, 8, torch.tensor([0.1, 0, 0, 0]))
    with pytest.raises(ValueError, match="expected cameras without lens distortion"):
        Rasterizer(CPU).rasterize(verts + torch.tensor([0, 0, 3.0]), faces, distorted)
    ok = Rasterizer(RasterizerConfig(backend="cpu", ignore_distortion=True)).rasterize(
        verts + torch.tensor([0, 0, 3.0]), faces, distorted
    )
    assert ok.mask.any()
    with pytest.raises(ValueError, match="expected cameras as fields3d.cameras.Cameras, got dict"):
        Rasterizer(CPU).rasterize(verts, faces, {})
    with pytest.raises(
        ValueError, match=r"expected CUDA tensors for backend='nvdiffrast', got vertices on cpu"
    ):
        Rasterizer(RasterizerConfig(backend="nvdiffrast")).rasterize(verts, faces, pinhole(8, 8, 10.0))
    with pytest.raises(
        ValueError, match=r"expected backend in \('auto', 'cpu', 'nvdiffrast'\), got 'opengl'"
    ):
        RasterizerConfig(backend="opengl")
    with pytest.raises(ValueError, match="expected 0 < near < far, got near=1.0, far=0.5"):
        RasterizerConfig(near=1.0, far=0.5)
    with pytest.raises(ValueError, match="expected cpu_visibility in"):
        RasterizerConfig(cpu_visibility="embree")


def test_bad_attributes_raise(icosphere, orbit_cameras):
    verts, faces = icosphere(1)
    out = Rasterizer(CPU).rasterize(verts, faces, orbit_cameras(2, 8, 8))
    expected = rf"expected attributes of shape \({len(verts)}, C\) or \(2, {len(verts)}, C\), got \(5, 3\)"
    with pytest.raises(ValueError, match=expected):
        interpolate(torch.rand(5, 3), out)
    with pytest.raises(ValueError, match="expected attributes as a floating-point tensor, got torch.int64"):
        interpolate(torch.zeros(len(verts), 1, dtype=torch.long), out)
