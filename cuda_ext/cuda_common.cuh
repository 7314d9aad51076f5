// Device helpers shared by the CUDA kernels: aligned vectors of features and vector atomics.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

namespace fields3d {

constexpr int kBlockSize = 256;

template <typename T, int N>
struct VecAlignment {
  static constexpr int value = sizeof(T) * N >= 16 ? 16 : static_cast<int>(sizeof(T) * N);
};

// N values of T, aligned for 4-, 8- or 16-byte loads and stores.
template <typename T, int N>
struct alignas(VecAlignment<T, N>::value) Vec {
  T v[N];

  __device__ __forceinline__ static Vec zero() {
    Vec r;
#pragma unroll
    for (int i = 0; i < N; ++i) r.v[i] = T(0);
    return r;
  }
  __device__ __forceinline__ static Vec fill(T value) {
    Vec r;
#pragma unroll
    for (int i = 0; i < N; ++i) r.v[i] = value;
    return r;
  }
  __device__ __forceinline__ static Vec load(const T* p) { return *reinterpret_cast<const Vec*>(p); }
  __device__ __forceinline__ void store(T* p) const { *reinterpret_cast<Vec*>(p) = *this; }
};

template <typename T>
__device__ __forceinline__ T nan_value();
template <>
__device__ __forceinline__ float nan_value<float>() {
  return __int_as_float(0x7fc00000);
}
template <>
__device__ __forceinline__ double nan_value<double>() {
  return __longlong_as_double(0x7ff8000000000000ULL);
}

// dst[i] += w * g[i], with one float2 / float4 atomic per pair / quad on sm_90 and newer.
template <typename T, int N>
__device__ __forceinline__ void atomic_add_scaled(T* dst, const Vec<T, N>& g, T w) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr bool kQuads = std::is_same<T, float>::value && N % 4 == 0;
  constexpr bool kPairs = std::is_same<T, float>::value && N % 2 == 0 && !kQuads;
#else
  constexpr bool kQuads = false, kPairs = false;
#endif
  if constexpr (kQuads) {
#pragma unroll
    for (int i = 0; i < N; i += 4) {
      atomicAdd(reinterpret_cast<float4*>(dst + i),
                make_float4(w * g.v[i], w * g.v[i + 1], w * g.v[i + 2], w * g.v[i + 3]));
    }
  } else if constexpr (kPairs) {
#pragma unroll
    for (int i = 0; i < N; i += 2) {
      atomicAdd(reinterpret_cast<float2*>(dst + i), make_float2(w * g.v[i], w * g.v[i + 1]));
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) atomicAdd(dst + i, w * g.v[i]);
  }
}

// Sum of v over aligned groups of `lanes` consecutive lanes (a power of two <= 32); every lane of
// the warp must call it.
template <typename T>
__device__ __forceinline__ T group_sum(T v, int lanes) {
  for (int offset = lanes >> 1; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

inline int ceil_log2(int64_t v) {
  int bits = 0;
  while ((int64_t(1) << bits) < v) ++bits;
  return bits;
}

}  // namespace fields3d
