// Tri-plane op: host entry points (device dispatch in triplane.cpp) and the per-device kernels.
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

#include "triplane_math.h"

namespace fields3d {
namespace triplane {

// x: (N, 3); planes: (B, 3, R, R, C) channel-last; index: (N,) int64 object of each point, or an
// undefined/None tensor when B == 1; reduce: 0 sum, 1 product, 2 concat.
// Returns (N, C) (sum, product) or (N, 3C) (concat, plane-major).  A point with a NaN coordinate or
// an object index outside [0, B) gets NaN features and no gradient.
at::Tensor forward(const at::Tensor& x, const at::Tensor& planes, const c10::optional<at::Tensor>& index,
                   int64_t reduce);

// Returns (dL/dx or None, dL/dplanes (channel-last) or None).
std::tuple<c10::optional<at::Tensor>, c10::optional<at::Tensor>> backward(
    const at::Tensor& x, const at::Tensor& planes, const c10::optional<at::Tensor>& index,
    const at::Tensor& grad_out, int64_t reduce, bool need_x, bool need_planes);

// Per-device kernels; index may be undefined; grad_* are zero-filled or undefined.
void forward_cpu(const at::Tensor& x, const at::Tensor& planes, const at::Tensor& index, at::Tensor& out,
                 int reduce);
void backward_cpu(const at::Tensor& x, const at::Tensor& planes, const at::Tensor& index,
                  const at::Tensor& grad_out, at::Tensor& grad_x, at::Tensor& grad_planes, int reduce);
#ifdef FIELDS3D_WITH_CUDA
void forward_cuda(const at::Tensor& x, const at::Tensor& planes, const at::Tensor& index, at::Tensor& out,
                  int reduce);
void backward_cuda(const at::Tensor& x, const at::Tensor& planes, const at::Tensor& index,
                   const at::Tensor& grad_out, at::Tensor& grad_x, at::Tensor& grad_planes, int reduce);
#endif

}  // namespace triplane
}  // namespace fields3d
