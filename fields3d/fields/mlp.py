"""Small fully connected networks used by the fields and colour heads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

ACTIVATIONS = ("relu", "softplus")


@dataclass
class MLPConfig:
    """A fully connected network: ``n_hidden_layers`` layers of ``hidden_dim`` units, then a linear output."""

    hidden_dim: int = 64
    """Units per hidden layer."""
    n_hidden_layers: int = 2
    """Hidden layers (0: a single linear map)."""
    activation: Literal["relu", "softplus"] = "relu"
    """Hidden activation: relu (fastest on CPU), or softplus with beta 100 (smooth, as NeuS)."""

    def validate(self) -> None:
        if self.hidden_dim < 1:
            raise ValueError(f"expected hidden_dim >= 1, got {self.hidden_dim}")
        if self.n_hidden_layers < 0:
            raise ValueError(f"expected n_hidden_layers >= 0, got {self.n_hidden_layers}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"expected activation in {ACTIVATIONS}, got {self.activation!r}")


def make_activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "softplus":
        return nn.Softplus(beta=100.0)
    raise ValueError(f"expected activation in {ACTIVATIONS}, got {name!r}")


class MLP(nn.Module):
    """(..., in_dim) -> (..., out_dim); hidden layers use ``config.activation``, the output is linear."""

    def __init__(self, in_dim: int, out_dim: int, config: MLPConfig | None = None):
        super().__init__()
        self.config = config = config or MLPConfig()
        config.validate()
        if in_dim < 1 or out_dim < 1:
            raise ValueError(f"expected in_dim and out_dim >= 1, got {in_dim} and {out_dim}")
        self.in_dim, self.out_dim = in_dim, out_dim
        dims = [in_dim] + [config.hidden_dim] * config.n_hidden_layers + [out_dim]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.activation = make_activation(config.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"expected inputs of shape (..., {self.in_dim}), got {tuple(x.shape)}")
        for i, layer in enumerate(self.linears):
            x = layer(x)
            if i < len(self.linears) - 1:
                x = self.activation(x)
        return x
