"""``fields3d info``: versions, devices and the backend each op would use."""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass

PACKAGES = (
    "fields3d",
    "torch",
    "numpy",
    "scipy",
    "trimesh",
    "scikit-image",
    "open3d",
    "pycolmap",
    "tyro",
    "pillow",
    "imageio",
    "diffrp-nvdiffrast",
    "tinycudann",
    "pytorch3d",
)


def collect_info() -> dict:
    """Versions (None = not installed), devices and op backends as a JSON-ready dict."""
    import torch

    from fields3d.ops import availability as av
    from fields3d.ops.backends import op_backends

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    cuda = av.cuda_device()
    devices = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "torch_cuda": torch.version.cuda,
        "cuda": cuda.reason if cuda else None,
        "cuda_unavailable_reason": None if cuda else cuda.reason,
    }
    backends = [{"op": b.op, "backend": b.backend, "reason": b.reason} for b in op_backends()]
    return {"versions": versions, "devices": devices, "backends": backends}


def format_info(info: dict) -> str:
    lines = ["versions"]
    for name, v in info["versions"].items():
        lines.append(f"  {name:<18} {v or 'not installed'}")
    d = info["devices"]
    lines += [
        "devices",
        f"  python             {d['python']} on {d['platform']}",
        f"  cpu threads        {d['cpu_threads']}",
    ]
    lines.append(f"  cuda               {d['cuda'] or 'none: ' + d['cuda_unavailable_reason']}")
    lines.append("backends (backend='auto')")
    for b in info["backends"]:
        lines.append(f"  {b['op']:<18} {b['backend']:<14} {b['reason']}")
    return "\n".join(lines)


@dataclass
class Info:
    """Print versions, devices and the active backend of each op (with the reason a fast one is unused)."""

    json: bool = False
    """Print JSON instead of a table."""

    def run(self) -> None:
        info = collect_info()
        if self.json:
            import json

            print(json.dumps(info, indent=2))
        else:
            print(format_info(info))
