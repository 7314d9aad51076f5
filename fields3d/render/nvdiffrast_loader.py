"""Importing nvdiffrast (``diffrp-nvdiffrast``) with its CUDA plugin loaded on current PyTorch.

nvdiffrast compiles its CUDA plugin at first use with ``torch.utils.cpp_extension`` and then imports
it by name with ``importlib.import_module``.  Recent PyTorch versions (2.11 was seen) no longer put
the module that ``cpp_extension.load`` / ``_import_module_from_library`` returns into ``sys.modules``,
so that import fails with ``ModuleNotFoundError: No module named 'nvdiffrast_plugin_…'``.

:func:`load_nvdiffrast` builds/loads the plugin exactly once while registering the module those two
functions return in ``sys.modules`` under its own name, then hands back ``nvdiffrast.torch`` with the
plugin cached, so every later nvdiffrast call finds it.  The first call compiles the plugin (about
25 s on an H100 machine; cached in ``TORCH_EXTENSIONS_DIR`` afterwards).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types

from fields3d.errors import MissingDependencyError

_LOCK = threading.Lock()


def _registering(fn):
    """Wrap a loader so that the Python module it returns is also registered in ``sys.modules``."""

    def wrapper(*args, **kwargs):
        module = fn(*args, **kwargs)
        if isinstance(module, types.ModuleType):
            sys.modules.setdefault(module.__name__, module)
        return module

    return wrapper


def load_nvdiffrast() -> types.ModuleType:
    """``nvdiffrast.torch`` with its CUDA rasterizer plugin compiled and loaded.

    Raises:
        MissingDependencyError: nvdiffrast is not installed.
        RuntimeError: the plugin does not build or load (the message says why).
    """
    try:
        dr = importlib.import_module("nvdiffrast.torch")
        ops = importlib.import_module("nvdiffrast.torch.ops")
    except ImportError as e:
        raise MissingDependencyError(
            "diffrp-nvdiffrast",
            "the nvdiffrast rasterizer backend",
            "pip install 'fields3d[gpu]' (needs a CUDA torch)",
        ) from e
    cache = getattr(ops, "_cached_plugin", None)
    if cache is None or not hasattr(ops, "_get_plugin"):  # a future nvdiffrast with another loader
        return dr
    with _LOCK:
        if cache.get(False) is not None:
            return dr
        from torch.utils import cpp_extension

        saved = cpp_extension.load, cpp_extension._import_module_from_library
        cpp_extension.load = _registering(saved[0])
        cpp_extension._import_module_from_library = _registering(saved[1])
        try:
            ops._get_plugin(False)
        except ModuleNotFoundError as e:
            raise RuntimeError(
                f"nvdiffrast's CUDA plugin was built but does not import ({e}); "
                "the fix in fields3d.render.nvdiffrast_loader did not apply to this torch/nvdiffrast pair"
            ) from e
        finally:
            cpp_extension.load, cpp_extension._import_module_from_library = saved
    return dr
