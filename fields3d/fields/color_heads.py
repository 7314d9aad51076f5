"""UniSDF's colour branches: camera-view colour, reflected-view colour, and the weight field blending them.

For a sample with geometry features ``f``, unit ray direction ``d`` (from the camera into the scene) and
unit normal ``n``:

* camera-view branch ``c_cam = MLP_cam(f, SH(d), n)``;
* reflection branch ``c_ref = MLP_ref(f, IDE(w_r, rho), n . d, n)`` where ``w_r = d - 2 (d . n) n`` is the
  direction from the surface towards what it mirrors (the view direction ``-d`` reflected about ``n``)
  and ``rho(x) = softplus(.)`` a roughness that blurs the integrated directional encoding (Ref-NeRF);
* weight field ``W(x) = sigmoid(.)`` in [0, 1], a function of position only (of ``f``).

UniSDF volume-renders ``c_cam``, ``c_ref`` and ``W`` separately and blends the *rendered* values,
``C = W C_ref + (1 - W) C_cam`` (see :func:`fields3d.render.volume.blend_colors`).  ``mode`` selects the
branches for ablations: ``blended`` (both and W), ``view`` (c_cam only: NeuS's colour), ``reflection``
(c_ref only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from fields3d.encodings import integrated_directional_encoding, spherical_harmonics
from fields3d.encodings.directional import ide_bands
from fields3d.fields.mlp import MLP, MLPConfig

COLOR_MODES = ("blended", "view", "reflection")


def reflect(directions: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """Reflected directions ``d - 2 (d . n) n`` of (..., 3) unit ray directions about (..., 3) unit normals.

    ``d`` points from the camera into the scene; the result points from the surface to the mirrored
    point of the environment (Ref-NeRF's ``w_r`` for ``w_o = -d``).  It has unit length and makes the
    same angle with ``n`` as ``-d``.
    """
    if directions.shape != normals.shape or directions.shape[-1] != 3:
        raise ValueError(
            f"expected directions and normals of one shape (..., 3), got {tuple(directions.shape)} "
            f"and {tuple(normals.shape)}"
        )
    return directions - 2.0 * (directions * normals).sum(-1, keepdim=True) * normals


@dataclass
class ColorHeadsConfig:
    """The colour branches and the blend weight field."""

    mode: Literal["blended", "view", "reflection"] = "blended"
    """blended: W C_ref + (1 - W) C_cam (UniSDF); view: camera-view colour only (NeuS); reflection:
    C_ref only."""
    mlp: MLPConfig = field(default_factory=lambda: MLPConfig(hidden_dim=64, n_hidden_layers=2))
    """Each branch's MLP."""
    sh_degrees: int = 4
    """Spherical-harmonic bands of the camera-view direction (4 -> 16 values)."""
    ide_levels: int = 4
    """Bands of the integrated directional encoding, l = 1, 2, 4, ..., 2^(ide_levels - 1)."""
    roughness_bias: float = -1.0
    """Bias before the roughness softplus (Ref-NeRF: -1)."""
    weight_bias: float = 0.0
    """Initial logit of the blend weight W (0: W starts at 0.5)."""

    def validate(self) -> None:
        if self.mode not in COLOR_MODES:
            raise ValueError(f"expected color mode in {COLOR_MODES}, got {self.mode!r}")
        if self.sh_degrees < 1:
            raise ValueError(f"expected sh_degrees >= 1, got {self.sh_degrees}")
        if self.ide_levels < 1:
            raise ValueError(f"expected ide_levels >= 1, got {self.ide_levels}")
        self.mlp.validate()


@dataclass
class ColorOutput:
    """Per-sample outputs of :class:`ColorHeads` for N samples (None where the mode has no such branch).

    Attributes:
        rgb_cam: (N, 3) camera-view colour in [0, 1].
        rgb_ref: (N, 3) reflection colour in [0, 1].
        weight: (N,) blend weight W in [0, 1] (1 = reflection branch).
        roughness: (N,) IDE roughness >= 0.
    """

    rgb_cam: torch.Tensor | None
    rgb_ref: torch.Tensor | None
    weight: torch.Tensor | None
    roughness: torch.Tensor | None

    def blended(self) -> torch.Tensor:
        """(N, 3) per-sample blend ``W c_ref + (1 - W) c_cam`` (for vertex colours; rendering blends after
        compositing)."""
        if self.rgb_ref is None:
            return self.rgb_cam
        if self.rgb_cam is None:
            return self.rgb_ref
        w = self.weight[:, None]
        return w * self.rgb_ref + (1.0 - w) * self.rgb_cam


class ColorHeads(nn.Module):
    """``forward(features (N, F), directions (N, 3), normals (N, 3)) -> ColorOutput``; see the module
    docstring."""

    def __init__(self, feature_dim: int, config: ColorHeadsConfig | None = None):
        super().__init__()
        self.config = config = config or ColorHeadsConfig()
        config.validate()
        self.feature_dim = feature_dim
        self.use_cam = config.mode in ("blended", "view")
        self.use_ref = config.mode in ("blended", "reflection")
        self.ide_bands = ide_bands(config.ide_levels)
        if self.use_cam:
            self.cam = MLP(feature_dim + config.sh_degrees**2 + 3, 3, config.mlp)
        if self.use_ref:
            ide_dim = sum(2 * l + 1 for l in self.ide_bands)
            self.ref = MLP(feature_dim + ide_dim + 1 + 3, 3, config.mlp)
            self.roughness = nn.Linear(feature_dim, 1)
            nn.init.zeros_(self.roughness.weight)
            nn.init.constant_(self.roughness.bias, config.roughness_bias)
        if config.mode == "blended":
            self.weight = nn.Linear(feature_dim, 1)
            nn.init.normal_(self.weight.weight, 0.0, 1e-3)
            nn.init.constant_(self.weight.bias, config.weight_bias)

    def forward(self, features: torch.Tensor, directions: torch.Tensor, normals: torch.Tensor) -> ColorOutput:
        n = features.shape[0]
        if features.shape != (n, self.feature_dim):
            raise ValueError(
                f"expected features of shape (N, {self.feature_dim}), got {tuple(features.shape)}"
            )
        if directions.shape != (n, 3) or normals.shape != (n, 3):
            raise ValueError(
                f"expected directions and normals of shape ({n}, 3), got {tuple(directions.shape)} "
                f"and {tuple(normals.shape)}"
            )
        rgb_cam = rgb_ref = weight = roughness = None
        if self.use_cam:
            sh = spherical_harmonics(directions, self.config.sh_degrees)
            rgb_cam = torch.sigmoid(self.cam(torch.cat([features, sh, normals], dim=-1)))
        if self.use_ref:
            roughness = nn.functional.softplus(self.roughness(features))  # (N, 1)
            w_r = reflect(directions, normals)
            ide = integrated_directional_encoding(w_r, roughness, self.config.ide_levels)
            cos = (directions * normals).sum(-1, keepdim=True)
            rgb_ref = torch.sigmoid(self.ref(torch.cat([features, ide, cos, normals], dim=-1)))
            roughness = roughness[:, 0]
        if self.config.mode == "blended":
            weight = torch.sigmoid(self.weight(features))[:, 0]
        return ColorOutput(rgb_cam, rgb_ref, weight, roughness)
