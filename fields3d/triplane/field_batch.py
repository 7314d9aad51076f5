"""Tri-plane fields of many objects at once: batched planes plus a per-object (or shared) MLP decoder.

Object ``b`` maps a normalised point ``x`` in [-1, 1]^3 to ``decoder_b(sum of its three plane readings
at (x + 1) / 2)``. The per-object decoder is a batched MLP (``baddbmm`` over per-object weights), so
B objects are evaluated — and fitted — in one pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from fields3d.encodings import BatchedTriplaneEncoding, TriplaneEncodingConfig

DECODERS = ("per-object", "shared")


@dataclass
class TriplaneFieldConfig:
    """Shape of the tri-planes and of the decoder."""

    channels: int = 16
    """Feature channels per plane."""
    resolution: int = 32
    """Texels per plane side."""
    hidden: int = 64
    """Width of the decoder's hidden layers."""
    hidden_layers: int = 2
    """Number of hidden layers of the decoder."""
    out_dim: int = 1
    """Decoder outputs (1 for sdf/udf/occupancy, 4 for radiance: density + RGB)."""
    decoder: str = "per-object"
    """per-object (each object its own MLP, as in Cardace et al.) or shared (one MLP for all)."""
    init_std: float = 0.01
    """Standard deviation of the initial plane values."""
    backend: str = "auto"
    """Tri-plane lookup backend: auto | torch | cpp | cuda."""

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"expected decoder in {DECODERS}, got {self.decoder!r}")
        if self.hidden < 1 or self.hidden_layers < 0 or self.out_dim < 1:
            raise ValueError(f"expected hidden >= 1, hidden_layers >= 0, out_dim >= 1, got {self}")


class BatchedMLP(nn.Module):
    """``n_objects`` MLPs of one architecture (ReLU between layers), weights ``(B, in, out)``.

    ``shared=True`` keeps one set of weights for every object (a plain MLP).
    """

    def __init__(
        self, n_objects: int, in_dim: int, hidden: int, hidden_layers: int, out_dim: int, shared: bool = False
    ):
        super().__init__()
        dims = [in_dim] + [hidden] * hidden_layers + [out_dim]
        n = 1 if shared else n_objects
        self.shared = shared
        self.n_objects = n_objects
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(n, a, b)) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(n, 1, b)) for b in dims[1:])

    def reset_parameters(self, generators: list[torch.Generator]) -> None:
        """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights, zero biases; one generator per weight set."""
        with torch.no_grad():
            for w in self.weights:
                bound = 1.0 / math.sqrt(w.shape[1])
                for k in range(w.shape[0]):
                    w[k].copy_(torch.rand(w.shape[1:], generator=generators[k]) * 2 * bound - bound)
            for b in self.biases:
                b.zero_()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, N, in) -> (B, N, out); object ``b`` uses weight set ``b`` (or the shared one)."""
        if h.ndim != 3 or (not self.shared and h.shape[0] != self.n_objects):
            raise ValueError(f"expected features (B={self.n_objects}, N, in), got {tuple(h.shape)}")
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.matmul(h, w[0]) + b[0] if self.shared else torch.baddbmm(b, h, w)
            if k < last:
                h = torch.relu(h)
        return h

    def select(self, index: int) -> BatchedMLP:
        """A one-object MLP holding (views of) object ``index``'s weights."""
        one = BatchedMLP.__new__(BatchedMLP)
        nn.Module.__init__(one)
        one.shared, one.n_objects = self.shared, 1
        k = 0 if self.shared else index
        one.weights = nn.ParameterList(nn.Parameter(w[k : k + 1].detach()) for w in self.weights)
        one.biases = nn.ParameterList(nn.Parameter(b[k : k + 1].detach()) for b in self.biases)
        return one


class TriplaneFieldBatch(nn.Module):
    """B tri-plane fields: ``planes`` (B, 3, C, R, R) and a batched decoder.

    Args:
        n_objects: B.
        config: shapes of planes and decoder.
        seeds: one int per object: its planes and decoder start from ``torch.Generator().manual_seed(seed)``
            (so an object's start does not depend on the batch it is fitted in). Default: 0..B-1.
        shared_decoder: the decoder module to use for every object (``config.decoder == "shared"``); a
            new one is made when None.
    """

    def __init__(
        self,
        n_objects: int,
        config: TriplaneFieldConfig | None = None,
        seeds: list[int] | None = None,
        shared_decoder: BatchedMLP | None = None,
    ):
        super().__init__()
        self.config = config = config or TriplaneFieldConfig()
        self.n_objects = n_objects
        self.encoding = BatchedTriplaneEncoding(
            n_objects,
            TriplaneEncodingConfig(
                channels=config.channels,
                resolution=config.resolution,
                reduce="sum",
                init_std=config.init_std,
                backend=config.backend,
            ),
        )
        seeds = list(range(n_objects)) if seeds is None else [int(s) for s in seeds]
        if len(seeds) != n_objects:
            raise ValueError(f"expected {n_objects} seeds, got {len(seeds)}")
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        with torch.no_grad():
            shape = self.encoding.planes.shape[1:]
            for k, g in enumerate(gens):
                self.encoding.planes[k].copy_(torch.randn(shape, generator=g) * config.init_std)
        if shared_decoder is not None:
            self.decoder = shared_decoder
        else:
            shared = config.decoder == "shared"
            self.decoder = BatchedMLP(
                n_objects, config.channels, config.hidden, config.hidden_layers, config.out_dim, shared=shared
            )
            self.decoder.reset_parameters(gens[:1] if shared else gens)

    @property
    def planes(self) -> torch.Tensor:
        """(B, 3, C, R, R) plane values."""
        return self.encoding.planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) normalised points (object b's points in row b) -> (B, N, out_dim)."""
        if x.ndim != 3 or x.shape[0] != self.n_objects or x.shape[2] != 3:
            raise ValueError(f"expected points of shape ({self.n_objects}, N, 3), got {tuple(x.shape)}")
        index = torch.arange(self.n_objects, device=x.device)[:, None].expand(x.shape[0], x.shape[1])
        features = self.encoding((x + 1.0) * 0.5, index)
        return self.decoder(features)

    def object_field(self, index: int, output: int = 0):
        """A callable (N, 3) normalised points -> (N,) output ``output`` of object ``index`` (for
        :func:`fields3d.extract.extract_mesh`)."""
        if not 0 <= index < self.n_objects:
            raise ValueError(f"expected an object index in [0, {self.n_objects}), got {index}")
        planes = self.encoding.planes[index : index + 1]
        decoder = self.decoder if self.decoder.shared else self.decoder.select(index)
        backend = self.config.backend

        def field(x: torch.Tensor) -> torch.Tensor:
            from fields3d.ops.triplane import triplane_sample

            u = ((x.to(planes.dtype) + 1.0) * 0.5).reshape(-1, 3)
            idx = torch.zeros(u.shape[0], dtype=torch.int64, device=u.device)
            f = triplane_sample(u, planes, idx, "sum", backend)
            return decoder(f[None])[0, :, output]

        return field

    def decoder_state(self) -> dict[str, torch.Tensor]:
        """Decoder tensors by name: ``weight_k`` (B or 1, in, out) and ``bias_k`` (B or 1, 1, out)."""
        out = {}
        for k, (w, b) in enumerate(zip(self.decoder.weights, self.decoder.biases, strict=True)):
            out[f"weight_{k}"] = w.detach()
            out[f"bias_{k}"] = b.detach()
        return out

    @staticmethod
    def from_tensors(
        planes: torch.Tensor, decoder: dict[str, torch.Tensor], config: TriplaneFieldConfig
    ) -> TriplaneFieldBatch:
        """Rebuild B fields from stored ``planes`` (B, 3, C, R, R) and decoder tensors (per-object with
        leading B, or shared with leading 1)."""
        n = planes.shape[0]
        field = TriplaneFieldBatch(n, config, seeds=[0] * n)
        n_layers = len(field.decoder.weights)
        if len(decoder) != 2 * n_layers:
            raise ValueError(f"expected {2 * n_layers} decoder tensors, got {sorted(decoder)}")
        shared = decoder["weight_0"].shape[0] == 1 and (n > 1 or config.decoder == "shared")
        field.decoder = BatchedMLP(
            n, config.channels, config.hidden, config.hidden_layers, config.out_dim, shared=shared
        )
        with torch.no_grad():
            field.encoding.planes.copy_(planes)
            for k in range(n_layers):
                field.decoder.weights[k].copy_(decoder[f"weight_{k}"])
                field.decoder.biases[k].copy_(decoder[f"bias_{k}"])
        return field
