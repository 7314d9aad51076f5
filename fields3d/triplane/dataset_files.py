"""A tri-plane dataset on disk: ``manifest.json`` plus shards (safetensors), and reading it back.

Layout of DATASET::

    manifest.json              # format, fit settings, classes, parts, one record per object
    shards/shard_00000.safetensors
    shards/shard_00000.json    # the records of that shard's objects (merged into the manifest)
    shared_decoder.safetensors # only with a shared decoder

A shard holds, for its n objects:

- ``planes``: (n, 3, C, R, R) float32 (planes xy, xz, yz; rows follow the plane's second axis);
- ``decoder.weight_k`` / ``decoder.bias_k``: (n, in, out) / (n, 1, out) per-object decoder tensors
  (absent with a shared decoder);
- ``surface_points``: (n, P, 3) float32 points on the normalised surface, and ``surface_labels``:
  (n, P) int32 the part label of the face each lies on (-1 without part labels).

An object record (``manifest["objects"][i]``) has ``id``, ``source``, ``class`` (or null), ``label``
(class index, -1 without classes), ``split``, ``group``, ``kind``, ``field``, ``shard``, ``index``
(row in its shard), ``normalization`` (world -> normalised similarity), ``copy`` (augmentation)
and ``fit`` (``loss``, ``chamfer``, ``fscore``, ``iou``, ``faces``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from fields3d.errors import InputError
from fields3d.io.atomic import atomic_path, write_json

MANIFEST = "manifest.json"
FORMAT = "fields3d-triplane-dataset"
VERSION = 1


def shard_name(k: int) -> str:
    return f"shards/shard_{k:05d}.safetensors"


def write_shard(root: Path, k: int, tensors: dict[str, torch.Tensor], records: list[dict]) -> Path:
    """Write shard ``k`` (tensors, then its records JSON, both atomically); the JSON marks it complete."""
    from safetensors.torch import save_file

    path = Path(root) / shard_name(k)
    with atomic_path(path) as tmp:
        save_file({name: t.detach().cpu().contiguous() for name, t in tensors.items()}, str(tmp))
    write_json(path.with_suffix(".json"), records)
    return path


def shard_records(root: Path, k: int) -> list[dict] | None:
    """The records of a completed shard ``k``, or None when it is not (completely) written."""
    path = Path(root) / shard_name(k)
    js = path.with_suffix(".json")
    if not (path.is_file() and js.is_file()):
        return None
    return json.loads(js.read_text(encoding="utf-8"))


def read_manifest(root: str | os.PathLike) -> dict:
    """Parse DATASET/manifest.json (raises :class:`InputError` when missing or not a tri-plane dataset)."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise InputError(f"expected a tri-plane dataset folder with {MANIFEST}, got none", root)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"manifest does not parse ({e})", path) from None
    if manifest.get("format") != FORMAT:
        raise InputError(f"expected format {FORMAT!r}, got {manifest.get('format')!r}", path)
    return manifest


def load_tensors(
    root: str | os.PathLike,
    manifest: dict | None = None,
    names=("planes", "surface_points", "surface_labels"),
    indices: list[int] | None = None,
) -> dict[str, torch.Tensor]:
    """Stack tensors ``names`` of the manifest's objects (all, or ``indices`` in that order) from the
    shards."""
    from safetensors import safe_open

    root = Path(root)
    manifest = manifest or read_manifest(root)
    objects = manifest["objects"]
    indices = list(range(len(objects))) if indices is None else list(indices)
    by_shard: dict[str, list[tuple[int, int]]] = {}
    for pos, i in enumerate(indices):
        rec = objects[i]
        by_shard.setdefault(rec["shard"], []).append((pos, rec["index"]))
    out: dict[str, torch.Tensor] = {}
    for shard, rows in by_shard.items():
        path = root / shard
        if not path.is_file():
            raise InputError("shard listed in the manifest is missing", path)
        with safe_open(str(path), framework="pt") as f:
            for name in names:
                if name not in f.keys():
                    raise InputError(f"expected tensor {name!r} in the shard, got {sorted(f.keys())}", path)
                t = f.get_tensor(name)
                if name not in out:
                    out[name] = torch.empty((len(indices), *t.shape[1:]), dtype=t.dtype)
                pos = torch.tensor([p for p, _ in rows])
                out[name][pos] = t[torch.tensor([r for _, r in rows])]
    return out


def load_fields(root: str | os.PathLike, indices: list[int], manifest: dict | None = None):
    """The fitted fields of objects ``indices`` as one
    :class:`~fields3d.triplane.field_batch.TriplaneFieldBatch`."""
    from safetensors.torch import load_file

    from fields3d.triplane.field_batch import TriplaneFieldBatch, TriplaneFieldConfig

    root = Path(root)
    manifest = manifest or read_manifest(root)
    config = TriplaneFieldConfig(**{**manifest["field_config"], "backend": "auto"})
    if config.decoder == "shared":
        planes = load_tensors(root, manifest, ("planes",), indices)["planes"]
        dec = load_file(str(root / manifest["shared_decoder"]))
        return TriplaneFieldBatch.from_tensors(planes, dec, config)
    n_layers = config.hidden_layers + 1
    names = ["planes"] + [f"decoder.{kind}_{k}" for k in range(n_layers) for kind in ("weight", "bias")]
    t = load_tensors(root, manifest, names, indices)
    dec = {n.split(".", 1)[1]: v for n, v in t.items() if n.startswith("decoder.")}
    return TriplaneFieldBatch.from_tensors(t["planes"], dec, config)
