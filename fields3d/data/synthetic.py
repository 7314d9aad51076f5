"""Synthetic captures: render a mesh to a posed image folder on the CPU (open3d ray casting).

A capture written by :func:`render_capture` is a folder::

    DIR/transforms.json          cameras (nerfstudio-style, OpenGL camera axes) + a "fields3d" block
    DIR/images/000.png ...       RGB, 8-bit, object on a black or white background
    DIR/masks/000.png ...        foreground mask, 8-bit (255 = object)
    DIR/depth/000.png ...        z-depth along the camera axis, 16-bit PNG in millimetres of the
                                 normalised frame (``depth_scale`` = 1000 units per world unit; 0 = no hit)
    DIR/normals/000.png ...      world-space unit normals n mapped to (n + 1) / 2, 8-bit RGB; the normal
                                 is the triangle's geometric normal turned towards the camera; 0 = no hit
    DIR/mesh_gt.ply              the mesh in the capture's world frame (the normalised frame)
    DIR/previews/contact_sheet.png   a few views: rgb | mask | normals | depth

World frame = normalised frame: the mesh is moved and scaled so that its bounding sphere (centre of the
bounding box, radius of the farthest vertex) is centred at the origin with radius
``SynthConfig.object_radius`` (0.9, inside the unit sphere).  The ``fields3d`` block of transforms.json
therefore holds the identity as ``normalization`` and, as ``mesh_normalization``, the similarity that maps
the source mesh's coordinates into the world frame: distances measured in the capture are divided by its
``scale`` to get the mesh's original units.

Appearance: a seeded solid texture (:mod:`fields3d.data.procedural_texture`) shaded with Lambert from
two fixed world-space lights plus ambient (view-independent, so SfM features match across views).
``material="glossy"`` adds a view-dependent mirror reflection of a seeded environment map with a
Schlick Fresnel weight.  One-sided and open surfaces render from both sides: shading uses the
geometric normal flipped towards the camera.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from fields3d.cameras import Cameras
from fields3d.errors import InputError
from fields3d.geometry.similarity import Similarity

_UP_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
DEPTH_SCALE = 1000.0
"""Depth PNG units per world unit (millimetres when the world unit is a metre)."""


@dataclass
class SynthConfig:
    """How a synthetic capture is rendered."""

    views: int = 48
    """Number of camera views."""
    resolution: int = 128
    """Image width and height in pixels."""
    material: Literal["diffuse", "glossy"] = "diffuse"
    """diffuse: textured Lambert; glossy: adds a view-dependent reflection of an environment map."""
    seed: int = 0
    """Seed of the camera jitter, the texture and the environment map."""
    background: Literal["black", "white"] = "black"
    """Colour of pixels that see no surface (the masks mark the object)."""
    fov_deg: float = 40.0
    """Horizontal (= vertical) field of view in degrees."""
    object_radius: float = 0.9
    """Radius of the normalised mesh's bounding sphere in the world frame."""
    elevation_deg: tuple[float, float] = (-30.0, 75.0)
    """Range of camera elevations above the plane perpendicular to ``up`` (negative = from below)."""
    up: Literal["x", "y", "z"] = "y"
    """World axis that points up in the images (the meshes' own up axis, usually y for OBJ)."""
    specular: float = 0.25
    """Reflectance at normal incidence of the glossy material (Schlick's F0)."""
    fit_distance: bool = True
    """Fit each camera's distance so the mesh fills ``fill`` of the image; False: one distance for all,
    where the bounding sphere just fills the view."""
    fill: float = 0.9
    """Fraction of the half-image (from the centre) that the mesh may fill; sets each camera's distance."""
    min_distance: float = 1.5
    """Cameras stay at least this far from the origin (outside the unit sphere)."""
    supersample: int = 2
    """Colour samples per pixel along each axis (1 = one sample at the pixel centre, aliased)."""
    camera_path: Literal["orbit", "walkthrough"] = "orbit"
    """orbit: cameras around the object, looking at it; walkthrough: cameras inside the mesh (a room)
    walking along an arc of radius ``walk_radius`` around the origin and panning outwards, level with
    the horizon (see :func:`walkthrough_cameras`)."""
    walk_radius: float = 0.15
    """Radius of the walkthrough arc (world units; the normalised mesh fits in ``object_radius``)."""
    walk_sweep_deg: float = 120.0
    """Angle the walkthrough covers along its arc (the view turns 1.5 times as far)."""

    def validate(self) -> None:
        checks = [
            (self.views >= 1, f"expected views >= 1, got {self.views}"),
            (8 <= self.resolution <= 8192, f"expected a resolution in [8, 8192], got {self.resolution}"),
            (
                self.material in ("diffuse", "glossy"),
                f"expected material diffuse or glossy, got {self.material!r}",
            ),
            (
                self.background in ("black", "white"),
                f"expected background black or white, got {self.background!r}",
            ),
            (1.0 <= self.fov_deg <= 150.0, f"expected fov_deg in [1, 150], got {self.fov_deg}"),
            (0.0 < self.object_radius <= 1.0, f"expected object_radius in (0, 1], got {self.object_radius}"),
            (
                -90.0 <= self.elevation_deg[0] <= self.elevation_deg[1] <= 90.0,
                f"expected -90 <= elevation min <= max <= 90, got {self.elevation_deg}",
            ),
            (self.up in _UP_AXES, f"expected up in x, y, z, got {self.up!r}"),
            (0.0 <= self.specular <= 1.0, f"expected specular in [0, 1], got {self.specular}"),
            (0.1 <= self.fill <= 1.0, f"expected fill in [0.1, 1], got {self.fill}"),
            (
                self.min_distance > self.object_radius,
                f"expected min_distance > object_radius, got {self.min_distance}",
            ),
            (1 <= self.supersample <= 8, f"expected supersample in [1, 8], got {self.supersample}"),
            (
                self.camera_path in ("orbit", "walkthrough"),
                f"expected camera_path orbit or walkthrough, got {self.camera_path!r}",
            ),
            (
                0.0 <= self.walk_radius < self.object_radius,
                f"expected walk_radius in [0, object_radius), got {self.walk_radius}",
            ),
            (
                0.0 <= self.walk_sweep_deg <= 360.0,
                f"expected walk_sweep_deg in [0, 360], got {self.walk_sweep_deg}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)

    @property
    def camera_distance(self) -> float:
        """Distance at which the bounding sphere just fills the field of view."""
        return self.object_radius / math.sin(math.radians(self.fov_deg) / 2.0)


@dataclass
class SynthCapture:
    """What :func:`render_capture` wrote."""

    out: Path
    transforms: Path
    mesh: Path
    contact_sheet: Path
    cameras: Cameras
    """Ground-truth cameras in the world (= normalised) frame."""
    mesh_normalization: Similarity
    """Maps the source mesh's coordinates into the world frame."""
    image_paths: list[Path] = field(default_factory=list)
    mask_paths: list[Path] = field(default_factory=list)
    depth_paths: list[Path] = field(default_factory=list)
    normal_paths: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# geometry
def normalize_mesh(
    vertices: np.ndarray, faces: np.ndarray, radius: float = 1.0
) -> tuple[np.ndarray, Similarity]:
    """Similarity putting the mesh's bounding sphere at the origin with the given radius.

    The centre is the centre of the bounding box of the vertices that faces use; the radius is the
    distance to the farthest such vertex.

    Args:
        vertices: (V, 3) float vertex positions.
        faces: (F, 3) int vertex indices, F >= 1.
    Returns:
        (V, 3) float64 normalised vertices and the :class:`Similarity` mapping original -> normalised.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise ValueError(f"expected vertices (V, 3) and faces (F >= 1, 3), got {v.shape} and {f.shape}")
    used = v[np.unique(f)]
    center = 0.5 * (used.min(0) + used.max(0))
    extent = float(np.linalg.norm(used - center, axis=1).max())
    if not extent > 1e-12:
        raise InputError(
            f"expected a mesh with a nonzero extent, got all face vertices at one point {center.tolist()}"
        )
    sim = Similarity.normalizing(center, extent / radius)
    return sim.apply_points(v), sim


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(4, 4) float64 camera-to-world pose in OpenCV axes (x right, y down, z forward) looking at ``target``.

    Image "up" (-y) follows ``up`` projected onto the image plane; when the view direction is parallel
    to ``up`` another axis is used.
    """
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    norm = np.linalg.norm(z)
    if not norm > 0:
        raise ValueError(f"expected eye != target, got both at {eye.tolist()}")
    z /= norm
    up = np.asarray(up, dtype=np.float64)
    x = np.cross(-up, z)
    if np.linalg.norm(x) < 1e-6 * np.linalg.norm(up):
        alt = np.roll(up, 1)
        x = np.cross(-alt, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def sphere_directions(
    n: int, elevation_deg: tuple[float, float] = (-30.0, 75.0), up: str = "y", seed: int = 0
) -> np.ndarray:
    """(n, 3) float64 unit directions from the origin towards the cameras.

    A Fibonacci spiral over the spherical zone between the two elevations (uniform in area), each
    point jittered within its spiral step by a seeded random offset.
    """
    if n < 1:
        raise ValueError(f"expected n >= 1 views, got {n}")
    rng = np.random.default_rng([int(seed), 0xCA3])
    up_vec = np.asarray(_UP_AXES[up])
    a = np.roll(up_vec, 1)  # a horizontal axis
    b = np.cross(up_vec, a)
    lo, hi = np.sin(np.radians(elevation_deg[0])), np.sin(np.radians(elevation_deg[1]))
    step = (hi - lo) / n
    heights = np.clip(lo + step * (np.arange(n) + 0.5 + rng.uniform(-0.4, 0.4, n)), -1.0, 1.0)
    golden = math.pi * (3.0 - math.sqrt(5.0))
    azimuth = golden * np.arange(n) + rng.uniform(0, 2 * math.pi) + rng.uniform(-0.15, 0.15, n)
    ring = np.sqrt(np.clip(1.0 - heights**2, 0.0, 1.0))
    return heights[:, None] * up_vec + ring[:, None] * (
        np.cos(azimuth)[:, None] * a + np.sin(azimuth)[:, None] * b
    )


def fit_distance(vertices: np.ndarray, rotation: np.ndarray, fov: float, fill: float) -> float:
    """Distance from the origin (along the camera's back axis) at which vertices fill ``fill`` of the view.

    For a camera with rotation ``rotation`` (3, 3) (OpenCV axes, columns x, y, z) placed at ``-D z`` and
    looking at the origin, a vertex p appears at tan-angle ``(p·x, p·y) / (D + p·z)``; the smallest D
    keeping every |tan-angle| <= ``fill * tan(fov / 2)`` is returned.

    Args:
        vertices: (V, 3) float world positions.
        fov: full field of view in radians (square image).
    """
    local = np.asarray(vertices, dtype=np.float64) @ np.asarray(
        rotation, dtype=np.float64
    )  # (V, 3) = (p·x, p·y, p·z)
    tan_max = fill * math.tan(0.5 * fov)
    return float((np.abs(local[:, :2]).max(1) / tan_max - local[:, 2]).max())


def synth_cameras(config: SynthConfig, vertices: np.ndarray | None = None) -> Cameras:
    """The capture's ground-truth cameras (world = normalised frame), looking at the origin.

    With ``vertices`` (the normalised mesh), each camera's distance is fitted so that the mesh fills
    ``config.fill`` of its image (never nearer than ``config.min_distance``); without, every camera sits
    where the bounding sphere of radius ``object_radius`` just fills the view.
    """
    if config.camera_path == "walkthrough":
        return walkthrough_cameras(config)
    fov = math.radians(config.fov_deg)
    up = np.asarray(_UP_AXES[config.up])
    poses = []
    for d in sphere_directions(config.views, config.elevation_deg, config.up, config.seed):
        pose = look_at(d, np.zeros(3), up)
        if vertices is None:
            dist = config.camera_distance
        else:
            dist = max(fit_distance(vertices, pose[:3, :3], fov, config.fill), config.min_distance)
        pose[:3, 3] = dist * d
        poses.append(pose)
    r = config.resolution
    return Cameras.from_fov(fov, r, r, np.stack(poses))


def walkthrough_cameras(config: SynthConfig) -> Cameras:
    """``config.views`` cameras walking inside the mesh: centres on an arc of radius ``walk_radius``
    around the origin in the plane perpendicular to ``up`` (bobbing by 10 % of the radius along ``up``),
    covering ``walk_sweep_deg``; each looks outwards and level, its heading turning 1.5 times as fast
    as the walk (so consecutive views overlap and see the walls from changing positions)."""
    fov = math.radians(config.fov_deg)
    up = np.asarray(_UP_AXES[config.up])
    a = np.roll(up, 1)
    b = np.cross(up, a)
    poses = []
    n = config.views
    for k in range(n):
        t = math.radians(-0.5 * config.walk_sweep_deg + config.walk_sweep_deg * k / max(n - 1, 1))
        eye = (
            config.walk_radius * (math.sin(t) * a - math.cos(t) * b)
            + 0.1 * config.walk_radius * math.sin(2 * t) * up
        )
        heading = math.sin(1.5 * t) * a + math.cos(1.5 * t) * b
        poses.append(look_at(eye, eye + heading, up))
    r = config.resolution
    return Cameras.from_fov(fov, r, r, np.stack(poses))


# --------------------------------------------------------------------------------------------------
# rendering
class SurfaceRenderer:
    """Ray-casts one triangle mesh (open3d) and shades it with the synthetic material.

    Args:
        vertices: (V, 3) float positions in the world frame.
        faces: (F, 3) int vertex indices.
        config: material, background, seed and up axis are used.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, config: SynthConfig):
        import open3d as o3d

        from fields3d.data.procedural_texture import EnvironmentMap, SolidTexture

        self._o3d = o3d
        self.config = config
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(faces, dtype=np.uint32)),
        )
        up = np.asarray(_UP_AXES[config.up])
        side = np.roll(up, 1)
        key = 0.8 * up + 0.5 * side + 0.3 * np.cross(up, side)
        fill = -0.3 * up - 0.7 * side + 0.4 * np.cross(up, side)
        self.lights = np.stack([key / np.linalg.norm(key), fill / np.linalg.norm(fill)])
        self.light_strength = np.array([0.5, 0.25])
        self.ambient = 0.6
        self.texture = SolidTexture(config.seed)
        self.environment = EnvironmentMap(config.seed, up=up)

    def _cast(self, origin: np.ndarray, d_world: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cast ``origin + t * d_world``: hit (R,) bool, z-depth t (R,), camera-facing unit normals (R, 3)."""
        rays = np.empty((d_world.shape[0], 6), dtype=np.float32)
        rays[:, :3] = origin
        rays[:, 3:] = d_world
        hits = self.scene.cast_rays(self._o3d.core.Tensor(rays))
        t = hits["t_hit"].numpy()
        hit = np.isfinite(t)
        n = hits["primitive_normals"].numpy()
        n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        n[(n * d_world).sum(1) > 0] *= -1.0  # face the camera: one-sided surfaces render from both sides
        return (
            hit,
            np.where(hit, t, 0.0).astype(np.float32),
            np.where(hit[:, None], n, 0.0).astype(np.float32),
        )

    def _shade(
        self, points: np.ndarray, view: np.ndarray, n: np.ndarray, footprint: np.ndarray
    ) -> np.ndarray:
        """Colour (R, 3) of surface points seen along unit ``view`` directions; ``n`` faces the camera."""
        cos_v = np.clip(-(n * view).sum(1), 0.0, 1.0)
        albedo = self.texture(points, footprint / np.maximum(cos_v, 0.25))
        light = self.ambient + (np.clip(n @ self.lights.T, 0.0, None) * self.light_strength).sum(1)
        color = albedo * light[:, None].astype(np.float32)
        if self.config.material == "glossy":
            reflected = view + 2.0 * cos_v[:, None] * n
            f0 = self.config.specular
            fresnel = (f0 + (1.0 - f0) * (1.0 - cos_v) ** 5)[:, None]
            color = (1.0 - fresnel) * color + fresnel * self.environment(reflected)
        return np.clip(color, 0.0, 1.0).astype(np.float32)

    def render(self, cameras: Cameras, i: int) -> dict[str, np.ndarray]:
        """Render camera ``i``.

        Mask, depth and normal are those of the surface seen through each exact pixel centre; colour
        is the mean of ``config.supersample``² samples on a regular grid in the pixel (anti-aliased).

        Returns:
            dict with ``rgb`` (H, W, 3) float32 in [0, 1], ``mask`` (H, W) bool, ``depth`` (H, W) float32
            z-depth in world units (0 where no hit), ``normal`` (H, W, 3) float32 unit world normals facing
            the camera (0 where no hit).
        """
        h, w = cameras.image_size(i)
        K = cameras.K[i].double().numpy()
        c2w = cameras.c2w[i].double().numpy()
        origin = c2w[:3, 3]

        def directions(offsets: np.ndarray) -> np.ndarray:
            # rows of the (h, s, w, s) sample grid in row-major order; not unit: t is the z-depth
            s = len(offsets)
            v = ((np.arange(h)[:, None] + offsets[None, :]).reshape(-1) - K[1, 2]) / K[1, 1]
            u = ((np.arange(w)[:, None] + offsets[None, :]).reshape(-1) - K[0, 2]) / K[0, 0]
            d = np.stack(np.broadcast_arrays(u[None, :], v[:, None], 1.0), -1).reshape(h * s * w * s, 3)
            return (d @ c2w[:3, :3].T).astype(np.float32)

        d_centre = directions(np.array([0.5]))
        hit, depth, normal = self._cast(origin, d_centre)
        s = self.config.supersample
        if s == 1:
            d_samples, hit_s, t_s, n_s = d_centre, hit, depth, normal
        else:
            d_samples = directions((np.arange(s) + 0.5) / s)
            hit_s, t_s, n_s = self._cast(origin, d_samples)
        colour = np.full((len(t_s), 3), 1.0 if self.config.background == "white" else 0.0, dtype=np.float32)
        if hit_s.any():
            z = t_s[hit_s]
            dirs = d_samples[hit_s]
            points = origin.astype(np.float32) + z[:, None] * dirs
            view = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
            colour[hit_s] = self._shade(points, view, n_s[hit_s], z / np.float32(K[0, 0]))
        return {
            "rgb": colour.reshape(h, s, w, s, 3).mean(axis=(1, 3)),
            "mask": hit.reshape(h, w),
            "depth": depth.reshape(h, w),
            "normal": normal.reshape(h, w, 3),
        }


def depth_to_png16(depth: np.ndarray, scale: float = DEPTH_SCALE) -> np.ndarray:
    """(H, W) float depth in world units -> uint16 in ``1 / scale`` units (rounded; 0 stays 0)."""
    q = np.round(np.asarray(depth, dtype=np.float64) * scale)
    if q.max(initial=0.0) > 65535:
        raise InputError(
            f"expected depths below {65535 / scale:.4g} world units for a 16-bit PNG, "
            f"got {q.max() / scale:.4g}"
        )
    return q.astype(np.uint16)


def normals_to_rgb(normal: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit normals -> (H, W, 3) float in [0, 1] as (n + 1) / 2; zero normals (no hit) -> 0."""
    n = np.asarray(normal, dtype=np.float32)
    valid = np.abs(n).sum(-1, keepdims=True) > 0
    return np.where(valid, 0.5 * (n + 1.0), 0.0).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# writing
def render_capture(
    mesh_path: str | Path, out: str | Path, config: SynthConfig | None = None, progress: bool = True
) -> SynthCapture:
    """Render ``mesh_path`` into a synthetic capture folder ``out`` (layout in the module docstring).

    Raises:
        InputError: the mesh is missing, does not parse, has no faces or no extent; a bad config value.
    """
    from tqdm import tqdm

    from fields3d.data.transforms_json import write_transforms_json
    from fields3d.io.images import write_image
    from fields3d.io.mesh import read_mesh, write_mesh

    config = config or SynthConfig()
    config.validate()
    mesh_path = Path(mesh_path)
    out = Path(out)
    mesh = read_mesh(mesh_path)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    try:
        vertices, mesh_sim = normalize_mesh(np.asarray(mesh.vertices), faces, config.object_radius)
    except InputError as e:
        raise InputError(e.message, mesh_path) from None

    cameras = synth_cameras(config, vertices[np.unique(faces)] if config.fit_distance else None)
    renderer = SurfaceRenderer(vertices, faces, config)
    capture = SynthCapture(
        out=out,
        transforms=out / "transforms.json",
        mesh=out / "mesh_gt.ply",
        contact_sheet=out / "previews" / "contact_sheet.png",
        cameras=cameras,
        mesh_normalization=mesh_sim,
    )
    normal_entries = []
    previews = []
    n_preview = min(4, config.views)
    preview_ids = set(np.linspace(0, config.views - 1, n_preview).round().astype(int).tolist())
    for i in tqdm(range(config.views), desc="rendering views", unit="view", disable=not progress):
        views = renderer.render(cameras, i)
        name = f"{i:03d}.png"
        paths = {k: out / k / name for k in _VIEW_FOLDERS}
        write_image(paths["images"], views["rgb"])
        write_image(paths["masks"], views["mask"].astype(np.uint8) * 255)
        write_image(paths["depth"], depth_to_png16(views["depth"]))
        normal_rgb = normals_to_rgb(views["normal"])
        write_image(paths["normals"], normal_rgb)
        capture.image_paths.append(paths["images"])
        capture.mask_paths.append(paths["masks"])
        capture.depth_paths.append(paths["depth"])
        capture.normal_paths.append(paths["normals"])
        normal_entries.append({"normal_path": f"normals/{name}"})
        if i in preview_ids:
            previews.append((i, views["rgb"], views["mask"], normal_rgb, views["depth"]))

    _remove_stale_views(out, config.views)
    write_mesh(capture.mesh, vertices, faces)
    block = {
        "depth_type": "z",
        "background": [1.0, 1.0, 1.0] if config.background == "white" else [0.0, 0.0, 0.0],
        "mesh_gt": "mesh_gt.ply",
        "mesh_normalization": mesh_sim.to_dict(),
        "source_mesh": str(mesh_path.resolve()),
        "generator": "fields3d synth",
        "synth_config": asdict(config),
    }
    write_transforms_json(
        capture.transforms,
        cameras,
        capture.image_paths,
        mask_paths=capture.mask_paths,
        depth_paths=capture.depth_paths,
        depth_scale=DEPTH_SCALE,
        normalization=Similarity.identity(),
        extra={"fields3d": block},
        frame_extra=normal_entries,
    )
    _write_contact_sheet(capture.contact_sheet, previews)
    return capture


_VIEW_FOLDERS = ("images", "masks", "depth", "normals")


def _remove_stale_views(out: Path, views: int) -> None:
    """Delete view files of an earlier, larger capture in ``out`` (names ``NNN.png`` with index >= views)."""
    for folder in _VIEW_FOLDERS:
        for p in (out / folder).glob("*.png"):
            if p.stem.isdigit() and int(p.stem) >= views:
                p.unlink()


def _write_contact_sheet(path: Path, previews: list) -> None:
    from fields3d.io.images import write_image
    from fields3d.io.report import colorize_depth, image_grid

    tiles, labels = [], []
    for i, rgb, mask, normal_rgb, depth in previews:
        tiles += [rgb, mask.astype(np.float32), normal_rgb, colorize_depth(depth)]
        labels += [f"view {i} rgb", "mask", "normals", "depth"]
    write_image(path, image_grid(tiles, columns=4, labels=labels))
