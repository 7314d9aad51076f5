import numpy as np
import pytest
import torch

from fields3d.extract import extract_mesh

BOX = [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]
CONFIGS = [
    dict(),  # torch, sparse marching cubes
    dict(sparse=False),
    dict(method="tetrahedra"),
    dict(backend="skimage"),
]


def _shapes(fields):
    return {
        "sphere": (
            lambda x: fields.sphere(x, [0.07, -0.03, 0.05], 0.61),
            fields.sphere_points(3000, [0.07, -0.03, 0.05], 0.61),
        ),
        "torus": (fields.torus, fields.torus_points(3000)),
        "box": (
            lambda x: fields.box(x, [0.02, 0.01, -0.03], [0.55, 0.4, 0.3]),
            fields.box_points(3000, [0.02, 0.01, -0.03], [0.55, 0.4, 0.3]),
        ),
    }


@pytest.mark.parametrize("shape", ["sphere", "torus", "box"])
@pytest.mark.parametrize("config", CONFIGS, ids=["sparse", "dense", "tetrahedra", "skimage"])
def test_closed_surfaces_are_watertight_and_within_half_a_voxel(shape, config, fields):
    sdf, surface_points = _shapes(fields)[shape]
    n = 41
    voxel = 2.0 / (n - 1)
    mesh = extract_mesh(sdf, BOX, n, dtype=torch.float64, **config)
    ok, why = fields.closed_and_oriented(mesh.faces)
    if config.get("backend") == "skimage":  # Lewiner's MC may emit degenerate faces; check trimesh's view
        ok, why = mesh.to_trimesh().is_watertight, "scikit-image mesh not watertight"
    assert ok, why
    to_surface, to_mesh = fields.mesh_to_surface_distances(mesh.vertices, mesh.faces, sdf, surface_points)
    chamfer = to_surface.mean() + to_mesh.mean()
    assert chamfer < 0.5 * voxel, chamfer / voxel
    assert to_surface.max() < 0.5 * voxel and to_mesh.max() < voxel
    assert mesh.to_trimesh().volume > 0  # outward winding encloses a positive volume


def test_outward_normals_on_a_sphere(fields):
    c = torch.tensor([0.1, -0.2, 0.05])
    mesh = extract_mesh(lambda x: fields.sphere(x, c, 0.5), BOX, 33)
    radial = torch.nn.functional.normalize(mesh.vertices - c, dim=1)
    dots = (mesh.normals * radial).sum(1)
    assert dots.mean() > 0.99 and dots.min() > 0.9
    assert torch.allclose(mesh.normals.norm(dim=1), torch.ones(mesh.num_vertices), atol=1e-5)


def test_nonzero_level_gives_the_offset_surface(fields):
    mesh = extract_mesh(lambda x: fields.sphere(x, [0, 0, 0], 0.4), BOX, 41, level=0.2, dtype=torch.float64)
    r = mesh.vertices.norm(dim=1)
    assert (r - 0.6).abs().max() < 0.01
    assert mesh.to_trimesh().volume > 0


@pytest.mark.parametrize("config", CONFIGS, ids=["sparse", "dense", "tetrahedra", "skimage"])
def test_occupancy_fields_positive_inside(config, fields):
    sdf = lambda x: fields.sphere(x, [0, 0, 0], 0.5)  # noqa: E731
    occupancy = lambda x: torch.sigmoid(-20 * sdf(x))  # noqa: E731
    mesh = extract_mesh(occupancy, BOX, 33, level=0.5, positive_inside=True, **config)
    assert mesh.num_faces > 0
    assert (mesh.vertices.norm(dim=1) - 0.5).abs().max() < 0.01
    assert mesh.to_trimesh().volume > 0  # still outward
    dots = (mesh.normals * torch.nn.functional.normalize(mesh.vertices, dim=1)).sum(1)
    assert dots.mean() > 0.99


@pytest.mark.parametrize("config", CONFIGS, ids=["sparse", "dense", "tetrahedra", "skimage"])
def test_no_surface_gives_an_empty_mesh(config):
    for field in (lambda x: x.norm(dim=1) + 1.0, lambda x: -x.norm(dim=1) - 1.0):
        mesh = extract_mesh(field, BOX, 17, **config)
        assert mesh.vertices.shape == (0, 3) and mesh.faces.shape == (0, 3) and mesh.normals.shape == (0, 3)
        assert mesh.to_trimesh().vertices.shape == (0, 3)


def test_empty_mesh_with_parameters_and_colours():
    r = torch.nn.Parameter(torch.tensor(5.0))
    mesh = extract_mesh(lambda x: x.norm(dim=1) + r, BOX, 9, color_fn=lambda v: v.abs())
    assert mesh.num_vertices == 0 and mesh.colors.shape == (0, 3)


def test_dense_grid_input_matches_the_callable(fields):
    n = 29
    ax = torch.linspace(-1, 1, n, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), dim=-1)
    sdf = lambda x: fields.torus(x)  # noqa: E731
    grid = sdf(pts)
    from_grid = extract_mesh(grid, BOX, dtype=torch.float64)
    from_numpy = extract_mesh(grid.numpy(), BOX, n, dtype=torch.float64)
    from_callable = extract_mesh(sdf, BOX, n, dtype=torch.float64)
    assert torch.allclose(from_grid.vertices, from_callable.vertices, atol=1e-12)
    assert torch.equal(from_grid.vertices, from_numpy.vertices)
    assert _face_set(from_grid.faces) == _face_set(from_callable.faces)


def _face_set(faces):
    """Faces as a set of vertex triples, each rotated to start at its smallest index (keeps winding)."""
    f = faces.tolist()
    return {tuple(t[t.index(min(t)) :] + t[: t.index(min(t))]) for t in f}


def test_vertex_colours_from_a_colour_function(fields):
    mesh = extract_mesh(lambda x: fields.sphere(x, [0, 0, 0], 0.5), BOX, 17, color_fn=lambda v: (v + 1) / 2)
    assert torch.allclose(mesh.colors, (mesh.vertices + 1) / 2)
    tm = mesh.to_trimesh()
    assert tm.visual.vertex_colors.shape == (mesh.num_vertices, 4)


def test_edge_records_reproduce_the_vertices(fields):
    mesh = extract_mesh(lambda x: fields.sphere(x, [0, 0, 0], 0.5), BOX, 21, dtype=torch.float64)
    ends = mesh.endpoint_positions(torch.float64)
    assert torch.allclose(mesh.lerp(ends[:, 0], ends[:, 1]), mesh.vertices, atol=1e-12)
    # a second per-point field interpolated with the same weights (how G-Shell reads its mSDF)
    second = lambda x: x[:, 0]  # noqa: E731 (linear: interpolation is exact)
    assert torch.allclose(mesh.lerp(second(ends[:, 0]), second(ends[:, 1])), mesh.vertices[:, 0], atol=1e-12)


def test_writes_a_mesh_file(tmp_path, fields):
    mesh = extract_mesh(lambda x: fields.sphere(x, [0, 0, 0], 0.5), BOX, 17)
    path = mesh.write(tmp_path / "sphere.ply")
    import trimesh

    loaded = trimesh.load(path, process=False)
    assert len(loaded.faces) == mesh.num_faces


def test_nn_module_field_runs_on_its_device(fields):
    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.r = torch.nn.Parameter(torch.tensor(0.5))

        def forward(self, x):
            return x.norm(dim=1, keepdim=True) - self.r  # (N, 1) is accepted too

    mesh = extract_mesh(Field(), BOX, 17)
    assert mesh.vertices.requires_grad and mesh.vertices.dtype == torch.float32


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(resolution=1), "expected resolution >= 2"),
        (dict(resolution=0), "expected resolution >= 2"),
        (dict(resolution=(8, 8)), "expected resolution as an int or 3 ints"),
        (dict(resolution=8.5), "expected resolution as an int or 3 ints"),
        (dict(aabb=[0, 0, 0, 1, 1]), "expected aabb of shape"),
        (dict(aabb=[[0, 0, 0], [1, 1, 1], [2, 2, 2]]), "expected aabb of shape"),
        (dict(aabb=[[1, 0, 0], [0, 1, 1]]), "max > min"),
        (dict(method="octree"), "expected method in"),
        (dict(backend="cuda-kernel"), "expected backend in"),
        (dict(backend="skimage", method="tetrahedra"), "expected backend 'torch'"),
        (dict(level=float("nan")), "expected a finite float level"),
        (dict(resolution=None), "expected a resolution"),
    ],
)
def test_bad_inputs_raise_value_errors(kwargs, match, fields):
    args = dict(field=lambda x: fields.sphere(x, [0, 0, 0], 0.5), aabb=BOX, resolution=9)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        extract_mesh(**args)
    assert "got" in str(info.value)


def test_bad_fields_raise_value_errors():
    with pytest.raises(ValueError, match=r"expected field\(points\) to return"):
        extract_mesh(lambda x: x, BOX, 9)  # (N, 3) instead of (N,)
    with pytest.raises(ValueError, match="expected finite field values, got NaN"):
        extract_mesh(lambda x: x[:, 0] * float("nan"), BOX, 9)
    with pytest.raises(ValueError, match="expected a callable field or a dense"):
        extract_mesh("sphere", BOX, 9)
    with pytest.raises(ValueError, match=r"expected a dense grid of shape \(nx, ny, nz\)"):
        extract_mesh(torch.zeros(4, 4), BOX)
    with pytest.raises(ValueError, match="expected a grid of shape"):
        extract_mesh(torch.zeros(4, 4, 4), BOX, 5)
    with pytest.raises(ValueError, match=r"expected color_fn to return"):
        extract_mesh(lambda x: x.norm(dim=1) - 0.5, BOX, 9, color_fn=lambda v: v[:, :2])


def test_sparse_search_samples_fewer_points_and_finds_the_dense_surface(fields):
    """The sparse search samples far fewer points than the dense grid (and finds the same surface)."""
    calls = []

    def sdf(x):
        calls.append(x.shape[0])
        return fields.sphere(x, [0, 0, 0], 0.5)

    sparse = extract_mesh(sdf, BOX, 129, differentiable=False)
    sparse_points = sum(calls)
    calls.clear()
    dense = extract_mesh(sdf, BOX, 129, sparse=False, differentiable=False)
    assert sum(calls) == 129**3
    assert sparse_points < 0.35 * 129**3  # (the 65**3 seed grid is most of it at this size)
    assert torch.equal(sparse.vertices, dense.vertices)
    assert _face_set(sparse.faces) == _face_set(dense.faces)


@pytest.mark.gpu
def test_cuda_matches_cpu(fields):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    sdf = lambda x: fields.torus(x)  # noqa: E731
    cpu = extract_mesh(sdf, BOX, 65)
    gpu = extract_mesh(sdf, BOX, 65, device="cuda")
    assert gpu.vertices.is_cuda and gpu.faces.is_cuda
    assert torch.allclose(gpu.vertices.cpu(), cpu.vertices, atol=1e-6)
    assert _face_set(gpu.faces.cpu()) == _face_set(cpu.faces)
    ok, why = fields.closed_and_oriented(gpu.faces.cpu())
    assert ok, why
    assert np.isfinite(gpu.normals.cpu().numpy()).all()


def test_skimage_backend_on_a_differentiable_grid_uses_trilinear_deepmesh(fields):
    """scikit-image has no edge records: a grid that requires grad gets DeepMesh on its trilinear
    interpolation.  Finite differences move the vertices along grid edges instead, and the trilinear
    gradient is not of unit length, so they agree only roughly (8 % here)."""
    n = 33
    ax = torch.linspace(-1, 1, n, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), dim=-1)
    target = fields.sphere_points(2000, [0, 0, 0], 0.5)

    def loss(r, differentiable=False):
        grid = pts.norm(dim=-1) - r
        mesh = extract_mesh(grid, BOX, backend="skimage", differentiable=differentiable, dtype=torch.float64)
        d = torch.cdist(mesh.vertices, target)
        return d.min(1).values.pow(2).mean() + d.min(0).values.pow(2).mean()

    r = torch.tensor(0.53, dtype=torch.float64, requires_grad=True)
    loss(r, differentiable=True).backward()
    with torch.no_grad():
        fd = (loss(0.53 + 1e-6) - loss(0.53 - 1e-6)) / 2e-6
    assert abs(float(r.grad / fd) - 1) < 0.15


def test_progress_bar_and_numeric_level_types(fields, capsys):
    import numpy as np

    mesh = extract_mesh(
        lambda x: fields.sphere(x, [0, 0, 0], 0.5), BOX, np.int64(80), level=np.float32(0.1), progress=True
    )
    assert (mesh.vertices.norm(dim=1) - 0.6).abs().max() < 0.01
    assert "field samples" in capsys.readouterr().err
    mesh = extract_mesh(lambda x: fields.sphere(x, [0, 0, 0], 0.5), BOX, 17, level=torch.tensor(0.1))
    assert mesh.num_faces > 0
