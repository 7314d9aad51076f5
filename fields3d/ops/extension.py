"""Building and loading fields3d's compiled kernels from the sources in ``cuda_ext/``.

One extension module holds every kernel (hash grid, tri-plane; CPU always, CUDA when built with it):

* **ahead of time**: ``FIELDS3D_BUILD_CUDA=1 pip install --no-build-isolation .`` (CUDA and CPU
  kernels, for the architectures in ``TORCH_CUDA_ARCH_LIST`` or the present GPU) or
  ``FIELDS3D_BUILD_CPU=1 ...`` (CPU kernels only) compiles ``fields3d._C`` into the installed package;
* **at first use** (JIT, the default): ``torch.utils.cpp_extension.load`` compiles the sources into
  ``$TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``) and later runs reuse that build.
  The CUDA variant (``fields3d_cuda_smXY``) is compiled only for the present GPU's architecture; the
  CPU variant (``fields3d_cpu``) needs a C++ compiler and ninja, not CUDA.

The sources are found next to the package when it is installed from a wheel
(``fields3d/_cuda_ext``, packaged by ``setup.py``) and in the repository's ``cuda_ext/`` for an
editable install.  Set ``FIELDS3D_NO_JIT=1`` to never compile (the ops then use their PyTorch twins);
``FIELDS3D_VERBOSE_BUILD=1`` shows the compiler's output.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import threading
from pathlib import Path

from fields3d.ops.availability import Availability

ABI_VERSION = 1
"""Bumped when the bindings' signatures change; a prebuilt ``fields3d._C`` of another version is ignored."""

KINDS = ("cpu", "cuda")


class ExtensionUnavailable(RuntimeError):
    """fields3d's compiled kernels cannot be built or loaded here (the message says why)."""


_lock = threading.Lock()
_loaded: dict[str, object] = {}
_failed: dict[str, str] = {}


def sources_dir() -> Path | None:
    """Folder of the kernel sources (``bindings.cpp`` and one folder per op), or None when absent."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_cuda_ext", package.parent / "cuda_ext"):
        if (candidate / "bindings.cpp").is_file():
            return candidate
    return None


def source_files(kind: str) -> list[Path]:
    """The translation units of the ``kind`` ("cpu" or "cuda") build: .cpp always, .cu for CUDA."""
    root = sources_dir()
    if root is None:
        return []
    files = [root / "bindings.cpp"] + sorted(p for p in root.glob("*/*.cpp"))
    if kind == "cuda":
        files += sorted(root.glob("*/*.cu"))
    return files


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"expected kind in {KINDS}, got {kind!r}")


def _prebuilt(kind: str):
    """``fields3d._C`` when it was compiled ahead of time (with CUDA when ``kind`` is "cuda")."""
    try:
        module = importlib.import_module("fields3d._C")
    except ImportError:
        return None
    if getattr(module, "abi_version", None) != ABI_VERSION:
        return None
    if kind == "cuda" and not getattr(module, "with_cuda", False):
        return None
    return module


def _cuda_arch() -> tuple[int, int]:
    import torch

    return torch.cuda.get_device_capability()


def jit_name(kind: str) -> str:
    """Name (and cache folder) of the JIT build of ``kind``."""
    if kind == "cpu":
        return "fields3d_cpu"
    major, minor = _cuda_arch()
    return f"fields3d_cuda_sm{major}{minor}"


def _missing_prerequisite(kind: str) -> str | None:
    """Why a JIT build of ``kind`` cannot even start here, or None."""
    if os.environ.get("FIELDS3D_NO_JIT"):
        return "compiling at first use is disabled by FIELDS3D_NO_JIT"
    if not source_files(kind):
        return "the kernel sources (cuda_ext/) are not part of this installation"
    from torch.utils import cpp_extension

    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler ('{compiler}' is not on PATH)"
    if not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    if kind == "cuda":
        import torch

        if torch.version.cuda is None:
            return f"torch {torch.__version__} is a CPU-only build"
        if cpp_extension.CUDA_HOME is None:
            return "no CUDA toolkit found (set CUDA_HOME to the folder with bin/nvcc)"
        if not torch.cuda.is_available():
            return "no CUDA device"
    return None


def cache_dir(kind: str) -> Path:
    """Folder the JIT build of ``kind`` lives in."""
    from torch.utils import cpp_extension

    return Path(cpp_extension._get_build_directory(jit_name(kind), verbose=False))


def _cached_build_is_current(kind: str) -> bool:
    """Whether a JIT build newer than every source exists (then loading it compiles nothing)."""
    try:
        built = [p.stat().st_mtime for p in cache_dir(kind).glob(f"{jit_name(kind)}*.so")]
        sources = [p.stat().st_mtime for p in source_files(kind)]
        sources += [p.stat().st_mtime for p in sources_dir().rglob("*.h*")]
    except Exception:  # only decides whether to print a notice
        return False
    return bool(built) and max(built) >= max(sources)


def _build(kind: str):
    from torch.utils import cpp_extension

    if not _cached_build_is_current(kind):
        print(
            f"fields3d: compiling the {kind} kernels ({jit_name(kind)}; once, about a minute; cached in "
            f"{cache_dir(kind)})",
            file=sys.stderr,
            flush=True,
        )
    cflags = ["-O3", "-ffp-contract=off", "-fopenmp"]
    cuda_flags: list[str] = []
    if kind == "cuda":
        major, minor = _cuda_arch()
        cflags.append("-DFIELDS3D_WITH_CUDA")
        cuda_flags = [
            "-O3",
            "-DFIELDS3D_WITH_CUDA",
            f"-gencode=arch=compute_{major}{minor},code=sm_{major}{minor}",
            "-lineinfo",
        ]
    return cpp_extension.load(
        name=jit_name(kind),
        sources=[str(p) for p in source_files(kind)],
        extra_cflags=cflags,
        extra_cuda_cflags=cuda_flags or None,
        extra_ldflags=["-fopenmp"],
        verbose=bool(os.environ.get("FIELDS3D_VERBOSE_BUILD")),
    )


def load(kind: str):
    """The kernel module for ``kind`` ("cpu" or "cuda"): prebuilt, cached or compiled now.

    Raises :class:`ExtensionUnavailable` (the reason in its message) when it cannot be had; a
    failure is remembered for the rest of the process.
    """
    _check_kind(kind)
    with _lock:
        if kind in _loaded:
            return _loaded[kind]
        if kind in _failed:
            raise ExtensionUnavailable(_failed[kind])
        module = _prebuilt(kind)
        if module is None:
            missing = _missing_prerequisite(kind)
            if missing is not None:
                _failed[kind] = missing
                raise ExtensionUnavailable(missing)
            try:
                module = _build(kind)
            except Exception as e:  # compiler errors, missing headers, linker errors...
                lines = [line for line in str(e).strip().splitlines() if line.strip()]
                reason = f"building {jit_name(kind)} failed: {lines[-1] if lines else e.__class__.__name__}"
                _failed[kind] = reason + " (FIELDS3D_VERBOSE_BUILD=1 shows the compiler output)"
                raise ExtensionUnavailable(_failed[kind]) from e
        _loaded[kind] = module
        return module


def try_load(kind: str) -> Availability:
    """Like :func:`load`, but answers with an :class:`Availability` instead of raising."""
    try:
        load(kind)
    except ExtensionUnavailable as e:
        return Availability(False, str(e))
    return Availability(True, describe(kind))


def describe(kind: str) -> str:
    """Where the loaded module of ``kind`` came from."""
    module = _loaded.get(kind)
    if module is None:
        return "not loaded"
    if module.__name__ == "fields3d._C":
        return "prebuilt fields3d._C"
    return f"JIT build {module.__name__} in {Path(module.__file__).parent}"


def status(kind: str = "cuda") -> Availability:
    """Whether the ``kind`` kernels are usable, without compiling anything.

    True with a note when they are loaded, prebuilt, or compiled at first use; False with the
    reason when they cannot be (a failed build in this process, a missing compiler, CUDA, ...).
    """
    _check_kind(kind)
    if kind in _loaded:
        return Availability(True, describe(kind))
    if kind in _failed:
        return Availability(False, _failed[kind])
    if _prebuilt(kind) is not None:
        return Availability(True, "prebuilt fields3d._C")
    missing = _missing_prerequisite(kind)
    if missing is not None:
        return Availability(False, missing)
    try:
        folder = cache_dir(kind)
        cached = any(folder.glob(f"{jit_name(kind)}*.so"))
    except Exception:  # the cache folder is only informative
        folder, cached = None, False
    if cached:
        return Availability(True, f"cached JIT build in {folder}")
    where = f" into {folder}" if folder is not None else ""
    return Availability(True, f"compiled at first use (about a minute, once){where}")
