// Hash grid op: host entry points (device dispatch in hashgrid.cpp) and the per-device kernels.
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>
#include <vector>

#include "hashgrid_math.h"

namespace fields3d {
namespace hashgrid {

// Levels from the layout lists that fields3d.ops.hashgrid.HashGridLayout.kernel_args() gives.
Levels make_levels(const std::vector<int64_t>& offsets, const std::vector<int64_t>& sizes,
                   const std::vector<int64_t>& resolutions, const std::vector<double>& scales,
                   const std::vector<bool>& dense, int64_t n_active);

// Entry points bound in bindings.cpp.  x: (N, D), table: (rows, F), grad_out: (N, L * F).
at::Tensor forward(const at::Tensor& x, const at::Tensor& table, const std::vector<int64_t>& offsets,
                   const std::vector<int64_t>& sizes, const std::vector<int64_t>& resolutions,
                   const std::vector<double>& scales, const std::vector<bool>& dense, int64_t n_active);

// Returns (dL/dx or None, dL/dtable or None).
std::tuple<c10::optional<at::Tensor>, c10::optional<at::Tensor>> backward(
    const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out,
    const std::vector<int64_t>& offsets, const std::vector<int64_t>& sizes,
    const std::vector<int64_t>& resolutions, const std::vector<double>& scales,
    const std::vector<bool>& dense, int64_t n_active, bool need_x, bool need_table);

// Gradient of <gg_x, dL/dx> w.r.t. (x, table, grad_out); each None when not needed.
std::tuple<c10::optional<at::Tensor>, c10::optional<at::Tensor>, c10::optional<at::Tensor>> double_backward(
    const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out, const at::Tensor& gg_x,
    const std::vector<int64_t>& offsets, const std::vector<int64_t>& sizes,
    const std::vector<int64_t>& resolutions, const std::vector<double>& scales,
    const std::vector<bool>& dense, int64_t n_active, bool need_x, bool need_table, bool need_grad_out);

// Per-device kernels.  Outputs are allocated by the caller; grad_* tensors are zero-filled and may
// be undefined (not needed).
void forward_cpu(const at::Tensor& x, const at::Tensor& table, at::Tensor& out, const Levels& lv);
void backward_cpu(const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out,
                  at::Tensor& grad_x, at::Tensor& grad_table, const Levels& lv);
void double_backward_cpu(const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out,
                         const at::Tensor& gg_x, at::Tensor& grad_x, at::Tensor& grad_table,
                         at::Tensor& grad_grad_out, const Levels& lv);

#ifdef FIELDS3D_WITH_CUDA
void forward_cuda(const at::Tensor& x, const at::Tensor& table, at::Tensor& out, const Levels& lv);
void backward_cuda(const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out,
                   at::Tensor& grad_x, at::Tensor& grad_table, const Levels& lv);
void double_backward_cuda(const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out,
                          const at::Tensor& gg_x, at::Tensor& grad_x, at::Tensor& grad_table,
                          at::Tensor& grad_grad_out, const Levels& lv);
#endif

}  // namespace hashgrid
}  // namespace fields3d
