"""What a tri-plane dataset is fitted from: shape files, their classes, part labels and splits.

``MESHES`` is a mesh or point-cloud file, or a folder searched recursively for them. A labels CSV
(``--labels``) adds a class, per-face part labels and a split to each file. Its header names the
columns; recognised names (case-insensitive):

==============  ==========================================================================
column          meaning
==============  ==========================================================================
file            the shape file (also ``mesh``, ``path``, ``off_file``); relative paths are
                resolved against the CSV's folder, then against ``MESHES``
class           class name (also ``category``, ``label``)
seg             per-face part labels: a text file with one integer per face, in face order
                (also ``seg_file``, ``parts``); relative like ``file``
split           ``train`` / ``test`` / ... (optional)
group           shapes of one group (e.g. augmented copies of one model) share a split (also
                ``model_id``; default: the file)
==============  ==========================================================================
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fields3d.errors import InputError
from fields3d.io.mesh import READ_SUFFIXES

SHAPE_SUFFIXES = tuple(sorted(set(READ_SUFFIXES) | {".xyz", ".npy"}))
"""Files a tri-plane can be fitted from: meshes, and point clouds (.ply without faces, .xyz, .npy)."""

_COLUMNS = {
    "file": ("file", "mesh", "path", "off_file", "source"),
    "class": ("class", "category", "label", "class_name"),
    "seg": ("seg", "seg_file", "parts", "segmentation"),
    "split": ("split",),
    "group": ("group", "model_id", "shape_id"),
}


@dataclass(frozen=True)
class ShapeSource:
    """One shape to fit.

    Attributes:
        path: the mesh or point-cloud file.
        class_name: its class, or None when no labels were given.
        seg_path: a per-face part-label file (one integer per face), or None.
        split: "train", "test", ... or None (decided later from ``group``).
        group: copies of one model share this name (the split never separates them).
    """

    path: Path
    class_name: str | None = None
    seg_path: Path | None = None
    split: str | None = None
    group: str | None = None

    @property
    def group_name(self) -> str:
        return self.group if self.group is not None else str(self.path)


def _find_column(header: list[str], key: str) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    for name in _COLUMNS[key]:
        if name in lowered:
            return lowered[name]
    return None


def _resolve(value: str, bases: list[Path], csv_path: Path) -> Path:
    p = Path(value.strip())
    if p.is_absolute():
        candidates = [p]
    else:
        candidates = [b / p for b in bases]
    for c in candidates:
        if c.exists():
            return c
    raise InputError(
        f"expected the file {value!r} (relative to {', '.join(str(b) for b in bases)}), got nothing there",
        csv_path,
    )


def read_labels_csv(
    csv_path: str | os.PathLike, meshes: str | os.PathLike | None = None
) -> list[ShapeSource]:
    """Parse a labels CSV (see the module docstring) into sources, in row order."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputError("labels CSV not found", csv_path)
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise InputError("expected a header and at least one row, got an empty CSV", csv_path)
    header = list(rows[0].keys())
    cols = {k: _find_column(header, k) for k in _COLUMNS}
    if cols["file"] is None:
        raise InputError(
            f"expected a file column ({', '.join(_COLUMNS['file'])}), got columns {header}", csv_path
        )
    bases = [csv_path.parent]
    if meshes is not None:
        m = Path(meshes)
        bases.append(m if m.is_dir() else m.parent)
    sources = []
    for row in rows:

        def get(key, row=row):
            col = cols[key]
            v = row.get(col) if col else None
            return v.strip() if isinstance(v, str) and v.strip() else None

        file = get("file")
        if file is None:
            raise InputError(f"expected a file name in every row, got an empty one in {row}", csv_path)
        seg = get("seg")
        sources.append(
            ShapeSource(
                path=_resolve(file, bases, csv_path),
                class_name=get("class"),
                seg_path=_resolve(seg, bases, csv_path) if seg else None,
                split=get("split"),
                group=get("group"),
            )
        )
    return sources


def list_sources(meshes: str | os.PathLike, labels: str | os.PathLike | None = None) -> list[ShapeSource]:
    """The shapes to fit: the rows of ``labels`` when given (restricted to files under ``meshes`` when
    ``meshes`` is a folder), else every shape file under ``meshes`` (sorted), or ``meshes`` itself."""
    meshes = Path(meshes)
    if not meshes.exists():
        raise InputError("expected a shape file or a folder of them, got nothing there", meshes)
    if labels is not None:
        sources = read_labels_csv(labels, meshes)
        if meshes.is_dir():
            root = meshes.resolve()
            sources = [s for s in sources if root in s.path.resolve().parents]
        elif meshes.is_file():
            sources = [s for s in sources if s.path.resolve() == meshes.resolve()]
        if not sources:
            raise InputError(f"expected rows of {labels} naming files under this path, got none", meshes)
        return sources
    if meshes.is_file():
        files = [meshes]
    else:
        files = sorted(p for p in meshes.rglob("*") if p.is_file() and p.suffix.lower() in SHAPE_SUFFIXES)
    if not files:
        raise InputError(f"expected shape files ({', '.join(SHAPE_SUFFIXES)}), got none", meshes)
    return [ShapeSource(path=p) for p in files]


def read_face_labels(path: str | os.PathLike, n_faces: int) -> np.ndarray:
    """(F,) int64 per-face labels from a text file with one integer per line (a PSB ``.seg`` file)."""
    path = Path(path)
    try:
        values = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except (OSError, ValueError) as e:
        raise InputError(f"expected one integer per line ({e})", path) from None
    if values.shape != (n_faces,):
        raise InputError(f"expected {n_faces} labels (one per face), got {values.size}", path)
    if values.min() < 0:
        raise InputError(f"expected non-negative labels, got {int(values.min())}", path)
    return values


def assign_splits(sources: list[ShapeSource], test_fraction: float, seed: int) -> list[str]:
    """A split name per source: the CSV's when given, else ``test`` for a seeded ``test_fraction`` of the
    groups of each class (at least one group per class when the class has two or more), ``train`` for
    the others. Copies of one group always share a split."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"expected test_fraction in [0, 1), got {test_fraction}")
    groups_by_class: dict[str | None, list[str]] = {}
    for s in sources:
        if s.split is None:
            lst = groups_by_class.setdefault(s.class_name, [])
            if s.group_name not in lst:
                lst.append(s.group_name)
    test_groups: set[str] = set()
    rng = np.random.default_rng(seed)
    for cls in sorted(groups_by_class, key=lambda c: "" if c is None else c):
        groups = sorted(groups_by_class[cls])
        n_test = int(round(test_fraction * len(groups)))
        if test_fraction > 0 and len(groups) >= 2:
            n_test = min(max(n_test, 1), len(groups) - 1)
        picked = rng.permutation(len(groups))[:n_test]
        test_groups.update(groups[i] for i in picked)
    return [
        s.split if s.split is not None else ("test" if s.group_name in test_groups else "train")
        for s in sources
    ]
