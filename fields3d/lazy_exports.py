"""Lazy package exports: a package names what it offers without importing its modules up front.

``import fields3d.metrics`` stays cheap (no torch, no open3d); ``fields3d.metrics.psnr`` imports
``fields3d.metrics.image`` on first access (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list]]:
    """The ``__getattr__`` and ``__dir__`` of package ``package`` that resolve ``exports`` lazily.

    Args:
        package: the package's ``__name__`` (for the AttributeError of an unknown name).
        exports: public name -> dotted module that defines it.
    """

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list:
        return sorted(exports)

    return __getattr__, __dir__
