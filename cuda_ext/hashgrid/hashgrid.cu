// Hash grid kernels for CUDA tensors.
//
// Layout: one thread per (point, level), the levels of a point in consecutive lanes (lanes per point
// = the level count rounded up to a power of two, so 16 levels -> 2 points per warp).  A warp then
// reads its points once (broadcast), reads its upstream gradients and writes its outputs as one
// contiguous, coalesced block ((N, L * F) row-major), and sums the input gradient of a point over its
// levels with warp shuffles instead of atomics.  Each thread loads a corner's F features as one
// vector; table gradients use float2 / float4 atomics on sm_90+.  Level constants are staged in
// shared memory (lanes read different levels: constant-bank reads would serialise).
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "../common.h"
#include "../cuda_common.cuh"
#include "hashgrid.h"

namespace fields3d {
namespace hashgrid {
namespace {

__device__ __forceinline__ void stage_levels(const Levels& lv, Level* levels) {
  if (threadIdx.x < static_cast<unsigned>(lv.n_levels)) levels[threadIdx.x] = lv.level[threadIdx.x];
  __syncthreads();
}

template <typename T, int D, int F>
__global__ void __launch_bounds__(kBlockSize)
    forward_kernel(const T* __restrict__ x, const T* __restrict__ table, T* __restrict__ out, int64_t N,
                   const Levels lv, int lane_bits) {
  __shared__ Level levels[kMaxLevels];
  stage_levels(lv, levels);
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kBlockSize + threadIdx.x;
  const int64_t n = tid >> lane_bits;
  const int l = static_cast<int>(tid & ((1 << lane_bits) - 1));
  if (n >= N || l >= lv.n_levels) return;

  T xc[D];
  bool inside[D];
  Vec<T, F> acc = Vec<T, F>::zero();
  if (!clamp_point<T, D>(x + n * D, xc, inside)) {
    acc = Vec<T, F>::fill(nan_value<T>());
  } else if (l < lv.n_active) {
    const Level level = levels[l];
    const Cell<T, D> cell(xc, level.scale);
#pragma unroll
    for (int c = 0; c < (1 << D); ++c) {
      uint32_t corner[D];
      const T w = cell.corner(c, corner);
      const uint32_t row = level.offset + level_row<D>(corner, level);
      const Vec<T, F> e = Vec<T, F>::load(table + static_cast<int64_t>(row) * F);
#pragma unroll
      for (int f = 0; f < F; ++f) acc.v[f] += w * e.v[f];
    }
  }
  acc.store(out + (n * lv.n_levels + l) * F);
}

template <typename T, int D, int F>
__global__ void __launch_bounds__(kBlockSize)
    backward_kernel(const T* __restrict__ x, const T* __restrict__ table, const T* __restrict__ grad_out,
                    T* __restrict__ grad_x, T* __restrict__ grad_table, int64_t N, const Levels lv,
                    int lane_bits) {
  __shared__ Level levels[kMaxLevels];
  stage_levels(lv, levels);
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kBlockSize + threadIdx.x;
  const int64_t n = tid >> lane_bits;
  const int l = static_cast<int>(tid & ((1 << lane_bits) - 1));

  T dx[D];
#pragma unroll
  for (int d = 0; d < D; ++d) dx[d] = T(0);
  T xc[D];
  bool inside[D];
  if (n < N && l < lv.n_active && clamp_point<T, D>(x + n * D, xc, inside)) {
    const Level level = levels[l];
    const Vec<T, F> g = Vec<T, F>::load(grad_out + (n * lv.n_levels + l) * F);
    const Cell<T, D> cell(xc, level.scale);
#pragma unroll
    for (int c = 0; c < (1 << D); ++c) {
      uint32_t corner[D];
      const T w = cell.corner(c, corner);
      const int64_t row = static_cast<int64_t>(level.offset + level_row<D>(corner, level)) * F;
      if (grad_table != nullptr) atomic_add_scaled<T, F>(grad_table + row, g, w);
      if (grad_x != nullptr) {
        const Vec<T, F> e = Vec<T, F>::load(table + row);
        T dot = T(0);
#pragma unroll
        for (int f = 0; f < F; ++f) dot += g.v[f] * e.v[f];
#pragma unroll
        for (int d = 0; d < D; ++d) dx[d] += cell.weight_derivative(c, d) * dot;
      }
    }
    const T s = static_cast<T>(level.scale);
#pragma unroll
    for (int d = 0; d < D; ++d) dx[d] = inside[d] ? dx[d] * s : T(0);
  }
  if (grad_x != nullptr) {  // uniform over the grid: every lane reaches the shuffles
#pragma unroll
    for (int d = 0; d < D; ++d) dx[d] = group_sum(dx[d], 1 << lane_bits);
    if (l == 0 && n < N) {
#pragma unroll
      for (int d = 0; d < D; ++d) grad_x[n * D + d] = dx[d];
    }
  }
}

template <typename T, int D, int F>
__global__ void __launch_bounds__(kBlockSize)
    double_backward_kernel(const T* __restrict__ x, const T* __restrict__ table, const T* __restrict__ grad_out,
                           const T* __restrict__ gg_x, T* __restrict__ grad_x, T* __restrict__ grad_table,
                           T* __restrict__ grad_grad_out, int64_t N, const Levels lv, int lane_bits) {
  __shared__ Level levels[kMaxLevels];
  stage_levels(lv, levels);
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kBlockSize + threadIdx.x;
  const int64_t n = tid >> lane_bits;
  const int l = static_cast<int>(tid & ((1 << lane_bits) - 1));

  T acc_x[D];
#pragma unroll
  for (int d = 0; d < D; ++d) acc_x[d] = T(0);
  T xc[D];
  bool inside[D];
  if (n < N && l < lv.n_active && clamp_point<T, D>(x + n * D, xc, inside)) {
    const Level level = levels[l];
    const T s = static_cast<T>(level.scale);
    T v[D];  // gradient w.r.t. dL/dx, through the clamp's mask
#pragma unroll
    for (int d = 0; d < D; ++d) v[d] = inside[d] ? gg_x[n * D + d] : T(0);
    const Vec<T, F> g = Vec<T, F>::load(grad_out + (n * lv.n_levels + l) * F);
    const Cell<T, D> cell(xc, level.scale);
    Vec<T, F> acc_g = Vec<T, F>::zero();
#pragma unroll
    for (int c = 0; c < (1 << D); ++c) {
      uint32_t corner[D];
      cell.corner(c, corner);
      const int64_t row = static_cast<int64_t>(level.offset + level_row<D>(corner, level)) * F;
      T a = T(0);  // sum_d v_d dw_c/dt_d
#pragma unroll
      for (int d = 0; d < D; ++d) a += v[d] * cell.weight_derivative(c, d);
      if (grad_table != nullptr) atomic_add_scaled<T, F>(grad_table + row, g, s * a);
      if (grad_grad_out != nullptr || grad_x != nullptr) {
        const Vec<T, F> e = Vec<T, F>::load(table + row);
#pragma unroll
        for (int f = 0; f < F; ++f) acc_g.v[f] += a * e.v[f];
        if (grad_x != nullptr) {
          T dot = T(0);
#pragma unroll
          for (int f = 0; f < F; ++f) dot += g.v[f] * e.v[f];
#pragma unroll
          for (int k = 0; k < D; ++k) {
            T b = T(0);
#pragma unroll
            for (int d = 0; d < D; ++d) {
              if (d != k) b += v[d] * cell.weight_second_derivative(c, d, k);
            }
            acc_x[k] += b * dot;
          }
        }
      }
    }
    if (grad_grad_out != nullptr) {
#pragma unroll
      for (int f = 0; f < F; ++f) acc_g.v[f] *= s;
      acc_g.store(grad_grad_out + (n * lv.n_levels + l) * F);
    }
#pragma unroll
    for (int k = 0; k < D; ++k) acc_x[k] = inside[k] ? acc_x[k] * s * s : T(0);
  }
  if (grad_x != nullptr) {
#pragma unroll
    for (int d = 0; d < D; ++d) acc_x[d] = group_sum(acc_x[d], 1 << lane_bits);
    if (l == 0 && n < N) {
#pragma unroll
      for (int d = 0; d < D; ++d) grad_x[n * D + d] = acc_x[d];
    }
  }
}

struct Launch {
  dim3 grid;
  int lane_bits;
  cudaStream_t stream;
};

Launch launch_for(const at::Tensor& x, const Levels& lv) {
  const int lane_bits = ceil_log2(lv.n_levels);
  const int64_t threads = x.size(0) << lane_bits;
  const int64_t blocks = (threads + kBlockSize - 1) / kBlockSize;
  TORCH_CHECK(blocks < (int64_t(1) << 31), "too many points for one launch: ", x.size(0));
  return {dim3(static_cast<unsigned>(blocks)), lane_bits, c10::cuda::getCurrentCUDAStream(x.device().index())};
}

template <typename T>
T* ptr_or_null(at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

void forward_cuda(const at::Tensor& x, const at::Tensor& table, at::Tensor& out, const Levels& lv) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Launch launch = launch_for(x, lv);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_forward_cuda", [&] {
    dispatch_dims_features(x.size(1), table.size(1), [&](auto d, auto f) {
      constexpr int D = decltype(d)::value, F = decltype(f)::value;
      forward_kernel<scalar_t, D, F><<<launch.grid, kBlockSize, 0, launch.stream>>>(
          x.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), x.size(0), lv,
          launch.lane_bits);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

void backward_cuda(const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out, at::Tensor& grad_x,
                   at::Tensor& grad_table, const Levels& lv) {
  if (lv.n_active == 0) return;
  const c10::cuda::CUDAGuard guard(x.device());
  const Launch launch = launch_for(x, lv);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_backward_cuda", [&] {
    dispatch_dims_features(x.size(1), table.size(1), [&](auto d, auto f) {
      constexpr int D = decltype(d)::value, F = decltype(f)::value;
      backward_kernel<scalar_t, D, F><<<launch.grid, kBlockSize, 0, launch.stream>>>(
          x.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
          ptr_or_null<scalar_t>(grad_x), ptr_or_null<scalar_t>(grad_table), x.size(0), lv, launch.lane_bits);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

void double_backward_cuda(const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out,
                          const at::Tensor& gg_x, at::Tensor& grad_x, at::Tensor& grad_table,
                          at::Tensor& grad_grad_out, const Levels& lv) {
  if (lv.n_active == 0) return;
  const c10::cuda::CUDAGuard guard(x.device());
  const Launch launch = launch_for(x, lv);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_double_backward_cuda", [&] {
    dispatch_dims_features(x.size(1), table.size(1), [&](auto d, auto f) {
      constexpr int D = decltype(d)::value, F = decltype(f)::value;
      double_backward_kernel<scalar_t, D, F><<<launch.grid, kBlockSize, 0, launch.stream>>>(
          x.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
          gg_x.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(grad_x), ptr_or_null<scalar_t>(grad_table),
          ptr_or_null<scalar_t>(grad_grad_out), x.size(0), lv, launch.lane_bits);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

}  // namespace hashgrid
}  // namespace fields3d
