"""G-Shell multi-view reconstruction: pieces (hull, losses, rendering) and small end-to-end CPU runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh

from fields3d.recon.gshell_reconstruct import (
    GShellReconstructionConfig,
    carve_visual_hull,
    gshell_config,
    hole_close_loss,
    hole_open_loss,
    reconstruct_gshell,
    signed_distance_of_occupancy,
    split_heldout,
)


def _tiny_config(watertight: bool = False, steps: int = 40) -> GShellReconstructionConfig:
    c = gshell_config(
        "fast", watertight=watertight, steps=steps, resolution=24, holdout=2, device="cpu", threads=1
    )
    c.views_per_step = 3
    c.max_image_size = 48
    c.eval_max_image_size = 48
    c.appearance.resolution = 16
    c.turntable_views, c.turntable_size = 2, 64
    c.visibility_every = 10
    c.eval_samples = 20000
    return c


@pytest.fixture(scope="module")
def tube_capture(tmp_path_factory):
    """A synthetic capture (24 views, 48 px) of an open tube standing along y: seen through from above."""
    from fields3d.data.synthetic import SynthConfig, render_capture

    tube = trimesh.creation.cylinder(radius=0.35, height=1.2, sections=48)
    keep = np.abs(tube.face_normals[:, 2]) < 0.5
    tube = trimesh.Trimesh(tube.vertices, tube.faces[keep], process=True)
    tube.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # axis along y
    folder = tmp_path_factory.mktemp("tube")
    tube.export(folder / "tube.ply")
    config = SynthConfig(views=24, resolution=48, elevation_deg=(-60.0, 85.0))
    render_capture(folder / "tube.ply", folder / "capture", config, progress=False)
    return folder / "capture"


def test_split_and_presets():
    train, held = split_heldout(48, 5, 4, "x")
    assert len(train) == 43 and len(held) == 5 and not set(train) & set(held)
    assert split_heldout(5, 5, 4, "x")[1] == [2]
    assert gshell_config("default").grid.resolution == 128
    assert not gshell_config("fast", watertight=True).grid.use_msdf
    from fields3d.errors import InputError

    with pytest.raises(InputError, match="expected a preset"):
        gshell_config("huge")
    with pytest.raises(InputError, match="expected steps >= 1"):
        gshell_config("fast", steps=0)


def test_visual_hull_and_its_signed_distance():
    from fields3d.cameras import Cameras
    from fields3d.data.synthetic import look_at
    from fields3d.recon.gshell_reconstruct import TrainingViews

    # three orthogonal views of a sphere of radius 0.5: the hull contains the sphere, not the far corners
    poses = np.stack(
        [
            look_at(d * 3.0, np.zeros(3), np.array([0, 1.0, 0]) if abs(d[1]) < 0.5 else np.array([0, 0, 1.0]))
            for d in np.eye(3)
        ]
    )
    cams = Cameras.from_fov(np.radians(80), 64, 64, poses)  # the whole cube in every image
    grid = torch.stack(torch.meshgrid(*[torch.linspace(-1, 1, 21)] * 3, indexing="ij"), -1).reshape(-1, 3)
    masks = []
    for i in range(3):
        uv = cams.pixel_grid(i).reshape(-1, 2)
        rays = cams.rays(torch.full((uv.shape[0],), i), uv)
        d = rays.directions / rays.directions.norm(dim=1, keepdim=True)
        closest = rays.origins - (rays.origins * d).sum(1, keepdim=True) * d
        masks.append((closest.norm(dim=1) < 0.5).float().reshape(64, 64))
    views = TrainingViews(torch.zeros(3, 64, 64, 3), torch.stack(masks), True, cams, [0, 1, 2])
    inside = carve_visual_hull(grid.float(), views)
    r = grid.norm(dim=1)
    assert bool(inside[r < 0.45].all())
    assert not bool(inside[(grid.abs() > 0.6).sum(1) >= 2].any())
    occ = inside.reshape(21, 21, 21).numpy()
    sdf = signed_distance_of_occupancy(occ, 0.1)
    assert (sdf[occ] < 0).all() and (sdf[~occ] > 0).all()
    # dilating the masks more only adds points (nested hulls), and does add some at 3 px
    tight, loose = carve_visual_hull(grid.float(), views, 0), carve_visual_hull(grid.float(), views, 3)
    assert bool((tight <= inside).all()) and bool((inside <= loose).all())
    assert int(loose.sum()) > int(inside.sum()) and bool(tight[r < 0.45].all())


def test_hole_losses_pull_the_msdf_the_right_way():
    from fields3d.cameras import Cameras
    from fields3d.data.synthetic import look_at
    from fields3d.fields.gshell_grid import GShellGrid, GShellGridConfig, cubic_grid
    from fields3d.render import Rasterizer, RasterizerConfig

    grid = cubic_grid([[-1, -1, -1], [1, 1, 1]], 12)
    shell = GShellGrid(grid, GShellGridConfig(resolution=12))
    with torch.no_grad():
        shell.sdf.copy_(shell.base_points.norm(dim=1) - 0.6)
        shell.msdf.copy_(shell.base_points[:, 2])
    mesh = shell.extract()
    hole_open_loss(mesh, shell.cell_size).backward()
    assert float(shell.msdf.grad.sum()) > 0  # descending lowers the mSDF: holes open
    shell.msdf.grad = None
    # a side view: the cut (the equator z = 0) crosses the image
    eye = np.array([3.0, 0.0, 0.5])
    cams = Cameras.from_fov(np.radians(50), 32, 32, look_at(eye, np.zeros(3), np.array([0, 0, 1.0]))[None])
    mesh = shell.extract()
    raster = Rasterizer(RasterizerConfig(backend="cpu")).rasterize(mesh.vertices, mesh.faces, cams)
    hole_close_loss(mesh, raster, shell.cell_size).backward()
    assert float(shell.msdf.grad.sum()) < 0  # descending raises the mSDF past the visible boundary


def test_msdf_mask_loss_reaches_the_msdf_through_the_rasterizer():
    from fields3d.cameras import Cameras
    from fields3d.data.synthetic import look_at
    from fields3d.fields.gshell_appearance import GShellAppearance
    from fields3d.fields.gshell_grid import GShellGrid, GShellGridConfig, cubic_grid
    from fields3d.recon.gshell_reconstruct import render_views
    from fields3d.render import Rasterizer, RasterizerConfig

    grid = cubic_grid([[-1, -1, -1], [1, 1, 1]], 12)
    shell = GShellGrid(grid, GShellGridConfig(resolution=12))
    with torch.no_grad():
        shell.sdf.copy_(shell.base_points.norm(dim=1) - 0.6)
        shell.msdf.copy_(shell.base_points[:, 2] + 0.3)
    cams = Cameras.from_fov(
        np.radians(50), 32, 32, look_at(np.array([0, 0, 3.0]), np.zeros(3), np.array([0, 1.0, 0]))[None]
    )
    out = render_views(
        shell.extract(),
        GShellAppearance(torch.tensor(grid.aabb)),
        cams,
        torch.zeros(3),
        Rasterizer(RasterizerConfig(backend="cpu")),
    )
    assert out["rgb"].shape == (1, 32, 32, 3) and out["coverage"].shape == (1, 32, 32)
    assert float(out["msdf"][out["mask"]].min()) >= 0.0  # the cut mesh keeps mSDF >= 0
    # everything is background: the loss pushes every visible mSDF value down
    loss = out["msdf"].clamp_min(0).sum()
    loss.backward()
    assert shell.msdf.grad is not None and float(shell.msdf.grad.sum()) > 0
    # and the silhouette (coverage) has gradients w.r.t. the SDF
    shell.sdf.grad = None
    out = render_views(
        shell.extract(),
        GShellAppearance(torch.tensor(grid.aabb)),
        cams,
        torch.zeros(3),
        Rasterizer(RasterizerConfig(backend="cpu")),
    )
    out["coverage"].sum().backward()
    assert float(shell.sdf.grad.abs().sum()) > 0


def _check_run(run, m):
    for name in (
        "mesh.ply",
        "metrics.json",
        "report.html",
        "gshell.pt",
        "config.json",
        "previews/turntable.png",
        "previews/boundaries.png",
    ):
        assert (run / name).is_file(), name
    assert "boundaries.png" in (run / "report.html").read_text()
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["chamfer_pct_diagonal"] == pytest.approx(m["chamfer_pct_diagonal"])
    assert np.isfinite(m["heldout_psnr"]) and m["heldout_mask_iou"] > 0.5
    mesh = trimesh.load(run / "mesh.ply", process=False)
    assert len(mesh.faces) == m["mesh_stats"]["faces"] > 100


def test_end_to_end_on_a_garment_capture(shared_data, tmp_path):
    from fields3d.data import load_scene
    from fields3d.data.synthetic import SynthConfig, render_capture
    from fields3d.recon.gshell_io import load_gshell

    shorts = shared_data("garments_snug/shorts.obj")
    render_capture(shorts, tmp_path / "capture", SynthConfig(views=24, resolution=48), progress=False)
    run = tmp_path / "run"
    result = reconstruct_gshell(
        load_scene(tmp_path / "capture"), run, _tiny_config(steps=30), progress=False, log=None
    )
    m = result.metrics
    _check_run(run, m)
    assert m["gt_boundary_loops"] == 3
    assert m["chamfer_pct_diagonal"] < 10.0  # 24^3 grid, 48 px, 30 steps: a smoke test of the pipeline
    grid, extra = load_gshell(run)
    assert "world_from_grid" in extra and grid.num_points == m["grid"]["points"]


@pytest.mark.slow
def test_end_to_end_on_an_open_tube_and_the_watertight_baseline(tube_capture, tmp_path):
    from fields3d.data import load_scene

    scene = load_scene(tube_capture)
    result = reconstruct_gshell(scene, tmp_path / "run", _tiny_config(steps=150), progress=False, log=None)
    _check_run(tmp_path / "run", result.metrics)
    base = reconstruct_gshell(
        scene, tmp_path / "base", _tiny_config(watertight=True, steps=150), progress=False, log=None
    )
    assert base.metrics["boundary_loops"] == 0 and base.metrics["mesh_stats"]["watertight"]
    assert result.metrics["boundary_loops"] >= 1
    assert base.metrics["mesh"]["accuracy"] > result.metrics["mesh"]["accuracy"]


def test_views_of_distorted_cameras_are_resampled_as_pinhole(tmp_path):
    import dataclasses

    from fields3d.cameras import Cameras
    from fields3d.data import load_scene
    from fields3d.data.synthetic import SynthConfig, render_capture
    from fields3d.recon.gshell_reconstruct import load_views

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    sphere.export(tmp_path / "sphere.ply")
    render_capture(
        tmp_path / "sphere.ply", tmp_path / "cap", SynthConfig(views=4, resolution=32), progress=False
    )
    scene = load_scene(tmp_path / "cap")
    plain = load_views(scene, [0, 1], None, True, "cpu")
    cams = scene.cameras
    distorted = Cameras(cams.K, cams.c2w, cams.width, cams.height, torch.tensor([0.8, 0, 0, 0]))
    views = load_views(dataclasses.replace(scene, cameras=distorted), [0, 1], None, True, "cpu")
    assert not views.cameras.has_distortion and views.rgb.shape == plain.rgb.shape
    assert set(torch.unique(views.mask).tolist()) <= {0.0, 1.0}
    # the centre of the image is unchanged by radial distortion, the rest is resampled
    assert torch.allclose(views.rgb[:, 16, 16], plain.rgb[:, 16, 16], atol=0.05)
    assert not torch.allclose(views.mask, plain.mask)


def test_reconstruct_cli_maps_its_options_onto_the_gshell_config(tmp_path, capsys):
    from pathlib import Path

    from fields3d.cli.main import main
    from fields3d.cli.reconstruct import Reconstruct

    cli = Reconstruct(Path("data"), Path("out"), method="gshell", preset="fast", steps=7, resolution=20)
    cli.holdout, cli.max_image_size, cli.masks, cli.seed = 2, 0, False, 3
    c = cli.gshell_config()
    assert (c.steps, c.grid.resolution, c.holdout, c.max_image_size, c.use_masks, c.seed) == (
        7,
        20,
        2,
        None,
        False,
        3,
    )
    assert c.grid.use_msdf and c.fill_holes_cells > 0
    cli.watertight = True
    assert not cli.gshell_config().grid.use_msdf
    # options of the other methods are refused, and --watertight needs --method gshell
    base = ["reconstruct", str(tmp_path / "none"), "--out", str(tmp_path / "o")]
    assert main([*base, "--method", "gshell", "--rays", "9"]) == 2
    assert "expected no --rays with --method gshell" in capsys.readouterr().err
    assert main([*base, "--watertight"]) == 2
    assert "expected --watertight only with --method gshell" in capsys.readouterr().err


@pytest.mark.slow
def test_reconstruct_cli_routes_method_gshell(tube_capture, tmp_path):
    from fields3d.cli.main import main

    common = ["--steps", "3", "--resolution", "16", "--max-image-size", "32", "--holdout", "1"]
    common += ["--quiet", "--device", "cpu", "--threads", "1"]
    out = tmp_path / "run"
    assert main(["reconstruct", str(tube_capture), "--out", str(out), "--method", "gshell", *common]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "gshell" and metrics["steps"] == 3
    assert "topology" in metrics and "gt_boundary_loops" in metrics
    for name in ("mesh.ply", "gshell.pt", "report.html", "config.json"):
        assert (out / name).is_file(), name
    base = tmp_path / "base"
    args = [
        "reconstruct",
        str(tube_capture),
        "--out",
        str(base),
        "--method",
        "gshell",
        "--watertight",
        *common,
    ]
    assert main(args) == 0
    assert json.loads((base / "metrics.json").read_text())["method"] == "gshell-watertight"


def test_color_residual_lands_on_the_grid_points_of_the_faces_that_show_it():
    from fields3d.cameras import Cameras
    from fields3d.data.synthetic import look_at
    from fields3d.fields.gshell_grid import GShellGrid, GShellGridConfig, cubic_grid
    from fields3d.recon.gshell_reconstruct import accumulate_color_residual
    from fields3d.render import Rasterizer, RasterizerConfig

    grid = cubic_grid([[-1, -1, -1], [1, 1, 1]], 12)
    shell = GShellGrid(grid, GShellGridConfig(resolution=12))
    with torch.no_grad():
        shell.sdf.copy_(shell.base_points.norm(dim=1) - 0.6)
        shell.msdf.fill_(1.0)
    mesh = shell.extract()
    eye = np.array([3.0, 0.0, 0.0])
    cams = Cameras.from_fov(np.radians(50), 32, 32, look_at(eye, np.zeros(3), np.array([0, 0, 1.0]))[None])
    raster = Rasterizer(RasterizerConfig(backend="cpu")).rasterize(mesh.vertices, mesh.faces, cams)
    rgb = torch.zeros(1, 32, 32, 3)
    target = rgb.clone()
    target[:, :16] = 0.8  # the upper image half disagrees: up is +z
    out = {"rgb": rgb, "mask": raster.mask, "raster": raster}
    total = torch.zeros(shell.num_points)
    count = torch.zeros(shell.num_points)
    bad = torch.zeros(shell.num_points)
    accumulate_color_residual(mesh, out, target, total, count, bad, bad_above=0.5)
    hit = count > 0
    mean = total[hit] / count[hit]
    fraction = bad[hit] / count[hit]
    z = shell.base_points[hit, 2]
    assert bool(hit.any()) and float(mean.max()) == pytest.approx(0.8)
    assert float(mean[z > 0.3].min()) > 0.5 and float(mean[z < -0.3].max()) < 0.1
    # the fraction of contributions above 0.5: all of them up top, none at the bottom
    assert float(fraction[z > 0.3].min()) > 0.6 and float(fraction[z < -0.3].max()) == 0.0
    assert torch.allclose(bad[hit] * 0.8, total[hit])  # residuals are 0 or 0.8 here
    with pytest.raises(ValueError, match="expected target_rgb"):
        accumulate_color_residual(mesh, out, target[:, :8], total, count)
