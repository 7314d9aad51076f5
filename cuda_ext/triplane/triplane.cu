// Tri-plane kernels for CUDA tensors: the three planes read in one pass.
//
// Layout: G consecutive lanes per point (G a power of two <= 32); each lane owns channel vectors
// j = lane, lane + G, ... of V channels (float4 / float2 / scalar, as C allows).  With channel-last
// planes a texel's C channels are contiguous, so a point's G lanes read each corner texel as one
// coalesced segment and write their output channels contiguously.  Plane gradients are vector
// atomics (float4 / float2 on sm_90+); the point gradient is summed over the G lanes with shuffles.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "../common.h"
#include "../cuda_common.cuh"
#include "triplane.h"

namespace fields3d {
namespace triplane {
namespace {

struct Dims {
  int64_t N, B, R, C, out_c;
};

template <typename T>
__device__ __forceinline__ bool load_point(const T* x, const int64_t* index, int64_t n, int64_t B, T (&xc)[3],
                                           bool (&inside)[3], int64_t& b) {
  b = index != nullptr ? index[n] : 0;
  bool ok = b >= 0 && b < B;
#pragma unroll
  for (int d = 0; d < 3; ++d) {
    const T v = x[n * 3 + d];
    if (v != v) ok = false;
    inside[d] = v >= T(0) && v <= T(1);
    xc[d] = v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
  }
  return ok;
}

template <typename T>
__device__ __forceinline__ Footprint<T> footprint(const T (&xc)[3], int64_t b, int p, int64_t R) {
  return Footprint<T>(xc[plane_axis_u(p)], xc[plane_axis_v(p)], b * 3 + p, R);
}

template <typename T, int V>
__device__ __forceinline__ Vec<T, V> bilinear(const T* planes, const Footprint<T>& fp, int64_t C, int64_t channel) {
  Vec<T, V> r = Vec<T, V>::zero();
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const Vec<T, V> t = Vec<T, V>::load(planes + fp.texel(k) * C + channel);
    const T w = fp.weight(k);
#pragma unroll
    for (int i = 0; i < V; ++i) r.v[i] += w * t.v[i];
  }
  return r;
}

template <typename T, int V>
__global__ void __launch_bounds__(kBlockSize, 4)
    forward_kernel(const T* __restrict__ x, const T* __restrict__ planes, const int64_t* __restrict__ index,
                   T* __restrict__ out, const Dims s, int reduce, int group_bits) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kBlockSize + threadIdx.x;
  const int64_t n = tid >> group_bits;
  const int lane = static_cast<int>(tid & ((1 << group_bits) - 1));
  if (n >= s.N) return;
  const int64_t n_vec = s.C / V;
  T* o = out + n * s.out_c;
  T xc[3];
  bool inside[3];
  int64_t b;
  if (!load_point(x, index, n, s.B, xc, inside, b)) {
    for (int64_t c = lane; c < s.out_c; c += (1 << group_bits)) o[c] = nan_value<T>();
    return;
  }
  for (int64_t j = lane; j < n_vec; j += (1 << group_bits)) {
    const int64_t channel = j * V;
    Vec<T, V> acc;
#pragma unroll
    for (int p = 0; p < 3; ++p) {
      const Vec<T, V> f = bilinear<T, V>(planes, footprint(xc, b, p, s.R), s.C, channel);
      if (reduce == kConcat) {
        f.store(o + p * s.C + channel);
      } else if (p == 0) {
        acc = f;
      } else {
#pragma unroll
        for (int i = 0; i < V; ++i) acc.v[i] = reduce == kSum ? acc.v[i] + f.v[i] : acc.v[i] * f.v[i];
      }
    }
    if (reduce != kConcat) acc.store(o + channel);
  }
}

template <typename T, int V>
__global__ void __launch_bounds__(kBlockSize, 3)
    backward_kernel(const T* __restrict__ x, const T* __restrict__ planes, const int64_t* __restrict__ index,
                    const T* __restrict__ grad_out, T* __restrict__ grad_x, T* __restrict__ grad_planes,
                    const Dims s, int reduce, int group_bits) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * kBlockSize + threadIdx.x;
  const int64_t n = tid >> group_bits;
  const int lane = static_cast<int>(tid & ((1 << group_bits) - 1));
  T dx[3] = {T(0), T(0), T(0)};
  T xc[3];
  bool inside[3];
  int64_t b;
  if (n < s.N && load_point(x, index, n, s.B, xc, inside, b)) {
    const int64_t n_vec = s.C / V;
    const T* g_row = grad_out + n * s.out_c;
    for (int64_t j = lane; j < n_vec; j += (1 << group_bits)) {
      const int64_t channel = j * V;
      Vec<T, V> f[3];
      if (reduce == kProduct) {
#pragma unroll
        for (int p = 0; p < 3; ++p) f[p] = bilinear<T, V>(planes, footprint(xc, b, p, s.R), s.C, channel);
      }
      const Vec<T, V> g = reduce == kConcat ? Vec<T, V>::zero() : Vec<T, V>::load(g_row + channel);
#pragma unroll
      for (int p = 0; p < 3; ++p) {
        const Footprint<T> fp = footprint(xc, b, p, s.R);
        Vec<T, V> up;  // upstream gradient of plane p's values
        if (reduce == kConcat) {
          up = Vec<T, V>::load(g_row + p * s.C + channel);
        } else if (reduce == kSum) {
          up = g;
        } else {
#pragma unroll
          for (int i = 0; i < V; ++i) up.v[i] = g.v[i] * f[(p + 1) % 3].v[i] * f[(p + 2) % 3].v[i];
        }
        T du = T(0), dv = T(0);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const int64_t at = fp.texel(k) * s.C + channel;
          if (grad_planes != nullptr) atomic_add_scaled<T, V>(grad_planes + at, up, fp.weight(k));
          if (grad_x != nullptr) {
            const Vec<T, V> t = Vec<T, V>::load(planes + at);
            T dot = T(0);
#pragma unroll
            for (int i = 0; i < V; ++i) dot += up.v[i] * t.v[i];
            du += fp.weight_du(k) * dot;
            dv += fp.weight_dv(k) * dot;
          }
        }
        dx[plane_axis_u(p)] += du * fp.scale;
        dx[plane_axis_v(p)] += dv * fp.scale;
      }
    }
#pragma unroll
    for (int d = 0; d < 3; ++d) dx[d] = inside[d] ? dx[d] : T(0);
  }
  if (grad_x != nullptr) {  // uniform over the grid: every lane reaches the shuffles
#pragma unroll
    for (int d = 0; d < 3; ++d) dx[d] = group_sum(dx[d], 1 << group_bits);
    if (lane == 0 && n < s.N) {
#pragma unroll
      for (int d = 0; d < 3; ++d) grad_x[n * 3 + d] = dx[d];
    }
  }
}

// Channels per vector: 16-byte vectors when the channel count allows it.
template <typename T>
int vector_width(int64_t C) {
  constexpr int widest = static_cast<int>(16 / sizeof(T));
  for (int v = widest; v > 1; v >>= 1) {
    if (C % v == 0) return v;
  }
  return 1;
}

template <typename Fn>
void dispatch_width(int width, Fn&& fn) {
  switch (width) {
    case 4: fn(IntConst<4>{}); break;
    case 2: fn(IntConst<2>{}); break;
    default: fn(IntConst<1>{}); break;
  }
}

struct Launch {
  dim3 grid;
  int group_bits;
  cudaStream_t stream;
};

Launch launch_for(const at::Tensor& x, int64_t n_vec) {
  int group_bits = 0;  // lanes per point: the largest power of two <= min(vectors, 32)
  while (group_bits < 5 && (int64_t(2) << group_bits) <= n_vec) ++group_bits;
  const int64_t threads = x.size(0) << group_bits;
  const int64_t blocks = (threads + kBlockSize - 1) / kBlockSize;
  TORCH_CHECK(blocks < (int64_t(1) << 31), "too many points for one launch: ", x.size(0));
  return {dim3(static_cast<unsigned>(blocks)), group_bits, c10::cuda::getCurrentCUDAStream(x.device().index())};
}

Dims dims_of(const at::Tensor& x, const at::Tensor& planes, int reduce) {
  const int64_t C = planes.size(4);
  return {x.size(0), planes.size(0), planes.size(2), C, reduce == kConcat ? 3 * C : C};
}

template <typename T>
T* ptr_or_null(at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

void forward_cuda(const at::Tensor& x, const at::Tensor& planes, const at::Tensor& index, at::Tensor& out,
                  int reduce) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Dims s = dims_of(x, planes, reduce);
  const int64_t* idx = index.defined() ? index.data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplane_forward_cuda", [&] {
    dispatch_width(vector_width<scalar_t>(s.C), [&](auto w) {
      constexpr int V = decltype(w)::value;
      const Launch launch = launch_for(x, s.C / V);
      forward_kernel<scalar_t, V><<<launch.grid, kBlockSize, 0, launch.stream>>>(
          x.data_ptr<scalar_t>(), planes.data_ptr<scalar_t>(), idx, out.data_ptr<scalar_t>(), s, reduce,
          launch.group_bits);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

void backward_cuda(const at::Tensor& x, const at::Tensor& planes, const at::Tensor& index,
                   const at::Tensor& grad_out, at::Tensor& grad_x, at::Tensor& grad_planes, int reduce) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Dims s = dims_of(x, planes, reduce);
  const int64_t* idx = index.defined() ? index.data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplane_backward_cuda", [&] {
    dispatch_width(vector_width<scalar_t>(s.C), [&](auto w) {
      constexpr int V = decltype(w)::value;
      const Launch launch = launch_for(x, s.C / V);
      backward_kernel<scalar_t, V><<<launch.grid, kBlockSize, 0, launch.stream>>>(
          x.data_ptr<scalar_t>(), planes.data_ptr<scalar_t>(), idx, grad_out.data_ptr<scalar_t>(),
          ptr_or_null<scalar_t>(grad_x), ptr_or_null<scalar_t>(grad_planes), s, reduce, launch.group_bits);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

}  // namespace triplane
}  // namespace fields3d
