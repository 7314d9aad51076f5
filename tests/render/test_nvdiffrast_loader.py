"""The nvdiffrast plugin loader fix, exercised on CPU with a stand-in for nvdiffrast's loader."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
from torch.utils import cpp_extension

from fields3d.errors import MissingDependencyError
from fields3d.render.nvdiffrast_loader import load_nvdiffrast

PLUGIN = "nvdiffrast_plugin_fields3d_loader_test"


@pytest.fixture
def fake_nvdiffrast(monkeypatch):
    """nvdiffrast.torch(.ops) stand-ins whose ``_get_plugin`` loads like nvdiffrast 0.3.3 does, against a
    ``_import_module_from_library`` that, like torch >= 2.11, does not register the module it returns."""

    def import_without_registering(name, path, is_python_module):
        return types.ModuleType(name)

    monkeypatch.setattr(cpp_extension, "_import_module_from_library", import_without_registering)
    ops = types.ModuleType("nvdiffrast.torch.ops")
    ops._cached_plugin = {}

    def _get_plugin(gl=False):
        if ops._cached_plugin.get(gl) is not None:
            return ops._cached_plugin[gl]
        cpp_extension._import_module_from_library(PLUGIN, "/nowhere", True)
        ops._cached_plugin[gl] = importlib.import_module(PLUGIN)
        return ops._cached_plugin[gl]

    ops._get_plugin = _get_plugin
    dr = types.ModuleType("nvdiffrast.torch")
    monkeypatch.setitem(sys.modules, "nvdiffrast.torch", dr)
    monkeypatch.setitem(sys.modules, "nvdiffrast.torch.ops", ops)
    monkeypatch.delitem(sys.modules, PLUGIN, raising=False)
    yield dr, ops, import_without_registering
    sys.modules.pop(PLUGIN, None)


def test_loader_registers_the_plugin_module(fake_nvdiffrast):
    dr, ops, original = fake_nvdiffrast
    with pytest.raises(ModuleNotFoundError, match=PLUGIN):  # the failure the fix is for
        ops._get_plugin(False)
    assert load_nvdiffrast() is dr
    assert ops._cached_plugin[False].__name__ == PLUGIN
    assert sys.modules[PLUGIN] is ops._cached_plugin[False]
    assert cpp_extension._import_module_from_library is original  # patched only while loading
    assert load_nvdiffrast() is dr  # cached: a second call does not load again


def test_missing_nvdiffrast_raises_with_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "nvdiffrast.torch", None)  # import fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'fields3d\[gpu\]'"):
        load_nvdiffrast()
