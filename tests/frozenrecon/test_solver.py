import numpy as np
import pytest
import torch

from fields3d.frozenrecon.frame_maps import build_frame_maps
from fields3d.frozenrecon.parameters import ReconParameters
from fields3d.frozenrecon.se3 import invert_pose
from fields3d.frozenrecon.solver import PairProblem, SolverOptions, solve


def problem_setup(room, frames=4):
    poses, depth, color, prior = room(frames, 20.0)
    maps = build_frame_maps(prior, color, (12, 16))
    params = ReconParameters(torch.full((frames,), 3.0, dtype=torch.float64), focal_init=55.0)
    c2w = torch.tensor(poses)
    params.set_poses(invert_pose(c2w[:1]) @ c2w)
    with torch.no_grad():
        params.local.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(0))
        params.log_scale_rest.fill_(0.1)
    return maps, params


@pytest.mark.parametrize("normalizer", ["scale", "depth"])
@pytest.mark.parametrize("photometric_weight", [0.0, 0.5])
def test_closed_form_jacobian_matches_forward_mode_autodiff(room, normalizer, photometric_weight):
    maps, params = problem_setup(room)
    options = SolverOptions(
        active=("poses", "scale", "shift", "focal", "local"),
        normalizer=normalizer,
        photometric_weight=photometric_weight,
    )
    pairs = torch.tensor([[0, 1, 2, 1], [1, 2, 3, 0]])
    pixels = torch.randint(0, 12 * 16, (4, 40), generator=torch.Generator().manual_seed(3))
    problem = PairProblem(params, maps, pairs, pixels, options)
    res, mask, jac = problem.linearize()
    ref_res, ref_mask = problem.residuals(torch.zeros(4, problem.columns, dtype=torch.float64))
    ref_jac = problem.jacobian_reference()
    assert torch.equal(mask, ref_mask)
    assert mask.sum() > 40  # the check covers many pixels
    rows = torch.cat([mask] + [mask] * 3 * (photometric_weight > 0), 1)
    assert torch.allclose(res[rows], ref_res[rows], atol=1e-10)
    err = ((jac - ref_jac).abs() * rows).max()
    assert err < 1e-8 * max(1.0, float((ref_jac.abs() * rows).max()))


def test_jacobian_agrees_with_finite_differences_of_the_focal_length(room):
    maps, params = problem_setup(room)
    options = SolverOptions(active=("poses", "scale", "shift", "focal"))
    pairs = torch.tensor([[0, 1], [1, 2]])
    pixels = torch.randint(0, 12 * 16, (2, 30), generator=torch.Generator().manual_seed(5))
    problem = PairProblem(params, maps, pairs, pixels, options)
    _, mask, jac = problem.linearize()
    eps = 1e-6
    delta = torch.zeros(2, problem.columns, dtype=torch.float64)
    delta[:, 16] = eps
    plus, m1 = problem.residuals(delta)
    minus, m2 = problem.residuals(-delta)
    numeric = (plus - minus) / (2 * eps)
    keep = mask & m1 & m2
    assert torch.allclose(numeric[keep], jac[16][keep], rtol=1e-4, atol=1e-6)


def test_local_grid_mean_cannot_rescale_a_frame(room):
    maps, params = problem_setup(room)
    uv = torch.tensor([[[10.0, 10.0], [40.0, 30.0]]], dtype=torch.float64)
    before = params.local_log(torch.tensor([1]), uv, 64, 48)
    with torch.no_grad():
        params.local[1] += 0.7
    assert torch.allclose(params.local_log(torch.tensor([1]), uv, 64, 48), before)


def test_levenberg_marquardt_recovers_a_perturbed_focal_length_and_keeps_fixed_frames(room):
    maps, params = problem_setup(room, frames=5)
    with torch.no_grad():
        params.local.zero_()
    # ground-truth scale and shift of each normalised prior: gt = a (n + b)
    poses, depth, _, prior = room(5, 20.0)
    a, b = [], []
    for k in range(5):
        n = (prior[k] - float(maps.center[k])) / float(maps.spread[k])
        ok = np.isfinite(n)
        A = np.stack([n[ok], np.ones(ok.sum())], 1)
        coef = np.linalg.lstsq(A, depth[k][ok], rcond=None)[0]
        a.append(coef[0])
        b.append(coef[1] / coef[0])
    with torch.no_grad():
        params.shift.copy_(torch.tensor(b))
        params.log_scale_rest.copy_(torch.log(torch.tensor(a[1:]) / a[0]))
        c2w = torch.tensor(poses)
        rel = invert_pose(c2w[:1]) @ c2w
        rel[:, :3, 3] /= a[0]
        params.set_poses(rel)
        params.log_focal.fill_(float(np.log(50.0 * 1.15)))
    fixed_before = params.poses()[1].detach().clone()
    pairs = torch.tensor([[0, 1, 2, 3, 1, 2, 3, 4], [1, 2, 3, 4, 0, 1, 2, 3]])
    report = solve(
        params,
        maps,
        pairs,
        SolverOptions(active=("focal", "poses", "scale", "shift"), iterations=20, fixed_frames=2),
    )
    assert report.accepted > 0
    assert params.focal().item() == pytest.approx(50.0, rel=0.03)
    assert torch.allclose(params.poses()[1].detach(), fixed_before, atol=1e-9)
