"""A signed distance field on a multi-resolution hash grid (NeuS2 / UniSDF style).

``SDFField`` maps points of the normalised frame (the scene inside the unit sphere) to a signed distance
(negative inside), a geometry feature vector for the colour heads, and a *predicted* unit normal
(Ref-NeRF's n'; tied to the SDF gradient by a loss, used by the colour heads so that colour samples
need no second-order autograd).  The grid covers the cube ``[-bound, bound]^3``; points outside are
clamped onto it by the encoding.  At initialisation the field is close to the sphere
``|x| - init_radius`` (SAL's geometric initialisation, with zero weights on the grid features).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from fields3d.encodings import HashGridEncoding, HashGridEncodingConfig
from fields3d.fields.mlp import MLP, MLPConfig

GRADIENTS = ("analytic", "finite_difference")

# vertices of a regular tetrahedron: sum_k v_k = 0 and sum_k v_k v_k^T = 4 I
_TETRAHEDRON = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, 1.0, 1.0]])


def default_sdf_grid() -> HashGridEncodingConfig:
    return HashGridEncodingConfig(
        n_levels=16,
        features_per_level=2,
        log2_table_size=17,
        base_resolution=16,
        finest_resolution=1024,
        coarse_to_fine_start=4,
        coarse_to_fine_steps=500,
    )


def fibonacci_sphere(n: int) -> torch.Tensor:
    """(n, 3) unit vectors spread evenly over the sphere (a Fibonacci lattice)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * k / n
    r = torch.sqrt((1.0 - z * z).clamp_min(0.0))
    phi = k * math.pi * (3.0 - math.sqrt(5.0))
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=-1).float()


@dataclass
class SDFFieldConfig:
    """Hash grid + small MLP -> signed distance, geometry features, predicted normal."""

    grid: HashGridEncodingConfig = field(default_factory=default_sdf_grid)
    """The hash grid over [-bound, bound]^3 (its coarse-to-fine schedule follows the training step)."""
    mlp: MLPConfig = field(default_factory=lambda: MLPConfig(hidden_dim=64, n_hidden_layers=1))
    """The geometry MLP on [x, grid features]."""
    feature_dim: int = 15
    """Geometry features passed to the colour heads."""
    bound: float = 1.0
    """Half-size of the cube the grid covers, normalised units."""
    init_radius: float = 0.5
    """Radius of the sphere the field starts as (normalised units)."""
    gradient: Literal["analytic", "finite_difference"] = "analytic"
    """How the SDF gradient (eikonal loss, normals) is computed: autograd (double backward through the hash
    grid), or a 4-point tetrahedral finite difference (first-order only; smoother at coarse steps)."""
    finite_difference_step: float = 2e-3
    """Step of the finite difference, normalised units."""

    def validate(self) -> None:
        if self.feature_dim < 0:
            raise ValueError(f"expected feature_dim >= 0, got {self.feature_dim}")
        if not self.bound > 0:
            raise ValueError(f"expected a positive bound, got {self.bound}")
        if not 0 < self.init_radius < self.bound:
            raise ValueError(f"expected 0 < init_radius < bound ({self.bound}), got {self.init_radius}")
        if self.gradient not in GRADIENTS:
            raise ValueError(f"expected gradient in {GRADIENTS}, got {self.gradient!r}")
        if not self.finite_difference_step > 0:
            raise ValueError(f"expected a positive finite_difference_step, got {self.finite_difference_step}")
        self.mlp.validate()
        if self.mlp.n_hidden_layers < 1:
            raise ValueError("expected at least one hidden layer in the SDF MLP (a sphere needs one), got 0")


@dataclass
class GeometryOutput:
    """What :meth:`SDFField.forward` returns for N points.

    Attributes:
        sdf: (N,) signed distance, normalised units (negative inside).
        features: (N, feature_dim) geometry features.
        normals: (N, 3) predicted unit normals (Ref-NeRF's n'; not the SDF gradient).
    """

    sdf: torch.Tensor
    features: torch.Tensor
    normals: torch.Tensor


class SDFField(nn.Module):
    """Signed distance field; see the module docstring."""

    def __init__(self, config: SDFFieldConfig | None = None):
        super().__init__()
        self.config = config = config or SDFFieldConfig()
        config.validate()
        self.encoding = HashGridEncoding(config.grid)
        if self.encoding.in_dim != 3:
            raise ValueError(f"expected a 3-D hash grid, got in_dim={self.encoding.in_dim}")
        self.out_sdf, self.out_normal = 0, slice(1, 4)
        self.mlp = MLP(3 + self.encoding.out_dim, 4 + config.feature_dim, config.mlp)
        self._geometric_init()

    # ----------------------------------------------------------------------------------------------
    def _geometric_init(self) -> None:
        """The SDF output starts as ``|x| - init_radius`` and the grid features are weighted 0.

        With one hidden layer the hidden units look along directions ``u_k`` spread evenly over the sphere
        (a Fibonacci lattice) and the output averages them: ``(4 / H) sum_k relu(u_k . x) ~ |x|``, since
        ``max(0, cos)`` averages 1/4 over the sphere.  Deeper MLPs use SAL's random initialisation.
        """
        layers = self.mlp.linears
        with torch.no_grad():
            for i, layer in enumerate(layers):
                out_dim, in_dim = layer.weight.shape
                if i == len(layers) - 1:
                    nn.init.normal_(layer.weight, 0.0, 1e-2)
                    nn.init.zeros_(layer.bias)
                    nn.init.normal_(layer.weight[0], math.sqrt(math.pi) / math.sqrt(in_dim), 1e-4)
                    layer.bias[0] = -self.config.init_radius
                else:
                    nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0) / math.sqrt(out_dim))
                    nn.init.zeros_(layer.bias)
                    if i == 0:
                        layer.weight[:, 3:] = 0.0
            if len(layers) == 2:
                hidden = layers[0].weight.shape[0]
                layers[0].weight[:, :3] = fibonacci_sphere(hidden)
                layers[1].weight[0] = 4.0 / hidden

    def update_step(self, step: int) -> None:
        """Advance the hash grid's coarse-to-fine schedule."""
        self.encoding.update_step(step)

    def _check_points(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[-1] != 3:
            raise ValueError(f"expected points of shape (N, 3), got {tuple(x.shape)}")

    def _raw(self, x: torch.Tensor) -> torch.Tensor:
        unit = (x / self.config.bound + 1.0) * 0.5
        h = torch.cat([x, self.encoding(unit)], dim=-1)
        return self.mlp(h)

    def forward(self, x: torch.Tensor) -> GeometryOutput:
        """(N, 3) points, normalised units -> :class:`GeometryOutput`."""
        self._check_points(x)
        raw = self._raw(x)
        normals = nn.functional.normalize(raw[:, self.out_normal], dim=-1)
        return GeometryOutput(raw[:, 0], raw[:, 4:], normals)

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3) points -> (N,) signed distances."""
        self._check_points(x)
        return self._raw(x)[:, 0]

    def forward_with_gradient(
        self, x: torch.Tensor, create_graph: bool = True
    ) -> tuple[GeometryOutput, torch.Tensor]:
        """(N, 3) points -> (:class:`GeometryOutput`, (N, 3) SDF gradients).

        With ``create_graph`` the gradient is differentiable (eikonal / normal losses); the analytic
        gradient then needs the hash grid's double backward (supported by every backend).
        """
        self._check_points(x)
        if self.config.gradient == "finite_difference":
            h = self.config.finite_difference_step
            offsets = _TETRAHEDRON.to(x) * h
            geo = self(x)
            with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
                around = self.sdf((x[:, None, :] + offsets[None]).reshape(-1, 3)).view(-1, 4)
            grad = (around[:, :, None] * offsets[None]).sum(1) / (4.0 * h * h)
            return geo, grad
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            geo = self(xg)
            (grad,) = torch.autograd.grad(geo.sdf.sum(), xg, create_graph=create_graph)
        if not create_graph:
            geo = GeometryOutput(geo.sdf.detach(), geo.features.detach(), geo.normals.detach())
            grad = grad.detach()
        return geo, grad

    def sdf_and_gradient(
        self, x: torch.Tensor, create_graph: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3) points -> ((N,) signed distances, (N, 3) gradients); see :meth:`forward_with_gradient`."""
        geo, grad = self.forward_with_gradient(x, create_graph)
        return geo.sdf, grad
