"""A procedurally generated, part-labelled shape set: parametric primitives and their compositions.

Each class composes solids (boxes, cylinders, capsules, spheres, cones, tori; unions and differences)
with seeded random parameters; every solid belongs to a part whose id is global and consistent across
the set (like ShapeNet-Part: "table/top", "table/leg", "chair/seat", ...). A shape becomes a closed
triangle mesh by marching cubes of the union's signed distance, and each face is labelled with the
part of the solid it lies on. Shapes stand upright (+y up) in a canonical orientation.

:func:`generate_shape` makes one shape; :func:`write_shape_set` writes a whole set (PLY meshes,
``.seg`` files with one part id per face, ``labels.csv`` with file,class,seg,split,group).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SDF = Callable[[np.ndarray], np.ndarray]


# ---- signed distance primitives, (N, 3) -> (N,) ----


def box(center, half, rounding: float = 0.0) -> SDF:
    c, h = np.asarray(center, float), np.asarray(half, float) - rounding

    def f(p):
        q = np.abs(p - c) - h
        return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0) - rounding

    return f


def sphere(center, radius: float) -> SDF:
    c = np.asarray(center, float)
    return lambda p: np.linalg.norm(p - c, axis=1) - radius


def ellipsoid(center, radii) -> SDF:
    c, r = np.asarray(center, float), np.asarray(radii, float)

    def f(p):  # first-order approximation, exact on the surface
        q = (p - c) / r
        k0 = np.linalg.norm(q, axis=1)
        k1 = np.linalg.norm(q / r, axis=1)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)

    return f


_AXES = {"x": (0, 1, 2), "y": (1, 2, 0), "z": (2, 0, 1)}


def _local(p, center, axis):
    q = p - np.asarray(center, float)
    a, b, c = _AXES[axis]
    return q[:, a], np.stack([q[:, b], q[:, c]], axis=1)


def cylinder(center, radius: float, half_height: float, axis: str = "y") -> SDF:
    def f(p):
        h, r = _local(p, center, axis)
        d = np.stack([np.linalg.norm(r, axis=1) - radius, np.abs(h) - half_height], axis=1)
        return np.minimum(d.max(axis=1), 0) + np.linalg.norm(np.maximum(d, 0), axis=1)

    return f


def cone(center, r_bottom: float, r_top: float, half_height: float, axis: str = "y") -> SDF:
    """Capped cone (frustum) along ``axis``: radius r_bottom at -half_height, r_top at +half_height."""

    def f(p):
        h, r2 = _local(p, center, axis)
        q = np.stack([np.linalg.norm(r2, axis=1), h], axis=1)
        k1 = np.array([r_top, half_height])
        k2 = np.array([r_top - r_bottom, 2 * half_height])
        ca = np.stack(
            [
                q[:, 0] - np.minimum(q[:, 0], np.where(q[:, 1] < 0, r_bottom, r_top)),
                np.abs(q[:, 1]) - half_height,
            ],
            1,
        )
        t = np.clip(((k1 - q) @ k2) / (k2 @ k2), 0, 1)
        cb = q - k1 + t[:, None] * k2
        s = np.where((cb[:, 0] < 0) & (ca[:, 1] < 0), -1.0, 1.0)
        return s * np.sqrt(np.minimum((ca**2).sum(1), (cb**2).sum(1)))

    return f


def capsule(a, b, radius: float) -> SDF:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ba = b - a

    def f(p):
        pa = p - a
        t = np.clip(pa @ ba / (ba @ ba), 0, 1)
        return np.linalg.norm(pa - t[:, None] * ba, axis=1) - radius

    return f


def torus(center, major: float, minor: float, axis: str = "y") -> SDF:
    def f(p):
        h, r = _local(p, center, axis)
        return np.linalg.norm(np.stack([np.linalg.norm(r, axis=1) - major, h], 1), axis=1) - minor

    return f


def union(*fs: SDF) -> SDF:
    return lambda p: np.min(np.stack([f(p) for f in fs]), axis=0)


def difference(a: SDF, b: SDF) -> SDF:
    return lambda p: np.maximum(a(p), -b(p))


def intersection(a: SDF, b: SDF) -> SDF:
    return lambda p: np.maximum(a(p), b(p))


def half_space(axis: int, offset: float, keep_above: bool) -> SDF:
    """Points with coordinate ``axis`` above (or below) ``offset`` are inside."""
    return lambda p: (offset - p[:, axis]) if keep_above else (p[:, axis] - offset)


# ---- classes ----

PART_NAMES: list[str] = []
"""Global part names, index = part id."""


def _parts(*names: str) -> dict[str, int]:
    ids = {}
    for n in names:
        ids[n] = len(PART_NAMES)
        PART_NAMES.append(n)
    return ids


@dataclass(frozen=True)
class Solid:
    part: int
    sdf: SDF


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


P_TABLE = _parts("table/top", "table/leg")


def table(rng) -> list[Solid]:
    w, d, h = _u(rng, 0.6, 1.0), _u(rng, 0.4, 0.9), _u(rng, 0.45, 0.8)
    t = _u(rng, 0.05, 0.09)
    solids = []
    if rng.random() < 0.3:  # round top
        r = max(w, d)
        solids.append(Solid(P_TABLE["table/top"], cylinder((0, h, 0), r, t)))
        w = d = r / np.sqrt(2)
    else:
        solids.append(Solid(P_TABLE["table/top"], box((0, h, 0), (w, t, d))))
    lr = _u(rng, 0.05, 0.08)
    inset = _u(rng, 0.05, 0.15)
    for sx in (-1, 1):
        for sz in (-1, 1):
            c = (sx * (w - inset - lr), 0.0, sz * (d - inset - lr))
            leg = cylinder(c, lr, h, "y") if rng.random() < 0.5 else box(c, (lr, h, lr))
            solids.append(Solid(P_TABLE["table/leg"], lambda p, c=c, leg=leg: leg(p)))
    return solids


P_CHAIR = _parts("chair/seat", "chair/back", "chair/leg")


def chair(rng) -> list[Solid]:
    w, d, h = _u(rng, 0.35, 0.55), _u(rng, 0.35, 0.55), _u(rng, 0.35, 0.55)
    t = _u(rng, 0.05, 0.08)
    bh = _u(rng, 0.4, 0.75)
    bt = _u(rng, 0.05, 0.08)
    lr = _u(rng, 0.045, 0.07)
    solids = [Solid(P_CHAIR["chair/seat"], box((0, h, 0), (w, t, d)))]
    solids.append(Solid(P_CHAIR["chair/back"], box((0, h + t + bh, -d + bt), (w, bh, bt))))
    for sx in (-1, 1):
        for sz in (-1, 1):
            c = (sx * (w - lr), h / 2 - t / 2, sz * (d - lr))
            solids.append(Solid(P_CHAIR["chair/leg"], box(c, (lr, h / 2 + t / 2, lr))))
    return solids


P_LAMP = _parts("lamp/base", "lamp/pole", "lamp/shade")


def lamp(rng) -> list[Solid]:
    br, bh = _u(rng, 0.25, 0.45), _u(rng, 0.04, 0.08)
    ph = _u(rng, 0.35, 0.6)
    pr = _u(rng, 0.05, 0.07)
    sh = _u(rng, 0.15, 0.3)
    rb, rt = _u(rng, 0.25, 0.45), _u(rng, 0.1, 0.22)
    return [
        Solid(P_LAMP["lamp/base"], cylinder((0, bh, 0), br, bh)),
        Solid(P_LAMP["lamp/pole"], cylinder((0, 2 * bh + ph, 0), pr, ph)),
        Solid(P_LAMP["lamp/shade"], cone((0, 2 * bh + 2 * ph + sh * 0.6, 0), rb, rt, sh)),
    ]


P_MUG = _parts("mug/body", "mug/handle")


def mug(rng) -> list[Solid]:
    r, h = _u(rng, 0.3, 0.45), _u(rng, 0.35, 0.55)
    wall = _u(rng, 0.06, 0.09)
    body = difference(cylinder((0, h, 0), r, h), cylinder((0, h + 2 * wall, 0), r - wall, h))
    R = _u(rng, 0.15, 0.25)
    tr = _u(rng, 0.045, 0.065)
    ring = torus((r, h, 0), R, tr, axis="z")
    handle = intersection(ring, half_space(0, r, keep_above=True))
    return [Solid(P_MUG["mug/body"], body), Solid(P_MUG["mug/handle"], handle)]


P_PLANE = _parts("airplane/fuselage", "airplane/wing", "airplane/tail")


def airplane(rng) -> list[Solid]:
    L, fr = _u(rng, 0.8, 1.0), _u(rng, 0.08, 0.13)
    span, chord, wt = _u(rng, 0.7, 1.0), _u(rng, 0.15, 0.28), _u(rng, 0.03, 0.05)
    wz = _u(rng, -0.15, 0.15)
    ts, tc = _u(rng, 0.2, 0.35), _u(rng, 0.1, 0.16)
    th = _u(rng, 0.15, 0.3)
    tail_z = -L + tc
    tail = union(
        box((0, 0.0, tail_z), (ts, wt, tc)), box((0, th / 2 + fr / 2, tail_z), (wt, th / 2 + fr / 2, tc))
    )
    return [
        Solid(P_PLANE["airplane/fuselage"], capsule((0, 0, -L), (0, 0, L), fr)),
        Solid(P_PLANE["airplane/wing"], box((0, -fr * 0.3, wz), (span, wt, chord))),
        Solid(P_PLANE["airplane/tail"], tail),
    ]


P_BOTTLE = _parts("bottle/body", "bottle/neck", "bottle/cap")


def bottle(rng) -> list[Solid]:
    r, h = _u(rng, 0.2, 0.35), _u(rng, 0.35, 0.6)
    nh, nr = _u(rng, 0.12, 0.25), _u(rng, 0.07, 0.12)
    ch = _u(rng, 0.04, 0.08)
    neck = union(cone((0, 2 * h + 0.1, 0), r, nr, 0.1), cylinder((0, 2 * h + 0.2 + nh, 0), nr, nh))
    top = 2 * h + 0.2 + 2 * nh
    return [
        Solid(P_BOTTLE["bottle/body"], cylinder((0, h, 0), r, h)),
        Solid(P_BOTTLE["bottle/neck"], neck),
        Solid(P_BOTTLE["bottle/cap"], cylinder((0, top + ch, 0), nr + 0.025, ch)),
    ]


P_ROCKET = _parts("rocket/body", "rocket/nose", "rocket/fin")


def rocket(rng) -> list[Solid]:
    r, h = _u(rng, 0.12, 0.2), _u(rng, 0.5, 0.8)
    nh = _u(rng, 0.2, 0.35)
    fl, fh, ft = _u(rng, 0.15, 0.25), _u(rng, 0.15, 0.3), _u(rng, 0.03, 0.05)
    n_fins = 3 if rng.random() < 0.5 else 4
    fins = []
    for k in range(n_fins):
        a = 2 * np.pi * k / n_fins
        c = np.array([np.cos(a) * (r + fl / 2), fh, np.sin(a) * (r + fl / 2)])
        rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        base = box((0, 0, 0), (fl / 2, fh, ft))
        fins.append(lambda p, c=c, rot=rot, base=base: base((p - c) @ rot))
    return [
        Solid(P_ROCKET["rocket/body"], cylinder((0, h, 0), r, h)),
        Solid(P_ROCKET["rocket/nose"], cone((0, 2 * h + nh, 0), r, 0.01, nh)),
        Solid(P_ROCKET["rocket/fin"], union(*fins)),
    ]


P_MUSHROOM = _parts("mushroom/stem", "mushroom/cap")


def mushroom(rng) -> list[Solid]:
    sr, sh = _u(rng, 0.08, 0.16), _u(rng, 0.25, 0.5)
    cr, ch = _u(rng, 0.35, 0.6), _u(rng, 0.15, 0.35)
    cap = intersection(ellipsoid((0, 2 * sh, 0), (cr, ch, cr)), half_space(1, 2 * sh - 0.03, keep_above=True))
    return [
        Solid(P_MUSHROOM["mushroom/stem"], cylinder((0, sh, 0), sr, sh)),
        Solid(P_MUSHROOM["mushroom/cap"], cap),
    ]


P_DUMBBELL = _parts("dumbbell/bar", "dumbbell/weight")


def dumbbell(rng) -> list[Solid]:
    L, br = _u(rng, 0.5, 0.8), _u(rng, 0.05, 0.08)
    wr, wt = _u(rng, 0.2, 0.35), _u(rng, 0.08, 0.16)
    round_weights = rng.random() < 0.5
    weights = []
    for s in (-1, 1):
        c = (s * (L + wt), wr, 0)
        weights.append(sphere(c, wr) if round_weights else cylinder(c, wr, wt, axis="x"))
    return [
        Solid(P_DUMBBELL["dumbbell/bar"], cylinder((0, wr, 0), br, L + wt, axis="x")),
        Solid(P_DUMBBELL["dumbbell/weight"], union(*weights)),
    ]


P_CAR = _parts("car/body", "car/cabin", "car/wheel")


def car(rng) -> list[Solid]:
    L, W, H = _u(rng, 0.7, 1.0), _u(rng, 0.3, 0.45), _u(rng, 0.12, 0.2)
    wr, wt = _u(rng, 0.12, 0.18), _u(rng, 0.05, 0.08)
    y0 = wr
    cl, ch = _u(rng, 0.3, 0.55) * L, _u(rng, 0.1, 0.18)
    cz = _u(rng, -0.2, 0.1) * L
    wheels = [
        cylinder((sx * (W - wt * 0.5), wr, sz * (L - wr * 1.4)), wr, wt, axis="x")
        for sx in (-1, 1)
        for sz in (-1, 1)
    ]
    return [
        Solid(P_CAR["car/body"], box((0, y0 + H, 0), (W, H, L), rounding=0.03)),
        Solid(P_CAR["car/cabin"], box((0, y0 + 2 * H + ch, cz), (W * 0.85, ch, cl), rounding=0.03)),
        Solid(P_CAR["car/wheel"], union(*wheels)),
    ]


P_TREE = _parts("tree/trunk", "tree/crown")


def tree(rng) -> list[Solid]:
    tr, th = _u(rng, 0.07, 0.12), _u(rng, 0.2, 0.4)
    kind = rng.integers(3)
    top = 2 * th
    if kind == 0:
        cr = _u(rng, 0.35, 0.55)
        crown = sphere((0, top + cr * 0.85, 0), cr)
    elif kind == 1:
        ch = _u(rng, 0.45, 0.8)
        crown = cone((0, top + ch, 0), _u(rng, 0.35, 0.55), 0.02, ch)
    else:
        ch = _u(rng, 0.25, 0.4)
        rb = _u(rng, 0.35, 0.5)
        crown = union(cone((0, top + ch, 0), rb, 0.05, ch), cone((0, top + 2.2 * ch, 0), rb * 0.75, 0.02, ch))
    return [
        Solid(P_TREE["tree/trunk"], cylinder((0, th + 0.05, 0), tr, th + 0.05)),
        Solid(P_TREE["tree/crown"], crown),
    ]


P_SNOWMAN = _parts("snowman/body", "snowman/head", "snowman/hat")


def snowman(rng) -> list[Solid]:
    r1, r2 = _u(rng, 0.3, 0.45), _u(rng, 0.18, 0.28)
    y1 = r1
    y2 = 2 * r1 + r2 * 0.8
    hr, hh = _u(rng, 0.1, 0.16), _u(rng, 0.08, 0.15)
    brim = cylinder((0, y2 + r2 * 0.85, 0), hr + 0.06, 0.03)
    crown = cylinder((0, y2 + r2 * 0.85 + hh, 0), hr, hh)
    return [
        Solid(P_SNOWMAN["snowman/body"], sphere((0, y1, 0), r1)),
        Solid(P_SNOWMAN["snowman/head"], sphere((0, y2, 0), r2)),
        Solid(P_SNOWMAN["snowman/hat"], union(brim, crown)),
    ]


CLASSES: dict[str, Callable[[np.random.Generator], list[Solid]]] = {
    "table": table,
    "chair": chair,
    "lamp": lamp,
    "mug": mug,
    "airplane": airplane,
    "bottle": bottle,
    "rocket": rocket,
    "mushroom": mushroom,
    "dumbbell": dumbbell,
    "car": car,
    "tree": tree,
    "snowman": snowman,
}
"""Class name -> generator of its solids from a numpy Generator."""


@dataclass(frozen=True)
class LabelledMesh:
    """(V, 3) float64 vertices, (F, 3) int64 faces (closed, outward), (F,) int64 global part id per face."""

    vertices: np.ndarray
    faces: np.ndarray
    face_labels: np.ndarray


def solids_mesh(solids: list[Solid], resolution: int = 96, target_faces: int | None = 6000) -> LabelledMesh:
    """Marching cubes of the union of ``solids`` (grid of ``resolution`` points over its padded bounding
    box), optionally simplified to about ``target_faces`` (open3d quadric decimation, kept only when the
    result is still closed); faces are labelled by the solid nearest to their centroid."""
    from skimage.measure import marching_cubes

    from fields3d.triplane.shapes import mesh_is_closed

    f = union(*(s.sdf for s in solids))
    coarse = np.stack(np.meshgrid(*[np.linspace(-3, 3, 61)] * 3, indexing="ij"), -1).reshape(-1, 3)
    inside = coarse[f(coarse) < 0.1]
    if len(inside) == 0 or np.abs(inside).max() > 2.8:
        raise ValueError("expected a non-empty union of solids inside [-2.8, 2.8]^3")
    lo, hi = inside.min(0) - 0.15, inside.max(0) + 0.15
    step = float((hi - lo).max()) / (resolution - 1)
    axes = [np.arange(lo[i], hi[i] + step, step) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    values = f(grid.reshape(-1, 3)).reshape(grid.shape[:3])
    verts, faces, _, _ = marching_cubes(values, level=0.0, spacing=(step, step, step))
    verts = verts + lo
    faces = faces.astype(np.int64)
    tri = verts[faces]
    if np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() < 0:  # 6 x signed volume
        faces = faces[:, ::-1].copy()  # wind outwards
    if target_faces is not None and len(faces) > target_faces:
        import open3d as o3d

        m = o3d.geometry.TriangleMesh(
            o3d.utility.Vector3dVector(verts), o3d.utility.Vector3iVector(faces.astype(np.int32))
        )
        m = m.simplify_quadric_decimation(target_faces)
        m.remove_unreferenced_vertices()
        v2, f2 = np.asarray(m.vertices), np.asarray(m.triangles).astype(np.int64)
        if len(f2) and mesh_is_closed(v2, f2):
            verts, faces = v2, f2
    centroids = verts[faces].mean(1)
    per_solid = np.stack([s.sdf(centroids) for s in solids])
    labels = np.array([s.part for s in solids], dtype=np.int64)[np.argmin(per_solid, axis=0)]
    return LabelledMesh(np.asarray(verts, np.float64), faces, labels)


def generate_shape(
    class_name: str, seed: int, resolution: int = 96, target_faces: int | None = 6000
) -> LabelledMesh:
    """One seeded random shape of ``class_name`` (see :data:`CLASSES`)."""
    if class_name not in CLASSES:
        raise ValueError(f"expected a class in {sorted(CLASSES)}, got {class_name!r}")
    return solids_mesh(CLASSES[class_name](np.random.default_rng(seed)), resolution, target_faces)


def write_shape_set(
    out: str | os.PathLike,
    per_class: int,
    seed: int = 0,
    classes: list[str] | None = None,
    test_fraction: float = 0.2,
    resolution: int = 96,
    target_faces: int | None = 6000,
    progress: bool = True,
) -> Path:
    """Write ``per_class`` shapes of each class to ``out``: ``meshes/<class>_<k>.ply``,
    ``seg/<class>_<k>.seg`` (one global part id per face), ``parts.csv`` (id,name) and ``labels.csv``
    (file,class,seg,split,group; a regular ``test_fraction`` of each class, e.g. every 5th, is ``test``).
    Shapes are made and listed class-interleaved (k-major), so any prefix of the list is balanced over
    the classes.
    Existing shape files are kept (re-running resumes). Returns the labels CSV path."""
    from fields3d.io.atomic import atomic_path, write_text
    from fields3d.io.mesh import write_mesh

    out = Path(out)
    classes = list(CLASSES) if classes is None else classes
    rows = []
    jobs = [(c, k) for k in range(per_class) for c in classes]  # interleaved: any prefix is class-balanced
    it = jobs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(jobs, desc="procedural shapes", unit="shape")
    for c, k in it:
        name = f"{c}_{k:04d}"
        mesh_path, seg_path = out / "meshes" / f"{name}.ply", out / "seg" / f"{name}.seg"
        if not (mesh_path.is_file() and seg_path.is_file()):
            shape_seed = seed * 100_003 + sorted(CLASSES).index(c) * 10_007 + k
            m = generate_shape(c, shape_seed, resolution, target_faces)
            write_mesh(mesh_path, m.vertices, m.faces)
            seg_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(seg_path) as tmp:
                np.savetxt(tmp, m.face_labels, fmt="%d")
        split = (
            "test" if int((k + 1) * test_fraction) > int(k * test_fraction) else "train"
        )  # every 5th at 0.2
        rows.append((f"meshes/{name}.ply", c, f"seg/{name}.seg", split, name))
    write_text(out / "parts.csv", "id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(PART_NAMES)))
    labels = out / "labels.csv"
    with atomic_path(labels) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "class", "seg", "split", "group"])
        w.writerows(rows)
    return labels
