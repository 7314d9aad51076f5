"""`import fields3d` and every fields3d module import without the optional dependencies."""

from __future__ import annotations

import subprocess
import sys
import textwrap

OPTIONAL = ["open3d", "pycolmap", "nvdiffrast", "tinycudann", "pytorch3d"]


def test_every_module_imports_without_optional_dependencies():
    script = textwrap.dedent(
        f"""
        import importlib, importlib.abc, pkgutil, sys
        BLOCKED = {OPTIONAL!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} blocked for this test")
                return None

        sys.meta_path.insert(0, Block())
        import fields3d
        names = [m.name for m in pkgutil.walk_packages(fields3d.__path__, "fields3d.")]
        for name in names:
            importlib.import_module(name)
        loaded = [n for n in sys.modules if n.split(".")[0] in BLOCKED]
        assert not loaded, loaded
        print(len(names))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip().splitlines()[-1]) > 30


def test_cli_help_without_optional_dependencies():
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {OPTIONAL!r}:
                    raise ImportError(name)
        sys.meta_path.insert(0, Block())
        from fields3d.cli.main import main
        sys.exit(main(["info"]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hash grid" in result.stdout and "rasterizer" in result.stdout


def test_every_name_a_package_exports_resolves():
    import importlib
    import pkgutil

    import fields3d

    packages = [fields3d] + [
        importlib.import_module(m.name)
        for m in pkgutil.walk_packages(fields3d.__path__, "fields3d.")
        if m.ispkg
    ]
    checked = 0
    for package in packages:
        for name in getattr(package, "__all__", []):
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
            checked += 1
    assert checked > 50
