"""Build hooks for fields3d (metadata lives in pyproject.toml).

* Every build copies the kernel sources ``cuda_ext/`` into the package as ``fields3d/_cuda_ext`` so
  that an installed (non-editable) fields3d can compile its kernels at first use.
* ``FIELDS3D_BUILD_CUDA=1 pip install --no-build-isolation .`` also compiles them ahead of time into
  ``fields3d._C`` (CPU and CUDA kernels; needs a CUDA build of torch and nvcc; architectures from
  ``TORCH_CUDA_ARCH_LIST``, else the visible GPUs'); ``FIELDS3D_BUILD_CPU=1`` compiles the CPU
  kernels only. ``--no-build-isolation`` lets the build see the installed torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
KERNELS = ROOT / "cuda_ext"
SOURCE_SUFFIXES = {".cpp", ".cu", ".h", ".cuh"}


class BuildPyWithKernelSources(build_py):
    """build_py that also places cuda_ext/ sources at fields3d/_cuda_ext in the build."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "fields3d" / "_cuda_ext"
        for source in sorted(KERNELS.rglob("*")):
            if source.suffix in SOURCE_SUFFIXES:
                destination = target / source.relative_to(KERNELS)
                self.mkpath(str(destination.parent))
                self.copy_file(str(source), str(destination))


def compiled_extensions():
    """(ext_modules, cmdclass) for an ahead-of-time build, or nothing."""
    cuda = os.environ.get("FIELDS3D_BUILD_CUDA") == "1"
    cpu = os.environ.get("FIELDS3D_BUILD_CPU") == "1"
    if not (cuda or cpu):
        return [], {}
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    sources = ["cuda_ext/bindings.cpp"] + sorted(str(p.relative_to(ROOT)) for p in KERNELS.glob("*/*.cpp"))
    cxx = ["-O3", "-ffp-contract=off", "-fopenmp"]
    if cuda:
        sources += sorted(str(p.relative_to(ROOT)) for p in KERNELS.glob("*/*.cu"))
        flags = ["-DFIELDS3D_WITH_CUDA"]
        ext = CUDAExtension(
            "fields3d._C",
            sources,
            extra_compile_args={"cxx": cxx + flags, "nvcc": ["-O3", "-lineinfo"] + flags},
            extra_link_args=["-fopenmp"],
        )
    else:
        ext = CppExtension(
            "fields3d._C", sources, extra_compile_args={"cxx": cxx}, extra_link_args=["-fopenmp"]
        )
    return [ext], {"build_ext": BuildExtension}


ext_modules, ext_cmdclass = compiled_extensions()
setup(ext_modules=ext_modules, cmdclass={"build_py": BuildPyWithKernelSources, **ext_cmdclass})
