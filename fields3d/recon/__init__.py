"""Reconstruction methods (UniSDF, NeuS, G-Shell), the trainer loop and checkpoints.

Entry points (imported lazily):

- :func:`reconstruct` — a capture folder in, a run folder out (``fields3d reconstruct``).
- :func:`make_config` / :class:`ReconstructionConfig` — presets ``fast``, ``default``, ``quality``.
- :class:`UniSDFModel` — the model (``--method neus`` is the same model with view colour only).
- :func:`extract_run` / :func:`load_run` — re-extraction from a run folder (``fields3d extract``).
"""

from __future__ import annotations

from fields3d.lazy_exports import lazy_exports

_EXPORTS = {
    "reconstruct": "fields3d.recon.pipeline",
    "extract_run": "fields3d.recon.pipeline",
    "load_run": "fields3d.recon.pipeline",
    "RunResult": "fields3d.recon.pipeline",
    "make_config": "fields3d.recon.presets",
    "ReconstructionConfig": "fields3d.recon.presets",
    "UniSDFModel": "fields3d.recon.unisdf",
    "UniSDFConfig": "fields3d.recon.unisdf",
    "Trainer": "fields3d.recon.trainer",
    "TrainConfig": "fields3d.recon.trainer",
    "TrainingDiverged": "fields3d.recon.trainer",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
