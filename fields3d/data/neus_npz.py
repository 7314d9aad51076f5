"""NeuS / IDR captures: ``cameras_sphere.npz`` beside ``image/`` (or ``images/``) and optional ``mask/``.

The npz holds, for every view i, ``world_mat_i`` (rows 0-2 are the 3x4 projection ``P = K [R | t]``
in world units, padded to 4x4) and ``scale_mat_i`` (``x_world = scale_mat @ x_normalised``: it maps
the unit sphere onto the object's region).  View i is the i-th image in sorted name order.

``P`` is split into ``K``, ``R``, ``t`` by an RQ decomposition (positive focal lengths, a proper
rotation); the camera centre is ``-M^-1 p4``.  Pixel convention: NeuS and IDR place pixel *centres* at
integer coordinates (they cast rays through ``(i, j)`` for pixel column i, row j), whereas fields3d
places the top-left corner at 0 and centres at +0.5, so the parser adds 0.5 to ``cx`` and ``cy``.
``SceneData.normalization`` is the inverse of ``scale_mat_0`` (the same for every view in NeuS data).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from fields3d.cameras import Cameras
from fields3d.data.image_files import check_images, check_same_size, images_in, pair_by_stem
from fields3d.data.scene import SceneData
from fields3d.errors import InputError
from fields3d.geometry.similarity import Similarity

CAMERA_FILES = ("cameras_sphere.npz", "cameras_large.npz", "cameras.npz")
IMAGE_FOLDERS = ("image", "images", "rgb")
MASK_FOLDERS = ("mask", "masks")
# skew below this many pixels across the image is dropped (fields3d cameras have none)
MAX_SKEW_PIXELS = 0.5


def decompose_projection(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a 3x4 projection ``P = K [R | t]`` (any scale or sign) into ``K`` and camera-to-world.

    Returns:
        K: (3, 3) float64 upper triangular, positive diagonal, ``K[2, 2] = 1``.
        c2w: (4, 4) float64 with a proper rotation (OpenCV axes: ``R`` maps world to camera).
    Raises:
        ValueError: when the left 3x3 block of ``P`` is singular.
    """
    import scipy.linalg

    P = np.asarray(P, dtype=np.float64)[:3, :4]
    M = P[:, :3]
    size = float(np.abs(M).max())
    if size == 0.0 or abs(np.linalg.det(M)) < 1e-12 * size**3:
        raise ValueError("expected a projection matrix with an invertible left 3x3 block, got a singular one")
    K, R = scipy.linalg.rq(M)
    signs = np.sign(np.diag(K))
    signs[signs == 0] = 1.0
    K = K * signs[None, :]  # K D
    R = signs[:, None] * R  # D R  (D D = I, so K R is unchanged)
    if np.linalg.det(R) < 0:  # P is defined up to sign: -P = K (-R) [I | -C] has a proper rotation
        R = -R
    K = K / K[2, 2]
    center = -np.linalg.solve(M, P[:, 3])
    c2w = np.eye(4)
    c2w[:3, :3] = R.T
    c2w[:3, 3] = center
    return K, c2w


def find_cameras_file(folder: Path, cameras_file: str | None = None) -> Path:
    if cameras_file is not None:
        p = Path(cameras_file)
        p = p if p.is_absolute() else folder / p
        if not p.is_file():
            raise InputError("cameras file not found", p)
        return p
    for name in CAMERA_FILES:
        if (folder / name).is_file():
            return folder / name
    raise InputError(f"expected one of {', '.join(CAMERA_FILES)} in the folder", folder)


def read_neus_npz(path: str | os.PathLike, *, cameras_file: str | None = None) -> SceneData:
    """Read a NeuS / IDR capture folder (or its ``cameras_*.npz`` file).

    Args:
        path: the folder, or the npz file itself.
        cameras_file: npz name inside the folder; default ``cameras_sphere.npz``, then
            ``cameras_large.npz``, then ``cameras.npz``.
    Returns:
        SceneData (format ``"neus_npz"``) with cameras in world units (DTU: millimetres), masks when a
        ``mask/`` folder exists, normalisation from ``scale_mat_0``.
    """
    source = Path(path)
    if source.is_file():
        folder, npz_path = source.parent, source
    elif source.is_dir():
        folder, npz_path = source, find_cameras_file(source, cameras_file)
    else:
        raise InputError("no such file or folder", source)
    image_dir = next((folder / d for d in IMAGE_FOLDERS if images_in(folder / d)), None)
    if image_dir is None:
        raise InputError(
            f"expected images in one of the folders {', '.join(d + '/' for d in IMAGE_FOLDERS)}", folder
        )
    images = images_in(image_dir)

    try:
        with np.load(npz_path) as npz:
            arrays = {k: np.asarray(npz[k]) for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"npz does not load ({e.__class__.__name__}: {e})", npz_path) from None
    n_mats = sum(1 for k in arrays if k.startswith("world_mat_") and not k.startswith("world_mat_inv"))
    if n_mats != len(images):
        raise InputError(
            f"{npz_path.name} has {n_mats} world_mat_i, {image_dir.name}/ has {len(images)} images", npz_path
        )

    Ks, poses, skews = [], [], []
    for i in range(len(images)):
        key = f"world_mat_{i}"
        if key not in arrays:
            raise InputError(
                f"expected '{key}' (one per image, numbered from 0), got keys {sorted(arrays)[:6]}...",
                npz_path,
            )
        P = arrays[key]
        if P.shape not in ((3, 4), (4, 4)) or not np.isfinite(P).all():
            raise InputError(
                f"expected '{key}' to be a finite 3x4 or 4x4 matrix, got shape {P.shape}", npz_path
            )
        try:
            K, c2w = decompose_projection(P)
        except ValueError as e:
            raise InputError(f"'{key}': {e}", npz_path) from None
        skews.append(float(K[0, 1]))
        K[0, 1] = 0.0
        K[0, 2] += 0.5  # pixel centres at integers (NeuS) -> corner-origin convention (fields3d)
        K[1, 2] += 0.5
        Ks.append(K)
        poses.append(c2w)

    headers = check_images(images)
    width, height = headers[0].width, headers[0].height
    check_same_size(images, headers, width, height)
    worst = int(np.argmax(np.abs(skews)))
    if abs(skews[worst]) * height / Ks[worst][1, 1] > MAX_SKEW_PIXELS:
        raise InputError(
            f"world_mat_{worst} has a skew of {skews[worst]:.4g} (K[0, 1]), which shifts pixels by more than "
            f"{MAX_SKEW_PIXELS} px; fields3d cameras have no skew",
            npz_path,
        )

    mask_dir = next((folder / d for d in MASK_FOLDERS if images_in(folder / d)), None)
    masks = pair_by_stem(images, mask_dir, "mask") if mask_dir is not None else None
    if masks is not None:
        check_same_size(masks, check_images(masks), width, height)

    if "scale_mat_0" in arrays:
        S = np.asarray(arrays["scale_mat_0"], dtype=np.float64)
        if S.shape != (4, 4) or not np.isfinite(S).all():
            raise InputError(
                f"expected 'scale_mat_0' to be a finite 4x4 matrix, got shape {S.shape}", npz_path
            )
        linear = S[:3, :3]
        det = float(np.linalg.det(linear))
        rot = linear / np.cbrt(det) if det > 0 else linear
        if (
            not np.allclose(S[3], [0, 0, 0, 1])
            or det <= 0
            or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4)
        ):
            raise InputError(
                "expected 'scale_mat_0' to be a similarity (uniform scale, rotation, translation; "
                f"last row 0 0 0 1), got {np.round(S, 6).tolist()}",
                npz_path,
            )
        normalization = Similarity(S).inverse()
        method = f"scale_mat_0 of {npz_path.name}"
    else:
        from fields3d.data.normalization import sphere_from_camera_views

        sphere = sphere_from_camera_views(
            Cameras(torch.tensor(np.stack(Ks)), torch.tensor(np.stack(poses)), width, height)
        )
        normalization = sphere.normalization()
        method = sphere.method

    cameras = Cameras(
        torch.tensor(np.stack(Ks), dtype=torch.float32),
        torch.tensor(np.stack(poses), dtype=torch.float32),
        width,
        height,
    )
    metadata = {
        "cameras_file": str(npz_path),
        "normalization_method": method,
        "pixel_convention": "NeuS cx, cy + 0.5",
        "max_abs_skew": float(np.max(np.abs(skews))),
    }
    return SceneData(
        cameras=cameras,
        image_paths=images,
        normalization=normalization,
        format="neus_npz",
        source=source,
        mask_paths=masks,
        metadata=metadata,
    )
