"""``transforms.json`` captures (Blender NeRF synthetic, instant-ngp, nerfstudio, fields3d): read and write.

The file lists camera-to-world ``transform_matrix`` poses in **OpenGL / Blender camera axes** (x right,
y up, z backward); fields3d converts them to OpenCV axes.  Intrinsics sit at the top level or in each
frame (a frame's keys override the top level):

- ``fl_x``, ``fl_y``, ``cx``, ``cy`` in pixels (corner-origin convention, as fields3d), or the full
  fields of view ``camera_angle_x`` / ``camera_angle_y`` in radians (principal point at the centre);
- ``w``, ``h``: image size; read from the first image when absent;
- distortion ``k1``, ``k2``, ``p1``, ``p2`` and ``k3`` (OpenCV); ``k4``, ``k5``, ``k6`` are OpenCV's
  rational terms when ``k5``/``k6`` or ``camera_model: FULL_OPENCV`` are present;
- ``camera_model``: ``OPENCV`` (default), ``PINHOLE``, ``SIMPLE_PINHOLE``, ``SIMPLE_RADIAL``, ``RADIAL``,
  ``FULL_OPENCV``; fisheye and equirectangular models are refused.

Image names may lack a suffix (Blender: ``"./train/r_0"`` -> ``train/r_0.png``).  RGBA images are
composited onto ``background`` (white by default, as NeRF does for Blender scenes) and their alpha
serves as the object mask (``metadata["alpha_masks"] = True``).  Per-frame ``mask_path`` and
``depth_file_path`` (nerfstudio) become mask and depth files; nerfstudio's ``depth_unit_scale_factor``
sets the depth scale; a top-level ``ply_file_path`` point cloud becomes ``SceneData.points``; per-frame
``normal_path`` files are listed in ``metadata["normal_paths"]``.  instant-ngp's ``aabb_scale``,
``scale``, ``offset`` (and nerfstudio's ``applied_transform``) are kept in ``metadata``; poses are used
as written, in the file's units.

fields3d's own files (``fields3d synth``, ``fields3d sfm``) carry a top-level block
``"fields3d": {"normalization": Similarity.to_dict(), "depth_scale": float, ...}`` that the reader
honours (the whole block is kept in ``metadata["fields3d"]``).  :func:`write_transforms_json` writes
such files; reading one back gives bit-identical cameras.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from fields3d.cameras import Cameras, focal_from_fov, opencv_to_opengl, opengl_to_opencv
from fields3d.cameras.distortion import NAMES as DISTORTION_NAMES
from fields3d.data.image_files import check_images, read_header, resolve_image
from fields3d.data.normalization import sphere_from_camera_views
from fields3d.data.scene import SceneData
from fields3d.errors import InputError
from fields3d.geometry.similarity import Similarity
from fields3d.io.atomic import write_json

SUPPORTED_CAMERA_MODELS = ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "FULL_OPENCV")
SPLITS = ("train", "val", "test")
WHITE = (1.0, 1.0, 1.0)


def find_transforms_file(path: str | os.PathLike, split: str | None = None) -> Path:
    """The transforms file that ``path`` (a ``.json`` file or a folder) designates.

    In a folder: ``transforms.json`` when present (``split`` then selects nerfstudio's
    ``<split>_filenames`` list, or ``transforms_<split>.json`` beside it), else
    ``transforms_<split>.json`` with ``split`` defaulting to ``"train"``.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise InputError("no such file or folder", path)
    if split is not None and (path / f"transforms_{split}.json").is_file():
        return path / f"transforms_{split}.json"
    if (path / "transforms.json").is_file():
        return path / "transforms.json"
    name = f"transforms_{split or 'train'}.json"
    if (path / name).is_file():
        return path / name
    found = sorted(p.name for p in path.glob("transforms*.json"))
    raise InputError(
        f"expected {name} or transforms.json, found {', '.join(found) if found else 'no transforms*.json'}",
        path,
    )


def _load_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the file ({e.__class__.__name__}: {e})", path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"JSON does not parse: {e.msg} at line {e.lineno}, column {e.colno}", path) from None
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object at the top level, got {type(data).__name__}", path)
    frames = data.get("frames")
    if not isinstance(frames, list) or not frames:
        raise InputError(
            "expected a non-empty list 'frames', got " + ("none" if frames is None else repr(frames)[:40]),
            path,
        )
    return data


def _number(value, key: str, where: str, file: Path) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a number for '{key}' in {where}, got {value!r}", file) from None
    if not math.isfinite(out):
        raise InputError(f"expected a finite number for '{key}' in {where}, got {value!r}", file)
    return out


def _pose(frame: dict, where: str, file: Path) -> np.ndarray:
    if "transform_matrix" not in frame:
        raise InputError(f"expected 'transform_matrix' in {where}, got keys {sorted(frame)}", file)
    try:
        m = np.asarray(frame["transform_matrix"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"expected a 4x4 list of numbers for 'transform_matrix' in {where}", file) from None
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4):
        raise InputError(f"expected a 4x4 'transform_matrix' in {where}, got shape {m.shape}", file)
    if not np.isfinite(m).all():
        raise InputError(
            f"expected finite numbers in 'transform_matrix' of {where}, got NaN or infinity", file
        )
    return m


def _distortion(get, model: str, where: str, file: Path) -> list[float]:
    values = {name: _number(get(name, 0.0), name, where, file) for name in DISTORTION_NAMES}
    rational = model == "FULL_OPENCV" or get("k5", None) is not None or get("k6", None) is not None
    if values["k4"] != 0.0 and not rational:
        raise InputError(
            f"expected k4 only with k5/k6 or camera_model FULL_OPENCV (OpenCV's rational model) in {where}; "
            f"got k4={values['k4']} alone (nerfstudio's r^8 radial term), which fields3d's OpenCV "
            "model cannot represent",
            file,
        )
    if model in ("PINHOLE", "SIMPLE_PINHOLE") and any(values.values()):
        raise InputError(f"expected no distortion coefficients with camera_model {model} in {where}", file)
    return [values[name] for name in DISTORTION_NAMES]


def read_transforms_json(
    path: str | os.PathLike,
    *,
    split: str | None = None,
    background: tuple[float, float, float] | None = WHITE,
) -> SceneData:
    """Read a ``transforms.json`` capture (see the module docstring for the keys understood).

    Args:
        path: a ``transforms*.json`` file or a folder holding one (see :func:`find_transforms_file`).
        split: ``"train"``, ``"val"`` or ``"test"`` for folders with ``transforms_<split>.json`` (or a
            nerfstudio ``<split>_filenames`` list); default: ``transforms.json``, else the train split.
        background: RGB in [0, 1] that RGBA images are composited onto; None keeps the alpha channel.
    Returns:
        SceneData with cameras in the file's world units (OpenCV axes), format ``"transforms_json"``.
    Raises:
        InputError: naming the file for JSON that does not parse, missing keys, listed images that are
            missing or do not decode, unsupported camera models.
    """
    source = Path(path)
    file = find_transforms_file(source, split)
    data = _load_json(file)
    base = file.parent
    frames = data["frames"]
    if split is not None and not file.stem.endswith(f"_{split}"):
        names = data.get(f"{split}_filenames")
        if names is None:
            raise InputError(
                f"expected transforms_{split}.json beside it or a '{split}_filenames' list in it", file
            )
        wanted = {Path(str(n)).as_posix() for n in names}
        frames = [f for f in frames if Path(str(f.get("file_path", ""))).as_posix() in wanted]
        if not frames:
            raise InputError(f"expected frames listed in '{split}_filenames', got none that match", file)

    image_paths, mask_paths, depth_paths = [], [], []
    poses, Ks, dists, sizes = [], [], [], []
    for i, frame in enumerate(frames):
        where = f"frames[{i}]"
        if not isinstance(frame, dict) or "file_path" not in frame:
            raise InputError(f"expected an object with 'file_path' in {where}, got {repr(frame)[:60]}", file)
        get = lambda key, default=None, frame=frame: frame.get(key, data.get(key, default))  # noqa: E731
        model = str(get("camera_model", "OPENCV")).upper()
        if get("is_fisheye", False) or model not in SUPPORTED_CAMERA_MODELS:
            shown = "fisheye (is_fisheye)" if get("is_fisheye", False) else model
            raise InputError(
                f"camera model {shown} in {where} is not supported; "
                f"expected one of {', '.join(SUPPORTED_CAMERA_MODELS)}",
                file,
            )
        image = resolve_image(base, str(frame["file_path"]), "image", file)
        image_paths.append(image)
        w, h = get("w"), get("h")
        if w is None or h is None:
            header = read_header(image)
            w = header.width if w is None else w
            h = header.height if h is None else h
        w, h = _number(w, "w", where, file), _number(h, "h", where, file)
        if w != int(w) or h != int(h) or w <= 0 or h <= 0:
            raise InputError(f"expected positive integer image sizes w, h in {where}, got {w}, {h}", file)
        if get("fl_x") is not None:
            fx = _number(get("fl_x"), "fl_x", where, file)
        elif get("camera_angle_x") is not None:
            fx = focal_from_fov(_number(get("camera_angle_x"), "camera_angle_x", where, file), w)
        else:
            raise InputError(
                f"expected 'fl_x' or 'camera_angle_x' for {where} (top level or in the frame)", file
            )
        if get("fl_y") is not None:
            fy = _number(get("fl_y"), "fl_y", where, file)
        elif get("camera_angle_y") is not None and get("fl_x") is None:
            fy = focal_from_fov(_number(get("camera_angle_y"), "camera_angle_y", where, file), h)
        else:
            fy = fx
        cx = _number(get("cx", w / 2), "cx", where, file)
        cy = _number(get("cy", h / 2), "cy", where, file)
        if fx <= 0 or fy <= 0:
            raise InputError(f"expected positive focal lengths in {where}, got fl_x={fx}, fl_y={fy}", file)
        Ks.append([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        sizes.append((int(w), int(h)))
        dists.append(_distortion(get, model, where, file))
        poses.append(_pose(frame, where, file))
        if "mask_path" in frame:
            mask_paths.append(resolve_image(base, str(frame["mask_path"]), "mask", file))
        if "depth_file_path" in frame:
            depth = resolve_image(base, str(frame["depth_file_path"]), "depth map", file)
            if depth.suffix.lower() != ".png":
                raise InputError(f"expected a 16-bit PNG depth map, got '{depth.suffix}'", depth)
            depth_paths.append(depth)

    n = len(image_paths)
    for name, paths in (("mask_path", mask_paths), ("depth_file_path", depth_paths)):
        if paths and len(paths) != n:
            raise InputError(
                f"expected '{name}' in every frame or in none, got it in {len(paths)} of {n}", file
            )

    headers = check_images(image_paths)
    for p, hd, (w, h) in zip(image_paths, headers, sizes, strict=True):
        if (hd.width, hd.height) != (w, h):
            raise InputError(
                f"expected an image of {w}x{h} (WxH) as {file.name} says, got {hd.width}x{hd.height}", p
            )
    if mask_paths:
        check_images(mask_paths)
    all_alpha = all(hd.has_alpha for hd in headers)

    c2w = opengl_to_opencv(np.stack(poses))
    widths = torch.tensor([s[0] for s in sizes])
    heights = torch.tensor([s[1] for s in sizes])
    cameras = Cameras(
        torch.tensor(Ks, dtype=torch.float32),
        torch.as_tensor(c2w, dtype=torch.float32),
        widths,
        heights,
        torch.tensor(dists),
    )

    metadata: dict = {"transforms_file": str(file)}
    if split is not None or file.stem != "transforms":
        metadata["split"] = split or file.stem.removeprefix("transforms_")
    for key in ("aabb_scale", "scale", "offset", "applied_transform", "camera_model"):
        if key in data:
            metadata[key] = data[key]
    if all_alpha and not mask_paths:
        metadata["alpha_masks"] = True
    if all("normal_path" in f for f in frames):
        metadata["normal_paths"] = [base / str(f["normal_path"]) for f in frames]

    block = data.get("fields3d") if isinstance(data.get("fields3d"), dict) else {}
    if block:
        metadata["fields3d"] = block
    points = None
    if data.get("ply_file_path"):
        points = _read_points(resolve_image(base, str(data["ply_file_path"]), "point cloud", file))
    depth_scale = 1000.0
    if "depth_unit_scale_factor" in data:
        factor = _number(data["depth_unit_scale_factor"], "depth_unit_scale_factor", "the top level", file)
        if factor <= 0:
            raise InputError(f"expected a positive depth_unit_scale_factor, got {factor}", file)
        depth_scale = 1.0 / factor
    if "depth_scale" in block:
        depth_scale = _number(block["depth_scale"], "fields3d.depth_scale", "the top level", file)
    if "normalization" in block:
        try:
            normalization = Similarity.from_dict(block["normalization"])
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(
                f"expected fields3d.normalization as written by Similarity.to_dict, got an error: {e}", file
            ) from None
        metadata["normalization_method"] = "fields3d block in transforms.json"
    else:
        sphere = sphere_from_camera_views(cameras)
        normalization = sphere.normalization()
        metadata["normalization_method"] = sphere.method
    return SceneData(
        cameras=cameras,
        image_paths=image_paths,
        normalization=normalization,
        format="transforms_json",
        source=source,
        mask_paths=mask_paths or None,
        depth_paths=depth_paths or None,
        depth_scale=depth_scale,
        background=background if all_alpha else None,
        points=points,
        metadata=metadata,
    )


def _read_points(path: Path) -> np.ndarray:
    """(P, 3) float32 vertices of a PLY point cloud (nerfstudio's ``ply_file_path``)."""
    import trimesh

    try:
        cloud = trimesh.load(path, process=False)
    except Exception as e:  # trimesh raises many types for corrupt files
        raise InputError(f"point cloud does not load ({e.__class__.__name__}: {e})", path) from None
    vertices = np.asarray(getattr(cloud, "vertices", np.zeros((0, 3))), dtype=np.float32).reshape(-1, 3)
    if not np.isfinite(vertices).all():
        raise InputError("expected finite point coordinates, got NaN or infinity", path)
    return vertices


def _relative(p: Path, folder: Path) -> str:
    p = Path(p).absolute()
    try:
        return Path(os.path.relpath(p, folder.absolute())).as_posix()
    except ValueError:  # another drive on Windows
        return p.as_posix()


def _intrinsics(cameras: Cameras, i: int) -> dict:
    K = cameras.K[i]
    if float(K[0, 1]) != 0.0:
        raise ValueError(
            f"expected zero skew to write transforms.json, got K[0, 1] = {float(K[0, 1])} for camera {i}"
        )
    d = [float(x) for x in cameras.distortion[i]]
    out = {
        "camera_model": "OPENCV",
        "fl_x": float(K[0, 0]),
        "fl_y": float(K[1, 1]),
        "cx": float(K[0, 2]),
        "cy": float(K[1, 2]),
        "w": int(cameras.width[i]),
        "h": int(cameras.height[i]),
        "k1": d[0],
        "k2": d[1],
        "p1": d[2],
        "p2": d[3],
    }
    if any(d[4:]):
        out["k3"] = d[4]
    if any(d[5:]):
        out.update(camera_model="FULL_OPENCV", k4=d[5], k5=d[6], k6=d[7])
    return out


def write_transforms_json(
    path: str | os.PathLike,
    scene_or_cameras: SceneData | Cameras,
    image_paths: list | None = None,
    *,
    mask_paths: list | None = None,
    depth_paths: list | None = None,
    depth_scale: float | None = None,
    normalization: Similarity | None = None,
    extra: dict | None = None,
    frame_extra: list[dict] | None = None,
) -> Path:
    """Write a nerfstudio-style ``transforms.json`` that :func:`read_transforms_json` reads back exactly.

    Poses are written with OpenGL camera axes (the file convention); intrinsics (``fl_x``, ``fl_y``,
    ``cx``, ``cy``, ``w``, ``h``, ``k1``, ``k2``, ``p1``, ``p2`` [, ``k3``, ``k4``-``k6``] and
    ``camera_model``) at the top level when all cameras share them, else in every frame.  Paths are
    written relative to the file's folder.  ``normalization`` and ``depth_scale`` go into the
    ``"fields3d"`` block.

    Args:
        path: the ``.json`` file to write (atomically; parent folders are created).
        scene_or_cameras: a SceneData (its paths, depth scale and normalisation are the defaults of
            the arguments below) or N Cameras.
        image_paths: N image files (required with Cameras).
        mask_paths, depth_paths: optional N mask / 16-bit depth PNG files.
        depth_scale: depth PNG units per world unit.
        normalization: world -> normalised frame similarity.
        extra: further top-level keys (e.g. ``{"aabb_scale": 4, "ply_file_path": "points.ply"}``); a
            ``"fields3d"`` dict in it is merged into the fields3d block.
        frame_extra: N dicts of further per-frame keys (e.g. ``{"normal_path": "normals/000.png"}``).
    Returns:
        The written path.
    """
    path = Path(path)
    folder = path.parent
    if isinstance(scene_or_cameras, SceneData):
        scene = scene_or_cameras
        cameras = scene.cameras
        image_paths = scene.image_paths if image_paths is None else image_paths
        mask_paths = scene.mask_paths if mask_paths is None else mask_paths
        depth_paths = scene.depth_paths if depth_paths is None else depth_paths
        depth_scale = (
            scene.depth_scale if depth_scale is None and scene.depth_paths is not None else depth_scale
        )
        normalization = scene.normalization if normalization is None else normalization
    elif isinstance(scene_or_cameras, Cameras):
        cameras = scene_or_cameras
    else:
        raise TypeError(f"expected SceneData or Cameras, got {type(scene_or_cameras).__name__}")
    n = len(cameras)
    if image_paths is None or len(image_paths) != n:
        raise ValueError(
            f"expected {n} image paths (one per camera), "
            f"got {None if image_paths is None else len(image_paths)}"
        )
    for name, paths in (("mask", mask_paths), ("depth", depth_paths), ("frame_extra", frame_extra)):
        if paths is not None and len(paths) != n:
            raise ValueError(f"expected {n} {name} entries (one per camera), got {len(paths)}")

    per_camera = [_intrinsics(cameras, i) for i in range(n)]
    shared = all(p == per_camera[0] for p in per_camera)
    c2w_gl = opencv_to_opengl(cameras.c2w.detach().cpu())
    out: dict = dict(per_camera[0]) if shared else {}
    frames = []
    for i in range(n):
        frame: dict = {"file_path": _relative(image_paths[i], folder)}
        if not shared:
            frame.update(per_camera[i])
        frame["transform_matrix"] = [[float(x) for x in row] for row in c2w_gl[i]]
        if mask_paths is not None:
            frame["mask_path"] = _relative(mask_paths[i], folder)
        if depth_paths is not None:
            frame["depth_file_path"] = _relative(depth_paths[i], folder)
        if frame_extra is not None:
            frame.update(frame_extra[i])
        frames.append(frame)
    extra = dict(extra or {})
    block = dict(extra.pop("fields3d", None) or {})
    out.update(extra)
    if normalization is not None:
        block["normalization"] = normalization.to_dict()
    if depth_scale is not None:
        block["depth_scale"] = float(depth_scale)
    if block:
        out["fields3d"] = block
    out["frames"] = frames
    return write_json(path, out)
