"""Mesh or point cloud -> what a tri-plane field is fitted to: query points and their target values.

Fields (all in normalised units, the shape inside [-1, 1]^3):

- ``sdf``: signed distance, negative inside (closed meshes; open3d ``RaycastingScene`` with the sign
  from ray parity voted over 3 rays);
- ``udf``: unsigned distance (open meshes, and point clouds through nearest neighbours);
- ``occupancy``: 1 inside, 0 outside (closed meshes).

Query points are near the surface (surface samples from :func:`fields3d.geometry.sample_surface` plus
Gaussian noise of a few scales) and uniform in the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fields3d.errors import InputError
from fields3d.triplane.shapes import Shape

FIELDS = ("sdf", "udf", "occupancy")


@dataclass
class SupervisionConfig:
    """How many query points and where."""

    samples: int = 32768
    """Query points per shape (a pool the fitting draws from at every step)."""
    near_fraction: float = 0.75
    """Share of the pool near the surface; the rest is uniform in [-1, 1]^3."""
    near_sigmas: tuple[float, ...] = (0.01, 0.04)
    """Standard deviations (normalised units) of the noise added to surface samples, equally shared."""


@dataclass(frozen=True)
class FieldSamples:
    """(M, 3) float32 normalised query points and their (M,) float32 target values."""

    points: np.ndarray
    values: np.ndarray


DISTANCE_BACKENDS = ("auto", "open3d", "torch")


def _resolve_distance_backend(backend: str) -> str:
    if backend != "auto":
        return backend
    try:
        import open3d  # noqa: F401
    except ImportError:
        return "torch"
    return "open3d"


class ShapeDistance:
    """Distances from points to one normalised shape: meshes through open3d ray casting (``open3d``) or its
    pure-PyTorch twin (``torch``, :mod:`fields3d.triplane.mesh_distance_torch`, brute force: meant for
    GPUs; sign from the winding number instead of ray parity); point clouds through a k-d tree.
    ``auto`` takes open3d when it is importable."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, backend: str = "auto", device: str = "cpu"):
        if backend not in DISTANCE_BACKENDS:
            raise ValueError(f"expected backend in {DISTANCE_BACKENDS}, got {backend!r}")
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        self.backend = _resolve_distance_backend(backend)
        self.device = device
        self._scene = None
        self._tree = None

    @property
    def has_faces(self) -> bool:
        return len(self.faces) > 0

    def _raycasting(self):
        if self._scene is None:
            import open3d as o3d

            scene = o3d.t.geometry.RaycastingScene()
            mesh = o3d.t.geometry.TriangleMesh()
            mesh.vertex.positions = o3d.core.Tensor(self.vertices.astype(np.float32))
            mesh.triangle.indices = o3d.core.Tensor(self.faces.astype(np.int32))
            scene.add_triangles(mesh)
            self._scene = scene
        return self._scene

    def _query(self, points: np.ndarray):
        import open3d as o3d

        return o3d.core.Tensor(np.ascontiguousarray(points, dtype=np.float32))

    def _torch(self, name: str, points: np.ndarray) -> np.ndarray:
        import torch

        from fields3d.triplane import mesh_distance_torch as twin

        fn = {
            "unsigned": twin.unsigned_distance,
            "signed": twin.signed_distance,
            "winding": twin.winding_number,
        }[name]
        dtype = torch.float64 if self.device == "cpu" else torch.float32
        p = torch.as_tensor(np.asarray(points), dtype=dtype, device=self.device)
        v = torch.as_tensor(self.vertices, dtype=dtype, device=self.device)
        f = torch.as_tensor(self.faces, device=self.device)
        chunk = 64 if self.device == "cpu" else 4096
        return fn(p, v, f, chunk).float().cpu().numpy()

    def unsigned(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) -> (M,) float32 distance to the surface (or to the nearest point of a point cloud)."""
        if not self.has_faces:
            if self._tree is None:
                from scipy.spatial import cKDTree

                self._tree = cKDTree(self.vertices)
            return self._tree.query(points, k=1)[0].astype(np.float32)
        if self.backend == "torch":
            return self._torch("unsigned", points)
        return self._raycasting().compute_distance(self._query(points)).numpy().astype(np.float32)

    def signed(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) -> (M,) float32 signed distance, negative inside (closed meshes only)."""
        if not self.has_faces:
            raise ValueError("expected a mesh with faces for a signed distance, got a point cloud")
        if self.backend == "torch":
            return self._torch("signed", points)
        return (
            self._raycasting()
            .compute_signed_distance(self._query(points), nsamples=3)
            .numpy()
            .astype(np.float32)
        )

    def occupancy(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) -> (M,) float32 1 inside, 0 outside (closed meshes only)."""
        if not self.has_faces:
            raise ValueError("expected a mesh with faces for occupancy, got a point cloud")
        if self.backend == "torch":
            return (self._torch("winding", points) > 0.5).astype(np.float32)
        return (
            self._raycasting().compute_occupancy(self._query(points), nsamples=3).numpy().astype(np.float32)
        )

    def field(self, name: str, points: np.ndarray) -> np.ndarray:
        if name == "sdf":
            return self.signed(points)
        if name == "udf":
            return self.unsigned(points)
        if name == "occupancy":
            return self.occupancy(points)
        raise ValueError(f"expected field in {FIELDS}, got {name!r}")


def check_field_for_shape(field: str, shape: Shape) -> None:
    """Raise :class:`InputError` when ``field`` cannot be computed for ``shape`` (e.g. SDF of an open
    mesh)."""
    if field not in FIELDS:
        raise ValueError(f"expected field in {FIELDS}, got {field!r}")
    if field in ("sdf", "occupancy") and shape.kind != "closed-mesh":
        raise InputError(
            f"expected a closed mesh for field '{field}', "
            f"got {'a point cloud' if shape.kind == 'points' else 'an open mesh'}"
            " (use --field udf)",
            shape.path,
        )


def near_surface_points(vertices: np.ndarray, faces: np.ndarray, count: int, sigmas, rng) -> np.ndarray:
    """(count, 3) surface samples (or point-cloud points) plus Gaussian noise, sigmas shared equally."""
    from fields3d.geometry.mesh_sampling import sample_surface

    if len(faces):
        base = sample_surface((vertices, faces), count, seed=rng).points
    else:
        base = vertices[rng.integers(0, len(vertices), count)]
    sig = np.asarray(sigmas, dtype=np.float64)[np.arange(count) % len(sigmas)]
    return base + rng.normal(size=(count, 3)) * sig[:, None]


def field_supervision(
    distance: ShapeDistance, field: str, config: SupervisionConfig, rng: np.random.Generator
) -> FieldSamples:
    """Query points (near-surface then uniform, clipped to the box) and their ``field`` values."""
    if config.samples < 1 or not 0 <= config.near_fraction <= 1 or not config.near_sigmas:
        raise ValueError(f"expected samples >= 1, near_fraction in [0, 1] and sigmas, got {config}")
    n_near = int(round(config.samples * config.near_fraction))
    near = (
        near_surface_points(distance.vertices, distance.faces, n_near, config.near_sigmas, rng)
        if n_near
        else np.zeros((0, 3))
    )
    uniform = rng.uniform(-1.0, 1.0, size=(config.samples - n_near, 3))
    points = np.clip(np.concatenate([near, uniform]), -1.0, 1.0).astype(np.float32)
    return FieldSamples(points, distance.field(field, points))
