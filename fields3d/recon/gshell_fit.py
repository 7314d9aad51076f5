"""``gshell fit``: turn a triangle mesh (open or closed) into a G-Shell and back into a mesh.

1. **Grid.** A grid of cubic cells over the mesh's bounding box (``resolution`` points along its longest
   side); only a narrow band of cells around the surface is stored (``band_cells``).
2. **Initialisation.** At every stored point the template SDF and the mSDF of
   :class:`~fields3d.recon.gshell_targets.MeshShellTargets`: the template contains the surface and
   continues it past its openings along the tangent planes; the mSDF is the signed distance to the
   openings (negative past them) and cuts away whatever lies farther than ``shell_cells`` from the surface.
3. **Optimisation** (``steps``, Adam on the SDF, mSDF and optional grid offsets): a two-sided Chamfer
   loss through the differentiable extraction — points sampled on the extracted mesh are pulled to
   their nearest points on the source (exact, open3d), and source samples pull their nearest extracted
   samples — plus DMTet's sign regulariser.
4. **Extraction** of the G-Shell: the cut (open) mesh, the watertight template, metrics (Chamfer in %
   of the bounding-box diagonal, boundary loops against the source's).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from fields3d.errors import InputError
from fields3d.fields.gshell_grid import GShellGrid, GShellGridConfig


@dataclass
class GShellFitConfig:
    """How a mesh is fitted by a G-Shell."""

    resolution: int = 128
    """Grid points along the longest side of the mesh's bounding box."""
    band_cells: int = 3
    """Cells kept around the surface on each side (a narrow band; the rest of the grid is not stored)."""
    padding_cells: float = 4.0
    """Margin of the grid around the mesh's bounding box, in cells."""
    shell_cells: float = 2.0
    """Template parts farther than this (in cells) from the surface get a negative mSDF (cut away)."""
    steps: int = 100
    """Chamfer optimisation steps after the initialisation (0: initialisation only)."""
    lr_cells: float = 0.02
    """Adam learning rate of the SDF and mSDF values, in cells per step."""
    samples: int = 30000
    """Points sampled on the extracted mesh and on the source per step (Chamfer)."""
    sign_weight: float = 0.0
    """Weight of DMTet's sign regulariser (Adam gives even tiny gradients full steps: a nonzero weight
    moves points far from the surface and can flip their signs)."""
    deform: bool = False
    """Also learn grid offsets (up to 0.45 cells)."""
    eval_samples: int = 100_000
    """Surface samples per mesh for the reported Chamfer distance."""
    seed: int = 0
    device: str = "auto"
    """auto (CUDA when available), cpu, cuda."""

    def validate(self) -> None:
        checks = [
            (self.resolution >= 8, f"expected --resolution >= 8, got {self.resolution}"),
            (self.band_cells >= 1, f"expected --band-cells >= 1, got {self.band_cells}"),
            (self.padding_cells >= 1, f"expected --padding-cells >= 1, got {self.padding_cells}"),
            (
                0 < self.shell_cells < self.band_cells + 1,
                f"expected 0 < --shell-cells < band_cells + 1, got {self.shell_cells}",
            ),
            (self.steps >= 0, f"expected --steps >= 0, got {self.steps}"),
            (self.lr_cells > 0, f"expected --lr-cells > 0, got {self.lr_cells}"),
            (self.samples >= 100, f"expected --samples >= 100, got {self.samples}"),
            (self.eval_samples >= 1000, f"expected --eval-samples >= 1000, got {self.eval_samples}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


@dataclass
class GShellFitResult:
    """What :func:`fit_mesh` produced."""

    gshell: GShellGrid
    mesh: object
    """``trimesh.Trimesh``: the cut (open) surface."""
    template: object
    """``trimesh.Trimesh``: the watertight template."""
    metrics: dict
    history: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
def initial_gshell(targets, config: GShellFitConfig, device: torch.device) -> GShellGrid:
    """The G-Shell of the mesh behind ``targets`` (:class:`MeshShellTargets`) on a narrow-band grid."""
    import trimesh

    from fields3d.fields.gshell_grid import cells_near_points, cubic_grid
    from fields3d.geometry.mesh_sampling import sample_surface

    grid = cubic_grid(targets.bounds, config.resolution, padding_cells=config.padding_cells)
    h = grid.spacing[0]
    area = trimesh.Trimesh(targets.vertices, targets.faces, process=False).area
    # enough samples that every cell the surface crosses holds one (about 4 per cell face area), plus
    # the vertices themselves (thin features)
    count = int(min(4 * area / h**2 + 1000, 20_000_000))
    samples = sample_surface((targets.vertices, targets.faces), count, seed=config.seed).points
    band = cells_near_points(grid, np.concatenate([samples, targets.vertices]), config.band_cells)
    grid_config = GShellGridConfig(resolution=config.resolution, deform=config.deform)
    shell = GShellGrid(grid, grid_config, band)
    values = targets.query(shell.base_points.double().numpy(), shell=config.shell_cells * h)
    with torch.no_grad():
        shell.sdf.copy_(torch.from_numpy(values.sdf))
        shell.msdf.copy_(torch.from_numpy(values.msdf))
    return shell.to(device)


def sample_mesh_points(
    vertices: torch.Tensor, faces: torch.Tensor, count: int, generator: torch.Generator
) -> torch.Tensor:
    """(count, 3) points uniform by area on a mesh, differentiable w.r.t. ``vertices``."""
    tri = vertices[faces]
    area = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).norm(dim=1).detach()
    if not bool(area.sum() > 0):
        raise ValueError("expected a mesh with positive area to sample, got zero area")
    face = torch.multinomial(area.cpu(), count, replacement=True, generator=generator).to(vertices.device)
    r = torch.rand(count, 2, generator=generator).to(vertices.device, vertices.dtype)
    s = r[:, 0].sqrt()
    b = torch.stack([1 - s, s * (1 - r[:, 1]), s * r[:, 1]], dim=1)
    return (b[:, :, None] * tri[face]).sum(1)


def chamfer_to_mesh(
    points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, targets, reference: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy, completeness) mean distances between an extracted mesh and the source, exact both ways
    (open3d closest points) and differentiable w.r.t. the extracted mesh.

    Args:
        points: (N, 3) points sampled on the extracted mesh (differentiable): each is pulled to its
            nearest point on the source.
        vertices, faces: the extracted mesh (differentiable vertices).
        targets: :class:`~fields3d.recon.gshell_targets.MeshShellTargets` of the source.
        reference: (M, 3) points on the source: each pulls its nearest point on the extracted mesh.
    """
    import open3d as o3d

    p = points.detach().cpu().numpy().astype(np.float32)
    nearest = targets.scene.compute_closest_points(o3d.core.Tensor(p))["points"].numpy()
    q = torch.as_tensor(nearest, dtype=points.dtype, device=points.device)
    accuracy = (points - q).norm(dim=1).mean()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(vertices.detach().cpu().numpy().astype(np.float32)),
        o3d.core.Tensor(faces.cpu().numpy().astype(np.uint32)),
    )
    hit = scene.compute_closest_points(o3d.core.Tensor(reference.astype(np.float32)))
    face = torch.as_tensor(hit["primitive_ids"].numpy().astype(np.int64), device=vertices.device)
    uv = torch.as_tensor(hit["primitive_uvs"].numpy(), dtype=vertices.dtype, device=vertices.device)
    bary = torch.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], dim=1)
    on_mesh = (bary[:, :, None] * vertices[faces[face]]).sum(1)
    ref = torch.as_tensor(reference, dtype=vertices.dtype, device=vertices.device)
    completeness = (on_mesh - ref).norm(dim=1).mean()
    return accuracy, completeness


def optimize_gshell(shell: GShellGrid, targets, config: GShellFitConfig, progress: bool = True) -> list[dict]:
    """Refine ``shell`` in place by Chamfer through the differentiable extraction; returns the history."""
    from tqdm.auto import tqdm

    from fields3d.geometry.mesh_sampling import sample_surface

    if config.steps == 0:
        return []
    h = shell.cell_size
    groups = [{"params": [shell.sdf, shell.msdf], "lr": config.lr_cells * h}]
    if shell.deform is not None:
        groups.append({"params": [shell.deform], "lr": 0.02})
    optimizer = torch.optim.Adam(groups)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    for step in tqdm(range(config.steps), desc="fitting G-Shell", unit="step", disable=not progress):
        mesh = shell.extract()
        if mesh.num_faces == 0:
            raise InputError("the G-Shell lost its surface during fitting (an empty mesh); try fewer --steps")
        points = sample_mesh_points(mesh.vertices, mesh.faces, config.samples, generator)
        reference = sample_surface(
            (targets.vertices, targets.faces), config.samples, seed=config.seed + step + 1
        )
        accuracy, completeness = chamfer_to_mesh(points, mesh.vertices, mesh.faces, targets, reference.points)
        sign = shell.sign_regularizer()
        loss = (accuracy + completeness) / h + config.sign_weight * sign
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(
            {
                "step": step,
                "loss": float(loss.detach()),
                "accuracy": float(accuracy.detach()),
                "completeness": float(completeness.detach()),
                "sign": float(sign.detach()),
                "faces": mesh.num_faces,
            }
        )
    return history


def surface_metrics(pred, source, samples: int, seed: int = 0) -> dict:
    """Chamfer / F-score / normal error (``fields3d.recon.evaluation.mesh_metrics``) and boundary loops of
    a predicted mesh against the source mesh (``trimesh.Trimesh`` both)."""
    from fields3d.extract.gshell_boundary import boundary_report
    from fields3d.recon.evaluation import mesh_metrics

    m = mesh_metrics(pred, source, samples=samples, seed=seed)
    pb = boundary_report(pred.vertices, pred.faces)
    sb = boundary_report(source.vertices, source.faces)
    m["boundary_loops"] = pb.loops
    m["source_boundary_loops"] = sb.loops
    m["boundary_edges"] = pb.boundary_edges
    m["nonmanifold_edges"] = pb.nonmanifold_edges
    m["loop_perimeters"] = list(pb.loop_perimeters)
    m["source_loop_perimeters"] = list(sb.loop_perimeters)
    m["components"] = int(len(pred.split(only_watertight=False))) if len(pred.faces) else 0
    m["watertight"] = bool(pred.is_watertight)
    return m


def fit_mesh(
    vertices, faces, config: GShellFitConfig | None = None, progress: bool = True, log=print
) -> GShellFitResult:
    """Fit a G-Shell to a triangle mesh and extract it (see the module docstring)."""
    import trimesh

    from fields3d.recon.gshell_targets import MeshShellTargets
    from fields3d.recon.pipeline import choose_device

    config = config or GShellFitConfig()
    config.validate()
    log = log or (lambda *_: None)
    device = choose_device(config.device)
    torch.manual_seed(config.seed)
    t0 = time.perf_counter()
    c0 = time.process_time()
    targets = MeshShellTargets(vertices, faces)
    shell = initial_gshell(targets, config, device)
    t_init = time.perf_counter()
    log(
        f"G-Shell grid {'x'.join(map(str, shell.grid.shape))} (cell {shell.cell_size:.4g}), "
        f"{shell.num_points} points / {shell.tets.shape[0]} tetrahedra in a {config.band_cells}-cell band"
    )
    source = trimesh.Trimesh(targets.vertices, targets.faces, process=False)
    with torch.no_grad():
        init_mesh = shell.extract().to_trimesh()
    init_metrics = (
        surface_metrics(init_mesh, source, config.eval_samples, config.seed) if len(init_mesh.faces) else {}
    )
    history = optimize_gshell(shell, targets, config, progress)
    t_opt = time.perf_counter()
    with torch.no_grad():
        result = shell.extract()
    mesh = result.to_trimesh()
    template = result.template.to_trimesh()
    if len(mesh.faces) == 0:
        raise InputError("the fitted G-Shell has an empty surface")
    metrics = surface_metrics(mesh, source, config.eval_samples, config.seed)
    metrics.update(
        {
            "initial": {k: init_metrics.get(k) for k in ("chamfer_pct_diagonal", "boundary_loops", "fscore")},
            "grid": shell.describe(),
            "faces": int(len(mesh.faces)),
            "vertices": int(len(mesh.vertices)),
            "template_faces": int(len(template.faces)),
            "template_watertight": bool(template.is_watertight),
            "timing": {
                "init_seconds": t_init - t0,
                "optimize_seconds": t_opt - t_init,
                "total_seconds": time.perf_counter() - t0,
                "process_cpu_seconds": time.process_time() - c0,
                "device": str(device),
                "steps": config.steps,
            },
        }
    )
    return GShellFitResult(shell, mesh, template, metrics, history)


def fit_mesh_file(
    mesh_path: str | os.PathLike,
    out: str | os.PathLike,
    config: GShellFitConfig | None = None,
    progress: bool = True,
    log=print,
) -> GShellFitResult:
    """Fit a G-Shell to the mesh file ``mesh_path`` and write the run folder ``out``::

    OUT/mesh.ply        the G-Shell surface (open where the source is open), source units
    OUT/template.ply    the watertight template it is cut from
    OUT/gshell.pt       the G-Shell (grid, SDF, mSDF; ``GShellGrid.from_state``)
    OUT/metrics.json    Chamfer (% of the diagonal), F-score, boundary loops vs the source, timings
    OUT/config.json     the configuration
    OUT/previews/       turntables of the source and the result, the fitting curve
    OUT/report.html     all of the above
    """
    from fields3d.io.atomic import atomic_path, write_json
    from fields3d.io.mesh import read_mesh, write_mesh

    config = config or GShellFitConfig()
    config.validate()
    mesh_path, out = Path(mesh_path), Path(out)
    source = read_mesh(mesh_path)
    result = fit_mesh(source.vertices, source.faces, config, progress, log)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"mesh": str(mesh_path.resolve()), "config": asdict(config)})
    mesh_out = write_mesh(out / "mesh.ply", result.mesh.vertices, result.mesh.faces)
    write_mesh(out / "template.ply", result.template.vertices, result.template.faces)
    with atomic_path(out / "gshell.pt") as tmp:
        torch.save(result.gshell.to_state(), tmp)
    result.metrics["source"] = str(mesh_path)
    write_json(out / "metrics.json", result.metrics)
    report = _write_fit_report(out, result, mesh_path)
    m = result.metrics
    log(
        f"Chamfer {m['chamfer_pct_diagonal']:.3f} % of the diagonal, {m['boundary_loops']} boundary loops "
        f"(source {m['source_boundary_loops']}), {m['faces']} faces"
    )
    log(f"mesh: {mesh_out}")
    log(f"template: {out / 'template.ply'}")
    log(f"G-Shell: {out / 'gshell.pt'}")
    log(f"metrics: {out / 'metrics.json'}")
    log(f"report: {report}")
    return result


def _write_fit_report(out: Path, result: GShellFitResult, mesh_path: Path) -> Path:
    from fields3d.io.images import write_image
    from fields3d.io.report import HtmlReport, image_grid
    from fields3d.recon.gshell_previews import boundary_colors
    from fields3d.recon.previews import render_turntable
    from fields3d.recon.run_report import line_plot

    previews = out / "previews"
    views, size = 4, 256
    source = result.metrics.get("source")
    rows = []
    import trimesh

    from fields3d.io.mesh import read_mesh

    src = read_mesh(mesh_path)
    src_mesh = trimesh.Trimesh(src.vertices, src.faces, process=False)
    up = _turntable_up(np.asarray(src_mesh.vertices))
    meshes = [
        (src_mesh.vertices, src_mesh.faces, None),
        (result.mesh.vertices, result.mesh.faces, boundary_colors(result.mesh)),
        (result.template.vertices, result.template.faces, None),
    ]
    for v, f, c in meshes:
        rows += render_turntable(v, f, c, views, size, up=up)
    labels = [f"source {i}" for i in range(views)] + [f"G-Shell {i}" for i in range(views)]
    labels += [f"template {i}" for i in range(views)]
    turn = write_image(previews / "turntable.png", image_grid(rows, columns=views, labels=labels))
    images = [("source | G-Shell (boundary in red) | template", turn)]
    if result.history:
        steps = np.array([h["step"] for h in result.history], dtype=np.float64)
        series = {k: (steps, np.array([h[k] for h in result.history])) for k in ("accuracy", "completeness")}
        images.append(
            (
                "fitting",
                write_image(previews / "fit_curve.png", line_plot(series, "Chamfer terms", log_y=True)),
            )
        )
    report = HtmlReport(f"fields3d gshell fit: {Path(source).name if source else out.name}")
    m = result.metrics
    report.add_text(
        f"{mesh_path} -> G-Shell on a {'x'.join(map(str, m['grid']['grid_shape']))} grid; "
        f"{m['boundary_loops']} boundary loops (source {m['source_boundary_loops']}).",
        heading="Run",
    )
    report.add_metrics({k: v for k, v in m.items() if not isinstance(v, (list, dict))}, heading="Summary")
    for section in ("initial", "grid", "timing"):
        report.add_metrics(m[section], heading=section)
    report.add_images("Previews", images)
    return report.write(out / "report.html")


def _turntable_up(vertices: np.ndarray) -> np.ndarray:
    """y, unless the shape is flat along another axis (a sheet): then that axis, so views are not edge-on."""
    extent = np.ptp(vertices, axis=0)
    thin = int(np.argmin(extent))
    up = np.zeros(3)
    up[thin if extent[thin] < 0.2 * extent.max() else 1] = 1.0
    return up
