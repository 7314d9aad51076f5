// Python bindings of fields3d's compiled kernels (module fields3d._C, or a JIT-built module of the
// same content; see fields3d/ops/extension.py).
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "hashgrid/hashgrid.h"
#include "triplane/triplane.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "fields3d kernels: hash grid and tri-plane lookups (CPU, and CUDA when built with it)";
#ifdef FIELDS3D_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  m.attr("abi_version") = 1;
  m.def("hashgrid_forward", &fields3d::hashgrid::forward, "hash grid lookup: (N, D) -> (N, L * F)");
  m.def("hashgrid_backward", &fields3d::hashgrid::backward, "hash grid gradients w.r.t. points and table");
  m.def("hashgrid_double_backward", &fields3d::hashgrid::double_backward,
        "gradients of <gg_x, dL/dx> w.r.t. points, table and upstream gradient");
  m.def("triplane_forward", &fields3d::triplane::forward, "tri-plane lookup: (N, 3) -> (N, C) or (N, 3C)");
  m.def("triplane_backward", &fields3d::triplane::backward, "tri-plane gradients w.r.t. points and planes");
}
