"""COLMAP sparse models (text or binary), read through pycolmap.

Layouts understood (``DATA`` is what the user passes): ``DATA/sparse/0/``, ``DATA/sparse/``,
``DATA/colmap/sparse/0/``, or the model folder itself (``cameras``, ``images``, ``points3D`` as
``.bin`` or ``.txt``).  Images are looked up in ``DATA/images/`` (for a model folder: the ``images/``
folder of the nearest ancestor that has one), or in the folder given as ``images=``.

COLMAP's conventions are fields3d's: OpenCV camera axes, pixel centres at +0.5, ``cam_from_world``
poses (inverted here to camera-to-world).  Camera models map onto K + OpenCV coefficients:

=================  ====================================  ==========================================
model              params                                distortion (k1, k2, p1, p2, k3, k4, k5, k6)
=================  ====================================  ==========================================
SIMPLE_PINHOLE     f, cx, cy                             none
PINHOLE            fx, fy, cx, cy                        none
SIMPLE_RADIAL      f, cx, cy, k                          k1 = k
RADIAL             f, cx, cy, k1, k2                     k1, k2
OPENCV             fx, fy, cx, cy, k1, k2, p1, p2        k1, k2, p1, p2
FULL_OPENCV        fx, fy, cx, cy, k1, k2, p1, p2,       all eight (rational model)
                   k3, k4, k5, k6
=================  ====================================  ==========================================

Other models (fisheye, FOV, thin prism, ...) raise an InputError naming the model.  Registered images
are ordered by name; the sparse points become ``SceneData.points`` (colours in
``metadata["point_colors"]``, (P, 3) uint8).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from fields3d.cameras import Cameras
from fields3d.data.image_files import check_images
from fields3d.data.pycolmap_import import import_pycolmap
from fields3d.data.scene import SceneData
from fields3d.errors import InputError

MODEL_FILES = ("cameras", "images")
SUPPORTED_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV")


def is_model_folder(folder: Path) -> bool:
    """True when ``folder`` holds a COLMAP model (``cameras`` and ``images`` as .bin or .txt)."""
    return all(
        (folder / f"{name}.bin").is_file() or (folder / f"{name}.txt").is_file() for name in MODEL_FILES
    )


def find_model_folder(path: Path) -> Path | None:
    """The model folder of a COLMAP layout rooted at ``path`` (see the module docstring), or None."""
    for candidate in (
        path,
        path / "sparse" / "0",
        path / "sparse",
        path / "colmap" / "sparse" / "0",
        path / "colmap" / "sparse",
    ):
        if candidate.is_dir() and is_model_folder(candidate):
            return candidate
    return None


def find_image_folder(data: Path, model: Path) -> Path | None:
    """``DATA/images``, or the ``images/`` folder of the model folder's nearest ancestor."""
    for folder in (data, *list(model.parents)[:3]):
        if (folder / "images").is_dir():
            return folder / "images"
    return None


def camera_intrinsics(model_name: str, params, where: Path) -> tuple[np.ndarray, list[float]]:
    """K (3, 3) float64 and 8 OpenCV distortion coefficients for a COLMAP camera model."""
    p = [float(x) for x in params]
    expected = {
        "SIMPLE_PINHOLE": 3,
        "PINHOLE": 4,
        "SIMPLE_RADIAL": 4,
        "RADIAL": 5,
        "OPENCV": 8,
        "FULL_OPENCV": 12,
    }
    if model_name not in expected:
        raise InputError(
            f"camera model {model_name} is not supported; expected one of {', '.join(SUPPORTED_MODELS)} "
            "(undistort the images with COLMAP's image_undistorter first)",
            where,
        )
    if len(p) != expected[model_name]:
        raise InputError(
            f"expected {expected[model_name]} parameters for a {model_name} camera, got {len(p)}", where
        )
    dist = [0.0] * 8
    if model_name in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        if model_name == "SIMPLE_RADIAL":
            dist[0] = p[3]
        elif model_name == "RADIAL":
            dist[0], dist[1] = p[3], p[4]
    else:
        fx, fy, cx, cy = p[:4]
        if model_name == "OPENCV":
            dist[:4] = p[4:8]
        elif model_name == "FULL_OPENCV":
            dist = p[4:12]
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return K, dist


def _pose_matrix(image) -> np.ndarray:
    cam_from_world = image.cam_from_world
    if callable(cam_from_world):  # pycolmap >= 3.12: a method
        cam_from_world = cam_from_world()
    m = np.asarray(cam_from_world.matrix(), dtype=np.float64)
    w2c = np.eye(4)
    w2c[:3, :4] = m
    return np.linalg.inv(w2c)


def _has_pose(image) -> bool:
    for attr in ("has_pose", "registered"):
        if hasattr(image, attr):
            return bool(getattr(image, attr))
    return True


def read_colmap(path: str | os.PathLike, *, images: str | os.PathLike | None = None) -> SceneData:
    """Read a COLMAP sparse model with pycolmap.

    Args:
        path: ``DATA`` (with ``sparse/0``, ``sparse`` or ``colmap/sparse/0``) or a model folder.
        images: folder of the images, absolute or relative to ``path`` (default: see the module
            docstring).
    Returns:
        SceneData (format ``"colmap"``) of the registered images, sorted by name, with the sparse
        points; normalisation from the points seen by most cameras.
    """
    source = Path(path)
    if not source.is_dir():
        raise InputError(
            "no such folder" if not source.exists() else "expected a folder with a COLMAP model, got a file",
            source,
        )
    model = find_model_folder(source)
    if model is None:
        raise InputError(
            "expected a COLMAP model (cameras.bin/txt, images.bin/txt) in sparse/0, sparse, "
            "colmap/sparse/0 or the folder itself",
            source,
        )
    pycolmap = import_pycolmap("reading COLMAP models")
    try:
        rec = pycolmap.Reconstruction(str(model))
    except Exception as e:  # pycolmap raises ValueError / RuntimeError for unreadable models
        raise InputError(f"COLMAP model does not load ({e.__class__.__name__}: {e})", model) from None

    if images is not None:
        image_dir = Path(images)
        if not image_dir.is_absolute() and (source / image_dir).is_dir():
            image_dir = source / image_dir  # relative to DATA first, then to the working directory
    else:
        image_dir = find_image_folder(source, model)
    if image_dir is None or not image_dir.is_dir():
        raise InputError(
            "expected the images in an images/ folder next to the COLMAP model (or pass images=...)",
            image_dir or source,
        )

    registered = sorted((im for im in rec.images.values() if _has_pose(im)), key=lambda im: im.name)
    if not registered:
        raise InputError("the COLMAP model has no registered images", model)
    cam_file = model / ("cameras.bin" if (model / "cameras.bin").is_file() else "cameras.txt")
    Ks, dists, poses, widths, heights, paths = [], [], [], [], [], []
    intrinsics_cache: dict[int, tuple[np.ndarray, list[float], int, int]] = {}
    for im in registered:
        if im.camera_id not in intrinsics_cache:
            cam = rec.cameras[im.camera_id]
            model_name = cam.model.name if hasattr(cam.model, "name") else str(cam.model_name)
            K, dist = camera_intrinsics(model_name, cam.params, cam_file)
            intrinsics_cache[im.camera_id] = (K, dist, int(cam.width), int(cam.height))
        K, dist, w, h = intrinsics_cache[im.camera_id]
        Ks.append(K)
        dists.append(dist)
        widths.append(w)
        heights.append(h)
        poses.append(_pose_matrix(im))
        p = image_dir / im.name
        if not p.is_file():
            raise InputError(f"image '{im.name}' of the COLMAP model not found in {image_dir}", p)
        paths.append(p)
    headers = check_images(paths)
    for p, hd, w, h in zip(paths, headers, widths, heights, strict=True):
        if (hd.width, hd.height) != (w, h):
            raise InputError(
                f"expected an image of {w}x{h} (WxH) as the COLMAP camera says, got {hd.width}x{hd.height}", p
            )

    cameras = Cameras(
        torch.tensor(np.stack(Ks), dtype=torch.float32),
        torch.tensor(np.stack(poses), dtype=torch.float32),
        torch.tensor(widths),
        torch.tensor(heights),
        torch.tensor(dists, dtype=torch.float32),
    )
    ids = sorted(rec.points3D.keys()) if hasattr(rec.points3D, "keys") else []
    points = np.array([rec.points3D[i].xyz for i in ids], dtype=np.float64).reshape(-1, 3)
    colors = np.array([rec.points3D[i].color for i in ids], dtype=np.uint8).reshape(-1, 3)

    from fields3d.data.normalization import sphere_from_camera_views, sphere_from_points

    sphere = sphere_from_points(points, cameras) if len(points) >= 20 else sphere_from_camera_views(cameras)
    metadata = {
        "model_folder": str(model),
        "image_folder": str(image_dir),
        "num_unregistered": len(rec.images) - len(registered),
        "point_colors": colors,
        "normalization_method": sphere.method,
    }
    return SceneData(
        cameras=cameras,
        image_paths=paths,
        normalization=sphere.normalization(),
        format="colmap",
        source=source,
        points=points.astype(np.float32) if len(points) else None,
        metadata=metadata,
    )
