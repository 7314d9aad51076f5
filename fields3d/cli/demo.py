"""``fields3d demo --out runs/demo``: the main job on a bundled object, with a report.

Steps (each a function):

1. :func:`make_object`    a torus-knot tube generated in code -> ``OUT/object.ply``
2. :func:`render`         ``fields3d synth`` of it -> ``OUT/capture/`` (ground-truth cameras and mesh)
3. :func:`reconstruct`    ``fields3d reconstruct`` of the capture (UniSDF, ``fast`` preset) ->
                          ``OUT/reconstruction/`` (mesh.ply, metrics.json, previews/, report.html)
4. :func:`estimate_poses` ``fields3d sfm`` on the bare rendered images -> ``OUT/sfm/`` (a check of the
                          pose estimation a capture without poses would go through)
5. :func:`write_report`   ``OUT/report.html``, ``OUT/metrics.json``, ``OUT/previews/*.png``

``OUT/config.json`` records the options.  Needs no shared data and no network.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class Demo:
    """Run the main job end to end on a bundled object (a torus-knot tube made in code, no downloads):
    render a synthetic capture of it, reconstruct a mesh from the images (UniSDF, preset fast), compare
    the mesh with the ground truth, check structure from motion on the bare images, and write
    report.html + metrics.json.  Takes a few minutes on a CPU."""

    out: Path = Path("runs/demo")
    """Output folder (created; earlier demo outputs there are replaced)."""
    views: int = 48
    """Number of rendered views."""
    res: int = 128
    """Image width and height in pixels."""
    seed: int = 0
    """Seed of the cameras, the texture, the reconstruction and SfM's sampling."""
    steps: int | None = None
    """Training steps of the reconstruction (default: the fast preset's)."""
    resolution: int | None = None
    """Grid points per axis of the mesh extraction (default: the fast preset's)."""
    sfm: bool = True
    """Also estimate the poses from the bare images with SfM and compare them with the truth."""
    threads: int = 0
    """CPU threads of the reconstruction (0: the idle cores)."""

    def run(self) -> None:
        from fields3d.errors import InputError
        from fields3d.io.atomic import write_json

        out = Path(self.out)
        out.mkdir(parents=True, exist_ok=True)
        options = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        write_json(out / "config.json", {"command": "demo", **options})
        timings: dict[str, float] = {}
        n_steps = 5 if self.sfm else 4

        t0 = time.perf_counter()
        mesh_path = make_object(out / "object.ply")
        print(f"[demo 1/{n_steps}] bundled object: torus-knot tube -> {mesh_path}")
        print(f"[demo 2/{n_steps}] rendering {self.views} views at {self.res}x{self.res}")
        capture = render(mesh_path, out / "capture", self.views, self.res, self.seed)
        timings["render_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        print(f"[demo 3/{n_steps}] reconstructing a mesh from the images (UniSDF, preset fast)")
        result = reconstruct(
            capture, out / "reconstruction", self.seed, self.steps, self.resolution, self.threads
        )
        timings["reconstruct_s"] = time.perf_counter() - t0

        sfm, sfm_error = None, None
        if self.sfm:
            t0 = time.perf_counter()
            print(f"[demo 4/{n_steps}] structure from motion on the bare images ({capture.out / 'images'})")
            sfm, sfm_error = estimate_poses(capture.out / "images", out / "sfm", self.seed)
            timings["sfm_s"] = time.perf_counter() - t0

        print(f"[demo {n_steps}/{n_steps}] report")
        metrics = {"reconstruction": reconstruction_metrics(result.metrics)}
        if self.sfm:
            metrics["sfm"] = pose_metrics(capture, sfm) if sfm is not None else {"sfm_error": sfm_error}
        metrics["timings"] = timings
        paths = write_report(out, capture, result, sfm, metrics)

        rec = metrics["reconstruction"]
        print(f"demo outputs in {out}")
        print(f"  object          {mesh_path}")
        print(f"  capture         {capture.out}/ (images, masks, depth, normals, transforms.json, mesh_gt)")
        print(
            f"  mesh            {result.mesh} (Chamfer {rec['chamfer_pct_diagonal']:.3f} % of the diagonal, "
            f"F-score {rec['fscore']:.3f}, held-out PSNR {rec['heldout_psnr']:.2f} dB)"
        )
        print(f"  reconstruction  {result.report}")
        if sfm is not None:
            s = metrics["sfm"]
            print(
                f"  sfm             {sfm.transforms} (registered {sfm.num_registered}/{sfm.num_images}, "
                f"rotation error max {s['rotation_error_deg']['max']:.3f} deg)"
            )
        for name, path in paths.items():
            print(f"  {name:<15} {path}")
        if self.sfm and sfm is None:
            raise InputError(f"structure from motion failed ({sfm_error}); the report says so", out)


def make_object(path: Path) -> Path:
    """Write the bundled demo object (a (2, 3) torus-knot tube) to ``path``."""
    from fields3d.data.demo_object import torus_knot_mesh
    from fields3d.io.mesh import write_mesh

    vertices, faces = torus_knot_mesh(tube_radius=0.3)
    return write_mesh(path, vertices, faces)


def render(mesh_path: Path, out: Path, views: int, res: int, seed: int):
    """Synthetic capture of the object (see :func:`fields3d.data.synthetic.render_capture`)."""
    from fields3d.data.synthetic import SynthConfig, render_capture

    return render_capture(mesh_path, out, SynthConfig(views=views, resolution=res, seed=seed))


def reconstruct(capture, out: Path, seed: int, steps: int | None, resolution: int | None, threads: int):
    """``fields3d reconstruct`` of the capture (UniSDF, fast preset) with its ground-truth mesh."""
    from fields3d.recon.pipeline import reconstruct as run_reconstruction
    from fields3d.recon.presets import make_config

    config = make_config("unisdf", "fast")
    config.train.seed, config.threads = seed, threads
    if steps is not None:
        config.train.steps = steps
    if resolution is not None:
        config.export.resolution = resolution
    # hold out about one view in eight (5 of the default 48), so that small demos still train
    config.data.holdout = min(config.data.holdout, max(1, len(capture.image_paths) // 8))
    config.validate()
    return run_reconstruction(capture.out, out, config, gt_mesh=capture.mesh)


def reconstruction_metrics(metrics: dict) -> dict:
    """The headline numbers of the reconstruction's ``metrics.json``."""
    keys = ("chamfer_pct_diagonal", "fscore", "normal_error_deg", "heldout_psnr", "heldout_psnr_kind")
    picked = {k: metrics[k] for k in keys if k in metrics}
    picked["mesh"] = metrics.get("mesh_stats", {})
    picked["train_seconds"] = metrics.get("timing", {}).get("train_seconds_total")
    return picked


def estimate_poses(images: Path, out: Path, seed: int):
    """SfM result, or None and the one-line reason when too few images register."""
    from fields3d.data.sfm import SfmConfig, run_sfm
    from fields3d.errors import InputError

    try:
        return run_sfm(images, out, SfmConfig(seed=seed)), None
    except InputError as e:
        return None, e.message


def pose_metrics(capture, sfm) -> dict:
    """Registration and pose accuracy of the SfM result against the capture's ground truth.

    Position errors are in the capture's world units (the normalised frame, object radius 0.9) and
    relative to the mean camera distance.
    """
    from fields3d.data.sfm import pose_errors

    idx = [int(p.stem) for p in sfm.scene.image_paths]
    gt = capture.cameras.c2w.numpy()[idx]
    err = pose_errors(sfm.scene.cameras.c2w.numpy(), gt)
    rot, pos = err["rotation_errors_deg"], err["position_errors"]
    distance = float(np.linalg.norm(gt[:, :3, 3], axis=1).mean())
    focal_gt = float(capture.cameras.K[0, 0, 0])
    return {
        "registered": sfm.num_registered,
        "num_images": sfm.num_images,
        "registered_fraction": sfm.num_registered / sfm.num_images,
        "rotation_error_deg": {
            "max": float(rot.max()),
            "mean": float(rot.mean()),
            "median": float(np.median(rot)),
        },
        "position_error": {"max": float(pos.max()), "mean": float(pos.mean())},
        "position_error_relative_to_distance": float(pos.mean() / distance),
        "focal_error_percent": float(sfm.scene.cameras.K[0, 0, 0] / focal_gt - 1.0) * 100.0,
        "mean_reprojection_error_px": sfm.mean_reprojection_error_px,
        "alignment_scale": float(err["alignment"].scale),
    }


def write_report(out: Path, capture, result, sfm, metrics: dict) -> dict[str, Path]:
    """Previews, ``metrics.json`` and ``report.html``; returns what was written."""
    from fields3d.io.atomic import write_json
    from fields3d.io.images import read_image, write_image
    from fields3d.io.report import HtmlReport, colorize_depth, image_grid, plot_points_2d

    previews = out / "previews"
    n = len(capture.image_paths)
    picks = sorted(set(np.linspace(0, n - 1, min(4, n)).round().astype(int).tolist()))
    tiles, labels = [], []
    for i in picks:
        tiles += [
            read_image(capture.image_paths[i]),
            read_image(capture.mask_paths[i]),
            read_image(capture.normal_paths[i]),
            colorize_depth(read_image(capture.depth_paths[i])[..., 0]),
        ]
        labels += [f"view {i}", "mask", "normals", "depth"]
    views_png = write_image(previews / "views.png", image_grid(tiles, columns=4, labels=labels))

    # camera centres seen from above (the up axis y is dropped): x to the right, z upwards
    mesh_top = _mesh_outline(capture.mesh)
    series = {"object (top view)": mesh_top, "ground truth": capture.cameras.c2w.numpy()[:, :3, 3][:, [0, 2]]}
    markers = {"object (top view)": "pixel", "ground truth": "ring"}
    links = None
    if sfm is not None:
        from fields3d.data.sfm import pose_errors

        idx = [int(p.stem) for p in sfm.scene.image_paths]
        est = sfm.scene.cameras.c2w.numpy()
        sim = pose_errors(est, capture.cameras.c2w.numpy()[idx])["alignment"]
        series["ground truth (registered)"] = capture.cameras.c2w.numpy()[idx][:, :3, 3][:, [0, 2]]
        series["SfM, aligned"] = sim.apply_points(est[:, :3, 3])[:, [0, 2]]
        markers["ground truth (registered)"] = "ring"
        links = ("ground truth (registered)", "SfM, aligned")
        del series["ground truth"]
        markers.pop("ground truth")
    plot = plot_points_2d(
        series,
        size=520,
        title="camera centres from above (x right, z up)",
        axis_labels=("x", "z"),
        links=links,
        markers=markers,
    )
    cameras_png = write_image(previews / "cameras_top.png", plot)
    metrics_path = write_json(out / "metrics.json", metrics)

    report = HtmlReport("fields3d demo: reconstruction of a synthetic capture")
    report.add_text(
        "A torus-knot tube generated in code was rendered with `fields3d synth` "
        f"({n} views, {capture.cameras.image_size(0)[1]} px). `fields3d reconstruct` (UniSDF, preset fast) "
        "trained on all but the held-out views and exported a mesh, compared here with the ground-truth "
        "mesh (Chamfer as a percentage of the bounding-box diagonal) and rendered at the held-out views. "
        + (
            "`fields3d sfm` estimated camera poses from the bare images; the SfM cameras are aligned to the "
            "ground truth with a similarity (Umeyama on the camera centres) before measuring errors."
            if "sfm" in metrics
            else ""
        ),
        heading="What ran",
    )
    report.add_metrics(metrics)
    rec_images = [(p.stem.replace("_", " "), p) for p in result.previews if p.suffix == ".png"]
    if rec_images:
        report.add_images(
            "Reconstruction: held-out views, normals, turntable (full report: reconstruction/report.html)",
            rec_images,
        )
    report.add_images("Views: rgb, mask, normals, depth", [("rendered views", views_png)])
    if "sfm" in metrics:
        report.add_images(
            "Cameras from above: ground truth vs SfM after alignment", [("camera centres", cameras_png)]
        )
    report.add_images("Capture contact sheet", [("fields3d synth preview", capture.contact_sheet)])
    report_path = report.write(out / "report.html")
    paths = {"report": report_path, "metrics": metrics_path, "views": views_png}
    if "sfm" in metrics:
        paths["cameras plot"] = cameras_png
    return paths


def _mesh_outline(mesh_path: Path, max_points: int = 4000) -> np.ndarray:
    """(P, 2) x/z coordinates of (a subsample of) the mesh's vertices, for the top view."""
    from fields3d.io.mesh import read_mesh

    v = np.asarray(read_mesh(mesh_path).vertices)
    step = max(1, len(v) // max_points)
    return v[::step][:, [0, 2]]
