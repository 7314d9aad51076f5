"""Structure from motion for a bare folder of images (pycolmap, CPU).

:func:`run_sfm` runs COLMAP's pipeline through pycolmap: SIFT feature extraction with **one camera
shared by all images**, exhaustive (or sequential) matching with guided re-matching, incremental
mapping.  The largest reconstruction is kept and written as::

    OUT/sparse/0/*.bin         the COLMAP model (binary; readable by ``load_scene(OUT)`` as "colmap" too)
    OUT/sparse_points.ply      its 3D points (world units of the model)
    OUT/transforms.json        the registered images (paths relative to OUT), loadable by ``load_scene``
    OUT/database.db            COLMAP's feature / match database (a work file, rewritten each run)

transforms.json is written by :func:`fields3d.data.transforms_json.write_transforms_json` from the model
as :func:`fields3d.data.colmap.read_colmap` reads it: shared intrinsics as OPENCV (``SIMPLE_RADIAL``'s k
becomes ``k1``), poses in OpenGL axes, and in the ``fields3d`` block the normalisation of the COLMAP
policy (the sphere around the sparse points that most cameras see, cameras kept outside) plus SfM facts
(registered count, mean reprojection error, camera model).

Choices:

* Camera model: ``SIMPLE_RADIAL`` by default (COLMAP's default: one focal length, the principal point,
  one radial coefficient; fits phone photos and renders alike); ``PINHOLE`` etc. via ``camera_model``.
* Thresholds scale with the image size: COLMAP's pixel thresholds (4 px for two-view geometry and
  point filtering) suit photos of ~1000 px and more; below that they shrink in proportion (2 px at
  500 px, never under 1 px), and the initial pair needs 50 instead of 100 inlier matches, a further
  image 15 instead of 30 2D-3D inliers: small images have fewer features.
* Small images: SIFT starts at octave -2 (the image upsampled 4x) below 640 px instead of COLMAP's -1,
  which doubles the features found on images of a few hundred pixels.
* Failure: fewer than ``max(min_registered, ceil(min_registered_fraction * N))`` registered images
  (defaults 3 and 50 %) raises :class:`~fields3d.errors.InputError` and writes no transforms.json; so
  do a folder with fewer than 2 images and images of different sizes.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from fields3d.data.pycolmap_import import import_pycolmap
from fields3d.data.scene import SceneData
from fields3d.errors import InputError

CameraModel = Literal["SIMPLE_RADIAL", "PINHOLE", "SIMPLE_PINHOLE", "RADIAL", "OPENCV"]
CAMERA_MODELS = ("SIMPLE_RADIAL", "PINHOLE", "SIMPLE_PINHOLE", "RADIAL", "OPENCV")


@dataclass
class SfmConfig:
    """How structure from motion runs."""

    camera_model: CameraModel = "SIMPLE_RADIAL"
    """COLMAP camera model of the single camera shared by all images."""
    matcher: Literal["exhaustive", "sequential"] = "exhaustive"
    """exhaustive: every pair (up to a few hundred images); sequential: neighbours in name order (videos)."""
    max_num_features: int = 8192
    """SIFT features per image at most."""
    min_registered: int = 3
    """Fail when fewer images than this register."""
    min_registered_fraction: float = 0.5
    """Fail when fewer than this fraction of the images register."""
    first_octave: int | None = None
    """SIFT's first octave (-1 = images upsampled 2x, -2 = 4x); None = -2 below 640 px, else -1."""
    max_error_px: float | None = None
    """Pixel threshold of two-view geometry and point filtering; None = 4 px x min(1, size / 1000), >= 1."""
    guided_matching: bool = True
    """Re-match each verified pair guided by its epipolar geometry (many more matches on small images)."""
    init_min_num_inliers: int = 50
    """Verified matches needed for the initial image pair (COLMAP's default, 100, suits large photos)."""
    abs_pose_min_num_inliers: int = 15
    """2D-3D inliers needed to register a further image (COLMAP's default: 30)."""
    seed: int = 0
    """Seed of COLMAP's random sampling (RANSAC, initial pairs); results still vary with thread timing."""
    num_threads: int = -1
    """CPU threads for COLMAP (-1 = all)."""

    def validate(self) -> None:
        if self.camera_model not in CAMERA_MODELS:
            raise InputError(
                f"expected camera_model in {', '.join(CAMERA_MODELS)}, got {self.camera_model!r}"
            )
        if self.matcher not in ("exhaustive", "sequential"):
            raise InputError(f"expected matcher exhaustive or sequential, got {self.matcher!r}")
        if self.min_registered < 2:
            raise InputError(f"expected min_registered >= 2, got {self.min_registered}")
        if not 0.0 <= self.min_registered_fraction <= 1.0:
            raise InputError(
                f"expected min_registered_fraction in [0, 1], got {self.min_registered_fraction}"
            )
        if self.max_num_features < 64:
            raise InputError(f"expected max_num_features >= 64, got {self.max_num_features}")
        if self.max_error_px is not None and not self.max_error_px > 0:
            raise InputError(f"expected a positive max_error_px, got {self.max_error_px}")

    def sift_first_octave(self, width: int, height: int) -> int:
        """SIFT's first octave for images of this size (see the module docstring)."""
        if self.first_octave is not None:
            return int(self.first_octave)
        return -2 if max(width, height) < 640 else -1

    def error_threshold(self, width: int, height: int) -> float:
        """Pixel threshold for images of this size (see the module docstring)."""
        if self.max_error_px is not None:
            return float(self.max_error_px)
        return max(1.0, 4.0 * min(1.0, max(width, height) / 1000.0))


@dataclass
class SfmResult:
    """What :func:`run_sfm` found and wrote."""

    scene: SceneData
    """The registered images as ``load_scene(transforms)`` reads them (cameras in the model's units)."""
    transforms: Path
    model: Path
    """Folder of the binary COLMAP model (``OUT/sparse/0``)."""
    points_ply: Path
    """The sparse points as PLY (not written when the model has none)."""
    num_images: int
    unregistered: list[Path] = field(default_factory=list)
    mean_reprojection_error_px: float = float("nan")
    seconds: dict = field(default_factory=dict)
    """Wall time of each stage: features, matching, mapping."""

    @property
    def num_registered(self) -> int:
        return len(self.scene)


def check_images(folder: str | os.PathLike) -> tuple[list[Path], tuple[int, int]]:
    """Images directly in ``folder`` (name order) and their common (height, width).

    Raises:
        InputError: no such folder, fewer than 2 images, an image that does not decode, or different sizes.
    """
    from fields3d.data.image_files import check_images as read_headers
    from fields3d.data.image_files import check_same_size, images_in

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            "no such folder" if not folder.exists() else "expected a folder of images, got a file", folder
        )
    paths = images_in(folder)
    if len(paths) < 2:
        raise InputError(f"expected at least 2 images for structure from motion, got {len(paths)}", folder)
    headers = read_headers(paths)
    check_same_size(paths, headers, headers[0].width, headers[0].height)
    return paths, (headers[0].height, headers[0].width)


def _quiet_logging(pycolmap) -> None:
    """Silence COLMAP's glog output (failures surface as fields3d's own one-line errors)."""
    pycolmap.logging.minloglevel = 3
    pycolmap.logging.stderrthreshold = 3
    pycolmap.logging.verbose_level = 0


def _replace_dir(tmp: Path, target: Path) -> None:
    """Move folder ``tmp`` to ``target``, replacing a previous ``target`` (renames only)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_sfm(
    images: str | os.PathLike, out: str | os.PathLike, config: SfmConfig | None = None, log=print
) -> SfmResult:
    """Poses for the images directly inside ``images`` (layout of ``out`` in the module docstring).

    Args:
        log: callable receiving one-line stage messages (``print`` by default; ``None`` for silence).
    Raises:
        InputError: see :func:`check_images`; too few images registered (no transforms.json is written).
    """
    from fields3d.data.colmap import read_colmap
    from fields3d.data.transforms_json import read_transforms_json, write_transforms_json

    config = config or SfmConfig()
    config.validate()
    log = log or (lambda *_: None)
    images = Path(images)
    out = Path(out)
    paths, (h, w) = check_images(images)
    n = len(paths)
    pycolmap = import_pycolmap()
    _quiet_logging(pycolmap)
    out.mkdir(parents=True, exist_ok=True)
    database = out / "database.db"
    for stale in (database, out / "database.db-shm", out / "database.db-wal"):
        stale.unlink(missing_ok=True)
    cpu = pycolmap.Device.cpu
    max_error = config.error_threshold(w, h)
    seconds = {}

    t0 = time.perf_counter()
    log(f"[sfm 1/3] extracting features from {n} images of {w}x{h} (shared {config.camera_model} camera)")
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = config.num_threads
    extraction.sift.max_num_features = config.max_num_features
    extraction.sift.first_octave = config.sift_first_octave(w, h)
    pycolmap.extract_features(
        database,
        images,
        image_names=[p.name for p in paths],
        camera_mode=pycolmap.CameraMode.SINGLE,
        reader_options=pycolmap.ImageReaderOptions(camera_model=config.camera_model),
        extraction_options=extraction,
        device=cpu,
    )
    seconds["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log(f"[sfm 2/3] matching features ({config.matcher}, {max_error:.3g} px threshold)")
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = config.num_threads
    matching.guided_matching = config.guided_matching
    verification = pycolmap.TwoViewGeometryOptions()
    verification.ransac.max_error = max_error
    verification.ransac.random_seed = config.seed
    match = pycolmap.match_exhaustive if config.matcher == "exhaustive" else pycolmap.match_sequential
    match(database, matching_options=matching, verification_options=verification, device=cpu)
    seconds["matching"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log("[sfm 3/3] incremental mapping")
    pipeline = pycolmap.IncrementalPipelineOptions()
    pipeline.num_threads = config.num_threads
    pipeline.random_seed = config.seed
    pipeline.mapper.init_min_num_inliers = config.init_min_num_inliers
    pipeline.mapper.abs_pose_min_num_inliers = config.abs_pose_min_num_inliers
    pipeline.mapper.abs_pose_min_inlier_ratio = 0.15
    pipeline.mapper.init_max_error = max_error
    pipeline.mapper.filter_max_reproj_error = max_error
    pipeline.mapper.abs_pose_max_error = 3.0 * max_error
    pipeline.triangulation.merge_max_reproj_error = max_error
    pipeline.triangulation.complete_max_reproj_error = max_error
    with tempfile.TemporaryDirectory(prefix=".sfm_models.", dir=out) as work:
        models = pycolmap.incremental_mapping(database, images, work, options=pipeline)
        seconds["mapping"] = time.perf_counter() - t0
        best = max(models.values(), key=lambda r: r.num_reg_images(), default=None)
        registered = 0 if best is None else best.num_reg_images()
        needed = max(config.min_registered, math.ceil(config.min_registered_fraction * n))
        if registered < needed:
            raise InputError(
                f"expected at least {needed} of {n} images to register (min_registered="
                f"{config.min_registered}, min_registered_fraction={config.min_registered_fraction}), "
                f"got {registered}; the images may lack texture or overlap",
                images,
            )
        reprojection = float(best.compute_mean_reprojection_error())
        sparse = out / "sparse"
        sparse.mkdir(exist_ok=True)
        tmp_model = Path(tempfile.mkdtemp(prefix=".0.", dir=sparse))
        best.write_binary(tmp_model)
        _replace_dir(tmp_model, sparse / "0")

    scene = read_colmap(out, images=images.resolve())
    points_ply = out / "sparse_points.ply"
    extra: dict = {}
    if scene.points is not None and len(scene.points):
        _write_points_ply(points_ply, scene.points)
        extra["ply_file_path"] = points_ply.name
    transforms = out / "transforms.json"
    names = {p.name for p in scene.image_paths}
    facts = {
        "generator": "fields3d sfm",
        "colmap_model": "sparse/0",
        "colmap_camera_model": config.camera_model,
        "normalization_method": scene.metadata.get("normalization_method"),
        "images": str(images.resolve()),
        "registered": len(scene),
        "num_images": n,
        "mean_reprojection_error_px": reprojection,
    }
    write_transforms_json(transforms, scene, extra={**extra, "fields3d": facts})
    return SfmResult(
        scene=read_transforms_json(transforms),
        transforms=transforms,
        model=sparse / "0",
        points_ply=points_ply,
        num_images=n,
        unregistered=[p for p in paths if p.name not in names],
        mean_reprojection_error_px=reprojection,
        seconds=seconds,
    )


def pose_errors(c2w: np.ndarray, gt_c2w: np.ndarray) -> dict:
    """Compare estimated poses with ground truth after a similarity alignment of the camera centres.

    Args:
        c2w, gt_c2w: (N, 4, 4) camera-to-world poses (OpenCV axes) of the same N >= 3 cameras.
    Returns:
        dict: ``alignment`` (Similarity mapping the estimate's frame onto the ground truth's, Umeyama on
        the centres), ``rotation_errors_deg`` (N,), ``position_errors`` (N,) in ground-truth units.
    """
    from fields3d.metrics.trajectory import rotation_errors_deg, umeyama

    est = np.asarray(c2w, dtype=np.float64)
    gt = np.asarray(gt_c2w, dtype=np.float64)
    if est.shape != gt.shape or est.ndim != 3 or est.shape[1:] != (4, 4) or len(est) < 3:
        raise ValueError(
            f"expected two (N >= 3, 4, 4) pose arrays of the same shape, got {est.shape} and {gt.shape}"
        )
    sim = umeyama(est[:, :3, 3], gt[:, :3, 3])
    return {
        "alignment": sim,
        "rotation_errors_deg": rotation_errors_deg(est, gt, sim),
        "position_errors": np.linalg.norm(sim.apply_points(est[:, :3, 3]) - gt[:, :3, 3], axis=1),
    }


def _write_points_ply(path: Path, points: np.ndarray) -> None:
    """(P, 3) points -> PLY point cloud, atomically."""
    import trimesh

    from fields3d.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        trimesh.PointCloud(np.asarray(points, dtype=np.float64).reshape(-1, 3)).export(tmp, file_type="ply")
