"""Synthetic captures: files, round trips through load_scene (cameras, depth, masks, normals), materials."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from fields3d.data.synthetic import (
    SynthConfig,
    depth_to_png16,
    fit_distance,
    look_at,
    normalize_mesh,
    render_capture,
    sphere_directions,
)
from fields3d.errors import InputError

TINY = dict(views=6, resolution=32)


@pytest.fixture(scope="module")
def knot_mesh(tmp_path_factory):
    """A small closed mesh generated in code (no shared data)."""
    from fields3d.data.demo_object import torus_knot_mesh
    from fields3d.io.mesh import write_mesh

    v, f = torus_knot_mesh(tube_radius=0.3, segments=64, sides=10)
    return write_mesh(tmp_path_factory.mktemp("mesh") / "knot.ply", v, f)


@pytest.fixture(scope="module")
def capture(knot_mesh, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return render_capture(knot_mesh, out, SynthConfig(**TINY), progress=False)


def _backproject(scene, i, depth):
    """World points (P, 3) of the pixels with depth > 0 and their (P,) unit ray directions."""
    cams = scene.cameras
    v, u = np.nonzero(depth > 0)
    pix = torch.tensor(np.stack([u + 0.5, v + 0.5], -1), dtype=torch.float32)
    rays = cams.rays(i, pix)
    K = cams.K[i].double().numpy()
    d_cam = np.stack([(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], np.ones(len(u))], -1)
    c2w = cams.c2w[i].double().numpy()
    points = c2w[:3, 3] + (depth[v, u, None] * d_cam) @ c2w[:3, :3].T
    return points, rays.directions.double().numpy(), (v, u)


def test_files_and_transforms_round_trip(capture):
    from fields3d.data.detect import load_scene

    out = capture.out
    for folder in ("images", "masks", "depth", "normals"):
        assert sorted(p.name for p in (out / folder).iterdir()) == [f"{i:03d}.png" for i in range(6)]
    assert capture.mesh.is_file() and capture.contact_sheet.is_file()
    scene = load_scene(out)
    assert scene.format == "transforms_json" and len(scene) == 6
    assert torch.allclose(scene.cameras.c2w, capture.cameras.c2w, atol=1e-6)
    assert torch.allclose(scene.cameras.K, capture.cameras.K, atol=1e-5)
    assert not scene.cameras.has_distortion
    assert np.allclose(scene.normalization.matrix, np.eye(4))  # the world frame is the normalised frame
    block = scene.metadata["fields3d"]
    assert block["depth_type"] == "z" and scene.depth_scale == 1000.0
    assert len(scene.metadata["normal_paths"]) == 6
    # the mesh normalisation maps the source mesh onto mesh_gt.ply
    from fields3d.geometry.similarity import Similarity
    from fields3d.io.mesh import read_mesh

    src = read_mesh(block["source_mesh"])
    gt = read_mesh(capture.mesh)
    sim = Similarity.from_dict(block["mesh_normalization"])
    assert np.allclose(sim.apply_points(np.asarray(src.vertices)), gt.vertices, atol=1e-6)
    assert np.linalg.norm(gt.vertices, axis=1).max() == pytest.approx(0.9, abs=1e-6)
    # every camera is outside the object's sphere and looks at the centre
    centres = scene.cameras.centers.numpy()
    assert (np.linalg.norm(centres, axis=1) >= 1.5 - 1e-6).all()
    for i in range(6):
        uv, z = scene.cameras.project(torch.zeros(1, 3), i)
        assert z.item() > 0 and np.allclose(uv.numpy(), 16.0, atol=1e-3)


def test_depth_lies_on_the_mesh_and_mask_covers_projections(capture):
    import open3d as o3d

    from fields3d.data.detect import load_scene
    from fields3d.io.mesh import read_mesh

    scene = load_scene(capture.out)
    mesh = read_mesh(capture.mesh)
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(
        o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)),
    )
    surface = mesh.sample(4000, seed=0)
    normals_checked = 0
    for i in range(len(scene)):
        depth = scene.load_depth(i)
        mask = scene.load_mask(i)
        assert mask.any() and np.array_equal(mask, depth > 0)
        # depth (16-bit millimetres) back-projects onto the surface: within the quantisation
        points, dirs, (v, u) = _backproject(scene, i, depth)
        dist = rc.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()
        assert dist.max() < 2e-3, f"view {i}: back-projected depth is {dist.max():.4f} from the mesh"
        # every surface point projects into the (1-pixel dilated) silhouette
        uv, z = scene.cameras.project(torch.tensor(surface, dtype=torch.float32), i)
        uv = uv.numpy()
        assert (z.numpy() > 0).all()
        ij = np.floor(uv).astype(int)
        inside = (ij >= 0).all(1) & (ij[:, 0] < 32) & (ij[:, 1] < 32)
        from scipy.ndimage import binary_dilation

        dilated = binary_dilation(mask, iterations=1)
        assert dilated[ij[inside, 1], ij[inside, 0]].all()
        # the projected depth of visible surface points agrees with the depth map
        d_at = depth[ij[inside, 1], ij[inside, 0]]
        zi = z.numpy()[inside]
        visible = (d_at > 0) & (np.abs(d_at - zi) < 0.02)
        assert visible.sum() > 20
        # nothing lies in front of the depth map where it is smooth (away from depth edges and the
        # silhouette, a point and its pixel centre see the same surface)
        from scipy.ndimage import maximum_filter, minimum_filter

        smooth = (minimum_filter(depth, 3) > 0) & (maximum_filter(depth, 3) - minimum_filter(depth, 3) < 0.1)
        at_smooth = smooth[ij[inside, 1], ij[inside, 0]]
        assert at_smooth.sum() > 20
        # (tolerance: the depth change across half a pixel of an oblique surface, ~0.02 here)
        assert (zi[at_smooth] > d_at[at_smooth] - 0.05).all()
        # normals are unit vectors facing the camera
        n = scene_normals(scene, i)[v, u]
        assert np.allclose(np.linalg.norm(n, axis=1), 1.0, atol=0.02)
        assert ((n * dirs).sum(1) < 0.05).all()
        normals_checked += len(n)
    assert normals_checked > 100


def scene_normals(scene, i):
    from fields3d.io.images import read_image

    return read_image(scene.metadata["normal_paths"][i])[..., :3] * 2.0 - 1.0


def test_glossy_differs_from_diffuse_only_on_the_object(knot_mesh, tmp_path, capture):
    glossy = render_capture(
        knot_mesh, tmp_path / "glossy", SynthConfig(**TINY, material="glossy"), progress=False
    )
    from fields3d.io.images import read_image

    diffs = []
    for i in range(6):
        a = read_image(capture.image_paths[i])
        b = read_image(glossy.image_paths[i])
        mask = read_image(capture.mask_paths[i])[..., 0] > 0.5
        assert np.array_equal(mask, read_image(glossy.mask_paths[i])[..., 0] > 0.5)
        assert np.array_equal(read_image(capture.depth_paths[i]), read_image(glossy.depth_paths[i]))
        # background pixels away from the silhouette are untouched
        from scipy.ndimage import binary_dilation

        far = ~binary_dilation(mask, iterations=2)
        assert np.abs(a - b)[far].max() == 0.0
        diffs.append(np.abs(a - b)[mask].mean())
    assert min(diffs) > 0.01  # the reflection changes every view


def test_same_seed_same_images_other_seed_other_cameras(knot_mesh, tmp_path, capture):
    from fields3d.io.images import read_image

    again = render_capture(knot_mesh, tmp_path / "again", SynthConfig(**TINY), progress=False)
    assert np.array_equal(read_image(again.image_paths[3]), read_image(capture.image_paths[3]))
    other = render_capture(knot_mesh, tmp_path / "other", SynthConfig(**TINY, seed=1), progress=False)
    assert not torch.allclose(other.cameras.c2w, capture.cameras.c2w)


def test_white_background_and_stale_views_removed(knot_mesh, tmp_path):
    from fields3d.io.images import read_image

    out = tmp_path / "cap"
    render_capture(knot_mesh, out, SynthConfig(views=5, resolution=16), progress=False)
    cap = render_capture(
        knot_mesh, out, SynthConfig(views=3, resolution=16, background="white"), progress=False
    )
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000.png", "001.png", "002.png"]
    img = read_image(cap.image_paths[0])
    assert img[0, 0].min() == 1.0  # a corner sees the white background
    assert len(json.loads(cap.transforms.read_text())["frames"]) == 3


def test_one_sided_plane_renders_from_both_sides(shared_data, tmp_path):
    mesh = shared_data("reference_meshes") / "planexy.off"
    cap = render_capture(mesh, tmp_path / "plane", SynthConfig(views=8, resolution=32), progress=False)
    from fields3d.io.images import read_image

    sides = set()
    for i in range(8):
        mask = read_image(cap.mask_paths[i])[..., 0] > 0.5
        assert mask.sum() > 0, f"view {i} sees nothing"
        n = read_image(cap.normal_paths[i])[..., :3] * 2 - 1
        z_cam = float(cap.cameras.centers[i, 2])
        if abs(z_cam) > 0.3:  # clearly on one side of the plane z = 0
            nz = n[mask][:, 2]
            assert (np.sign(nz) == np.sign(z_cam)).mean() > 0.9  # the normal faces this camera
            sides.add(np.sign(z_cam))
    assert sides == {-1.0, 1.0}


def test_garment_open_mesh(shared_data, tmp_path):
    mesh = shared_data("garments_snug") / "tshirt.obj"
    cap = render_capture(mesh, tmp_path / "shirt", SynthConfig(views=4, resolution=32), progress=False)
    from fields3d.io.images import read_image

    for i in range(4):
        assert (read_image(cap.mask_paths[i]) > 0.5).mean() > 0.05


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="mesh file not found"):
        render_capture(tmp_path / "missing.obj", tmp_path / "out", progress=False)
    empty = tmp_path / "empty.off"
    empty.write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")
    with pytest.raises(InputError, match="no faces"):
        render_capture(empty, tmp_path / "out", progress=False)
    point = tmp_path / "point.off"
    point.write_text("OFF\n3 1 0\n0 0 0\n0 0 0\n0 0 0\n3 0 1 2\n")
    with pytest.raises(InputError, match="nonzero extent"):
        render_capture(point, tmp_path / "out", progress=False)
    for bad in (dict(views=0), dict(resolution=4), dict(material="metal"), dict(fov_deg=0.0)):
        with pytest.raises(InputError, match="expected"):
            SynthConfig(**bad).validate()
    with pytest.raises(InputError, match="16-bit"):
        depth_to_png16(np.full((2, 2), 70.0))


def test_camera_helpers():
    # look_at: OpenCV axes, right-handed, image up follows world up
    c2w = look_at(np.array([3.0, 0.0, 0.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))
    r = c2w[:3, :3]
    assert np.allclose(r.T @ r, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    assert np.allclose(r[:, 2], [-1, 0, 0]) and r[:, 1] @ [0, 1, 0] < -0.99  # y down = -up
    straight_down = look_at(np.array([0.0, 3.0, 0.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))
    assert np.isfinite(straight_down).all()
    d = sphere_directions(200, (-30.0, 75.0), "y", seed=0)
    elev = np.degrees(np.arcsin(d[:, 1]))
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0)
    assert elev.min() >= -30.0 - 1e-6 and elev.max() <= 75.0 + 1e-6 and elev.min() < -20 and elev.max() > 65
    # fit_distance puts the extreme vertex exactly at the requested fraction of the half-view
    verts = np.array([[0.5, 0.0, 0.0], [-0.2, 0.3, 0.1]])
    pose = look_at(np.array([0.0, 0.0, 1.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))
    dist = fit_distance(verts, pose[:3, :3], math.radians(40.0), 0.9)
    pose[:3, 3] = [0.0, 0.0, dist]
    local = (verts - pose[:3, 3]) @ pose[:3, :3]
    tan = np.abs(local[:, :2] / local[:, 2:]).max()
    assert tan == pytest.approx(0.9 * math.tan(math.radians(20.0)), rel=1e-9)
    v, sim = normalize_mesh(np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0.0]]), np.array([[0, 1, 2]]), 1.0)
    assert np.linalg.norm(v, axis=1).max() == pytest.approx(1.0)
    assert np.allclose(sim.apply_points(np.array([1.0, 1.0, 0.0])), 0.0)  # bounding-box centre -> origin
